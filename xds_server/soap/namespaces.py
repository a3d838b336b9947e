"""XML namespaces the SOAP core speaks, and Clark-notation helpers."""

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XOP = "http://www.w3.org/2004/08/xop/include"
XML = "http://www.w3.org/XML/1998/namespace"
# The project's own namespace, for fault details and diagnostic messages.
XDSSRV = "urn:xds-server:2026"

WSA_ANONYMOUS = WSA + "/anonymous"
WSA_NONE = WSA + "/none"

ROLE_NEXT = SOAP12 + "/role/next"
ROLE_ULTIMATE_RECEIVER = SOAP12 + "/role/ultimateReceiver"


def qn(namespace: str, local: str) -> str:
    """Clark notation `{namespace}local`, the form lxml uses for tags."""
    return f"{{{namespace}}}{local}"


def split_qn(tag: str) -> tuple[str, str]:
    """`{ns}local` → (ns, local); a tag without namespace gives ('', local)."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag

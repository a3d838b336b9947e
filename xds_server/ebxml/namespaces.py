"""ebXML RegRep 3.0 and IHE XDS.b namespaces, and response status URNs."""

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
RIM21 = "urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1"
RS21 = "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1"

NSMAP = {"rim": RIM, "rs": RS, "lcm": LCM, "query": QUERY, "xdsb": XDSB}

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


def rim(local: str) -> str:
    return f"{{{RIM}}}{local}"


def rs(local: str) -> str:
    return f"{{{RS}}}{local}"


def lcm(local: str) -> str:
    return f"{{{LCM}}}{local}"


def query(local: str) -> str:
    return f"{{{QUERY}}}{local}"

"""Why xmlsec verifies the submission-set signatures, not signxml: both measured on the same
signatures, written in the two styles DMP clients use (`ds:` prefix, and the XML-Signature
namespace as the default namespace, as the ANS DRIMbox's Java client writes it), in XAdES
v1.1.1, RSA-SHA256 and RSA-SHA1.

For each library and style: does a valid signature verify, does an altered one fail, and the
time of one verification (SignedInfo references and SignatureValue; the Manifest's document
digests are the application's in both cases). Needs signxml, which the project does not
depend on; run it from a scratch environment with the project's pins:

    python -m venv /tmp/sigvenv && /tmp/sigvenv/bin/pip install lxml==6.1.3 xmlsec==1.3.17 \\
        cryptography signxml
    /tmp/sigvenv/bin/python bench/dsig_libraries.py
"""

from __future__ import annotations

import copy
import importlib.metadata
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lxml import etree  # noqa: E402

from tests.dsig_data import SealAuthority  # noqa: E402
from xds_server.dsig.produce import SignedDocument, signature_document  # noqa: E402
from xds_server.dsig.shape import read_signature  # noqa: E402
from xds_server.dsig.xades import read_signed_properties, signer_of  # noqa: E402
from xds_server.dsig.xmlcore import verify_core  # noqa: E402

ROUNDS = 300


def by_xmlsec(document: bytes, certificate_pem: str) -> None:
    parts = read_signature(etree.fromstring(document))
    verify_core(parts, signer_of(parts.certificates,
                                 read_signed_properties(parts.signed_properties)))


def by_signxml(document: bytes, certificate_pem: str) -> None:
    from signxml import SignatureConfiguration, SignatureMethod, XMLVerifier
    from signxml.algorithms import DigestAlgorithm

    config = SignatureConfiguration(
        expect_references=2,
        signature_methods=frozenset(SignatureMethod),   # RSA-SHA1 included, as DMP clients use
        digest_algorithms=frozenset(DigestAlgorithm))
    XMLVerifier().verify(document, x509_cert=certificate_pem, expect_config=config,
                         validate_schema=False)


def altered(document: bytes) -> bytes:
    root = etree.fromstring(document)
    manifest = next(root.iter("{http://www.w3.org/2000/09/xmldsig#}Manifest"))
    manifest.append(copy.deepcopy(manifest[-1]))
    return etree.tostring(root)


def measure(verify, document: bytes, certificate: str) -> tuple[str, str, float | None]:
    try:
        verify(document, certificate)
    except Exception as exc:           # each library's own error types
        return "REFUSED", f"{type(exc).__name__}: {str(exc)[:60]}", None
    try:
        verify(altered(document), certificate)
        tampered = "ACCEPTED (!)"
    except Exception:
        tampered = "refused"
    started = time.perf_counter()
    for _ in range(ROUNDS):
        verify(document, certificate)
    return "verifies", tampered, (time.perf_counter() - started) / ROUNDS * 1e6


def main() -> None:
    try:
        import signxml  # noqa: F401
    except ImportError:
        raise SystemExit("signxml is not installed here: see this script's docstring") from None
    import lxml
    import xmlsec

    with tempfile.TemporaryDirectory() as name:
        authority = SealAuthority.create(Path(name))
        seal = authority.seal()
        certificate = authority.files()[1].read_text()
        documents = [SignedDocument("1.2.250.1.999.1",
                                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
        print(f"lxml {lxml.__version__}, xmlsec {xmlsec.__version__} (libxmlsec1 "
              f"{'.'.join(map(str, xmlsec.get_libxmlsec_version()))}), signxml "
              f"{importlib.metadata.version('signxml')}")
        print(f"{'style':<20}{'digest':<8}{'library':<9}{'valid signature':<17}"
              f"{'altered Manifest':<20}{'µs / verification'}")
        for prefix, style in (("ds", "ds: prefix"), (None, "default namespace")):
            for digest in ("sha256", "sha1"):
                document = signature_document("1.2.250.1.999.0", documents, seal,
                                              digest=digest, prefix=prefix)
                for library, verify in (("xmlsec", by_xmlsec), ("signxml", by_signxml)):
                    verdict, tampered, micros = measure(verify, document, certificate)
                    shown = f"{micros:.0f}" if micros is not None else "-"
                    print(f"{style:<20}{digest:<8}{library:<9}{verdict:<17}{tampered:<20}"
                          f"{shown}")


if __name__ == "__main__":
    main()

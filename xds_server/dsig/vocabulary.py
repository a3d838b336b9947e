"""The names a signature document is read and written with: namespaces, algorithms, and the
DocumentEntry codes that make an entry a signature document.

Sources: IHE ITI TF-3 §5.5 (DSG: Manifest of uniqueIds, 'art' language, E1762 typeCode, the
ASTM E1762 purposes), ETSI TS 101 903 v1.1.1 (XAdES, the namespace the DMP clients write), the
W3C XML-Signature and C14N recommendations, and for the DMP's codes the CI-SIS notes (§4,
"Submission-set signature", restated from the ANS DRIMbox client).
"""

from __future__ import annotations

from ..model.signature_entry import (  # noqa: F401  (the entry's codes, read from here too)
    DMP_ENTRY_RULES,
    DSG_DETACHED_FORMAT,
    DSG_ENTRY_RULES,
    SIGNATURE_CLASS,
    SIGNATURE_FORMAT,
    SIGNATURE_FORMATS,
    SIGNATURE_LANGUAGE,
    SIGNATURE_MIME_TYPE,
    SIGNATURE_TYPE,
    claims_to_be_signature,
    entry_problems,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_111 = "http://uri.etsi.org/01903/v1.1.1#"      # the DMP's clients (DRIMbox)
XADES_132 = "http://uri.etsi.org/01903/v1.3.2#"      # XAdES 1.3.2 and later
XADES_NAMESPACES = (XADES_111, XADES_132)
XML_NS = "http://www.w3.org/XML/1998/namespace"

MANIFEST_TYPE = DS + "Manifest"
SIGNED_PROPERTIES_TYPES = frozenset({XADES_111 + "SignedProperties",
                                     "http://uri.etsi.org/01903#SignedProperties"})

C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = C14N + "#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N11_COMMENTS = C14N11 + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
CANONICALIZATIONS = frozenset({C14N, C14N_COMMENTS, C14N11, C14N11_COMMENTS, EXC_C14N,
                               EXC_C14N_COMMENTS})

# digest algorithm URI → hashlib name (DSG: SHA-256 required of creators, SHA-1 still read)
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URIS = {name: uri for uri, name in DIGESTS.items()}
SIGNATURE_METHODS = frozenset({
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",       # DMP clients of the DRIMbox generation
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
})
SHA1_SIGNATURE_METHODS = frozenset({"http://www.w3.org/2000/09/xmldsig#rsa-sha1"})
SHA1_ONLY = ("SHA-1 is accepted only with XDS_SIGNATURE_ACCEPT_SHA1=true (older DMP clients sign "
             "with it; SHA-256 is what IHE DSG requires)")
SIGNATURE_METHOD_URIS = {"sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                         "sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}

# The SubmissionSet reference of a DSG Manifest carries "a hash value of 0" (ITI TF-3 §5.5.3.1);
# DMP clients write it as the base64 of one zero byte.
ZERO_DIGESTS = frozenset({"0", "AA=="})

# ASTM E1762-95(2013) purposes of signature (DSG Table 5.5.2-1), code system 1.2.840.10065.1.12
PURPOSE_SYSTEM = "1.2.840.10065.1.12"
PURPOSES = {
    "1.2.840.10065.1.12.1.1": "Author's Signature",
    "1.2.840.10065.1.12.1.2": "Co-Author's Signature",
    "1.2.840.10065.1.12.1.5": "Verification Signature",
    "1.2.840.10065.1.12.1.6": "Validation Signature",
    "1.2.840.10065.1.12.1.13": "Review Signature",
    "1.2.840.10065.1.12.1.14": "Source Signature",
}
SOURCE_PURPOSE = "1.2.840.10065.1.12.1.14"       # the one the DMP's clients declare

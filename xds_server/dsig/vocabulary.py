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
from ..security.xmldsig_algorithms import (  # noqa: F401  (read from here by dsig/)
    C14N,
    C14N11,
    C14N11_COMMENTS,
    C14N_COMMENTS,
    CANONICALIZATIONS,
    DIGEST_URIS,
    DIGESTS,
    DS,
    ENVELOPED,
    EXC_C14N,
    EXC_C14N_COMMENTS,
    RSA_SHA1,
    RSA_SHA256,
    SHA1_SIGNATURE_METHODS,
    STRONG_SIGNATURE_METHODS,
)

XADES_111 = "http://uri.etsi.org/01903/v1.1.1#"      # the DMP's clients (DRIMbox)
XADES_132 = "http://uri.etsi.org/01903/v1.3.2#"      # XAdES 1.3.2 and later
XADES_NAMESPACES = (XADES_111, XADES_132)
XML_NS = "http://www.w3.org/XML/1998/namespace"

MANIFEST_TYPE = DS + "Manifest"
SIGNED_PROPERTIES_TYPES = frozenset({XADES_111 + "SignedProperties",
                                     "http://uri.etsi.org/01903#SignedProperties"})

# What a Manifest Reference to a document may declare (outside test 19, F02): the digest must
# cover everything a reader of the document reads. None (no transform): the raw bytes, every
# one. Inclusive C14N 1.0 or 1.1 WITH comments over the whole document: the same XML document
# (elements, attributes, text, comments, processing instructions, every namespace declaration),
# only its serialisation free (the XML declaration, attribute order and quoting, whitespace
# inside tags, <a/> for <a></a>, character references): no reader tells those apart, and the
# DMP's clients (DRIMbox) digest CDA so. Refused: C14N without comments (a comment added after
# signing still verifies: bytes no signature covers), and exclusive C14N even with comments
# (it drops namespace declarations no element or attribute name uses, so the namespace behind a
# prefix used only in content, e.g. xsi:type="lab:X", could be rebound after signing).
DOCUMENT_TRANSFORMS = frozenset({None, C14N_COMMENTS, C14N11_COMMENTS})

SIGNATURE_METHODS = STRONG_SIGNATURE_METHODS | SHA1_SIGNATURE_METHODS  # SHA-1 by setting only
SHA1_ONLY = ("SHA-1 is accepted only with XDS_SIGNATURE_ACCEPT_SHA1=true (older DMP clients sign "
             "with it; SHA-256 is what IHE DSG requires)")

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

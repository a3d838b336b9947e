"""The XML-Signature algorithms this server reads, by URI, once: the VIHF verifier
(vihf_reading.py) and the signed-document verifier (dsig/) accept the same canonicalisations,
digests and signature methods. SHA-1 is apart: older DMP clients sign with it, and each verifier
accepts it only when its setting says so (XDS_VIHF_ACCEPT_SHA1, XDS_SIGNATURE_ACCEPT_SHA1).

Sources: W3C XML-Signature 1.1, Canonical XML 1.0/1.1, Exclusive XML Canonicalization, RFC 6931.
"""

from __future__ import annotations

DS = "http://www.w3.org/2000/09/xmldsig#"

C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = C14N + "#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N11_COMMENTS = C14N11 + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
CANONICALIZATIONS = frozenset({C14N, C14N_COMMENTS, C14N11, C14N11_COMMENTS, EXC_C14N,
                               EXC_C14N_COMMENTS})
ENVELOPED = DS + "enveloped-signature"

# digest algorithm URI → hashlib name
DIGESTS = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URIS = {name: uri for uri, name in DIGESTS.items()}
SHA1_DIGEST_METHODS = frozenset({DS + "sha1"})
STRONG_DIGEST_METHODS = frozenset(DIGESTS) - SHA1_DIGEST_METHODS

RSA_SHA1 = DS + "rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA1_SIGNATURE_METHODS = frozenset({RSA_SHA1})
STRONG_SIGNATURE_METHODS = frozenset({
    RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    ECDSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
})

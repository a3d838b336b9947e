"""What makes a DocumentEntry a signature document (IHE DSG §5.5.6.1; the DMP's values, CI-SIS
notes §4): its codes, language and mime type. Metadata, not XML: the validation rules, the
repository's content checks and dsig/ all read it from here.
"""

from __future__ import annotations

from .metadata import Code, DocumentEntry

SIGNATURE_CLASS = Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
SIGNATURE_TYPE = Code("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
DSG_DETACHED_FORMAT = Code("urn:ihe:iti:dsg:detached:2014", "1.3.6.1.4.1.19376.1.2.3",
                           "Detached Signature")
SIGNATURE_FORMATS = frozenset({(SIGNATURE_FORMAT.code, SIGNATURE_FORMAT.scheme),
                               (DSG_DETACHED_FORMAT.code, DSG_DETACHED_FORMAT.scheme)})
SIGNATURE_LANGUAGE = "art"
SIGNATURE_MIME_TYPE = "text/xml"

def _pair(code: Code | None) -> tuple[str, str] | None:
    return (code.code, code.scheme) if code is not None else None


def claims_to_be_signature(entry: DocumentEntry) -> bool:
    """An entry that any of its codes names a signature document: it is held to all of them
    (a source that gets one code wrong gets told which, rather than having its signature
    taken for a clinical document)."""
    return (_pair(entry.format_code) in SIGNATURE_FORMATS
            or _pair(entry.class_code) == _pair(SIGNATURE_CLASS)
            or _pair(entry.type_code) == _pair(SIGNATURE_TYPE))


# (attribute, field name, the values it must hold) of a signature DocumentEntry. The DMP fixes
# all three (CI-SIS notes §4); IHE DSG fixes the formatCode and leaves classCode and typeCode
# to the affinity domain (§5.5.6.1.2-3), so the `ihe` profile holds the formatCode only.
DMP_ENTRY_RULES: tuple[tuple[str, str, frozenset[tuple[str, str]]], ...] = (
    ("class_code", "classCode", frozenset({_pair(SIGNATURE_CLASS)})),
    ("type_code", "typeCode", frozenset({_pair(SIGNATURE_TYPE)})),
    ("format_code", "formatCode", SIGNATURE_FORMATS),
)
DSG_ENTRY_RULES = DMP_ENTRY_RULES[2:]


def entry_problems(entry: DocumentEntry, dmp: bool = True) -> list[tuple[str, str]]:
    """(field, problem) of a signature DocumentEntry whose codes, language or mime type are
    not a signature document's (`dmp`: the DMP's codes, else IHE DSG's)."""
    problems = []
    for attribute, name, allowed in DMP_ENTRY_RULES if dmp else DSG_ENTRY_RULES:
        value = _pair(getattr(entry, attribute))
        if value not in allowed:
            shown = f"'{value[0]}' (codingScheme {value[1]})" if value else "missing"
            wanted = " or ".join(f"'{c}' (codingScheme {s})" for c, s in sorted(allowed))
            problems.append((name, f"{name} {shown}: a signature document's is {wanted}"))
    if (entry.mime_type or "").split(";")[0].strip() != SIGNATURE_MIME_TYPE:
        problems.append(("mimeType", f"mimeType '{entry.mime_type}': a signature document's "
                                     f"is {SIGNATURE_MIME_TYPE}"))
    if entry.language_code and entry.language_code != SIGNATURE_LANGUAGE:
        problems.append(("languageCode", f"languageCode '{entry.language_code}': a signature "
                                         f"document's is '{SIGNATURE_LANGUAGE}' (IHE DSG)"))
    return problems

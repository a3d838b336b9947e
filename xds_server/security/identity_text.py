"""The rules every identity value a credential carries is held to before it is believed: the
VIHF's NameID and attributes (security/vihf_reading.py) and the IUA token's claims
(fhir/bearer.py) alike, so that what one front refuses the other refuses too.

Each rule with the accident it stops (issue 16 re-test c, findings 1 and 2):

- the caller's identifier (VIHF NameID, IUA `sub`) and structure (Identifiant_Structure,
  `subject_organization_id`) at most IDENTIFIER_MAX characters, the width of the audit trail's
  columns: a correctly signed 100-character NameID was accepted, and on PostgreSQL its read
  record failed the writer's whole batch, losing other callers' records; a write by such a
  caller answered 500. National identifiers (RPPS, ADELI, INS, FINESS, SIRET) are tens of
  characters;
- every other value at most VALUE_MAX characters (a name, a code, the patient's CX);
- no control character (C0, C1, DEL: tab and line breaks too), no lone surrogate, no U+FFFE or
  U+FFFF: a surrogate in `sub` or `subject_organization_id` could not be encoded by the audit
  writer (a 500, and the batch lost), a NUL was refused by PostgreSQL. XML cannot carry most of
  these, but a C1 control or a line break can sit inside a VIHF value;
- no format character (Unicode Cf: zero-width, bidi overrides), no line or paragraph separator
  (U+2028, U+2029) and no noncharacter (U+FDD0-U+FDEF, U+xFFFE/F) anywhere, and in an
  identifier (the values held to IDENTIFIER_MAX) no space other than U+0020 (U+00A0 and the
  other Zs): a U+2028 split the log line `caller=...` for Unicode-aware readers, and
  `810000000001\u200b` or `...\u00a0` showed as another RPPS in the logs, the trail and
  AccessHistory (outsider 16d, finding 6).
"""

from __future__ import annotations

import re
import unicodedata

IDENTIFIER_MAX = 64     # audit_events.subject_id and structure_id (store/tables.py)
VALUE_MAX = 256
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_IDENTIFIER_REFUSED_CATEGORIES = _REFUSED_CATEGORIES | {"Zs"}    # non-ASCII: U+0020 passes


def _refused(character: str, identifier: bool) -> bool:
    code = ord(character)
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return True
    categories = _IDENTIFIER_REFUSED_CATEGORIES if identifier else _REFUSED_CATEGORIES
    return unicodedata.category(character) in categories


def identity_problem(value: str, limit: int = VALUE_MAX) -> str | None:
    """Why `value` cannot be an identity value (to follow its name in a refusal), or None; a
    value held to IDENTIFIER_MAX or less is an identifier."""
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit}"
    found = _REFUSED.search(value)
    character = found.group() if found is not None else next(
        (c for c in value if not c.isascii() and _refused(c, limit <= IDENTIFIER_MAX)), None)
    if character is not None:
        return (f"holds the character U+{ord(character):04X} (control, format and separator "
                "characters, noncharacters and lone surrogates are refused)")
    return None

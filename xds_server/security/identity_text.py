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
  AccessHistory (outsider 16d, finding 6);
- an identifier (NameID, `sub`, the structure's id: the values held to IDENTIFIER_MAX) is
  printable ASCII with no space at its ends: `810000000099` followed by U+FE0F, U+0301,
  U+034F, U+3164, U+2800 or U+180B, or written in fullwidth or Arabic-Indic digits, was
  another, unauthorised principal that showed as the reader in the log and the trail; and
  the fronts disagreed on spaces (a VIHF NameID was trimmed and got the reader's access,
  an IUA `sub` was another principal): both refuse (outsider 16e, F4);
- any other value (names, codes, the patient's CX) holds no default-ignorable character
  (Unicode's Default_Ignorable_Code_Point: U+034F, the Hangul fillers, the variation
  selectors…, which render as nothing) nor U+2800 (renders blank), no digit but ASCII's,
  and a combining mark only after a letter or another mark: NFD names (`e` + U+0301) pass,
  `0` + U+0301 does not.
"""

from __future__ import annotations

import re
import unicodedata

IDENTIFIER_MAX = 64     # audit_events.subject_id and structure_id (store/tables.py)
VALUE_MAX = 256
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_IDENTIFIER = re.compile("[!-~]([ -~]*[!-~])?")    # printable ASCII, no space at the ends
_MARKS = {"Mn", "Mc", "Me"}
# Default_Ignorable_Code_Point (Unicode 15 DerivedCoreProperties.txt), those not already Cf
# or Cn, with U+2800 (So, but renders blank)
_IGNORABLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                     (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
                     (0xE0100, 0xE01EF))


def _refused(character: str, previous: str) -> bool:
    """A non-ASCII character of a value that is not an identifier, after `previous`."""
    code = ord(character)
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return True
    if any(low <= code <= high for low, high in _IGNORABLE_RANGES):
        return True
    category = unicodedata.category(character)
    if category in _MARKS:      # after a letter, or a mark after one (checked in turn)
        return not (previous and unicodedata.category(previous)[0] in "LM")
    return category in _REFUSED_CATEGORIES or category == "Nd"


def identity_problem(value: str, limit: int = VALUE_MAX) -> str | None:
    """Why `value` cannot be an identity value (to follow its name in a refusal), or None; a
    value held to IDENTIFIER_MAX or less is an identifier."""
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit}"
    if limit <= IDENTIFIER_MAX:
        if not value:
            return "is empty"
        if _IDENTIFIER.fullmatch(value):
            return None
        if value and (value[0] == " " or value[-1] == " ") and value.strip(" ") and \
                _IDENTIFIER.fullmatch(value.strip(" ")):
            return "has a space at its start or end (identifiers are refused, not trimmed)"
        character = next((c for c in value if not " " <= c <= "~"), " ")
        return (f"holds the character U+{ord(character):04X} (an identifier is printable "
                "ASCII)")
    found = _REFUSED.search(value)
    character = found.group() if found is not None else next(
        (c for i, c in enumerate(value)
         if not c.isascii() and _refused(c, value[i - 1] if i else "")), None)
    if character is not None:
        return (f"holds the character U+{ord(character):04X} (control, format, separator and "
                "default-ignorable characters, non-ASCII digits, a combining mark not after "
                "a letter, noncharacters and lone surrogates are refused)")
    return None

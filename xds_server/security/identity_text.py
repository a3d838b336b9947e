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
  these, but a C1 control or a line break can sit inside a VIHF value.
"""

from __future__ import annotations

import re

IDENTIFIER_MAX = 64     # audit_events.subject_id and structure_id (store/tables.py)
VALUE_MAX = 256
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def identity_problem(value: str, limit: int = VALUE_MAX) -> str | None:
    """Why `value` cannot be an identity value (to follow its name in a refusal), or None."""
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit}"
    found = _REFUSED.search(value)
    if found is not None:
        return (f"holds the character U+{ord(found.group()):04X} (control characters and lone "
                "surrogates are refused)")
    return None

"""The DMP's visibility codes (TRE_A07) are read only under their own codingScheme.

The access decision (security/access.py) hides a document for MASQUE_PS,
INVISIBLE_PATIENT or INVISIBLE_REPRESENTANTS_LEGAUX of 1.2.250.1.213.1.1.4.13 and for nothing
else. On the ihe profile a visibility code under another spelling of that system (URN:OID:
in capitals, http:// for https://, a trailing slash, v3-Confidentiality, another OID) was
stored as an inert code and answered with success: the client was told its masking worked and
the document stayed visible (issue 16, outsider 16e F2). Such a code is refused on every
front and profile, as is a code of that system the policy does not know but an HL7 level (it
would hide nothing either): masking fails closed."""

from __future__ import annotations

from .vocabulary import VISIBILITY_CODES, VISIBILITY_SYSTEM

_SPELLINGS = {code.casefold(): code for code in VISIBILITY_CODES}
# the PDSm example (DR_comprehensive.fsh) writes its confidentiality N "Normal" under TRE_A07:
# an HL7 level there hides nothing and claims to hide nothing, so it passes (not in a PATCH)
LEVELS = frozenset({"N", "R", "V"})


def visibility_problem(code: str, scheme: str | None) -> str | None:
    """Why (code, scheme) as a confidentialityCode would not do what it says, or None."""
    if scheme == VISIBILITY_SYSTEM:
        if code in VISIBILITY_CODES or code in LEVELS:
            return None
        return (f"'{code}' is not a DMP visibility code of {VISIBILITY_SYSTEM} (TRE_A07: "
                f"{', '.join(sorted(VISIBILITY_CODES))})")
    known = _SPELLINGS.get(code.strip().casefold())
    if known is None:
        return None
    return (f"'{code}' is a DMP visibility code ({known}): its codingScheme must be "
            f"{VISIBILITY_SYSTEM} (TRE_A07), not '{scheme}'; under another it would hide "
            "nothing")


def names_visibility(code: str, scheme: str | None) -> bool:
    """Whether (code, scheme) means a visibility, under any spelling."""
    return scheme == VISIBILITY_SYSTEM or code.strip().casefold() in _SPELLINGS

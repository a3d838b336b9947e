"""The author of a change a caller makes (the submission set of an ITI-57 update, over SOAP or
FHIR): the caller, as their verified identity names them, never the document's original
author. The set's author is what a query of the update's set shows as who changed the
document (the record's access history reads the audit trail: the VIHF subject), and the
registry's rule "only the author deletes" reads the document's authors, not the set's:
copying the original author into the set made every update look like the professional's own,
a patient's masking included (finding 12 of the outsider's report).

Every line below passes the cisis profile's check of an authorPerson (validation/cisis.py:
an id carries the idNat_PS or an INS assigning authority; a name without id is free), for
every role a front admits (security/vihf_reading.py ROLE_KINDS, fhir/bearer.py): the server's
own tools (`xds-server update`, the FHIR PATCH) must never write what its registry refuses.
`subject^name` for a legal representative (or an administrator) was refused, so none of
their changes could be made in the cisis profile (outsider 19f-2).

| caller (Principal.role) | authorPerson (XCN) |
|---|---|
| professional (AUTOMATE too) | idNat_PS ^ name ^^^^^^^ &1.2.250.1.71.4.2.1&ISO ^D^^^ IDNPS |
| patient (the id of resource-id) | INS ^ name ^^^^^^^ &INS authority&ISO ^D^^^ CX type |
| any other, an INS-shaped subject | subject ^ name ^^^^^^^ &INS authority&ISO ^D^^^ NH |
| any other | ^ name (XCN.2, no id), the role's label when the caller gave no name |
| the system (XDS_SECURITY=none) | None: the caller has no identity; the front keeps its default |

Why a representative is written so: the VIHF names its caller by `Subject/NameID` (an idNat
for a professional; for anyone else an identifier with no assigning authority: CISIS-NOTES
§5) and by a name (subject-id, optional). The cisis profile admits two national person ids,
idNat_PS and the INS; a representative is no health professional, so idNat_PS would be false.
A subject of the INS's shape (NIR or NIA, its key right; any 15-character NIR shape on a test
platform, whose fictitious INS break keys) is the representative's own INS matricule, written
under the authority of the record's INS environment (test INS for a test record). Any other
subject is no national id the profile knows: the set names the caller by name (or role)
alone, and who acted stays in the audit trail, which records the VIHF subject of every change.
An XCN needs an id or a family name (IHE ITI TF-3 4.2.3.1.4: an author has an authorPerson,
an authorInstitution or a telecom), hence the role's label for a caller without a name.

The role code the caller proved is the author's authorRole (code^^^&system&ISO) when known.
"""

from __future__ import annotations

from ..model.french_ids import (
    INS_NIA,
    INS_NIR,
    INS_PRODUCTION,
    INS_TEST,
    PS_NATIONAL_ID,
    nir_problem,
)
from ..model.hl7 import Cx
from ..model.metadata import Author
from .principal import Principal

# what names a caller without a name and without a national id (XCN.2: an XCN needs one)
ROLE_LABELS: dict[str, str] = {
    "patient": "Patient",
    "legal_representative": "Representant legal",
    "administrator": "Administrateur",
}


def _clean(text: str) -> str:
    """A value inside an XCN component: its separators dropped (a name is the caller's)."""
    return "".join(c for c in text if c not in "^&~\\|")


def ins_authority(subject: str, record: Cx | None) -> str | None:
    """The INS assigning authority `subject` is written under, or None when it is no INS: the
    test authority of a test record (no key check, as ins_problem), else NIA for a 7 or 8,
    NIR for the rest, its key right."""
    record_oid = record.authority_oid if record is not None else ""
    if record_oid in INS_TEST:
        authority = record_oid
    else:
        authority = INS_NIA if subject[:1] in ("7", "8") else INS_NIR
    checked = authority in INS_PRODUCTION
    return authority if nir_problem(subject, check_key=checked) is None else None


def acting_author(principal: Principal) -> Author | None:
    if principal.is_system or not principal.subject_id:
        return None
    subject, name = _clean(principal.subject_id), _clean(principal.attributes.get("name", ""))
    patient = Cx.parse(principal.patient_id or "")
    if principal.role == "professional":
        person = f"{subject}^{name}^^^^^^^&{PS_NATIONAL_ID}&ISO^D^^^IDNPS"
    elif principal.role == "patient" and patient is not None and patient.id == subject:
        person = f"{subject}^{name}^^^^^^^&{patient.authority_oid}&ISO^D^^^" \
                 f"{patient.id_type or 'NH'}"
    elif (authority := ins_authority(subject, patient)) is not None:
        person = f"{subject}^{name}^^^^^^^&{authority}&ISO^D^^^NH"
    else:
        person = f"^{name or ROLE_LABELS.get(principal.role, _clean(principal.role))}"
    code, _, system = principal.attributes.get("profession", "").partition("^")
    roles = [f"{_clean(code)}^^^&{_clean(system)}&ISO"] if code and system else []
    return Author(person=person, roles=roles)

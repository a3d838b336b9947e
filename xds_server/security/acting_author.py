"""The author of a change a caller makes (the submission set of an ITI-57 update, over SOAP or
FHIR): the caller, as their verified identity names them, never the document's original
author. The set's author is what the patient's access history shows as who changed the
document, and the registry's rule "only the author deletes" reads the document's authors,
not the set's: copying the original author into the set made every update look like the
professional's own, a patient's masking included (finding 12 of the outsider's report).

| caller (Principal.role) | authorPerson (XCN) |
|---|---|
| professional | idNat_PS ^ name ^^^^^^^ &1.2.250.1.71.4.2.1&ISO ^D^^^ IDNPS |
| patient (the INS of resource-id) | INS ^ name ^^^^^^^ &INS authority&ISO ^D^^^ CX type |
| other roles | subject ^ name |
| the system (XDS_SECURITY=none) | None: the caller has no identity; the front keeps its default |

The role code the caller proved is the author's authorRole (code^^^&system&ISO) when known.
"""

from __future__ import annotations

from ..model.french_ids import PS_NATIONAL_ID
from ..model.hl7 import Cx
from ..model.metadata import Author
from .principal import Principal


def _clean(text: str) -> str:
    """A value inside an XCN component: its separators dropped (a name is the caller's)."""
    return "".join(c for c in text if c not in "^&~\\|")


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
    else:
        person = f"{subject}^{name}"
    code, _, system = principal.attributes.get("profession", "").partition("^")
    roles = [f"{_clean(code)}^^^&{_clean(system)}&ISO"] if code and system else []
    return Author(person=person, roles=roles)

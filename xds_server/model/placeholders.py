"""Placeholder metadata with every field filled and no data of anyone's: the one DocumentEntry
both packing dictionaries are made from (`ebxml/boilerplate.py` for the stored LeafClass XML,
`fhir/boilerplate.py` for the kept DocumentReference), so the two describe the same entry.

Changing a value here changes what a rebuilt dictionary holds, never a shipped one: shipped
dictionaries are files pinned by hash (see `ebxml/packing.py`).
"""

from __future__ import annotations

from .metadata import Author, Code, DocumentEntry

UUID = "urn:uuid:00000000-0000-4000-8000-000000000000"
OID = "1.2.250.1.0.0"
TIME = "20250101000000"
PATIENT = "0000000000^^^&1.2.250.1.213.1.4.10&ISO"
AUTHOR = Author(person="000000000000^NOM^Prenom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                institutions=["Etablissement^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^000000000"],
                roles=["00^Role^1.2.250.1.213.1.1.4.6"],
                specialties=["SM00^Specialite^1.2.250.1.71.4.2.5"])


def code(scheme: str) -> Code:
    """A code of `scheme` with a placeholder value and no display name."""
    return Code("00000", scheme, "")


def document_entry() -> DocumentEntry:
    """One DocumentEntry with every attribute the registry stores set."""
    return DocumentEntry(
        UUID, unique_id=OID, patient_id=PATIENT, title="Compte rendu",
        logical_id=UUID, version="1", mime_type="text/xml",
        class_code=code("1.2.250.1.213.1.1.4.1"), type_code=code("2.16.840.1.113883.6.1"),
        format_code=code("1.2.250.1.213.1.1.4.2.282"),
        healthcare_facility_type_code=code("1.2.250.1.71.4.2.4"),
        practice_setting_code=code("1.2.250.1.213.1.1.4.9"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        event_codes=[code("1.2.250.1.215.300.1")], authors=[AUTHOR],
        creation_time=TIME, service_start_time=TIME, service_stop_time=TIME,
        hash="0" * 40, size="0", language_code="fr-FR",
        legal_authenticator=AUTHOR.person, repository_unique_id=OID,
        source_patient_id=PATIENT, source_patient_info=["PID-3|" + PATIENT, "PID-5|NOM^Prenom",
                                                        "PID-7|20000101", "PID-8|F"])

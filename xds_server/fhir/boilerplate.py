"""How `ebxml/dictionaries/fhir-1.json`, the dictionary the registry packs the kept
DocumentReference text with (stored_forms.py, packing format 0x02), was made: the kept form of
one DocumentEntry with every field, placeholder values (FHIR and PDSm keys, profile and
extension URLs, code systems as URIs, the contained resources' shapes; no data of anyone's).

Never rebuild fhir-1.json in place: rows packed with it must stay readable. A better dictionary
is a new file and a new format byte (packing.py), and tests pin every file's hash.

    .venv/bin/python -m xds_server.fhir.boilerplate OUT.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..model.metadata import Author, Code, DocumentEntry
from .stored_forms import document_form

UUID = "urn:uuid:00000000-0000-4000-8000-000000000000"
PATIENT = "0000000000^^^&1.2.250.1.213.1.4.10&ISO"
AUTHOR = Author(person="000000000000^NOM^Prenom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                institutions=["Etablissement^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^000000000"],
                roles=["00^Role^1.2.250.1.213.1.1.4.6"],
                specialties=["SM00^Specialite^1.2.250.1.71.4.2.5"])


def _code(scheme: str) -> Code:
    return Code("00000", scheme, "")


def document() -> DocumentEntry:
    return DocumentEntry(
        UUID, unique_id="1.2.250.1.0.0", patient_id=PATIENT, title="Compte rendu",
        logical_id=UUID, version="1", mime_type="text/xml",
        class_code=_code("1.2.250.1.213.1.1.4.1"), type_code=_code("2.16.840.1.113883.6.1"),
        format_code=_code("1.2.250.1.213.1.1.4.2.282"),
        healthcare_facility_type_code=_code("1.2.250.1.71.4.2.4"),
        practice_setting_code=_code("1.2.250.1.213.1.1.4.9"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        event_codes=[_code("1.2.250.1.215.300.1")], authors=[AUTHOR],
        creation_time="20250101000000", service_start_time="20250101000000",
        service_stop_time="20250101000000", hash="0" * 40, size="0", language_code="fr-FR",
        legal_authenticator=AUTHOR.person, repository_unique_id="1.2.250.1.0.0",
        source_patient_id=PATIENT, source_patient_info=["PID-3|" + PATIENT, "PID-5|NOM^Prenom",
                                                        "PID-7|20000101", "PID-8|F"])


def dictionary() -> bytes:
    form = document_form(document())
    assert form is not None
    return form


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(dictionary())

"""How `ebxml/dictionaries/ebrim-1.xml`, the dictionary the registry packs its stored LeafClass
XML with, was made: this package's encoder writing one object of each kind with placeholder
values (it lives with the codec whose output it packs). The dictionary holds
ebRIM 3.0 / XDS.b boilerplate (element and attribute names, classification and identification
schemes, object types, slot names) and no data of anyone's; the nested ids are fresh UUIDs, so a
build differs from the shipped file in those only.

Never rebuild ebrim-1.xml in place: rows written with it must stay readable. A better dictionary
is a new file with the next number (packing.DICTIONARIES), and tests pin every file's hash.

    .venv/bin/python -m xds_server.ebxml.boilerplate OUT.xml
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

from ..model import vocabulary as v
from ..model.metadata import Association, Author, Code, DocumentEntry, Folder, SubmissionSet
from .encode import encode_association, encode_document, encode_folder, encode_submission_set

UUID = "urn:uuid:00000000-0000-4000-8000-000000000000"
PATIENT = "0000000000^^^&1.2.250.1.213.1.4.10&ISO"
AUTHOR = Author(person="000000000000^NOM^Prenom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                institutions=["Etablissement^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^000000000"],
                roles=["00^Role^1.2.250.1.213.1.1.4.6"],
                specialties=["SM00^Specialite^1.2.250.1.71.4.2.5"])


def _code(scheme: str) -> Code:
    return Code("00000", scheme, "")


def objects() -> list[etree._Element]:
    document = DocumentEntry(
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
    submission_set = SubmissionSet(
        UUID, unique_id="1.2.250.1.0.0", patient_id=PATIENT, source_id="1.2.250.1.0.0",
        submission_time="20250101000000", content_type_code=_code("1.2.250.1.213.1.1.4.12"),
        authors=[AUTHOR])
    folder = Folder(UUID, unique_id="1.2.250.1.0.0", patient_id=PATIENT, title="Dossier",
                    codes=[_code("1.2.250.1.213.1.1.4.1")], last_update_time="20250101000000")
    associations = [Association(UUID, kind, UUID, UUID, slots=slots) for kind, slots in (
        (v.HAS_MEMBER, {v.SUBMISSION_SET_STATUS: ["Original"]}), (v.RPLC, {}), (v.APND, {}),
        (v.UPDATE_AVAILABILITY_STATUS, {v.ORIGINAL_STATUS: [v.APPROVED],
                                        v.NEW_STATUS: [v.DEPRECATED]}))]
    return [encode_document(document), encode_submission_set(submission_set),
            encode_folder(folder), *(encode_association(a) for a in associations)]


def dictionary() -> bytes:
    # the document last: LZ4 reaches back 64 KB, and documents are most of what is stored
    pieces = [etree.tostring(element, encoding="UTF-8") for element in reversed(objects())]
    return b"".join(pieces)


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(dictionary())

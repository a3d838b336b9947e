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
from ..model.metadata import Association, Folder, SubmissionSet
from ..model.placeholders import AUTHOR, OID, PATIENT, TIME, UUID, code, document_entry
from .encode import encode_association, encode_document, encode_folder, encode_submission_set


def objects() -> list[etree._Element]:
    document = document_entry()
    submission_set = SubmissionSet(
        UUID, unique_id=OID, patient_id=PATIENT, source_id=OID,
        submission_time=TIME, content_type_code=code("1.2.250.1.213.1.1.4.12"),
        authors=[AUTHOR])
    folder = Folder(UUID, unique_id=OID, patient_id=PATIENT, title="Dossier",
                    codes=[code("1.2.250.1.213.1.1.4.1")], last_update_time=TIME)
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

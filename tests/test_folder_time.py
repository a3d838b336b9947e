"""A folder's lastUpdateTime moves when its contents change (a document filed in it, ITI TF-3
4.2.3.4.7), not when a document already in it gets a new version by a metadata update: the
folder holds the same documents. Issue 16 re-test c (4): the update of a document hidden from
a reader (MASQUE_PS) moved the folder time that reader saw (FHIR List.date, SOAP
lastUpdateTime, FindFolders by $XDSFolderLastUpdateTimeFrom), telling them something hidden
in the folder changed."""

from __future__ import annotations

import time
import uuid

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.metadata import Author, Submission
from xds_server.model.stored_queries import FindFolders
from xds_server.security.principal import SYSTEM, Principal

from .fhir_data import fhir
from .registry_data import document, folder, submission_set
from .test_fhir_matrix import (  # noqa: F401 (keys, secured: fixtures)
    AUTHOR,
    READER,
    _mask_over_fhir,
    _mask_over_soap,
    keys,
    secured,
)

PERSON = f"{AUTHOR}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO"


def _filed(app, patient) -> tuple[str, list[str]]:
    """Two documents by AUTHOR filed in one folder: (the folder's entryUUID, theirs)."""
    entries = [document(patient, f"urn:uuid:{uuid.uuid4()}", content=f"d{n}".encode(),
                        mime_type="text/plain", repository_unique_id=None,
                        authors=[Author(person=PERSON)]) for n in range(2)]
    group = folder(patient, f"urn:uuid:{uuid.uuid4()}")
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}", authors=[Author(person=PERSON)])
    links = [has_member(package.entry_uuid, o.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")
             for o in (*entries, group)]
    links += [has_member(group.entry_uuid, e.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")
              for e in entries]
    app.repository.provide(Submission(package, entries, [group], associations=links),
                           {e.entry_uuid: Attachment.from_bytes(f"d{n}".encode())
                            for n, e in enumerate(entries)}, SYSTEM, [])
    return group.entry_uuid, [e.entry_uuid for e in entries]


def _seen(app, issuer, patient, folder_uuid) -> tuple[str, str]:
    """(List.date to the reader, lastUpdateTime to the reader over XDS)."""
    answer = fhir(app, "GET", f"/List/{folder_uuid.removeprefix('urn:uuid:')}",
                  headers=issuer.header(patient, subject=READER))
    assert answer.status == 200, answer.body
    reader = Principal(subject_id=READER, role="professional", patient_id=patient)
    [row] = app.registry.query(FindFolders(patient_id=patient, statuses=(v.APPROVED,)),
                               reader).result.folders
    return answer.json["date"], row.last_update_time


@pytest.mark.parametrize("front", ["fhir", "soap"])
def test_a_new_version_of_a_filed_document_does_not_move_the_folder_time(
        secured, front):  # noqa: F811
    app, authority, issuer, patient = secured
    folder_uuid, (hidden, _) = _filed(app, patient)
    before = _seen(app, issuer, patient, folder_uuid)
    time.sleep(1.1)                                     # the time has a second's resolution
    if front == "fhir":
        _mask_over_fhir(app, issuer, patient, hidden, "MASQUE_PS")
    else:
        _mask_over_soap(app, authority, patient, hidden, "MASQUE_PS")
    time.sleep(1.1)
    latest = app.registry.query(FindFolders(patient_id=patient, statuses=(v.APPROVED,)),
                                SYSTEM).result.folders
    assert [row.last_update_time for row in latest] == [before[1]]
    assert _seen(app, issuer, patient, folder_uuid) == before
    later = FindFolders(patient_id=patient, statuses=(v.APPROVED,),
                        last_update_time_from=str(int(before[1]) + 1))
    reader = Principal(subject_id=READER, role="professional", patient_id=patient)
    assert app.registry.query(later, reader).result.folders == []

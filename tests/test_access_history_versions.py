"""The DMP AccessHistory decides on a document as every query and retrieval does: on its
current version. Issue 16 re-test c (3): the author listed a document (ITI-67, or ITI-18 with
returnType ObjectRef: records naming version 1's entryUUID), then an update added
INVISIBLE_PATIENT; the patient's AccessHistory still named v1's entryUUID (judged on v1's own
codes, which had none), telling them a hidden document existed, who listed it and when."""

from __future__ import annotations

import pytest

from xds_server.model import vocabulary as v
from xds_server.model.stored_queries import GetDocuments
from xds_server.security.principal import SYSTEM, Principal

from .fhir_data import fhir, patient_query
from .registry_data import stored_query
from .test_fhir_matrix import (
    AUTHOR,
    FIND_DOCUMENTS,
    _mask_over_fhir,
    _mask_over_soap,
    _soap,
    _stored,
    _vihf,
    keys,  # noqa: F401 (a fixture)
    secured,  # noqa: F401 (a fixture)
)

# the code, and the history reader it hides the document from
READERS = {"INVISIBLE_PATIENT": "patient",
           "INVISIBLE_REPRESENTANTS_LEGAUX": "legal_representative"}


def _read_by_author(app, authority, issuer, patient) -> None:
    """The author lists the record on both fronts, by every return type."""
    headers = issuer.header(patient, subject=AUTHOR)
    assert fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                headers=headers).status == 200
    for return_type in ("ObjectRef", "LeafClass"):
        _soap(app, "urn:ihe:iti:2007:RegistryStoredQuery", stored_query(
            FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                             "$XDSDocumentEntryStatus": [v.APPROVED]}, return_type),
            _vihf(authority, patient, "professional", AUTHOR))
    app.registry.queries.audit_writer.flush()


@pytest.mark.parametrize("mask_front", ["fhir", "soap"])
@pytest.mark.parametrize("code", sorted(READERS))
def test_the_history_hides_a_document_masked_after_it_was_listed(secured, code,  # noqa: F811
                                                                 mask_front):
    app, authority, issuer, patient = secured
    entry_uuid, unique_id, _ = _stored(app, patient)
    shown_uuid, shown_unique_id, _ = _stored(app, patient)        # the control: stays visible
    _read_by_author(app, authority, issuer, patient)
    everything = " ".join(e.documents for e in app.records.history(patient))
    assert entry_uuid in everything and shown_uuid in everything    # the records name them
    if mask_front == "fhir":
        _mask_over_fhir(app, issuer, patient, entry_uuid, code)
    else:
        _mask_over_soap(app, authority, patient, entry_uuid, code)
    _read_by_author(app, authority, issuer, patient)               # and the new version
    versions = {r.entry_uuid for r in app.registry.query(GetDocuments(
        unique_ids=(unique_id,), metadata_level=2), SYSTEM).result.documents}
    assert len(versions) == 2
    for kind in set(READERS.values()):
        asker = Principal(subject_id=f"{kind}-1", role=kind, patient_id=patient)
        events = app.records.history(patient, asker)
        named = " ".join(e.documents for e in events)
        if kind == READERS[code]:
            assert not any(i in named for i in (*versions, unique_id)), (kind, named)
        else:
            assert entry_uuid in named, kind
        assert shown_uuid in named and shown_unique_id in named, kind

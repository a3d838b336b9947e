"""ITI-62 Delete Document Set in process on every database: all or nothing, and nothing left
pointing at nothing. The NIST ITI-62 cases run over HTTP in test_conformance."""

from __future__ import annotations

from lxml import etree

from xds_server.ebxml.namespaces import LCM, RIM

from .registry_data import (
    FAILURE,
    SUCCESS,
    new_patient,
    open_patient,
    register,
    run_query,
    single_document_submission,
    soap_call,
)

DELETE = "urn:ihe:iti:2010:DeleteDocumentSet"
SS_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"


def remove(app, ids: list[str]):
    request = etree.Element(f"{{{LCM}}}RemoveObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    refs = etree.SubElement(request, f"{{{RIM}}}ObjectRefList")
    for object_id in ids:
        etree.SubElement(refs, f"{{{RIM}}}ObjectRef", id=object_id)
    return soap_call(app, "/xds/registry", DELETE, request)


def contents(app, set_unique_id: str) -> dict[str, str]:
    """id → kind of everything GetSubmissionSetAndContents returns."""
    reply = run_query(app, SS_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": set_unique_id})
    return {e.get("id"): etree.QName(e).localname for e in reply.objects()}


def test_remove_a_whole_submission_and_only_then(app):
    patient = new_patient()
    open_patient(app, patient)
    submission = single_document_submission(patient)
    assert register(app, submission).status == SUCCESS
    objects = contents(app, submission.submission_set.unique_id)
    by_kind = {kind: [i for i, k in objects.items() if k == kind] for kind in objects.values()}
    document, = by_kind["ExtrinsicObject"]
    package, = by_kind["RegistryPackage"]
    membership, = by_kind["Association"]

    refused = remove(app, [document, membership])        # the set would hold nothing
    assert refused.status == FAILURE and refused.codes == ["XDSUnreferencedObjectException"]
    refused = remove(app, [package])                       # its HasMember still points at it
    assert refused.status == FAILURE and refused.codes == ["ReferencesExistException"]
    refused = remove(app, [document, "urn:uuid:00000000-0000-4000-8000-00000000dead"])
    assert "UnresolvedReferenceException" in refused.codes
    assert contents(app, submission.submission_set.unique_id) == objects   # all or nothing

    assert remove(app, [document, membership, package]).status == SUCCESS
    assert contents(app, submission.submission_set.unique_id) == {}
    assert remove(app, [document]).codes == ["UnresolvedReferenceException"]


def test_a_folder_membership_is_removed_alone(app):
    """A document filed in a folder (HasMember folder→document, recorded by a HasMember
    set→association) leaves the folder alone: the document stays held by its own submission
    set (NIST toolkit test 30003)."""
    import uuid

    from xds_server.consumer.metadata import has_member
    from xds_server.model.metadata import Submission

    from .registry_data import document, folder, submission_set

    def urn() -> str:
        return f"urn:uuid:{uuid.uuid4()}"

    patient = new_patient()
    open_patient(app, patient)
    entry, package, filing = (document(patient, urn()), submission_set(patient, urn()),
                              folder(patient, urn()))
    filed = has_member(filing.entry_uuid, entry.entry_uuid, status=None, entry_uuid=urn())
    recorded = has_member(package.entry_uuid, filed.entry_uuid, status=None, entry_uuid=urn())
    submission = Submission(package, [entry], [filing], associations=[
        has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=urn()),
        has_member(package.entry_uuid, filing.entry_uuid, entry_uuid=urn()), filed, recorded])
    assert register(app, submission).status == SUCCESS
    assert remove(app, [filed.entry_uuid, recorded.entry_uuid]).status == SUCCESS
    left = contents(app, package.unique_id)
    assert entry.entry_uuid in left and filing.entry_uuid in left
    assert filed.entry_uuid not in left and recorded.entry_uuid not in left

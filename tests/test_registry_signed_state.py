"""Rule K (registry/signed_state.py): whatever the steps, no change leaves a document of a signed
set current without a current signature over its bytes, and no replacement joins a signature and
a non-signature (outside round 19c, N2-N5, N8), over the registry's SOAP endpoint in process.
The HL7 v2 route (N1) is in test_hl7v2_signed.py."""

from __future__ import annotations

import copy

import pytest

from xds_server.consumer.changes import REMOVE_METADATA, UPDATE, remove_objects_request
from xds_server.consumer.metadata import new_version, submit_objects_request
from xds_server.model import vocabulary as v
from xds_server.model.hl7 import patient_key
from xds_server.model.metadata import Association
from xds_server.registry.update_plan import ASSOCIATION_PROPAGATION

from .cda_data import LEVEL1, TEST_INS
from .dsig_data import fresh, signed_submission, with_uuids
from .registry_data import register, soap_call, submission_set
from .test_registry_repositories import for_iti42
from .test_registry_signed_sets import (  # noqa: F401 (app, signed: fixtures)
    LISTED,
    _status,
    app,
    cda_of,
    refused,
    required,
    signed,
    update,
)

RECORD = patient_key(TEST_INS)


def _registered_version(app, entry, **changes) -> str:
    """ITI-57 of `entry` (its version 1) with `changes`, accepted: the new version's id."""
    reply = update(app, entry, **changes)
    assert reply.status.endswith(":Success"), reply.errors
    return _latest(app, entry.entry_uuid).entry_uuid


def _latest(app, logical_id: str):
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        versions = store.objects(uow, "document", RECORD, [logical_id], by="logical_id")
    return max(versions, key=lambda d: int(d.version or "1"))


def _exists(app, entry_uuid: str) -> bool:
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        return bool(store.find_by_uuids(uow, [entry_uuid]))


def _remove(app, ids):
    return soap_call(app, "/xds/registry", REMOVE_METADATA, remove_objects_request(set(ids)))


def _links_of(app, entry_uuid: str) -> set[str]:
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        return {a.entry_uuid for a in store.associations_touching(uow, RECORD, [entry_uuid])}


# --- K1 -------------------------------------------------------------------------------------


def test_removing_the_signed_version_under_a_newer_one_is_refused(app, signed):
    """N2: ITI-57 makes version 2 of the CDA (title); ITI-62 removes the Deprecated version 1
    with the signed set's HasMember to it; the signature could then go (rule I saw no document
    left in the set). Refused at the first step: version 2's bytes are signed only through
    version 1's membership."""
    submission, signature = signed
    cda = cda_of(submission, signature)
    _registered_version(app, cda, title="Corrigé")
    reply = _remove(app, {cda.entry_uuid, *_links_of(app, cda.entry_uuid)})
    if not required(app):
        assert reply.status.endswith(":Success"), reply.errors
        return
    context = refused(reply, "rule K1", f"logicalId {cda.entry_uuid}", "no current signature")
    assert reply.codes == ["XDSRegistryError"] and TEST_INS not in context
    assert _exists(app, cda.entry_uuid)       # nothing removed


def _unpropagated(app, entry, **changes) -> str:
    """ITI-57 new version of `entry` with AssociationPropagation=no."""
    version = copy.deepcopy(entry)
    logical_id, version.entry_uuid = version.entry_uuid, "Document01"
    for name, value in changes.items():
        setattr(version, name, value)
    request = new_version(submission_set(TEST_INS), version, logical_id, "1")
    request.associations[0].slots[ASSOCIATION_PROPAGATION] = ["no"]
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(request))
    assert reply.status.endswith(":Success"), reply.errors
    return _latest(app, logical_id).entry_uuid


def test_the_signature_without_its_signs_still_goes_only_with_its_documents(app, signed):
    """N3: the signature's version 2 made without propagation has no `signs` (they stay on
    version 1); deleting or removing version 2 alone left the CDA signed by nothing."""
    submission, signature = signed
    second = _unpropagated(app, signature, title="Signature")
    if not required(app):
        return
    refused(_status(app, second), "rule K1", cda_of(submission, signature).entry_uuid)
    refused(_status(app, second, new=v.DEPRECATED), "rule K1")
    refused(_remove(app, {second, *_links_of(app, second), *_update_sets(app, second)}),
            "rule K1")
    assert _latest(app, signature.entry_uuid).status == v.APPROVED


def _update_sets(app, entry_uuid: str) -> set[str]:
    from xds_server.store import registry_store as store
    with app.database.reading() as uow:
        sources = {a.source for a in store.associations_touching(uow, RECORD, [entry_uuid],
                                                                 "target")}
        return {s.entry_uuid for s in store.objects(uow, "submission_set", RECORD, sources)}


def test_the_signature_is_not_archived_alone(app, signed):
    """N8: the signature Archived while its CDA stays Approved: a consumer reading Approved
    documents finds the CDA and no signature. Archived together, they stay a signed pair."""
    submission, signature = signed
    cda = cda_of(submission, signature)
    if required(app):
        refused(_status(app, signature.entry_uuid, new=v.CISIS_ARCHIVED), "rule K1",
                "would stay Approved", "a signature you do not see is made available again "
                "by its author or an administrator")   # 19f-3: a patient it is hidden from
    reply = _status(app, signature.entry_uuid, cda.entry_uuid, new=v.CISIS_ARCHIVED)
    assert reply.status.endswith(":Success"), reply.errors


def test_a_deleted_signature_after_its_metadata_update_is_refused(app, signed):
    """N1's first half on the registry: after a title change of the signature (version 2 with
    its `signs`), the signature still goes only with its documents."""
    submission, signature = signed
    second = _registered_version(app, signature, title="Signature")
    if required(app):
        refused(_status(app, second), cda_of(submission, signature).entry_uuid)


# --- K2 and replacements by signed sets -----------------------------------------------------


def _signed_iti42(app, authority, tmp_path, replacing: str, target: str, kind: str = v.RPLC):
    """A correctly signed set from the verifying repository whose CDA (`replacing` 'cda') or
    signature (`replacing` 'signature') replaces the registered `target`."""
    submission, documents, signature = signed_submission(authority, [fresh(LEVEL1, tmp_path)],
                                                         TEST_INS)
    with_uuids(submission, documents)
    for_iti42(submission, documents, LISTED)
    source = signature if replacing == "signature" else cda_of(submission, signature)
    submission.associations.append(Association("Replaces", kind, source.entry_uuid, target))
    return submission, register(app, submission)


@pytest.mark.parametrize("kind", [v.RPLC, v.XFRM_RPLC])
def test_a_later_signed_set_does_not_replace_a_signature_by_a_cda(app, signed, authority,
                                                                  tmp_path, kind):
    """N4: set B, correctly signed, whose CDA replaces set A's signature: A's signature
    Deprecated, A's CDA Approved and signed by nothing."""
    earlier, earlier_signature = signed
    _, reply = _signed_iti42(app, authority, tmp_path, "cda", earlier_signature.entry_uuid,
                             kind)
    if not required(app):
        return
    refused(reply, "rule K2", f"logicalId {earlier_signature.entry_uuid}")
    refused(reply, "rule K1", cda_of(earlier, earlier_signature).entry_uuid)
    assert reply.codes == ["XDSRegistryMetadataError"] * 2
    assert _latest(app, earlier_signature.entry_uuid).status == v.APPROVED


@pytest.mark.parametrize("kind", [v.RPLC, v.XFRM_RPLC])
def test_a_signature_does_not_replace_a_cda(app, signed, authority, tmp_path, kind):
    """N4: set B's signature replaces set A's CDA: the lab report's current version would be
    an XAdES document."""
    earlier, earlier_signature = signed
    cda = cda_of(earlier, earlier_signature)
    _, reply = _signed_iti42(app, authority, tmp_path, "signature", cda.entry_uuid, kind)
    if required(app):
        refused(reply, "rule K2", f"logicalId {cda.entry_uuid}")
        assert _latest(app, cda.entry_uuid).status == v.APPROVED


def test_a_signed_replacement_carries_the_document_on(app, signed, authority, tmp_path):
    """What holds: set B, signed, replaces A's CDA; A's signature may then go (its documents
    are all Deprecated), B's may not (its CDA is current)."""
    earlier, earlier_signature = signed
    later, reply = _signed_iti42(app, authority, tmp_path, "cda",
                                 cda_of(earlier, earlier_signature).entry_uuid)
    assert reply.status.endswith(":Success"), reply.errors
    later_signature = next(a.source for a in later.associations if a.type == v.SIGNS)
    later_signature = next(d for d in later.documents if d.entry_uuid == later_signature)
    if required(app):
        refused(_status(app, later_signature.entry_uuid), "rule")
    reply = _status(app, earlier_signature.entry_uuid)
    assert reply.status.endswith(":Success"), reply.errors


# --- H with all three codes (N5) ------------------------------------------------------------


def test_a_signature_keeping_its_format_code_alone_is_refused(app, signed):
    """N5: the signature's new version keeps the formatCode and takes the CDA's classCode and
    typeCode (found as a biology report by a query by class)."""
    submission, signature = signed
    cda = cda_of(submission, signature)
    reply = update(app, signature, class_code=cda.class_code, type_code=cda.type_code)
    if required(app):
        context = refused(reply, "rule H", "classCode")
        assert signature.unique_id in context


def test_a_record_out_of_the_rules_before_keeps_working(app, make_app, authority, signed):
    """A record already out of rule K (here: the signature removed while signatures were not
    required) is not locked: its CDA's metadata can still be corrected once they are."""
    submission, signature = signed
    if required(app):
        return
    alone = {signature.entry_uuid, *_links_of(app, signature.entry_uuid)}
    assert _remove(app, alone).status.endswith(":Success")
    strict = make_app(profile="ihe", accept_test_ins=True, require_submission_signature=True,
                      signature_trusted_certs=str(authority.trusted),
                      signature_verifying_repositories=LISTED)
    reply = update(strict, cda_of(submission, signature), title="Corrigé")
    assert reply.status.endswith(":Success"), reply.errors


def test_the_signature_is_not_moved_to_another_record_alone(app, signed):
    """A patient change (ITI-57, 3.57.4.1.3.3.3.7) of the signature alone: its record's CDA
    stays Approved, its signature now in another record. Refused while the signature's
    `signs` links it to the former record (update_versions.py), and by rule K, which watches
    both records, whatever links it."""
    from .registry_data import open_patient

    other = "279035121518990^^^&1.2.250.1.213.1.4.10&ISO^NH"
    open_patient(app, other)
    _, signature = signed
    version = copy.deepcopy(signature)
    logical_id, version.entry_uuid = version.entry_uuid, "Document01"
    version.patient_id = other
    reply = soap_call(app, "/xds/registry", UPDATE, submit_objects_request(
        new_version(submission_set(other), version, logical_id, "1")))
    if required(app):
        assert reply.status.endswith(":Failure"), reply.errors
        assert _latest(app, signature.entry_uuid).status == v.APPROVED


@pytest.mark.parametrize("visible", [1, 0])
def test_a_refusal_names_no_document_hidden_from_the_caller(app, authority, tmp_path, visible):
    """19d D4: the patient archives a signed set's signature alone; rule K refuses, once per
    document of the set, and named the set's document hidden from the patient
    (INVISIBLE_PATIENT): its entryUUID, logicalId and status. To the patient it does not
    exist: a refusal over it says "a document of this signed submission set", and only when
    no document they see is refused too (19e E5: the number of refusals counted it)."""
    from xds_server.ebxml.decode import decode_submission
    from xds_server.model.errors import RegistryFailure
    from xds_server.model.metadata import Code
    from xds_server.security.principal import SYSTEM, Principal

    from .test_registry_signed_sets import status_update

    submission, documents, signature = signed_submission(
        authority, [fresh(LEVEL1, tmp_path) for _ in range(visible + 2)], TEST_INS)
    with_uuids(submission, documents)
    cdas = [d for d in submission.documents if d is not signature]
    shown, hidden = cdas[:visible], cdas[visible:]
    for entry in hidden:
        entry.confidentiality_codes = [*entry.confidentiality_codes,
                                       Code("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13")]
    app.repository.provide(submission, documents, SYSTEM, [])
    archive = status_update(submission_set(TEST_INS), signature.entry_uuid, v.APPROVED,
                            v.CISIS_ARCHIVED)
    patient = Principal(subject_id="patient-1", role="patient", patient_id=TEST_INS)
    decoded = decode_submission(submit_objects_request(archive)).submission
    if not required(app):
        app.registry.update(decoded, patient)
        return
    with pytest.raises(RegistryFailure) as failure:
        app.registry.update(decoded, patient)
    texts = [e.context for e in failure.value.errors]
    assert len(texts) == 1 and "rule K1" in texts[0], texts
    assert not any(entry.entry_uuid in texts[0] for entry in hidden), texts
    if shown:
        assert shown[0].entry_uuid in texts[0]
    else:
        assert texts[0].startswith("a document of this signed submission set")

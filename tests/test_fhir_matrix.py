"""One access decision for both fronts: a document masked over FHIR (PATCH, PDSM4DMP TD3.3a/b)
is hidden from the same readers over SOAP (ITI-18), and one masked over SOAP (ITI-57) from the
same readers over FHIR (ITI-67), for every visibility code and every reader kind; archiving and
deletion by PATCH are the ITI-57 status changes, with ITI-57's rule (only the author deletes).
Callers prove who they are on each front: a signed VIHF (SOAP), an IUA token (FHIR)."""

from __future__ import annotations

import base64
import uuid

import pytest
from lxml import etree

from xds_server.consumer.documents import retrieve_request
from xds_server.consumer.metadata import (
    has_member,
    new_version,
    submit_objects_request,
)
from xds_server.model import vocabulary as v
from xds_server.model.content import Attachment
from xds_server.model.metadata import Author, Code, Submission
from xds_server.model.stored_queries import (
    FindDocuments,
    FindSubmissionSets,
    GetDocuments,
    GetSubmissionSets,
)
from xds_server.security.principal import SYSTEM, Principal

from .conftest import call_wsgi
from .fhir_data import fhir, patient_query, provide_bundle
from .iua_data import TokenIssuer
from .registry_data import (
    document,
    folder,
    new_patient,
    open_patient,
    stored_query,
    submission_set,
)
from .soap_messages import envelope
from .vihf_data import NON_PROFESSIONAL, PROFESSION, SigningAuthority, assertion, security_header

AUTHOR, READER = "810000000001", "810000000099"
VISIBILITY = "1.2.250.1.213.1.1.4.13"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
HIDES = {"MASQUE_PS": {"professional"}, "INVISIBLE_PATIENT": {"patient"},
         "INVISIBLE_REPRESENTANTS_LEGAUX": {"legal_representative"}}
# reader → (kind, subject)
READERS = {"author": ("professional", AUTHOR), "authorised professional":
           ("professional", READER), "patient": ("patient", "PATIENT-1"),
           "legal representative": ("legal_representative", "LR-1")}
VIHF_ROLES = {"professional": ("10", PROFESSION), "patient": ("PATIENT", NON_PROFESSIONAL),
              "legal_representative": ("REPRESENTANT_LEGAL", NON_PROFESSIONAL)}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("fhir-matrix")
    return SigningAuthority.create(root / "ca"), TokenIssuer.create(root / "iua")


@pytest.fixture
def secured(make_app, keys):
    authority, issuer = keys
    app = make_app(profile="ihe", vihf_trusted_certs=str(authority.trusted), **issuer.settings())
    patient = new_patient()
    open_patient(app, patient)
    app.records.authorize(patient, READER)
    return app, authority, issuer, patient


def _store(app, patient: str) -> tuple[str, str]:
    entry_uuid, unique_id, _ = _stored(app, patient)
    return entry_uuid, unique_id


def _stored(app, patient: str, codes: list[str] = ()) -> tuple[str, str, bytes]:
    """A document by AUTHOR carrying these visibility codes: (entryUUID, uniqueId, bytes)."""
    person = f"{AUTHOR}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO"
    content = f"doc {uuid.uuid4()}".encode()
    entry = document(patient, f"urn:uuid:{uuid.uuid4()}", content=content,
                     mime_type="text/plain", repository_unique_id=None,
                     authors=[Author(person=person)])
    entry.confidentiality_codes = [*entry.confidentiality_codes,
                                   *(Code(code, VISIBILITY) for code in codes)]
    package = submission_set(patient, f"urn:uuid:{uuid.uuid4()}",
                             authors=[Author(person=person)])
    app.repository.provide(Submission(package, [entry], associations=[has_member(
        package.entry_uuid, entry.entry_uuid, entry_uuid=f"urn:uuid:{uuid.uuid4()}")]),
        {entry.entry_uuid: Attachment.from_bytes(content)}, SYSTEM, [])
    return entry.entry_uuid, entry.unique_id, content


def _vihf(authority, patient: str, kind: str, subject: str) -> str:
    return etree.tostring(security_header(authority.sign(assertion(
        patient, role=VIHF_ROLES[kind], speciality=None, subject=subject)))).decode()


def _soap(app, action: str, payload, header: str):
    body = envelope(etree.tostring(payload).decode(), action=action, extra_headers=header)
    result = call_wsgi(app, "POST", "/xds/registry", body, "application/soap+xml")
    assert result.status == 200, result.body[:500]
    root = etree.fromstring(result.body)
    return root.find("{http://www.w3.org/2003/05/soap-envelope}Body")[0]


def _sees_over_soap(app, authority, patient, kind, subject, unique_id) -> bool:
    request = stored_query(FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": patient,
                                            "$XDSDocumentEntryStatus": [v.APPROVED]})
    answer = _soap(app, "urn:ihe:iti:2007:RegistryStoredQuery", request,
                   _vihf(authority, patient, kind, subject))
    values = {e.get("value") for e in answer.iter("{*}ExternalIdentifier")}
    return unique_id in values


def _sees_over_fhir(app, issuer, patient, kind, subject, unique_id) -> bool:
    answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                  headers=issuer.header(patient, kind=kind, subject=subject))
    assert answer.status == 200, answer.body
    return f"urn:oid:{unique_id}" in {e["resource"]["masterIdentifier"]["value"]
                                      for e in answer.json.get("entry", [])
                                      if e["resource"]["resourceType"] == "DocumentReference"}


def _mask_over_fhir(app, issuer, patient, entry_uuid, code):
    patch = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{
        "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                  "TRE-A07-StatutVisibiliteDocument", "code": code}]}}]
    answer = fhir(app, "PATCH", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                  patch, "application/json-patch+json",
                  headers=issuer.header(patient, subject=AUTHOR))
    assert answer.status == 200, answer.body
    assert any(c["coding"][0]["code"] == code for c in answer.json["securityLabel"])


def _mask_over_soap(app, authority, patient, entry_uuid, code):
    [record] = app.registry.query(GetDocuments(entry_uuids=(entry_uuid,)),
                                  SYSTEM).result.documents
    from xds_server.ebxml.stored import model_object
    entry = model_object(record)
    entry.entry_uuid = "NewVersion"
    entry.confidentiality_codes = [*entry.confidentiality_codes, Code(code, VISIBILITY)]
    person = f"{AUTHOR}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO"
    update = new_version(submission_set(patient, "Update01", authors=[Author(person=person)]),
                         entry, record.logical_id or entry_uuid, record.version or "1")
    answer = _soap(app, "urn:ihe:iti:2010:UpdateDocumentSet", submit_objects_request(update),
                   _vihf(authority, patient, "professional", AUTHOR))
    assert answer.get("status", "").endswith("Success"), etree.tostring(answer)[:800]


@pytest.mark.parametrize("mask_front", ["fhir", "soap"])
@pytest.mark.parametrize("code", sorted(HIDES))
def test_a_masking_on_one_front_hides_on_both(secured, code, mask_front):
    app, authority, issuer, patient = secured
    entry_uuid, unique_id = _store(app, patient)
    if mask_front == "fhir":
        _mask_over_fhir(app, issuer, patient, entry_uuid, code)
    else:
        _mask_over_soap(app, authority, patient, entry_uuid, code)
    for reader, (kind, subject) in READERS.items():
        expected = reader == "author" or kind not in HIDES[code]
        seen = (_sees_over_soap(app, authority, patient, kind, subject, unique_id),
                _sees_over_fhir(app, issuer, patient, kind, subject, unique_id))
        assert seen == (expected, expected), (reader, code, mask_front)


def test_archiving_and_deletion_by_patch_follow_iti57_rules(secured):
    app, _, issuer, patient = secured
    entry_uuid, unique_id = _store(app, patient)
    rid = entry_uuid.removeprefix("urn:uuid:")
    archive = [{"op": "replace", "path": "/extension[url:'https://interop.esante.gouv.fr/ig/"
                "fhir/pdsm/StructureDefinition/pdsm-ext-is-archived']/valueBoolean",
                "value": True}]
    author = issuer.header(patient, subject=AUTHOR)
    answer = fhir(app, "PATCH", f"/DocumentReference?identifier=urn:ietf:rfc:3986|"
                                f"urn:oid:{unique_id}", archive, "application/json-patch+json",
                  headers=author)
    assert answer.status == 200, answer.body
    assert answer.json["extension"][0]["valueBoolean"] is True
    [record] = app.registry.query(GetDocuments(entry_uuids=(entry_uuid,)),
                                  SYSTEM).result.documents
    assert record.status == v.CISIS_ARCHIVED
    archived = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current"
                                "&isArchived=true", headers=author).json
    assert [e["resource"]["id"] for e in archived["entry"]] == [rid]
    archive[0]["value"] = False
    assert fhir(app, "PATCH", f"/DocumentReference/{rid}", archive,
                "application/json-patch+json", headers=author).status == 200
    delete = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    reader = issuer.header(patient, subject=READER)
    refused = fhir(app, "PATCH", f"/DocumentReference/{rid}", delete,
                   "application/json-patch+json", headers=reader)
    assert refused.status in (403, 422) and refused.json["resourceType"] == "OperationOutcome"
    done = fhir(app, "PATCH", f"/DocumentReference/{rid}", delete,
                "application/json-patch+json", headers=author)
    assert done.status == 200 and done.json["status"] == "entered-in-error"
    gone = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}&status=current",
                headers=author).json
    assert gone.get("entry", []) == []


def test_a_patch_of_anything_else_is_refused(secured):
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    answer = fhir(app, "PATCH", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                  [{"op": "add", "path": "/description", "value": "changed"}],
                  "application/json-patch+json", headers=issuer.header(patient, subject=AUTHOR))
    assert answer.status == 422 and answer.expressions == ["DocumentReference.description"]


@pytest.mark.parametrize("patch", [
    [{"op": "replace", "path": "/extension", "value": "x"}],
    [{"op": "add", "path": "/securityLabel/-", "value": "MASQUE_PS"}],
    [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"system":
        "urn:oid:1.2.250.1.213.1.1.4.13", "code": "TOUT_MASQUER"}]}}],
    [{"op": "replace", "path": "/status", "value": 7}],
    [{"op": "move", "from": "/status", "path": "/description"}],
    [{"op": "remove", "path": "/securityLabel/99"}],
    {"op": "replace"}, [],
])
def test_a_malformed_patch_is_a_precise_refusal(secured, patch):
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    answer = fhir(app, "PATCH", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                  patch, "application/json-patch+json",
                  headers=issuer.header(patient, subject=AUTHOR))
    assert answer.status in (400, 422), answer.body
    assert all(i.get("diagnostics") for i in answer.json["issue"])


# --- retrievals (ITI-68, ITI-43) decide on the current version (issue 16 re-test, B1) -------

RETRIEVERS = {**{name: (kind, subject, "normal") for name, (kind, subject) in READERS.items()},
              "professional in bris de glace": ("professional", "810000000077",
                                                "bris_de_glace"),
              "administrator": ("administrator", "ADMIN-1", "normal")}
VIHF_ROLES["administrator"] = ("ADMINISTRATEUR", NON_PROFESSIONAL)
LABEL_SYSTEM = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                "TRE-A07-StatutVisibiliteDocument")


def _patch(app, issuer, patient, entry_uuid, patch) -> dict:
    answer = fhir(app, "PATCH", f"/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}",
                  patch, "application/json-patch+json",
                  headers=issuer.header(patient, subject=AUTHOR))
    assert answer.status == 200, answer.body
    return answer.json


def _hide(app, authority, issuer, patient, code: str, history: str) -> tuple[str, bytes]:
    """A document hidden by `code` as `history` says; (its uniqueId, its bytes)."""
    entry_uuid, unique_id, content = _stored(app, patient,
                                             [code] if history == "at submission" else [])
    if history == "masked by an update over SOAP":
        _mask_over_soap(app, authority, patient, entry_uuid, code)
    elif history != "at submission":
        resource = _patch(app, issuer, patient, entry_uuid, [{
            "op": "add", "path": "/securityLabel/-",
            "value": {"coding": [{"system": LABEL_SYSTEM, "code": code}]}}])
        if history == "masked, then deleted":
            _patch(app, issuer, patient, f"urn:uuid:{resource['id']}",
                   [{"op": "replace", "path": "/status", "value": "entered-in-error"}])
        elif history == "masked, then shown again":
            at = next(i for i, label in enumerate(resource["securityLabel"])
                      if label["coding"][0]["code"] == code)
            _patch(app, issuer, patient, f"urn:uuid:{resource['id']}",
                   [{"op": "remove", "path": f"/securityLabel/{at}"}])
    return unique_id, content


def _credentials(authority, issuer, patient, who) -> tuple[dict[str, str], str]:
    """(the IUA token header, the signed VIHF header) of a retriever."""
    kind, subject, purpose = RETRIEVERS[who]
    return issuer.header(patient, kind=kind, subject=subject, purpose=purpose), \
        etree.tostring(security_header(authority.sign(assertion(
            patient, role=VIHF_ROLES[kind], speciality=None, subject=subject,
            purpose=purpose)))).decode()


def _retrieved_over_fhir(app, headers, unique_id, content) -> tuple[bool, ...]:
    whole = fhir(app, "GET", f"/Binary/{unique_id}", headers=headers)
    ranged = fhir(app, "GET", f"/Binary/{unique_id}", headers={**headers, "Range": "bytes=0-3"})
    head = fhir(app, "HEAD", f"/Binary/{unique_id}", headers=headers)
    if whole.status == 404:      # a refusal is "not found", word for word
        unknown_id = f"1.2.250.{uuid.uuid4().int}"
        unknown = fhir(app, "GET", f"/Binary/{unknown_id}", headers=headers)
        assert (ranged.status, head.status, unknown.status) == (404, 404, 404)
        assert _issues(whole, unique_id) == _issues(unknown, unknown_id)
        return False, False, False
    return whole.body == content, ranged.status == 206 and ranged.body == content[:4], \
        head.status == 200 and head.headers.get("content-length") == str(len(content))


def _issues(answer, named: str) -> list:
    return [{**issue, "diagnostics": issue.get("diagnostics", "").replace(named, "X")}
            for issue in answer.json["issue"]]


def _retrieved_over_soap(app, header, unique_id, content) -> bool:
    body = envelope(etree.tostring(retrieve_request(
        [(app.repository.repository_unique_id, unique_id)])).decode(),
        action="urn:ihe:iti:2007:RetrieveDocumentSet", extra_headers=header)
    result = call_wsgi(app, "POST", "/xds/repository", body, "application/soap+xml")
    assert result.status == 200, result.body[:500]
    served = b"ResponseStatusType:Success" in result.body
    assert served or b"XDSDocumentUniqueIdError" in result.body, result.body[:800]
    return served and (content in result.body or base64.b64encode(content) in result.body)


HISTORIES = ("at submission", "masked by an update over FHIR", "masked by an update over SOAP",
             "masked, then deleted", "masked, then shown again")


@pytest.mark.parametrize("history", HISTORIES)
def test_a_hidden_document_is_retrieved_by_none_it_is_hidden_from(secured, history):
    """ITI-68 (whole, Range, HEAD) and ITI-43 serve a document to exactly the readers its
    current version shows it to, for every visibility code: a masking by update hides the
    bytes as it hides the entry; a Deleted document is an administrator's; shown again, it is
    everyone's again."""
    app, authority, issuer, patient = secured
    documents = {code: _hide(app, authority, issuer, patient, code, history)
                 for code in sorted(HIDES)}
    for who, (kind, subject, _) in RETRIEVERS.items():
        token, vihf = _credentials(authority, issuer, patient, who)
        for code, (unique_id, content) in documents.items():
            if history == "masked, then deleted":
                expected = kind == "administrator"
            elif history == "masked, then shown again":
                expected = True
            else:
                expected = subject == AUTHOR or kind not in HIDES[code]
            fronts = (*_retrieved_over_fhir(app, token, unique_id, content),
                      _retrieved_over_soap(app, vihf, unique_id, content))
            assert fronts == (expected,) * 4, (who, code, history, fronts)


def test_a_refused_retrieval_is_audited_as_a_refusal(secured):
    app, authority, issuer, patient = secured
    unique_id, content = _hide(app, authority, issuer, patient, "INVISIBLE_PATIENT",
                               "masked by an update over FHIR")
    token, _ = _credentials(authority, issuer, patient, "patient")
    assert _retrieved_over_fhir(app, token, unique_id, content) == (False, False, False)
    app.repository.audit_writer.flush()
    mine = [(row.transaction, row.outcome) for row in app.records.history(patient)
            if row.subject_id == "PATIENT-1" and unique_id in (row.documents or ())]
    assert mine and all(outcome == "failure" for _, outcome in mine), mine


def test_a_masked_document_keeps_its_folder_and_its_relationships(secured):
    """A PATCH is a new metadata version (ITI-57): it joins the previous version's folders and
    keeps its relatesTo (association propagation; issue 16 re-test, M3)."""
    app, _, issuer, patient = secured
    author = issuer.header(patient, subject=AUTHOR)
    person = [Author(person=f"{AUTHOR}^AUTEUR^A^^^^^^&1.2.250.1.71.4.2.1&ISO")]
    original_uuid, _ = _store(app, patient)
    replacement = document(patient, "Doc", mime_type="text/plain", authors=person,
                           repository_unique_id=None)
    bundle = provide_bundle(
        submission_set(patient, authors=person), [(replacement, b"replacement")],
        folders=[(folder(patient), [0])],
        relates_to=[{"code": "replaces", "target": {
            "reference": f"DocumentReference/{original_uuid.removeprefix('urn:uuid:')}"}}])
    provided = fhir(app, "POST", "", bundle, headers=author)
    assert provided.status == 200, provided.body
    ids = {e["response"]["location"].split("/")[-2]: e["response"]["location"].split("/")[-1]
           for e in provided.json["entry"] if "/List/" in e["response"]["location"]
           or "/DocumentReference/" in e["response"]["location"]}
    lists = [e["response"]["location"].rsplit("/", 1)[-1] for e in provided.json["entry"]
             if "/List/" in e["response"]["location"]]
    masked = _patch(app, issuer, patient, f"urn:uuid:{ids['DocumentReference']}", [{
        "op": "add", "path": "/securityLabel/-",
        "value": {"coding": [{"system": LABEL_SYSTEM, "code": "INVISIBLE_PATIENT"}]}}])
    read = fhir(app, "GET", f"/DocumentReference/{masked['id']}", headers=author).json
    assert [(r["code"], r["target"]["reference"].rsplit("/", 1)[-1])
            for r in read.get("relatesTo", [])] == \
        [("replaces", original_uuid.removeprefix("urn:uuid:"))]
    reader = issuer.header(patient, subject=READER)      # the record is open to them
    members = [[entry["item"]["reference"] for entry in
                fhir(app, "GET", f"/List/{one}", headers=reader).json.get("entry", [])]
               for one in lists]
    assert [f"DocumentReference/{masked['id']}"] in members, members


@pytest.mark.parametrize("history", ["at submission", "masked by an update over FHIR"])
def test_a_set_whose_documents_are_hidden_is_hidden(secured, history):
    """Issue 16 re-test m11: a set whose one document was masked after submission stayed
    listed (title, time, author) to the reader the document is hidden from; as one masked at
    submission, it is hidden from them, and from no one else."""
    app, authority, issuer, patient = secured
    codes = {code: _hide(app, authority, issuer, patient, code, history)[0]
             for code in sorted(HIDES)}
    for who, (kind, subject, purpose) in RETRIEVERS.items():
        if kind == "administrator":
            continue
        principal = Principal(subject_id=subject if kind != "patient" else patient.split("^")[0],
                              role=kind, purpose_of_use=purpose, patient_id=patient)
        found = app.registry.query(FindSubmissionSets(patient_id=patient,
                                                      statuses=(v.APPROVED,)), principal)
        listed = {s.entry_uuid for s in found.result.submission_sets}
        for code, unique_id in codes.items():
            [entry] = app.registry.query(GetDocuments(unique_ids=(unique_id,),
                                                      metadata_level=2), SYSTEM
                                         ).result.documents[:1]
            original = app.registry.query(GetSubmissionSets(uuids=(entry.entry_uuid,)),
                                          SYSTEM).result.submission_sets[0].entry_uuid
            hidden = subject != AUTHOR and (kind in HIDES[code] or (
                kind == "professional" and purpose == "normal" and subject != READER))
            assert (original not in listed) == hidden, (who, code, history)


@pytest.mark.parametrize("history", ["masked by an update over FHIR", "masked, then deleted",
                                     "masked, then shown again"])
def test_an_older_version_is_hidden_as_the_document_now_is(secured, history):
    """A Deprecated version a masking update left carries no code: with $MetadataLevel 2
    (GetDocuments by its id or uniqueId, FindDocuments of Deprecated entries) it was shown to
    the readers the update hid the document from. It is hidden when the version itself or the
    document's latest version hides from the reader."""
    app, authority, issuer, patient = secured
    codes = {code: _hide(app, authority, issuer, patient, code, history)[0]
             for code in sorted(HIDES)}
    for who, (kind, subject, purpose) in RETRIEVERS.items():
        principal = Principal(subject_id=subject if kind != "patient" else patient.split("^")[0],
                              role=kind, purpose_of_use=purpose, patient_id=patient)
        deprecated = {r.entry_uuid for r in app.registry.query(FindDocuments(
            patient_id=patient, statuses=(v.DEPRECATED,), metadata_level=2),
            principal).result.documents}
        for code, unique_id in codes.items():
            versions = app.registry.query(GetDocuments(unique_ids=(unique_id,),
                                                       metadata_level=2), SYSTEM).result.documents
            first = min(versions, key=lambda r: int(r.version or "1")).entry_uuid
            if history == "masked, then deleted":
                shown = kind == "administrator"
            elif history == "masked, then shown again":
                shown = True
            else:
                shown = subject == AUTHOR or kind not in HIDES[code]
            by_id = app.registry.query(GetDocuments(entry_uuids=(first,), metadata_level=2),
                                       principal).result.documents
            assert (bool(by_id), first in deprecated) == (shown, shown), (who, code, history)


def test_a_patch_of_a_superseded_version_is_a_conflict_to_those_who_see_it(secured,
                                                                          monkeypatch):
    """Issue 16 re-test c (7): the author's PATCH of their own superseded id, or one that lost
    a race to another PATCH, answered 404 "not known here"; it is a 409 (read again). To a
    reader the document is now hidden from, it stays the 404 of an unknown id."""
    app, _, issuer, patient = secured
    entry_uuid, _ = _store(app, patient)
    _mask_over_fhir(app, issuer, patient, entry_uuid, "INVISIBLE_PATIENT")
    old = entry_uuid.removeprefix("urn:uuid:")
    patch = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{
        "system": LABEL_SYSTEM, "code": "MASQUE_PS"}]}}]
    author = issuer.header(patient, subject=AUTHOR)
    stale = fhir(app, "PATCH", f"/DocumentReference/{old}", patch,
                 "application/json-patch+json", headers=author)
    assert stale.status == 409 and stale.json["issue"][0]["code"] == "conflict", stale.body
    by_identifier = fhir(app, "PATCH", f"/DocumentReference?identifier=URN:UUID:{old.upper()}",
                         patch, "application/json-patch+json", headers=author)
    assert by_identifier.status == 409, by_identifier.body
    hidden = fhir(app, "PATCH", f"/DocumentReference/{old}", patch,
                  "application/json-patch+json", headers=issuer.header(patient, kind="patient",
                                                                       subject="PATIENT-1"))
    unknown = fhir(app, "PATCH", f"/DocumentReference/{uuid.uuid4()}", patch,
                   "application/json-patch+json", headers=issuer.header(
                       patient, kind="patient", subject="PATIENT-1"))
    assert hidden.status == unknown.status == 404
    assert hidden.json["issue"] == unknown.json["issue"]
    # a race: the entry was read before another PATCH replaced it
    from xds_server.fhir.updates import Updater
    [before] = app.registry.query(GetDocuments(entry_uuids=(entry_uuid,), metadata_level=2),
                                  SYSTEM).result.documents
    monkeypatch.setattr(Updater, "_target", lambda self, request, principal, rid: before)
    [current] = [d for d in app.registry.query(GetDocuments(
        logical_ids=(entry_uuid,)), SYSTEM).result.documents if d.status == v.APPROVED]
    lost = fhir(app, "PATCH", f"/DocumentReference/{current.entry_uuid[9:]}", patch,
                "application/json-patch+json", headers=author)
    assert lost.status == 409, lost.body

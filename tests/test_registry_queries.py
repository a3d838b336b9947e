"""ITI-18: the 14 stored queries, their parameter rules and their errors, on every database.

One registry is loaded per database for the whole module (two patients, documents with known
codes, times, authors, a folder, a replacement) and every query is asked of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from lxml import etree

from xds_server.app import create_app
from xds_server.config import load_settings
from xds_server.consumer.metadata import has_member, relationship
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Author, Code, Submission
from xds_server.store.schema import migrate

from .conftest import DATABASES, REFERENCE, database_for
from .registry_data import (
    FAILURE,
    SUCCESS,
    document,
    folder,
    new_patient,
    open_patient,
    register,
    run_query,
    soap_call,
    submission_set,
)

Q = {
    "FindDocuments": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
    "FindDocumentsByReferenceId": "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
    "FindSubmissionSets": "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
    "FindFolders": "urn:uuid:958f3006-baad-4929-a4de-ff1114824431",
    "GetAll": "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",
    "GetDocuments": "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
    "GetFolders": "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4",
    "GetAssociations": "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155",
    "GetDocumentsAndAssociations": "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
    "GetSubmissionSets": "urn:uuid:51224314-5390-4169-9b91-b1980040715a",
    "GetSubmissionSetAndContents": "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
    "GetFolderAndContents": "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
    "GetFoldersForDocument": "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
    "GetRelatedDocuments": "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
}
APPROVED = [v.APPROVED]
EVENT = "1.2.250.1.215.300.1"
CONF = "2.16.840.1.113883.5.25"


@dataclass
class World:
    app: object
    patient: str
    other: str
    uids: dict[str, str]        # symbolic name -> uniqueId
    uuids: dict[str, str]       # symbolic name -> entryUUID
    set_uids: list[str]
    folder_uid: str

    def find(self, **params) -> list[str]:
        params.setdefault("$XDSDocumentEntryPatientId", self.patient)
        params.setdefault("$XDSDocumentEntryStatus", APPROVED)
        reply = run_query(self.app, Q["FindDocuments"], params)
        assert reply.status == SUCCESS, reply.errors
        return sorted(self.name_of(e.get("id")) for e in reply.objects("ExtrinsicObject"))

    def name_of(self, entry_uuid: str) -> str:
        return next((n for n, u in self.uuids.items() if u == entry_uuid), entry_uuid)


def _load(app) -> World:
    patient, other = new_patient(), new_patient()
    open_patient(app, patient)
    open_patient(app, other)
    uids: dict[str, str] = {}
    set_uids: list[str] = []
    specs = {
        "A": {"event_codes": [Code("E1", EVENT), Code("E2", EVENT)],
              "creation_time": "20240101", "service_start_time": "20231231",
              "reference_ids": ["ACC-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"]},
        "B": {"class_code": Code("11", "1.2.250.1.213.1.1.4.1"),
              "event_codes": [Code("E2", EVENT)],
              "confidentiality_codes": [Code("R", CONF), Code("MASQUE_PS",
                                                                "1.2.250.1.213.1.1.4.13")],
              "creation_time": "20250601120000",
              "authors": [Author(person="^MARTIN^Claire")]},
        "C": {"creation_time": "20230301", "type_code": Code("34112-3", "2.16.840.1.113883.6.1")},
        "OD": {"object_type": v.DOC_ON_DEMAND, "creation_time": "20240505"},
    }
    for name, overrides in specs.items():
        doc = document(patient, **overrides)
        package = submission_set(patient, submission_time=f"2025010{len(uids) + 1}")
        extra = []
        if name == "A":
            fol = folder(patient)
            membership = has_member("Folder01", "Document01", status=None)
            extra = [fol]
            associations = [has_member("SubmissionSet01", "Document01"),
                            has_member("SubmissionSet01", "Folder01", status=None), membership,
                            has_member("SubmissionSet01", membership.entry_uuid, status=None)]
        else:
            associations = [has_member("SubmissionSet01", "Document01")]
        reply = register(app, Submission(package, [doc], extra, associations))
        assert reply.status == SUCCESS, reply.errors
        uids[name] = doc.unique_id
        set_uids.append(package.unique_id)
        if name == "A":
            folder_uid = fol.unique_id
    world = World(app, patient, other, uids, {}, set_uids, folder_uid)
    _refresh_uuids(world)
    # D replaces C; E is an addendum of A
    for name, kind, target in (("D", v.RPLC, "C"), ("E", v.APND, "A")):
        doc = document(patient, creation_time="20250901")
        package = submission_set(patient)
        reply = register(app, Submission(package, [doc], associations=[
            has_member("SubmissionSet01", "Document01"),
            relationship(kind, "Document01", world.uuids[target])]))
        assert reply.status == SUCCESS, reply.errors
        uids[name] = doc.unique_id
        set_uids.append(package.unique_id)
    other_doc = document(other)
    reply = register(app, Submission(submission_set(other), [other_doc],
                                     associations=[has_member("SubmissionSet01", "Document01")]))
    uids["X"] = other_doc.unique_id
    _refresh_uuids(world)
    return world


def _refresh_uuids(world: World) -> None:
    reply = run_query(world.app, Q["GetDocuments"],
                      {"$XDSDocumentEntryUniqueId": list(world.uids.values())[:-1]
                       if "X" in world.uids else list(world.uids.values())})
    by_uid = {e.find("{*}ExternalIdentifier[@identificationScheme='"
                     f"{v.DE_UNIQUE_ID}']").get("value"): e.get("id")
              for e in reply.objects("ExtrinsicObject")}
    world.uuids = {name: by_uid[uid] for name, uid in world.uids.items() if uid in by_uid}


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"queries-{request.param}")
    with database_for(request.param, tmp) as url:
        settings = load_settings({"data_dir": str(tmp / "var"), "database_url": url,
                                  "profile": "ihe"}, environ={})
        app = create_app(settings)
        migrate(app.database.engine)
        yield _load(app)
        app.close()


# --- FindDocuments semantics ------------------------------------------------------------------

def test_find_documents_by_patient_and_status(world):
    assert world.find() == ["A", "B", "D", "E"]
    assert world.find(**{"$XDSDocumentEntryStatus": [v.DEPRECATED]}) == ["C"]
    assert world.find(**{"$XDSDocumentEntryStatus": [v.APPROVED, v.DEPRECATED]}) == [
        "A", "B", "C", "D", "E"]


def test_patient_id_with_cx_type_code_finds_the_same_record(world):
    assert world.find(**{"$XDSDocumentEntryPatientId": world.patient + "^NH"}) == [
        "A", "B", "D", "E"]


def test_entry_type_defaults_to_stable(world):
    assert "OD" not in world.find()
    assert world.find(**{"$XDSDocumentEntryType": [v.DOC_ON_DEMAND]}) == ["OD"]
    assert "OD" in world.find(**{"$XDSDocumentEntryType": [v.DOC_STABLE, v.DOC_ON_DEMAND]})


def test_codes_or_within_a_slot(world):
    assert world.find(**{"$XDSDocumentEntryClassCode": ["11^^1.2.250.1.213.1.1.4.1"]}) == ["B"]
    assert world.find(**{"$XDSDocumentEntryClassCode": [
        "11^^1.2.250.1.213.1.1.4.1", "10^^1.2.250.1.213.1.1.4.1"]}) == ["A", "B", "D", "E"]
    assert world.find(**{"$XDSDocumentEntryClassCode": ["11^^wrong.scheme"]}) == []


def test_event_codes_and_across_slots_or_within(world):
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [f"E1^^{EVENT}"]}) == ["A"]
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [f"E1^^{EVENT}", f"E2^^{EVENT}"]}) \
        == ["A", "B"]
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [[f"E1^^{EVENT}"],
                                                            [f"E2^^{EVENT}"]]}) == ["A"]


def test_an_event_code_is_no_pattern(world):
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [f"E%^^{EVENT}"]}) == []
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [f"E_^^{EVENT}"]}) == []
    assert world.find(**{"$XDSDocumentEntryEventCodeList": [f"E1^^{EVENT[:-1]}%"]}) == []


def test_confidentiality_and_semantics(world):
    assert world.find(**{"$XDSDocumentEntryConfidentialityCode": [[f"R^^{CONF}"],
                                                                  [f"N^^{CONF}"]]}) == []
    assert world.find(**{"$XDSDocumentEntryConfidentialityCode": [
        [f"R^^{CONF}"], ["MASQUE_PS^^1.2.250.1.213.1.1.4.13"]]}) == ["B"]


def test_time_ranges_are_from_inclusive_to_exclusive(world):
    key = "$XDSDocumentEntryCreationTime"
    assert world.find(**{f"{key}From": 20240101, f"{key}To": 20250601120000}) == ["A"]
    assert world.find(**{f"{key}From": 20250601120000}) == ["B", "D", "E"]
    assert world.find(**{f"{key}To": 2025}) == ["A"]
    assert world.find(**{"$XDSDocumentEntryServiceStartTimeTo": 20240101}) == ["A"]


def test_author_person_wildcards(world):
    assert world.find(**{"$XDSDocumentEntryAuthorPerson": ["%MARTIN%"]}) == ["B"]
    assert world.find(**{"$XDSDocumentEntryAuthorPerson": ["^MARTIN^Claire"]}) == ["B"]
    assert world.find(**{"$XDSDocumentEntryAuthorPerson": ["%DURANT%", "%MARTIN%"]}) == [
        "A", "B", "D", "E"]


def test_object_ref_return(world):
    reply = run_query(world.app, Q["FindDocuments"], {
        "$XDSDocumentEntryPatientId": world.patient, "$XDSDocumentEntryStatus": APPROVED},
        return_type="ObjectRef")
    assert sorted(world.name_of(e.get("id")) for e in reply.objects("ObjectRef")) == [
        "A", "B", "D", "E"]
    assert reply.objects("ExtrinsicObject") == []


def test_find_documents_by_reference_id(world):
    reply = run_query(world.app, Q["FindDocumentsByReferenceId"], {
        "$XDSDocumentEntryPatientId": world.patient, "$XDSDocumentEntryStatus": APPROVED,
        "$XDSDocumentEntryReferenceIdList": [
            "ACC-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"]})
    assert [world.name_of(e.get("id")) for e in reply.objects("ExtrinsicObject")] == ["A"]


# --- the other Find* and GetAll ---------------------------------------------------------------

def test_find_submission_sets(world):
    base = {"$XDSSubmissionSetPatientId": world.patient, "$XDSSubmissionSetStatus": APPROVED}
    assert len(run_query(world.app, Q["FindSubmissionSets"], base).objects()) == 6
    narrowed = run_query(world.app, Q["FindSubmissionSets"], {
        **base, "$XDSSubmissionSetSubmissionTimeFrom": 20250102,
        "$XDSSubmissionSetSubmissionTimeTo": 20250104,
        "$XDSSubmissionSetContentType": ["26^^1.2.250.1.213.2.2"],
        "$XDSSubmissionSetSourceId": ["1.2.250.1.999.1"],
        "$XDSSubmissionSetAuthorPerson": ["%DURANT%"]})
    assert len(narrowed.objects("RegistryPackage")) == 2


def test_find_folders(world):
    base = {"$XDSFolderPatientId": world.patient, "$XDSFolderStatus": APPROVED}
    assert len(run_query(world.app, Q["FindFolders"], base).objects("RegistryPackage")) == 1
    none = run_query(world.app, Q["FindFolders"], {**base, "$XDSFolderCodeList": ["NO^^x"]})
    assert none.objects() == []


def test_get_all(world):
    reply = run_query(world.app, Q["GetAll"], {
        "$patientId": world.patient, "$XDSDocumentEntryStatus": APPROVED,
        "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED})
    assert reply.status == SUCCESS
    assert len(reply.objects("ExtrinsicObject")) == 4
    assert len(reply.objects("RegistryPackage")) == 7  # 6 sets and 1 folder
    for association in reply.objects("Association"):
        assert association.get("associationType") in (v.HAS_MEMBER, v.APND)


# --- Get* by id --------------------------------------------------------------------------------

def test_get_documents_by_uuid_unique_id_and_logical_id(world):
    by_uuid = run_query(world.app, Q["GetDocuments"],
                        {"$XDSDocumentEntryEntryUUID": [world.uuids["C"]]})
    [entry] = by_uuid.objects("ExtrinsicObject")
    assert entry.get("status") == v.DEPRECATED  # Get* ignores status
    by_lid = run_query(world.app, Q["GetDocuments"],
                       {"$XDSDocumentEntryLogicalID": [world.uuids["A"]]})
    assert [e.get("id") for e in by_lid.objects("ExtrinsicObject")] == [world.uuids["A"]]


def test_get_documents_across_patients_is_not_single_patient(world):
    reply = run_query(world.app, Q["GetDocuments"],
                      {"$XDSDocumentEntryUniqueId": [world.uids["A"], world.uids["X"]]})
    assert (reply.status, reply.codes) == (FAILURE, ["XDSResultNotSinglePatient"])


@pytest.mark.parametrize("query, ids, key", [
    ("GetDocuments", "uids", "$XDSDocumentEntryUniqueId"),
    ("GetDocuments", "uuids", "$XDSDocumentEntryEntryUUID"),
    ("GetDocumentsAndAssociations", "uuids", "$XDSDocumentEntryEntryUUID"),
])
def test_object_refs_across_patients_are_answered(world, query, ids, key):
    """XDSResultNotSinglePatient is for LeafClass: an ObjectRef answer names UUIDs of several
    patients and discloses nothing of them (ITI TF-3 Table 4.2.4.1-2; NIST 12368)."""
    [other] = run_query(world.app, Q["GetDocuments"], {
        "$XDSDocumentEntryUniqueId": [world.uids["X"]]}).objects("ExtrinsicObject")
    uuids = {"A": world.uuids["A"], "X": other.get("id")}
    wanted = [world.uids["A"], world.uids["X"]] if ids == "uids" else list(uuids.values())
    refs = run_query(world.app, Q[query], {key: wanted}, return_type="ObjectRef")
    assert refs.status == SUCCESS, refs.errors
    ids_back = {e.get("id") for e in refs.objects("ObjectRef")}
    assert set(uuids.values()) <= ids_back
    leaf = run_query(world.app, Q[query], {key: wanted})
    assert (leaf.status, leaf.codes) == (FAILURE, ["XDSResultNotSinglePatient"])


def test_get_folders_and_folder_contents(world):
    folders = run_query(world.app, Q["GetFolders"], {"$XDSFolderUniqueId": [world.folder_uid]})
    [package] = folders.objects("RegistryPackage")
    contents = run_query(world.app, Q["GetFolderAndContents"],
                         {"$XDSFolderEntryUUID": package.get("id")})
    assert [world.name_of(e.get("id")) for e in contents.objects("ExtrinsicObject")] == ["A"]
    assert len(contents.objects("Association")) == 1
    for_doc = run_query(world.app, Q["GetFoldersForDocument"],
                        {"$XDSDocumentEntryUniqueId": world.uids["A"]})
    assert [e.get("id") for e in for_doc.objects("RegistryPackage")] == [package.get("id")]


def test_get_associations_and_documents_and_associations(world):
    reply = run_query(world.app, Q["GetAssociations"], {"$uuid": [world.uuids["C"]]})
    types = sorted(a.get("associationType") for a in reply.objects("Association"))
    assert types == sorted([v.HAS_MEMBER, v.RPLC])
    both = run_query(world.app, Q["GetDocumentsAndAssociations"],
                     {"$XDSDocumentEntryUniqueId": [world.uids["C"]]})
    assert len(both.objects("ExtrinsicObject")) == 1 and len(both.objects("Association")) == 2


def test_get_submission_sets_and_set_contents(world):
    sets = run_query(world.app, Q["GetSubmissionSets"], {"$uuid": [world.uuids["B"]]})
    [package] = sets.objects("RegistryPackage")
    assert len(sets.objects("Association")) == 1
    contents = run_query(world.app, Q["GetSubmissionSetAndContents"],
                         {"$XDSSubmissionSetEntryUUID": package.get("id")})
    assert [world.name_of(e.get("id")) for e in contents.objects("ExtrinsicObject")] == ["B"]
    with_folder = run_query(world.app, Q["GetSubmissionSetAndContents"],
                            {"$XDSSubmissionSetUniqueId": world.set_uids[0]})
    assert len(with_folder.objects("ExtrinsicObject")) == 1
    assert len(with_folder.objects("RegistryPackage")) == 2  # the set and its folder
    # set→document, set→folder, folder→document and the set's HasMember on that folder
    # membership (ITI TF-2a 3.18.4.1.2.3.7.6; NIST 11906 SSwithOneDocOneFol)
    associations = with_folder.objects("Association")
    assert len(associations) == 4
    ids = {a.get("id") for a in associations}
    assert sum(1 for a in associations if a.get("targetObject") in ids) == 1
    filtered = run_query(world.app, Q["GetSubmissionSetAndContents"], {
        "$XDSSubmissionSetUniqueId": world.set_uids[0],
        "$XDSDocumentEntryFormatCode": ["nothing^^x"]})
    assert filtered.objects("ExtrinsicObject") == []


def test_get_related_documents(world):
    reply = run_query(world.app, Q["GetRelatedDocuments"], {
        "$XDSDocumentEntryEntryUUID": world.uuids["C"], "$AssociationTypes": [v.RPLC]})
    assert sorted(world.name_of(e.get("id")) for e in reply.objects("ExtrinsicObject")) == [
        "C", "D"]
    assert len(reply.objects("Association")) == 1
    none = run_query(world.app, Q["GetRelatedDocuments"], {
        "$XDSDocumentEntryEntryUUID": world.uuids["B"], "$AssociationTypes": [v.RPLC]})
    assert none.objects() == []


# --- parameter errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("query, params, code, words", [
    ("urn:uuid:00000000-0000-0000-0000-000000000000", {}, "XDSUnknownStoredQuery",
     "not one of the 14"),
    ("FindDocuments", {"$XDSDocumentEntryStatus": APPROVED}, "XDSStoredQueryMissingParam",
     "required parameter $XDSDocumentEntryPatientId is missing"),
    ("FindDocuments", {"$XDSDocumentEntryPatientId": ["a^^^&1.2&ISO", "b^^^&1.2&ISO"],
                       "$XDSDocumentEntryStatus": APPROVED}, "XDSStoredQueryParamNumber",
     "takes one value"),
    ("FindDocuments", {"$XDSDocumentEntryPatientId": "a^^^&1.2&ISO",
                       "$XDSDocumentEntryStatus": APPROVED,
                       "$XDSDocumentEntryClassCode": [["a^^b"], ["c^^d"]]},
     "XDSStoredQueryParamNumber", "appears in 2 slots"),
    ("GetDocuments", {"$XDSDocumentEntryEntryUUID": ["urn:uuid:x"],
                      "$XDSDocumentEntryUniqueId": ["1.2"]}, "XDSStoredQueryParamNumber",
     "give only one of"),
    ("GetDocuments", {}, "XDSStoredQueryMissingParam", "one of"),
    ("FindDocuments", {"$XDSDocumentEntryPatientId": "a^^^&1.2&ISO",
                       "$XDSDocumentEntryStatus": APPROVED,
                       "$XDSDocumentEntryCreationTimeFrom": "2024-01-01"}, "XDSRegistryError",
     "is not a DTM time"),
])
def test_parameter_errors(world, query, params, code, words):
    reply = run_query(world.app, Q.get(query, query), params)
    assert reply.status == FAILURE
    assert code in reply.codes
    assert any(words in e["context"] for e in reply.errors)


def test_too_many_results_for_leaf_class_but_not_object_ref(world):
    small = create_app(dataclasses.replace(world.app.settings, max_leaf_class_results=5))
    params = {"$XDSDocumentEntryPatientId": world.patient,
              "$XDSDocumentEntryStatus": [v.APPROVED, v.DEPRECATED]}
    many = {"$patientId": world.patient, "$XDSDocumentEntryStatus": APPROVED,
            "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED}
    reply = run_query(small, Q["GetAll"], many)
    assert reply.codes == ["XDSTooManyResults"]
    assert "ObjectRef" in reply.errors[0]["context"]
    assert len(run_query(small, Q["GetAll"], many, "ObjectRef").objects()) > 5
    assert len(run_query(small, Q["FindDocuments"], params).objects()) == 5
    small.close()


def test_ihe_example_query_is_refused_for_its_code_without_scheme(world):
    """The IHE ITI-18 example asks for a facility code with no coding scheme (in typographic
    quotes): NIST test 11897/old_scheme says that is an error, and the answer names it."""
    request = etree.parse(str(REFERENCE / "xds-messages/ihe-iti-examples/XDS.b/"
                                          "RegistryStoredQueryRequest.xml")).getroot()
    reply = soap_call(world.app, "/xds/registry", "urn:ihe:iti:2007:RegistryStoredQuery", request)
    assert reply.status == FAILURE
    assert reply.errors[0]["location"] == "$XDSDocumentEntryHealthcareFacilityTypeCode"
    assert "'Emergency Department' is not code^^codingScheme" in reply.errors[0]["context"]
    for element in request.iter("{*}Slot"):
        if element.get("name") == "$XDSDocumentEntryHealthcareFacilityTypeCode":
            element.find("{*}ValueList/{*}Value").text = "('Emergency Department^^x')"
    reply = soap_call(world.app, "/xds/registry", "urn:ihe:iti:2007:RegistryStoredQuery", request)
    assert (reply.status, reply.objects()) == (SUCCESS, [])


def test_ipf_injection_attempt_is_just_an_unknown_patient(world):
    request = etree.parse(str(REFERENCE / "xds-messages/ipf/iti18request.xml")).getroot()
    reply = soap_call(world.app, "/xds/registry", "urn:ihe:iti:2007:RegistryStoredQuery", request)
    assert (reply.status, reply.objects()) == (SUCCESS, [])

"""Typed WSDLs: each endpoint's ?wsdl includes the project's message schemas, served beside it as
?xsd=NAME; the IHE reference messages are valid against them (and broken ones are not); zeep
builds a typed client from ?wsdl alone and submits (MTOM), queries and retrieves over HTTP; the
schema set is closed, and ?xsd= looks names up, never paths."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from .conftest import REFERENCE, call_wsgi
from .crash import open_patient_at, repository_id_at
from .registry_data import new_patient
from .typed_client import Metadata, client

XS = "http://www.w3.org/2001/XMLSchema"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
MESSAGES = REFERENCE / "xds-messages"
REFERENCE_MESSAGES = sorted(
    [p for p in (MESSAGES / "ihe-iti-examples").rglob("*.xml") if "_SOAP" not in p.name]
    + list((MESSAGES / "ipf").glob("*.xml")))


class ServedResolver(etree.Resolver):
    """Resolves the schemas' ?xsd= locations through the in-process application."""

    def __init__(self, app, path: str) -> None:
        super().__init__()
        self.app, self.path, self.fetched = app, path, []

    def resolve(self, url, pubid, context):
        query = url.partition("?")[2]
        answer = call_wsgi(self.app, "GET", f"{self.path}?{query}")
        assert answer.status == 200, url
        self.fetched.append(query)
        return self.resolve_string(answer.body, context)


def served_schema(app, paths: tuple[str, ...] = ("/xds/registry", "/xds/repository")
                  ) -> etree.XMLSchema:
    """Every message namespace of the WSDLs at `paths`, compiled from the served schemas alone."""
    driver = etree.Element(f"{{{XS}}}schema")
    imported = set()
    for path in paths:
        wsdl = etree.fromstring(call_wsgi(app, "GET", path + "?wsdl").body)
        for schema in wsdl.iter(f"{{{XS}}}schema"):
            include = schema.find(f"{{{XS}}}include")
            namespace = schema.get("targetNamespace")
            if include is not None and namespace not in imported:
                imported.add(namespace)
                etree.SubElement(driver, f"{{{XS}}}import", namespace=namespace,
                                 schemaLocation="http://testserver" + path
                                 + include.get("schemaLocation"))
    assert imported, "the WSDLs include no schema"
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(ServedResolver(app, paths[0]))
    return etree.XMLSchema(etree.fromstring(etree.tostring(driver), parser))


def test_the_wsdls_type_their_messages_with_served_schemas(app):
    for path, elements in (("/xds/registry", {"SubmitObjectsRequest", "AdhocQueryRequest",
                                              "RemoveObjectsRequest", "RegistryResponse"}),
                           ("/xds/repository", {"ProvideAndRegisterDocumentSetRequest",
                                                "RetrieveDocumentSetRequest",
                                                "RemoveDocumentsRequest"})):
        wsdl = etree.fromstring(call_wsgi(app, "GET", path + "?wsdl").body)
        any_typed = [e.get("name") for e in wsdl.iter(f"{{{XS}}}element")
                     if e.get("type") == "xs:anyType"]
        assert not set(any_typed) & elements, any_typed
        assert served_schema(app, (path,)) is not None


@pytest.mark.parametrize("path", REFERENCE_MESSAGES, ids=lambda p: p.name)
def test_the_reference_messages_are_valid_against_the_served_schemas(app, path):
    schema = served_schema(app)
    document = etree.parse(str(path))
    assert schema.validate(document), (path, schema.error_log.last_error)


BROKEN = {
    # an entry without its id: ebRIM requires one on every identifiable object
    "no id": ('<rim:ExtrinsicObject id="Document01"', "<rim:ExtrinsicObject"),
    # an element no registry object list may hold
    "unknown object": ("<rim:RegistryPackage ", "<rim:Mystery "),
    # a slot without its value list
    "slot without values": ("<rim:ValueList>", "<rim:Values>"),
}


@pytest.mark.parametrize("change", BROKEN, ids=list(BROKEN))
def test_the_schemas_refuse_broken_messages(app, change):
    """The schemas are not `anyType` in disguise: a broken request fails them."""
    schema = served_schema(app)
    text = (MESSAGES / "ihe-iti-examples/XDS.b/ProvideAndRegisterDocumentSet-bRequest.xml"
            ).read_text()
    old, new = BROKEN[change]
    assert old in text
    text = text.replace(old, new, 1)
    if change == "unknown object":
        text = text.replace("</rim:RegistryPackage>", "</rim:Mystery>", 1)
    if change == "slot without values":
        text = text.replace("</rim:ValueList>", "</rim:Values>", 1)
    assert not schema.validate(etree.fromstring(text.encode()))


def test_the_schema_set_is_closed_and_names_are_not_paths(app):
    """Following every import from the WSDL reaches the served set and nothing else; a name
    outside the set (a path, an encoded traversal, an absolute URL) is a 404."""
    seen: set[tuple[str, str]] = set()
    for path in ("/xds/registry", "/xds/repository"):
        pending = [call_wsgi(app, "GET", path + "?wsdl").body]
        while pending:
            document = etree.fromstring(pending.pop())
            for element in document.iter(f"{{{XS}}}import", f"{{{XS}}}include"):
                location = element.get("schemaLocation")
                assert location.startswith("?xsd=") and "/" not in location, location
                if (path, location) not in seen:
                    seen.add((path, location))
                    answer = call_wsgi(app, "GET", path + location)
                    assert answer.status == 200
                    pending.append(answer.body)
    assert {location for _, location in seen} == {
        f"?xsd={name}" for name in ("xml.xsd", "rim.xsd", "rs.xsd", "lcm.xsd", "query.xsd",
                                    "xds-b.xsd", "rmd.xsd")}
    for name in ("../../etc/passwd", "%2e%2e%2fsetup.cfg", "/etc/hostname", "rim.xsd%00",
                 "schemas/rim.xsd", "RIM.XSD", "http://example.org/rim.xsd", ""):
        answer = call_wsgi(app, "GET", f"/xds/registry?xsd={name}")
        assert answer.status == 404, name
        assert b"rim.xsd" in answer.body and b"root:" not in answer.body


@pytest.mark.http
def test_a_zeep_client_from_the_wsdl_submits_queries_and_retrieves(live_server):
    """ITI-41 with MTOM, ITI-18 FindDocuments and ITI-43, all with Python objects."""
    patient = new_patient()
    open_patient_at(live_server.database_url, patient)
    repository = client(live_server.url + "/xds/repository")
    registry = client(live_server.url + "/xds/registry")
    content = "Créatinine: 71 µmol/L\n".encode() * 50
    unique_id = f"2.25.{uuid.uuid4().int}"
    metadata = Metadata(repository)
    provide = repository.service["DocumentRepository_ProvideAndRegisterDocumentSet-b"]
    answer = provide(
        SubmitObjectsRequest={"RegistryObjectList": metadata.document_submission(
            patient, "Document01", unique_id, f"2.25.{uuid.uuid4().int}")},
        Document=[{"_value_1": content, "id": "Document01"}])
    assert answer.status == SUCCESS, answer
    assert repository.transport.sent_mtom == 1

    found = registry.service.DocumentRegistry_RegistryStoredQuery(
        ResponseOption={"returnType": "LeafClass", "returnComposedObjects": True},
        AdhocQuery=Metadata(registry).find_documents(patient))
    assert found.status == SUCCESS
    entries = [item["ExtrinsicObject"] for item in found.RegistryObjectList._value_1]
    assert len(entries) == 1
    entry = entries[0]
    assert {e.value for e in entry.ExternalIdentifier} == {patient, unique_id}
    slots = {slot.name: slot.ValueList.Value for slot in entry.Slot}
    assert slots["size"] == [str(len(content))]
    repository_id = slots["repositoryUniqueId"][0]
    assert repository_id == repository_id_at(live_server.data_dir)

    retrieved = repository.service.DocumentRepository_RetrieveDocumentSet(
        DocumentRequest=[{"RepositoryUniqueId": repository_id, "DocumentUniqueId": unique_id}])
    assert retrieved.RegistryResponse.status == SUCCESS
    [document] = retrieved.DocumentResponse
    assert document.DocumentUniqueId == unique_id
    assert document.mimeType == "text/plain"
    assert document.Document == content


@pytest.mark.http
def test_zeep_reads_a_typed_failure(live_server):
    """A query the registry refuses (FindDocuments without its patient) comes back as typed
    errors carrying their IHE code."""
    registry = client(live_server.url + "/xds/registry")
    metadata = Metadata(registry)
    query = metadata.find_documents("unused")
    query.Slot = [slot for slot in query.Slot if slot.name != "$XDSDocumentEntryPatientId"]
    answer = registry.service.DocumentRegistry_RegistryStoredQuery(
        ResponseOption={"returnType": "LeafClass"}, AdhocQuery=query)
    assert answer.status.endswith(":Failure")
    [error] = answer.RegistryErrorList.RegistryError
    assert error.errorCode == "XDSStoredQueryMissingParam"
    assert "$XDSDocumentEntryPatientId" in error.codeContext


@pytest.mark.parametrize("location", ["http://example.org/rim.xsd", "../rim.xsd",
                                      "/etc/rim.xsd", "other.xsd"])
def test_a_schema_importing_outside_the_set_refuses_to_start(tmp_path, location):
    """The served set stays closed: an import of anything but a sibling of the set (a URL a
    client would fetch, a path) is refused when the server starts, not served."""
    from xds_server.soap.wsdl import ServedSchemas

    (tmp_path / "a.xsd").write_text(
        f'<xs:schema xmlns:xs="{XS}" targetNamespace="urn:a">'
        f'<xs:import namespace="urn:b" schemaLocation="{location}"/></xs:schema>')
    (tmp_path / "b.xsd").write_text(f'<xs:schema xmlns:xs="{XS}" targetNamespace="urn:b"/>')
    files = {"a.xsd": tmp_path / "a.xsd", "b.xsd": tmp_path / "b.xsd"}
    with pytest.raises(ValueError, match="not a served schema"):
        ServedSchemas(files, {"urn:a": "a.xsd", "urn:b": "b.xsd"})
    (tmp_path / "a.xsd").write_text(
        f'<xs:schema xmlns:xs="{XS}" targetNamespace="urn:a">'
        f'<xs:import namespace="urn:b" schemaLocation="b.xsd"/></xs:schema>')
    served = ServedSchemas(files, {"urn:a": "a.xsd", "urn:b": "b.xsd"})
    assert b'schemaLocation="?xsd=b.xsd"' in served.get("a.xsd")

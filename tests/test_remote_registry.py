"""A repository with its registry on another server (XDS_REGISTRY_URL), both under VIHF, over
real HTTP: the caller's verified header travels with what the repository asks the registry, so
submissions register under the caller's identity and the registry's access decision governs
what the repository serves and removes."""

from __future__ import annotations

import pytest

from xds_server.consumer.documents import REMOVE, parse_retrieve, remove_request
from xds_server.consumer.transport import SoapClient

from .cli_run import run_in_process as run_cli  # shells: test_cli_client.py
from .conftest import start_server, stop_server
from .trust_data import AUTHOR_A, READER, STRANGER, TrustServer, authorize, new_patient
from .vihf_data import SigningAuthority

pytestmark = pytest.mark.http   # every test here talks to a server over loopback


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    authority = SigningAuthority.create(root / "ca")
    patient = new_patient()
    common = {"XDS_PROFILE": "ihe", "XDS_SECURITY": "vihf",
              "XDS_VIHF_TRUSTED_CERTS": str(authority.trusted)}
    registry_env = {**common, "XDS_DATA_DIR": str(root / "registry")}
    assert run_cli("patient", "add", patient, env=registry_env).returncode == 0
    registry, registry_url, _ = start_server(root / "registry", registry_env, workers=1)
    repository_env = {**common, "XDS_DATA_DIR": str(root / "repository"),
                      "XDS_REPOSITORY_UNIQUE_ID": "1.2.250.1.999.7.2",
                      "XDS_REGISTRY_URL": registry_url + "/xds/registry"}
    repository, repository_url, _ = start_server(root / "repository", repository_env,
                                                 workers=1)
    try:
        front = TrustServer(authority, repository_url, "1.2.250.1.999.7.2", patient, patient)
        authorize(TrustServer(authority, registry_url, "", patient, patient), patient, READER)
        front.store("plain", patient, AUTHOR_A)
        front.store("masked", patient, AUTHOR_A, "MASQUE_PS")
        yield front
    finally:
        stop_server(repository)
        stop_server(registry)


def _retrieved(server: TrustServer, name: str, subject: str) -> list[bytes]:
    stored = server.documents[name]
    reply = server.retrieve(stored.unique_id, server.vihf(stored.patient, subject))
    return [document.data for document in parse_retrieve(reply).documents]


def test_a_submission_registers_under_the_callers_identity(split):
    """Both documents were provided through the repository (the fixture), which forwarded the
    author's VIHF to the secured registry: the registry shows them to their author."""
    plain = split.documents["plain"]
    assert _retrieved(split, "plain", AUTHOR_A) == [plain.content]


def test_the_registry_decides_what_the_repository_serves(split):
    assert _retrieved(split, "plain", READER) == [split.documents["plain"].content]
    assert _retrieved(split, "masked", READER) == []          # MASQUE_PS, READER not its author
    assert _retrieved(split, "masked", AUTHOR_A) == [split.documents["masked"].content]
    assert _retrieved(split, "plain", STRANGER) == []         # not authorised by the patient


def test_the_registry_decides_what_the_repository_removes(split):
    plain = split.documents["plain"]
    client = SoapClient(split.url + "/xds/repository")
    request = remove_request([(split.repository_id, plain.unique_id)])
    reply = client.call(REMOVE, request, extra_headers=[split.vihf(plain.patient, READER)])
    assert [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")] == [
        "XDSDocumentUniqueIdError"]     # no submitter of these bytes: as if never held (R3)
    reply = client.call(REMOVE, request, extra_headers=[split.vihf(plain.patient, STRANGER)])
    assert [e.get("errorCode") for e in reply.payload.iter("{*}RegistryError")] == [
        "XDSDocumentUniqueIdError"]
    assert _retrieved(split, "plain", AUTHOR_A) == [plain.content]

"""Signed sets in the split deployment, over real HTTPS with mutual TLS (outside test 19, F01):
the repository host verifies the signature and registers with the registry host, which takes
ITI-42 for that repository only from the client certificate XDS_SIGNATURE_VERIFYING_REPOSITORIES
binds to it (the repository presents it: XDS_REGISTRY_CERTFILE). Anyone else's ITI-42 naming
that repository, an unknown one or the registry host's own is refused, whatever its VIHF."""

from __future__ import annotations

import ssl

import pytest
import trustme

from xds_server.consumer.metadata import submit_objects_request
from xds_server.consumer.queries import STORED_QUERY, find_documents_request
from xds_server.consumer.transport import SoapClient
from xds_server.serving.site import distinguished_name

from .cda_data import LEVEL1, TEST_INS
from .cli_run import run_in_process as run_cli
from .conftest import start_server, stop_server
from .dsig_data import SealAuthority, fake_signed_submission, fresh

pytestmark = pytest.mark.http   # two servers over loopback

REPOSITORY = "1.2.250.1.999.7.3"          # the repository host's id
REGISTRY_OWN = "1.2.250.1.999.7.4"        # the registry host's own repository
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("dsig-split")
    ca = trustme.CA(organization_name="Test IGC-Sante")
    files = {name: root / f"{name}.pem" for name in ("ca", "server", "repository", "cert")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(files["server"]))
    client = ca.issue_cert("repository.example", organization_name="Hopital A",
                           common_name="Repository A")
    client.private_key_and_cert_chain_pem.write_to_path(str(files["repository"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    subject = distinguished_name(ssl._ssl._test_decode_cert(str(files["cert"]))["subject"])
    seal = SealAuthority.create(root / "seal")
    common = {"XDS_PROFILE": "cisis", "XDS_SECURITY": "none", "XDS_ACCEPT_TEST_INS": "true",
              "XDS_SIGNATURE_TRUSTED_CERTS": str(seal.trusted)}
    registry_env = {**common, "XDS_DATA_DIR": str(root / "registry"),
                    "XDS_REPOSITORY_UNIQUE_ID": REGISTRY_OWN,
                    "XDS_CERTFILE": str(files["server"]), "XDS_KEYFILE": str(files["server"]),
                    "XDS_CA_CERTS": str(files["ca"]), "XDS_CLIENT_CERT": "optional",
                    "XDS_SIGNATURE_VERIFYING_REPOSITORIES": f"{REPOSITORY}={subject}"}
    assert run_cli("patient", "add", TEST_INS, env=registry_env).returncode == 0
    tls = ssl.create_default_context(cafile=str(files["ca"]))
    registry, registry_url, _ = start_server(root / "registry", registry_env, workers=1,
                                             tls=tls)
    repository_env = {**common, "XDS_DATA_DIR": str(root / "repository"),
                      "XDS_REPOSITORY_UNIQUE_ID": REPOSITORY,
                      "XDS_REGISTRY_URL": registry_url + "/xds/registry",
                      "XDS_REGISTRY_CERTFILE": str(files["repository"]),
                      "XDS_REGISTRY_CA_CERTS": str(files["ca"])}
    repository, repository_url, _ = start_server(root / "repository", repository_env,
                                                 workers=1)
    try:
        yield registry_url, repository_url, tls, seal, subject
    finally:
        stop_server(repository)
        stop_server(registry)


def registered(registry_url, tls, unique_ids) -> list[str]:
    reply = SoapClient(registry_url + "/xds/registry", ssl_context=tls).call(
        STORED_QUERY, find_documents_request(TEST_INS, ["Approved"]))
    held = {e.get("value") for e in reply.payload.iter(f"{RIM}ExternalIdentifier")}
    return [u for u in unique_ids if u in held]


def test_a_set_signed_and_verified_by_the_repository_host_registers(split, tmp_path):
    registry_url, repository_url, tls, seal, _ = split
    key, certificate = seal.files()
    submitted = run_cli("submit", str(fresh(LEVEL1, tmp_path)), "--patient", TEST_INS,
                        "--repository", repository_url + "/xds/repository",
                        "--sign-key", str(key), "--sign-cert", str(certificate))
    assert submitted.returncode == 0, submitted.stderr + submitted.stdout
    unique_ids = [line.split()[0] for line in submitted.stdout.splitlines()]
    assert len(unique_ids) == 2 and registered(registry_url, tls, unique_ids) == unique_ids


@pytest.mark.parametrize("repository, says", [
    (REPOSITORY, "bound to the TLS client certificate"),
    ("1.2.250.1.999.7.5", "XDS_SIGNATURE_VERIFYING_REPOSITORIES"),
    (REGISTRY_OWN, f"names this server's repository ({REGISTRY_OWN}), which holds no "
                   "document of this patient"),
], ids=["listed-without-its-certificate", "unknown", "the-registry-hosts-own"])
def test_a_fake_signature_sent_straight_to_the_registry_is_refused(split, tmp_path, repository,
                                                                   says):
    """F01: a fake signature entry (its codes, `signs`, hash 000…) sent by ITI-42 to the
    registry host over TLS, without the repository's client certificate."""
    registry_url, _, tls, _, subject = split
    submission, fake = fake_signed_submission(fresh(LEVEL1, tmp_path), TEST_INS, repository)
    reply = SoapClient(registry_url + "/xds/registry", ssl_context=tls).call(
        REGISTER, submit_objects_request(submission))
    assert reply.payload.get("status", "").endswith(":Failure")
    contexts = [e.get("codeContext") for e in reply.payload.iter("{*}RegistryError")]
    assert any(fake.unique_id in c and says in c for c in contexts), contexts
    if repository == REPOSITORY:
        assert any(subject in c and "no verified client certificate" in c for c in contexts)
    assert registered(registry_url, tls, [d.unique_id for d in submission.documents]) == []

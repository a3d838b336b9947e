"""The author line the server's own tools write for a caller's change (security/acting_author.py)
passes the cisis profile, for every role a front admits (outsider 19f-2): a legal
representative's `xds-server update mask|archive` and FHIR PATCH were refused with
"the id '…' must be a national identifier", their author written `subject^name`.

The table-driven test builds the ITI-57 the CLI sends (consumer/changes.py) for each role kind
× subject × record × name and checks it against the whole cisis profile; the CLI test sends
it to a running in-process server (VIHF security, cisis) as a representative would."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import threading
import uuid
import wsgiref.simple_server
from collections.abc import Iterator

import pytest
from lxml import etree

from xds_server.consumer.changes import next_version, status_change
from xds_server.model import vocabulary as v
from xds_server.model.stored_queries import GetDocuments
from xds_server.security.access import ROLE_ACTIONS
from xds_server.security.acting_author import acting_author
from xds_server.security.principal import SYSTEM, Principal
from xds_server.security.vihf_reading import PROFESSION_SYSTEMS, ROLE_KINDS
from xds_server.validation.profiles import profile_for

from .cda_data import LEVEL1, TEST_INS
from .cli_run import run_in_process
from .dsig_data import cda_submission, fresh, with_uuids
from .registry_data import open_patient

PRODUCTION_INS = "285067512345639^^^&1.2.250.1.213.1.4.8&ISO^NH"   # its key is right
REPRESENTATIVE_NIR = "180127511300418"                             # key 18: right

# every role code a front admits (VIHF and IUA alike): the TRE_A00 codes and the professions
ROLE_CODES = [*ROLE_KINDS, *((system, "10") for system in PROFESSION_SYSTEMS)]
SUBJECTS = {"idNat_PS": "810101234567", "structure-based idNat_PS": "3750100125/1453",
            "NIR": REPRESENTATIVE_NIR, "NIA": "780127511300409", "NIR with a wrong key":
            "180127511300499", "local id": "LR-1", "the record's INS": None}
RECORDS = {"test INS": TEST_INS, "production INS": PRODUCTION_INS}
NAMES = {"no name": "", "a name": "DUPONT Jean"}


def _kind(system: str, code: str) -> str:
    return ROLE_KINDS.get((system, code), "professional")


def test_the_table_covers_every_role_kind_the_access_policy_knows():
    """A role kind added to the policy without a row here would write an untested author."""
    assert {_kind(system, code) for system, code in ROLE_CODES} == set(ROLE_ACTIONS)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A CDA's registered entry in the cisis profile (its metadata as `xds-server submit`
    derives it), Approved, version 1."""
    directory = tmp_path_factory.mktemp("acting-author")
    submission, documents = cda_submission([fresh(LEVEL1, directory)], TEST_INS)
    entry = submission.documents[0]
    held = documents[entry.entry_uuid]
    entry.hash, entry.size = held.sha1, str(held.size)        # as the repository registers it
    entry.repository_unique_id = "1.2.250.1.999.1"
    entry.entry_uuid = entry.logical_id = f"urn:uuid:{uuid.uuid4()}"
    entry.version, entry.status = "1", v.APPROVED
    return entry


@pytest.mark.parametrize("role, subject, record, name", list(itertools.product(
    ROLE_CODES, SUBJECTS, RECORDS, NAMES)), ids=lambda value: str(value))
def test_every_caller_writes_an_update_the_cisis_profile_accepts(registered, role, subject,
                                                                 record, name):
    system, code = role
    patient = RECORDS[record]
    principal = Principal(SUBJECTS[subject] or patient.split("^")[0], _kind(system, code),
                          "1750099991", "normal", patient,
                          {"profession": f"{code}^{system}", "name": NAMES[name]})
    author = acting_author(principal)
    entry = dataclasses.replace(registered, patient_id=patient)
    profile = profile_for("cisis", accept_test_ins=True)
    for update in (status_change(entry, "archive", author),
                   next_version(entry, add_visibility="MASQUE_PS", author=author)):
        assert update.submission_set.authors == [author]
        with_uuids(update)                      # as the registry reads the symbolic ids
        assert profile.check(update, update=True) == [], author.person


def test_a_representative_is_written_by_their_ins_or_by_name():
    """What the docstring of security/acting_author.py says, line by line."""
    def person(subject: str, patient: str = TEST_INS, name: str = "", role: str =
               "legal_representative") -> str:
        return acting_author(Principal(subject, role, patient_id=patient,
                                       attributes={"name": name})).person

    assert person(REPRESENTATIVE_NIR, name="DUPONT Jean") == \
        f"{REPRESENTATIVE_NIR}^DUPONT Jean^^^^^^^&1.2.250.1.213.1.4.10&ISO^D^^^NH"
    assert person(REPRESENTATIVE_NIR, PRODUCTION_INS) == \
        f"{REPRESENTATIVE_NIR}^^^^^^^^&1.2.250.1.213.1.4.8&ISO^D^^^NH"
    assert person("780127511300409", PRODUCTION_INS).endswith("&1.2.250.1.213.1.4.9&ISO^D^^^NH")
    assert person("180127511300499", PRODUCTION_INS) == "^Representant legal"   # wrong key
    assert person("LR-1", name="DUPONT^Jean") == "^DUPONTJean"
    assert person("ADM-1", role="administrator") == "^Administrateur"


# --- the CLI against a running server ---------------------------------------------------------


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def _serving(app) -> Iterator[str]:
    """The in-process application on a loopback port, one request at a time."""
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cisis_server(make_app, authority, tmp_path):
    app = make_app(profile="cisis", security="vihf", accept_test_ins=True,
                   require_submission_signature=False,
                   vihf_trusted_certs=str(authority.trusted))
    open_patient(app, TEST_INS)
    submission, documents = cda_submission([fresh(LEVEL1, tmp_path)], TEST_INS)
    with_uuids(submission, documents)
    app.repository.provide(submission, documents, SYSTEM, [])
    with _serving(app) as url:
        yield app, url, submission.documents[0]


def _update(url: str, authority, *args: str, subject: str, role: str):
    key, cert = (str(p) for p in authority.files("seal"))
    return run_in_process("update", *args, "--server", url, "--patient", TEST_INS,
                          "--vihf-key", key, "--vihf-cert", cert,
                          "--vihf-structure", "1750099991", "--vihf-subject", subject,
                          "--vihf-role", role)


# the VIHF role code → a subject of each kind it may carry
CLI_CALLERS = [("REPRESENTANT_LEGAL", REPRESENTATIVE_NIR), ("REPRESENTANT_LEGAL", "LR-1"),
               ("PATIENT", TEST_INS.split("^")[0]), ("ADMINISTRATEUR", "ADM-1"),
               ("10", "801234534765")]


@pytest.mark.parametrize("role, subject", CLI_CALLERS)
def test_each_caller_masks_and_archives_with_the_cli(cisis_server, authority, role, subject):
    """Outsider 19f-2 (t76): every representative's `update mask|archive` was refused; the
    patient's same commands succeeded."""
    app, url, entry = cisis_server
    for command, says in (("mask", "masked:"), ("unmask", "unmasked:"),
                          ("archive", "archived:"), ("unarchive", "unarchived:")):
        done = _update(url, authority, command, entry.unique_id, subject=subject,
                       role=role)
        assert done.returncode == 0, (command, done.stderr)
        assert says in done.stdout
    versions = app.registry.query(GetDocuments(logical_ids=(entry.entry_uuid,),
                                               metadata_level=2), SYSTEM).result.documents
    assert [d.status for d in versions][-1] == v.APPROVED and len(versions) == 3


def test_a_soap_update_names_any_author_and_the_audit_names_the_caller(cisis_server, authority):
    """Outsider 19f-6 (Info, by design): over SOAP the update's SubmissionSet author is what the
    client declares (clients copy the document's author into it): a patient's masking whose
    set names the professional is accepted; who acted is the audit's VIHF subject and role."""
    from xds_server.consumer.changes import UPDATE, update_request
    from xds_server.consumer.transport import SoapClient
    from xds_server.consumer.vihf import VihfClaims, role_system, security_header, signed_vihf
    from xds_server.ebxml.stored import model_object
    from xds_server.model.hl7 import patient_key
    from xds_server.store import audit_store

    app, url, entry = cisis_server
    [current] = app.registry.query(GetDocuments(entry_uuids=(entry.entry_uuid,)),
                                   SYSTEM).result.documents
    update = next_version(model_object(current), add_visibility="MASQUE_PS",
                          author=entry.authors[0])
    patient_id = TEST_INS.split("^")[0]
    key, cert = authority.files("seal")
    claims = VihfClaims(patient_id=TEST_INS, subject_id=patient_id, role="PATIENT",
                        role_system=role_system("PATIENT"), structure_id="1750099991")
    client = SoapClient(f"{url}/xds/registry",
                        security_headers=[security_header(signed_vihf(claims, key, cert))])
    reply = client.call(UPDATE, update_request(update))
    assert reply.payload.get("status", "").endswith(":Success"), \
        etree.tostring(reply.payload)[:2000]
    assert update.submission_set.authors[0].person.startswith("801234534765^")
    with app.database.reading() as uow:
        events = audit_store.trail(uow, patient_key(TEST_INS))
    [audited] = [e for e in events if e.transaction == "ITI-57" and e.outcome == "success"]
    assert (audited.subject_id, audited.role) == (patient_id, "patient")


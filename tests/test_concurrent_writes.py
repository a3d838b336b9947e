"""Two writers deciding on the same state at the same moment (store/locks.py), in process on
every database: each test holds the first writer between its checks and its writes until the
second has checked too (or 1.5 s have passed: a second writer that must wait for the first
never arrives), which is the interleaving an outsider found with parallel PATCHes and ITI-57s:
two "version 2" of one document, both Approved. Exactly one writer must win; the other gets
the error it would get one second later."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from xds_server.consumer.metadata import has_member, relationship, status_update
from xds_server.model import vocabulary as v
from xds_server.model.metadata import Submission
from xds_server.registry.register import RegistryWriter
from xds_server.registry.update import MetadataUpdater
from xds_server.store import feed_store

from .hl7v2_data import TEST_NIR, adt, hl7_setups, nir
from .registry_data import (
    FAILURE,
    SUCCESS,
    document,
    new_patient,
    open_patient,
    register,
    single_document_submission,
    submission_set,
)
from .test_metadata_update import next_version, registered, update, versions_of

RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.fixture
def held_after_checks(monkeypatch):
    """Every registry write waits, once its checks are done, for a second one to be there."""
    barrier = threading.Barrier(2, timeout=1.5)

    def hold(check):
        def held(*args, **kwargs):
            plan = check(*args, **kwargs)
            # broken: the other writer waits for this one, there is nothing to meet
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            return plan
        return held

    monkeypatch.setattr(MetadataUpdater, "_check", hold(MetadataUpdater._check))
    monkeypatch.setattr(RegistryWriter, "_check_against_registry",
                        hold(RegistryWriter._check_against_registry))


def both(first, second):
    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in (pool.submit(first), pool.submit(second))]


def test_two_new_versions_of_one_document(app, patient, held_after_checks):
    original, entry_uuid = registered(app, patient)
    replies = both(lambda: update(app, next_version(patient, original, entry_uuid, title="A")),
                   lambda: update(app, next_version(patient, original, entry_uuid, title="B")))
    assert sorted(r.status for r in replies) == [FAILURE, SUCCESS]
    loser = next(r for r in replies if r.status == FAILURE)
    assert loser.codes == ["XDSMetadataVersionError"]
    statuses = [e.get("status") for e in versions_of(app, original.unique_id)]
    assert statuses == [v.DEPRECATED, v.APPROVED]


def test_two_status_changes_from_the_same_status(app, patient, held_after_checks):
    _original, entry_uuid = registered(app, patient)
    replies = both(*(lambda new=new: update(app, status_update(
        submission_set(patient), entry_uuid, v.APPROVED, new)) for new in
        (v.DEPRECATED, "urn:asip:ci-sis:2010:StatusType:Archived")))
    assert sorted(r.status for r in replies) == [FAILURE, SUCCESS]
    assert next(r for r in replies if r.status == FAILURE).codes == ["XDSMetadataUpdateError"]


def test_two_replacements_of_one_document(app, patient, held_after_checks):
    original, entry_uuid = registered(app, patient)

    def replace():
        package = submission_set(patient)
        return register(app, Submission(package, [document(patient, "Replacement")],
                                        associations=[
                                            has_member(package.entry_uuid, "Replacement"),
                                            relationship(RPLC, "Replacement", entry_uuid)]))

    replies = both(replace, replace)
    assert sorted(r.status for r in replies) == [FAILURE, SUCCESS]
    assert [e.get("status") for e in versions_of(app, original.unique_id)] == [v.DEPRECATED]


def test_one_unique_id_registered_twice_at_once(app, patient, held_after_checks):
    other = new_patient()
    open_patient(app, other)
    unique_id = single_document_submission(patient).documents[0].unique_id

    def submit(owner: str):
        submission = single_document_submission(owner)
        submission.documents[0].unique_id = unique_id
        return register(app, submission)

    replies = both(lambda: submit(patient), lambda: submit(other))
    assert sorted(r.status for r in replies) == [FAILURE, SUCCESS]
    loser = next(r for r in replies if r.status == FAILURE)
    assert loser.codes == ["XDSDuplicateUniqueIdInRegistry"]


# --- the records: A40 merges (an outsider's reciprocal merges both got AA) ----------------------

@pytest.fixture
def hl7(make_settings, database_url):
    with hl7_setups(make_settings, database_url) as make:
        yield make()


@pytest.fixture
def held_before_moving(monkeypatch):
    """Every merge, its checks done, waits for a second one before it moves anything."""
    barrier = threading.Barrier(2, timeout=1.5)
    move = feed_store.move_patient

    def held(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return move(*args, **kwargs)

    monkeypatch.setattr(feed_store, "move_patient", held)


def _mrg(ins: str) -> str:
    return f"{ins}^^^ASIP-SANTE-INS-NIR&{TEST_NIR}&ISO^INS"


def test_reciprocal_merges_at_once(hl7, held_before_moving):
    x, y = nir(), nir()
    for ins in (x, y):
        assert hl7.send(adt("A28", ins)).code == "AA"
    acks = both(lambda: hl7.send(adt("A40", x, mrg=_mrg(y))),
                lambda: hl7.send(adt("A40", y, mrg=_mrg(x))))
    assert sorted(a.code for a in acks) == ["AA", "AE"]
    statuses = sorted(hl7.xds.records.record(f"{i}^^^&{TEST_NIR}&ISO").status for i in (x, y))
    assert statuses == ["merged", "open"]


def test_one_record_merged_into_two_at_once(hl7, held_before_moving):
    a, b, c = nir(), nir(), nir()
    for ins in (a, b, c):
        assert hl7.send(adt("A28", ins)).code == "AA"
    acks = both(lambda: hl7.send(adt("A40", b, mrg=_mrg(a))),
                lambda: hl7.send(adt("A40", c, mrg=_mrg(a))))
    assert sorted(a.code for a in acks) == ["AA", "AE"]

"""Rule K on records built by hand (registry/signed_state.py): each end state a route can reach,
without the routes. The routes over SOAP are in test_registry_signed_state.py."""

from __future__ import annotations

import pytest

from xds_server.model import vocabulary as v
from xds_server.model.registered import AssociationRecord, DocumentRecord
from xds_server.model.signature_entry import SIGNATURE_CLASS
from xds_server.registry.signed_state import RecordState, _broken, _History, violations
from xds_server.security.access import DELETED

P = "patient"
A, D, ARCHIVED = v.APPROVED, v.DEPRECATED, v.CISIS_ARCHIVED


def doc(uuid: str, status: str = A, lid: str | None = None, digest: str = "h1",
        signature: bool = False) -> DocumentRecord:
    return DocumentRecord(P, uuid, status, logical_id=lid or uuid, hash=digest,
                          class_code=SIGNATURE_CLASS.code if signature else "11502-2")


def link(kind: str, source: str, target: str, status: str = A) -> AssociationRecord:
    return AssociationRecord(P, f"{kind.rsplit(':', 1)[-1]}-{source}-{target}", status,
                             type=kind, source=source, target=target)


def signed_set(name: str, members: list[str], signature: str) -> list[AssociationRecord]:
    return [link(v.HAS_MEMBER, name, m) for m in (*members, signature)] + \
        [link(v.SIGNS, signature, name)]


def state(documents: list[DocumentRecord], links: list[AssociationRecord]) -> RecordState:
    return RecordState({d.entry_uuid: d for d in documents}, tuple(links))


def found(after: RecordState, before: RecordState | None = None) -> set[str]:
    """The rule (K1, K2) and logicalIds of each finding."""
    history = _History([after] if before is None else [before, after])
    return {f"{key[0]}:{key[1] if isinstance(key[1], str) else ','.join(sorted(key[1]))}"
            for key in violations(after, history)}


BASE = signed_set("S", ["cda"], "sig")


@pytest.mark.parametrize(("cda", "sig", "expected"), [
    (A, A, set()),
    (A, D, {"K1:cda"}),                 # F2: the signature deleted or deprecated alone
    (A, DELETED, {"K1:cda"}),
    (A, ARCHIVED, {"K1:cda"}),          # N8: archived alone
    (ARCHIVED, ARCHIVED, set()),        # archived together
    (ARCHIVED, A, set()),               # the patient files the report away
    (D, D, set()),
    (DELETED, A, set()),
])
def test_the_signature_is_as_available_as_its_documents(cda, sig, expected):
    assert found(state([doc("cda", cda), doc("sig", sig, signature=True)], BASE)) == expected


def test_a_metadata_version_is_covered_by_its_signed_first_version():
    documents = [doc("cda", D), doc("cda2", lid="cda"), doc("sig", signature=True)]
    links = [*BASE, link(v.HAS_MEMBER, "U", "cda2")]
    assert found(state(documents, links)) == set()
    other_bytes = [doc("cda", D), doc("cda2", lid="cda", digest="h2"), doc("sig", signature=True)]
    assert found(state(other_bytes, links)) == {"K1:cda"}


def test_a_removed_first_version_leaves_the_second_uncovered():
    """N2: the state before knew version 1 was a signed set's member."""
    before = state([doc("cda", D), doc("cda2", lid="cda"), doc("sig", signature=True)],
                   [*BASE, link(v.HAS_MEMBER, "U", "cda2")])
    after = state([doc("cda2", lid="cda"), doc("sig", signature=True)],
                  [link(v.HAS_MEMBER, "S", "sig"), link(v.SIGNS, "sig", "S"),
                   link(v.HAS_MEMBER, "U", "cda2")])
    assert found(after, before) == {"K1:cda"}
    assert _broken(before, after)


def test_a_signature_version_without_signs_still_covers():
    """N3's first step is allowed: the signature's lineage has a current version."""
    documents = [doc("cda"), doc("sig", D, signature=True),
                 doc("sig2", lid="sig", signature=True)]
    assert found(state(documents, [*BASE, link(v.HAS_MEMBER, "U", "sig2")])) == set()
    documents[-1] = doc("sig2", DELETED, lid="sig", signature=True)
    assert found(state(documents, [*BASE, link(v.HAS_MEMBER, "U", "sig2")])) == {"K1:cda"}


def test_an_unsigned_replacement_is_uncovered_and_a_signed_one_covered():
    documents = [doc("cda", D), doc("sig", signature=True), doc("new", digest="h2")]
    unsigned = [*BASE, link(v.HAS_MEMBER, "U", "new"), link(v.RPLC, "new", "cda")]
    assert found(state(documents, unsigned)) == {"K1:new"}       # N1
    signed = [*BASE, *signed_set("S2", ["new"], "sig2"), link(v.RPLC, "new", "cda")]
    assert found(state([*documents, doc("sig2", signature=True)], signed)) == set()


def test_a_replacement_chain_does_not_join_a_signature_and_a_document():
    """N4 both ways."""
    documents = [doc("cda"), doc("sig", D, signature=True), doc("cda2", digest="h2"),
                 doc("sig2", signature=True)]
    links = [*BASE, *signed_set("S2", ["cda2"], "sig2"), link(v.RPLC, "cda2", "sig")]
    assert found(state(documents, links)) == {"K2:sig", "K1:cda"}
    documents = [doc("cda", D), doc("sig", signature=True), doc("cda2", digest="h2"),
                 doc("sig2", signature=True)]
    links = [*BASE, *signed_set("S2", ["cda2"], "sig2"), link(v.XFRM_RPLC, "sig2", "cda")]
    assert "K2:sig2" in found(state(documents, links))


def test_a_chain_joined_before_the_requirement_may_grow_by_a_document():
    """19d F-R2: an unsigned X replaced A's signature while the requirement was off; a signed
    set replacing X adds no new join of a signature and a document."""
    documents = [doc("cda"), doc("sig", D, signature=True), doc("x", D, digest="h2")]
    links = [*BASE, link(v.RPLC, "x", "sig")]
    before = state(documents, links)
    after = state([*documents, doc("y", digest="h3"), doc("sig2", signature=True)],
                  [*links, *signed_set("S2", ["y"], "sig2"), link(v.RPLC, "y", "x")])
    assert not [f for f in _broken(before, after) if "K2" in f.text]
    again = state([*after.documents.values(), doc("sig3", signature=True)],
                  [*after.links, *signed_set("S3", [], "sig3"), link(v.RPLC, "sig3", "y")])
    assert any("rule K2" in f.text for f in _broken(after, again))   # a new signature joins


def test_a_deprecated_signs_association_does_not_cover():
    links = [*BASE[:-1], link(v.SIGNS, "sig", "S", D)]
    assert found(state([doc("cda"), doc("sig", signature=True)], links)) == {"K1:cda"}


def test_only_what_the_change_breaks_is_refused():
    """A record out of the rule before (its signature removed earlier) keeps working."""
    broken = state([doc("cda", D), doc("sig", D, signature=True), doc("cda2", lid="cda")],
                   [*BASE, link(v.HAS_MEMBER, "U", "cda2")])
    updated = state([doc("cda", D), doc("sig", D, signature=True), doc("cda2", D, lid="cda"),
                     doc("cda3", lid="cda")],
                    [*BASE, link(v.HAS_MEMBER, "U", "cda2"), link(v.HAS_MEMBER, "U2", "cda3")])
    assert found(updated) == {"K1:cda"} and _broken(broken, updated) == []


def test_a_record_without_signatures_is_not_read_further():
    plain = state([doc("a"), doc("b", digest="h2")],
                  [link(v.HAS_MEMBER, "S", "a"), link(v.RPLC, "b", "a")])
    assert _broken(plain, plain) == []

"""Texts longer than the registry keeps: a document naming many authors (a multidisciplinary
meeting's report names every participant), a 300-character mimeType or code. PostgreSQL enforces
a column's width and SQLite does not, so these ended as a database error on PostgreSQL: a 500
for a submission no metadata rule refused. Now each is stored whole or refused before any write
with XDSRegistryMetadataError naming the object and the attribute, and nothing is left behind."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.consumer.metadata import has_member
from xds_server.model.content import Attachment
from xds_server.model.errors import ErrorCode, RegistryFailure
from xds_server.model.ids import urn_uuid
from xds_server.model.metadata import Author, Submission
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM

from .registry_data import document, new_patient, submission_set

CONTENT = b"<ClinicalDocument/>"


def _authors(count: int) -> list[Author]:
    return [Author(person=f"8101{n:08d}^NOM^Prenom^^^^^^&1.2.250.1.71.4.2.1&ISO",
                   institutions=["Labo^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750100125"])
            for n in range(count)]


OVERLONG = {   # attribute → (how to make it too long, the words the refusal names it by)
    "uniqueId": (lambda e: setattr(e, "unique_id", "1.2." + ".".join(["123456789"] * 30)),
                 "uniqueId"),
    "mimeType": (lambda e: setattr(e, "mime_type", "text/" + "x" * 300), "mimeType"),
    "classCode": (lambda e: setattr(e, "class_code",
                                    dataclasses.replace(e.class_code, code="C" * 300)),
                  "class code"),
    "classCode scheme": (lambda e: setattr(e, "class_code",
                                           dataclasses.replace(e.class_code, scheme="1." * 150)),
                         "class"),
    "languageCode": (lambda e: setattr(e, "language_code", "fr-" + "x" * 300), "languageCode"),
    "authors": (lambda e: setattr(e, "authors", _authors(150)), "authorPerson"),
}


def _provide(app, change=None):
    patient = new_patient()
    assert app.records.open(patient) is True
    entry = document(patient, urn_uuid(), content=CONTENT)
    entry.repository_unique_id = app.settings.repository_unique_id
    if change:
        change(entry)
    package = submission_set(patient, urn_uuid())
    submission = Submission(package, [entry], associations=[
        has_member(package.entry_uuid, entry.entry_uuid, entry_uuid=urn_uuid())])
    errors = app.repository.provide(submission, {entry.entry_uuid: Attachment.from_bytes(CONTENT)},
                                    SYSTEM, [])
    return entry, errors


def test_sixty_authors_are_kept_and_the_document_retrievable(app):
    entry, errors = _provide(app, lambda e: setattr(e, "authors", _authors(60)))
    assert errors == []
    asked = DocumentRequest(app.settings.repository_unique_id, entry.unique_id)
    [found], refused = app.repository.retrieve([asked], SYSTEM)
    assert (found.content.read_bytes(), refused) == (CONTENT, [])


@pytest.mark.parametrize("attribute", OVERLONG)
def test_an_overlong_text_is_refused_by_name_and_leaves_nothing(app, attribute):
    change, named = OVERLONG[attribute]
    entries = []
    with pytest.raises(RegistryFailure) as refused:
        entries.append(_provide(app, lambda e: (entries.append(e), change(e))))
    errors = refused.value.errors
    assert {e.code for e in errors} == {ErrorCode.REGISTRY_METADATA_ERROR}
    [entry] = entries
    assert any(entry.entry_uuid in e.context and named in e.context for e in errors), errors
    asked = DocumentRequest(app.settings.repository_unique_id, entry.unique_id)
    assert app.repository.retrieve([asked], SYSTEM)[0] == []

"""Migration 0014 (issue 18, outsider M1): the repository keeps each document's authors, so
ITI-86 lets remove the bytes whoever ITI-62 let remove the entries; rows already held take
the authors of the first registry entry of their uniqueId (a later copy gives no claim)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from xds_server.store import repository_store, schema

from .registry_data import single_document_submission
from .test_repository import PDF, provide

AUTHOR = "801234567890"      # registry_data's document author


def _authors(app, unique_id: str) -> str:
    with app.database.transaction() as uow:
        return repository_store.documents(uow, [unique_id])[unique_id].authors


def test_0014_fills_held_rows_with_their_authors(app, patient):
    submission = single_document_submission(patient, hash=None, size=None,
                                            repository_unique_id=None,
                                            mime_type="application/pdf")
    assert provide(app, submission, {"Document01": PDF})[:2] == ("Success", [])
    unique_id = submission.documents[0].unique_id
    assert _authors(app, unique_id) == AUTHOR
    engine = app.database.engine
    config = schema._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    names = {c["name"] for c in inspect(engine).get_columns("repository_documents")}
    assert "authors" not in names
    schema.migrate(engine)
    assert _authors(app, unique_id) == AUTHOR

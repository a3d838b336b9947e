"""Alembic environment: migrations run against the engine the caller passes in (see schema.py)."""

from __future__ import annotations

from alembic import context

from xds_server.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line: use the configured URL
    from xds_server.store.database import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

"""Storage: SQLAlchemy tables and queries (SQLite embedded, PostgreSQL production), blobs."""

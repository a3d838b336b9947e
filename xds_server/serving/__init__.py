"""The HTTP serving layer: the project's gunicorn worker, its HTTP/1.1 parser and the limits it
holds every connection to (loaded by name by gunicorn, so it must be an importable package)."""

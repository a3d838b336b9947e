"""Baseline for bench/repository.py: a bare WSGI handler that serves one file's bytes."""

from __future__ import annotations

import os


def app(environ, start_response):
    with open(os.environ["BENCH_FILE"], "rb") as handle:
        data = handle.read()
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(data)))])
    return [data]

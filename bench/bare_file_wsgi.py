"""Baseline for bench/repository.py: a bare WSGI handler serving stored files as the product
does, through the server's file wrapper (sendfile under gunicorn). `GET /file/N` serves the Nth
path of the list in BENCH_FILES (one path a line), so the baseline reads as many different
files as ITI-43 retrieves documents."""

from __future__ import annotations

import os

with open(os.environ["BENCH_FILES"]) as _listing:
    FILES = _listing.read().split()


def app(environ, start_response):
    number = int(environ["PATH_INFO"].rsplit("/", 1)[1] or 0)
    handle = open(FILES[number % len(FILES)], "rb")  # noqa: SIM115 (the file wrapper closes it)
    size = os.fstat(handle.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](handle, 2**20)

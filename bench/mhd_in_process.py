"""ITI-65 against ITI-41 in process (bench/mhd.py --in-process N): the CPU the application
spends on each submission (process time: its threads too; the database's own apart), the
same requests as over HTTP given to the WSGI application directly, in alternated rounds; with
--profile, a cProfile of the ITI-65 calls (the heaviest functions by own time)."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from pathlib import Path
from typing import Any

from xds_server.app import create_app
from xds_server.config import load_settings


def _parts(raw: bytes) -> tuple[str, str, bytes]:
    """(path, Content-Type, body) of a raw HTTP request of bench/loadgen.py."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split()[1]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return path, headers["Content-Type"], body


def _call(app: Any, raw: tuple[str, str, bytes]) -> int:
    path, content_type, body = raw
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
               "HTTP_HOST": "x", "wsgi.input": io.BytesIO(body)}
    status: list[str] = []
    answered = app(environ, lambda line, headers, *_: status.append(line))
    for _chunk in answered:
        pass
    if hasattr(answered, "close"):
        answered.close()
    return int(status[0].split()[0])


def measure(url: str, data_dir: Path, provides: list[bytes], bundles: list[bytes],
            rounds: int, profile: bool = False) -> tuple[float, float, str]:
    """(ms of CPU per ITI-41, per ITI-65, the profile's text or "")."""
    app = create_app(load_settings({"data_dir": str(data_dir), "profile": "ihe",
                                    "security": "none", "database_url": url,
                                    "log_level": "WARNING"}, environ={}))
    soap = [_parts(r) for r in provides]
    fhir = [_parts(r) for r in bundles]
    for raw in soap[:5] + fhir[:5]:                       # warm-up (imports, caches)
        _call(app, raw)
    soap, fhir = soap[5:], fhir[5:]
    spent = {"ITI-41": 0.0, "ITI-65": 0.0}
    done = {"ITI-41": 0, "ITI-65": 0}
    profiler = cProfile.Profile() if profile else None
    try:
        for number in range(rounds):
            for name, requests in (("ITI-41", soap), ("ITI-65", fhir)):
                mine = requests[number::rounds]
                if profiler is not None and name == "ITI-65":
                    profiler.enable()
                started = time.process_time()
                for raw in mine:
                    status = _call(app, raw)
                    if status >= 300:
                        raise SystemExit(f"{name} answered {status}")
                spent[name] += time.process_time() - started
                if profiler is not None:
                    profiler.disable()
                done[name] += len(mine)
    finally:
        app.close()
    text = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        text = out.getvalue()
    return (spent["ITI-41"] / done["ITI-41"] * 1000, spent["ITI-65"] / done["ITI-65"] * 1000,
            text)

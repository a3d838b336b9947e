"""Logging set-up: one line per event, with the request id when there is one.

Two formats (XDS_LOG_FORMAT): `text`, key=value lines for people, and `json`, one JSON object
per line for log collectors. A request's line carries its fields as data (`extra={"xds":
{...}}`: request_id, front, transaction, caller, client, outcome, status, duration_ms…), which
the JSON form writes as keys, so a collector filters on them without parsing the message.
gunicorn's own lines and Python warnings go through the same handler, so in `json` every line
of the log is an object.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, process, message, the request's
    fields, and the traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "xds", None)
        if isinstance(fields, dict):
            entry.update((key, value) for key, value in fields.items() if key not in entry)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """FORMAT, on one line: a line break in the message (a driver's error, as SQLAlchemy's
    "(Background on this error at: …)") is written \\n, so a line is an event (issue 18, m15).
    A traceback (XDS_DEBUG, a bug) keeps its lines after it."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).replace("\r", "\\r").replace("\n", "\\n")


def formatter_for(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_xds", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._xds = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter_for(fmt))
    root.setLevel(level)
    logging.captureWarnings(True)

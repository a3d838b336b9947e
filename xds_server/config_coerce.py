"""How one given value becomes a setting's value (config.py declares the settings): the TOML
types each kind of setting takes (one table), the text the environment may write numbers in,
and the bounds of every number, each with why. Every refusal names the setting and its source.

Attacks and accidents these stop (outside test 19c, N7): `require_submission_signature = 0`
in a TOML file started a cisis server with the requirement off (Python's 0 is falsy) and `= 2`
counted as true; `XDS_SIGNATURE_MAX_AGE=99999999999999999999` (or a TOML 2^63-1) was taken
and became "internal error: OverflowError" at the first use; `XDS_SIGNATURE_MAX_AGE=٥`
(Arabic-Indic five) was read as 5 by Python's int(), though the OIDs refuse such digits.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .config_values import MIB, ConfigError, parse_bool, parse_bytes, redact_url_in

# The kind of a setting, by its parser; every other parser reads text.
_KINDS: dict[Any, str] = {parse_bool: "bool", int: "int", parse_bytes: "bytes", float: "float"}

# What a TOML file may give each kind (a TOML bool is never a number, nor a number a bool),
# and how the expectation is said.
TOML_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "bool": ((bool,), "true or false (a TOML boolean, unquoted)"),
    "int": ((int, str), "a whole number"),
    "bytes": ((int, str), "a whole number of bytes (or a size such as '64MiB')"),
    "float": ((int, float, str), "a number"),
    "text": ((str,), "a string (in quotes)"),
}

# Numbers in the environment (and TOML strings): ASCII digits only ([0-9] is not \d).
_WHOLE = re.compile(r"\s*(-?[0-9]{1,4000})\s*")
_DECIMAL = re.compile(r"\s*(-?(?:[0-9]{1,4000}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?)\s*")

# limits and delays for which 0 means nothing can pass (0 is meaningful for the others:
# threads, mllp_port, min_free_bytes, spool_threshold_bytes, keepalive_timeout…)
POSITIVE = frozenset({
    "signature_max_age", "max_request_bytes", "max_document_bytes", "max_documents_per_request",
    "max_leaf_class_results", "request_timeout", "max_envelope_bytes", "max_xml_markup",
    "max_xml_attributes", "max_response_bytes", "max_connections", "max_connections_per_client",
    "head_timeout", "body_timeout", "max_send_seconds", "client_timeout", "max_buffer_bytes",
    "max_mime_parts",
    "max_head_bytes", "mllp_max_message_bytes", "mllp_message_timeout", "mllp_idle_timeout",
    "mllp_max_connections", "mllp_workers", "mllp_processes"})

# limits below which the server cannot work, and why
FLOORS = {
    # the last bytes of a disk: SQLite's write-ahead log and the metrics' memory-mapped files
    # need them, and on tmpfs a worker touching a map past a full disk dies of SIGBUS, restarted
    # and killed again: with 0 kept the server stopped answering reads too
    "min_free_bytes": (4 * MIB, "4MiB: the database's log and the metrics' files need the "
                       "disk's last bytes; 0 lets a full disk kill every worker"),
    # XDS_MAX_HEAD_BYTES=1 started a server that closed every connection unanswered, /health
    # included: a request line and the headers every client sends need a kilobyte
    "max_head_bytes": (1024, "1KiB: a request line and its usual headers"),
    # an answer smaller than this cannot hold a RegistryResponse with its errors: every
    # request would get the 'response too large' fault
    "max_response_bytes": (64 * 1024, "64KiB: the smallest answers with their errors"),
    # 0 let a client hold a connection open forever by sending a byte now and then
    # (slowloris): the minimum rate is the only bound after body_timeout
    "min_rate_bytes": (1, "0 lets a client hold a connection forever (slowloris)"),
    "min_send_rate_bytes": (1, "0 lets a client hold an answer forever by not reading it"),
}
MAX_SIZE = 1024 ** 5    # 1PiB: a larger size is a typo (99999999999999999999999GiB was taken)

# The most each number may be, and why (docs/configuration.md, "Bounds", lists them): past
# these a value is a typo, and some overflowed the C types of timers, sockets and dates.
_TEN_YEARS = (10 * 365 * 86400, "ten years")
_COUNT = (1_000_000_000, "a billion: more than any message holds")
_CONNECTIONS = (1_048_576, "the usual hard limit of open files")
_THREADS = (1024, "more threads or processes than this only wait on each other")
MAXIMA: dict[str, tuple[int, str]] = {
    **{name: _TEN_YEARS for name in (
        "iua_max_lifetime", "signature_max_age", "request_timeout", "client_timeout",
        "head_timeout", "body_timeout", "max_send_seconds", "keepalive_timeout",
        "mllp_lock_wait", "mllp_message_timeout", "mllp_idle_timeout")},
    **{name: _COUNT for name in (
        "max_documents_per_request", "max_leaf_class_results", "max_xml_markup",
        "max_xml_attributes", "max_mime_parts")},
    **{name: _CONNECTIONS for name in (
        "max_connections", "max_connections_per_client", "mllp_max_connections")},
    **{name: _THREADS for name in ("threads", "mllp_workers", "mllp_processes")},
    "mllp_port": (65535, "the largest TCP port"),
}


def kind_of(parse: Any) -> str:
    return _KINDS.get(parse, "text")


def coerce(name: str, parse: Any, raw: Any, source: str, from_toml: bool) -> Any:
    """The value of setting `name` given `raw` by `source`; ConfigError naming both."""
    kind = kind_of(parse)
    if from_toml:
        types, expected = TOML_TYPES[kind]
        if not isinstance(raw, types) or (isinstance(raw, bool) and kind != "bool"):
            raise ConfigError(f"{name} from {source}: expected {expected}, got {_shown(raw)}")
    if kind == "bool":
        value = raw if isinstance(raw, bool) else _parsed(name, parse_bool, str(raw), source)
    elif kind in ("int", "float") and isinstance(raw, str):
        value = _number(name, kind, raw, source)
    elif kind in ("int", "bytes") and isinstance(raw, float):
        whole = TOML_TYPES[kind][1]
        raise ConfigError(f"{name} from {source}: expected {whole}, got {raw!r}")
    elif kind in ("int", "bytes", "float") and isinstance(raw, int | float) \
            and not isinstance(raw, bool):
        value = float(raw) if kind == "float" else raw
    else:
        value = _parsed(name, parse, str(raw), source)
    if kind != "text" and kind != "bool":
        _check_bounds(name, kind, value, raw, source)
    return value


def _shown(raw: Any) -> str:
    """A TOML value as the file wrote it, briefly (Python's True is TOML's true)."""
    text = "true" if raw is True else "false" if raw is False else repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _parsed(name: str, parse: Any, text: str, source: str) -> Any:
    try:
        return parse(text)
    except ValueError as exc:     # the refused value said, its passwords not
        raise ConfigError(redact_url_in(f"{name} from {source}: {exc}", text)) from None


def _number(name: str, kind: str, text: str, source: str) -> int | float:
    """ASCII digits (Python's int() and float() take '٥', '５' and '1_000')."""
    found = (_WHOLE if kind == "int" else _DECIMAL).fullmatch(text)
    if found is None:
        expected = "a whole number" if kind == "int" else "a finite number"
        raise ConfigError(f"{name} from {source}: expected {expected} (ASCII digits), got "
                          f"{text[:60]!r}")
    return int(found[1]) if kind == "int" else float(found[1])


def _check_bounds(name: str, kind: str, value: int | float, raw: Any, source: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        # nan and inf passed every check below and failed in the socket code (m1)
        raise ConfigError(f"{name} from {source}: expected a finite number, got {raw!r}")
    if value < 0:
        raise ConfigError(f"{name} from {source}: must not be negative, got {value}")
    if value == 0 and name in POSITIVE:
        raise ConfigError(f"{name} from {source}: must be above 0 (0 would refuse or cut "
                          "everything)")
    floor, why = FLOORS.get(name, (0, ""))
    if value < floor:
        raise ConfigError(f"{name} from {source}: must be at least {floor} ({why}), got "
                          f"{value}")
    if kind == "bytes":
        if value > MAX_SIZE:
            raise ConfigError(f"{name} from {source}: {value} bytes is more than any disk or "
                              f"memory this server uses (at most {MAX_SIZE}, 1024TiB)")
        return
    most, why = MAXIMA[name]
    if value > most:
        raise ConfigError(f"{name} from {source}: at most {most} ({why}), got {value}")

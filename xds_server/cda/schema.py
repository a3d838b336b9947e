"""CDA R2 schema validation with the project's own schema (`schemas/cda/CDA.xsd`, built in, so
validation works offline with nothing installed) or, once `xds-server kit install` has run,
the ANS kit's `infrastructure/cda/CDA_extended.xsd`. Each schema is compiled once per process.
"""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path

from lxml import etree

from .findings import Finding, Kind

_HERE = Path(__file__).resolve()
BUILTIN_CANDIDATES = (
    _HERE.parents[2] / "schemas" / "cda" / "CDA.xsd",              # source tree, editable install
    Path(sys.prefix) / "share" / "xds-server" / "schemas" / "cda" / "CDA.xsd",  # wheel install
)
KIT_SCHEMA = Path("infrastructure") / "cda" / "CDA_extended.xsd"
MAX_SCHEMA_ERRORS = 50


def builtin_schema_path() -> Path | None:
    return next((c for c in BUILTIN_CANDIDATES if c.is_file()), None)


class CdaSchema:
    """A compiled XSD; `check` gives schema findings with line numbers."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        self._schema = etree.XMLSchema(etree.parse(str(path), parser))
        self._lock = threading.Lock()  # an XMLSchema's error log is per object

    def check(self, root: etree._Element) -> list[Finding]:
        with self._lock:
            if self._schema.validate(root):
                return []
            errors = list(self._schema.error_log)
        findings = [Finding(Kind.SCHEMA, f"XSD ({self.label})", e.message, e.path or "",
                            e.line or None) for e in errors[:MAX_SCHEMA_ERRORS]]
        if len(errors) > MAX_SCHEMA_ERRORS:
            findings.append(Finding(Kind.SCHEMA, f"XSD ({self.label})",
                                    f"{len(errors) - MAX_SCHEMA_ERRORS} more schema errors "
                                    "not shown"))
        return findings


@functools.cache
def load_schema(path: Path, label: str) -> CdaSchema:
    return CdaSchema(path, label)


def schema_for(kit_dir: Path | None) -> CdaSchema | None:
    """The installed kit's schema when there is one, else the built-in schema; None when
    neither is present (validation then says the schema was not checked)."""
    if kit_dir is not None and (kit_dir / KIT_SCHEMA).is_file():
        return load_schema(kit_dir / KIT_SCHEMA, "ANS kit CDA_extended.xsd")
    builtin = builtin_schema_path()
    return load_schema(builtin, "xds-server CDA R2") if builtin is not None else None

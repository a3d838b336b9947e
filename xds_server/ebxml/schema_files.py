"""The project's XML schemas of the messages XDS.b endpoints accept, by namespace.

The WSDLs import these (served beside each endpoint as `?xsd=NAME`) so that a client generator
(zeep, wsimport, svcutil) builds typed messages. The files in `schemas/` are the project's own,
written from ebRIM/ebRS 3.0 and the IHE ITI technical framework; they import each other by file
name only, and nothing outside this folder, so the set a client follows is closed and finite.
"""

from __future__ import annotations

from pathlib import Path

from .namespaces import LCM, QUERY, RIM, RS, XDSB

SCHEMA_DIR = Path(__file__).parent / "schemas"
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
RMD = "urn:ihe:iti:rmd:2017"

# namespace → its schema file in SCHEMA_DIR
SCHEMA_FILES: dict[str, str] = {
    XML_NAMESPACE: "xml.xsd",
    RIM: "rim.xsd",
    RS: "rs.xsd",
    LCM: "lcm.xsd",
    QUERY: "query.xsd",
    XDSB: "xds-b.xsd",
    RMD: "rmd.xsd",
}


def schema_paths() -> dict[str, Path]:
    """file name → path, every schema of the set."""
    return {name: SCHEMA_DIR / name for name in SCHEMA_FILES.values()}

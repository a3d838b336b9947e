"""The layers of xds_server, read from the source: what each part may import of the others and
of the libraries, and no loop between parts. A new import across layers is a decision made here,
beside the reason the layer gives (README, "Architecture").

Every `import` counts, wherever it is (in a function, under TYPE_CHECKING): a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import xds_server

PACKAGE = Path(xds_server.__file__).parent

# part → the parts it may import (the rest of the package is refused), lowest layers first
LAYERS: dict[str, frozenset[str]] = {name: frozenset(allowed) for name, allowed in {
    # plain types and the one vocabulary of errors: import nothing of the package
    "model": (),
    "xmlsafe": (),
    # settings: their value types, the installation's identity, the declared table
    "config_values": (),
    "config_identity": ("config_values",),
    "config_coerce": ("config_values",),
    "config": ("config_values", "config_identity", "config_coerce"),
    # the signed-set settings read together at start (refusals, warnings)
    "config_signature": ("config", "config_values"),
    "logs": (),
    "valuesets": (),
    "__init__": (),
    # the access core and the authentication verifiers (no transport)
    "security": ("model", "config"),
    # rules: metadata profiles, CDA checks
    "validation": ("model", "valuesets"),
    "cda": ("model", "valuesets", "xmlsafe"),
    # signatures (IHE DSG, XAdES): the actors get its checks as callables from the wiring
    "dsig": ("model", "xmlsafe", "config", "security"),
    # storage: model objects in and out, every driver detail inside
    "store": ("model",),
    # a migration rewrites stored rows in the packed formats, which are the codec's to write
    # (ebxml/packing.py; a format never changes once shipped: its dictionaries are pinned by hash)
    "store.migrations": ("model", "store", "ebxml"),
    # the actors
    # (the registry's view of a record: the access history hides what its queries hide)
    "records": ("model", "security", "store", "registry"),
    "registry": ("model", "security", "store", "validation"),
    "repository": ("model", "security", "store", "registry", "cda"),
    # wire formats and fronts
    "ebxml": ("model",),
    "soap": ("model", "xmlsafe"),
    "transactions": ("model", "ebxml", "soap", "security", "registry", "repository"),
    "dmp": ("model", "records", "security", "soap", "transactions", "xmlsafe"),
    # the HL7 v2 front (MLLP, PAM-FR, CDA in ORU/MDM): the records actor for identities, the
    # repository and registry for documents, the CDA mapping for their metadata
    "hl7v2": ("model", "records", "registry", "repository", "security", "store", "cda",
              "valuesets"),
    # the MHD / PDSm front (FHIR R4): an adapter over the same actors; of soap/ it takes the
    # HTTP pieces every front shares (request id, status line, the sendfile'd file segment)
    "fhir": ("__init__", "model", "security", "registry", "repository", "records", "soap"),
    "consumer": ("model", "config", "ebxml", "soap", "security", "cda", "valuesets", "xmlsafe"),
    "conformance": ("model", "ebxml", "consumer"),
    "ops": ("__init__",),
    "serving": ("config", "soap"),
    # the wiring and the faces
    "app": ("__init__", "model", "config", "xmlsafe", "security", "validation", "cda", "dsig",
            "store", "records", "registry", "repository", "ebxml", "soap", "transactions",
            "dmp", "consumer", "ops", "hl7v2", "valuesets", "fhir"),
    "server": ("__init__", "app", "config", "config_signature", "logs", "serving"),
    "cli": ("__init__", "app", "config", "config_identity", "config_signature", "model",
            "store", "records",
            "consumer", "server", "serving", "security", "dsig", "cli_audit", "cli_cda",
            "cli_client", "cli_conformance",
            "cli_settings", "cli_errors", "cli_consumer", "cli_update", "cli_backup", "cli_codes",
            "cli_conformance_clean", "cli_hl7", "cli_options", "cli_seconds", "cli_streams",
            "cli_text"),
    # how a command fails (one line, an exit status) and shows progress
    "cli_errors": ("config", "consumer", "store", "conformance", "cli_streams", "cli_text"),
    "cli_seconds": (),
    # how a command writes: a closed standard output found before the work, a broken pipe quiet
    "cli_streams": (),
    # one rule for every option's text (empty, control characters) and for printing stored text
    "cli_text": (),
    # id options checked before anything is sent, shared by every command
    "cli_options": ("model",),
    # the command's entry point: Ctrl-C answered before the CLI is imported
    "entry": ("cli",),
    "cli_progress": (),
    "cli_backup": ("__init__", "cli_errors", "cli_progress", "cli_settings", "config",
                   "config_identity", "store", "cli_options", "cli_streams"),
    # store: the installation check connects with the store's connection limits (connect_timeout)
    "cli_settings": ("config", "cli_errors", "store"),
    "cli_hl7": ("cli_settings", "cli_errors", "config", "config_signature", "app", "dsig", "hl7v2",
                "logs", "serving",
                "store", "cli_seconds", "cli_client", "cli_options"),
    "cli_consumer": ("cli_client", "cli_errors", "cli_progress", "consumer", "model", "cli_codes",
                     "cli_document_options", "cli_options", "cli_settings", "cli_streams",
                     "cli_text"),
    "cli_update": ("cli_client", "cli_consumer", "cli_errors", "consumer", "cli_codes",
                   "cli_options", "cli_streams", "cli_text", "model"),
    "cli_audit": ("cli_settings", "cli_errors", "model", "security", "store", "cli_options",
                  "cli_text"),
    "cli_cda": ("cli_settings", "cli_errors", "cli_progress", "config", "cda", "dsig",
                "cli_streams"),
    "cli_client": ("model", "consumer", "serving", "xmlsafe", "dsig", "cli_errors", "cli_settings",
                   "cli_seconds", "cli_options"),
    "cli_codes": ("cli_settings", "consumer", "model", "valuesets"),
    "cli_document_options": ("cli_codes", "consumer"),
    "cli_conformance_clean": ("cli_conformance", "cli_errors", "cli_settings", "cli_client",
                              "cli_consumer", "conformance", "cli_options", "cli_seconds"),
    "cli_conformance": ("cli_settings", "cli_errors", "cli_client", "cli_progress", "conformance",
                        "records", "store", "cli_options", "cli_seconds"),
}.items()}

# part → libraries it must not import: the actors and the access core know no wire format and
# no database; the store knows no wire format
NO_WIRE = {"lxml", "spyne", "zeep"}
NO_DATABASE = {"sqlalchemy", "psycopg", "alembic"}
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {
    "model": NO_WIRE | NO_DATABASE,
    "registry": NO_WIRE | NO_DATABASE,
    "repository": NO_WIRE | NO_DATABASE,
    "records": NO_WIRE | NO_DATABASE,
    "security": NO_DATABASE | {"spyne", "zeep"},   # lxml/xmlsec read the signed VIHF
    "validation": NO_WIRE | NO_DATABASE,
    "store": NO_WIRE,
    "ebxml": NO_DATABASE,
    "soap": NO_DATABASE,
    "dsig": NO_DATABASE | {"spyne", "zeep"},
    "hl7v2": NO_DATABASE | {"spyne", "zeep"},
    "fhir": NO_DATABASE | {"lxml", "spyne", "zeep"},
}


def _part(module: list[str]) -> str:
    """xds_server.a.b → a (a package or a top-level module); xds_server → __init__; the
    migrations are a part of their own (store.migrations)."""
    if module[1:3] == ["store", "migrations"]:
        return "store.migrations"
    return module[1] if len(module) > 1 else "__init__"


@functools.cache
def imports(package: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """part → {imported part or library → the modules of the part that import it}."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        module = list(relative.parts)
        is_package = module[-1] == "__init__"
        if is_package:
            module = module[:-1]
        here = _part(module)
        targets: list[list[str]] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets += [alias.name.split(".") for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module if is_package else module[:-1]
                    base = base[:len(base) - node.level + 1]
                    name = [*base, *(node.module.split(".") if node.module else [])]
                    targets += [[*name, alias.name] if not node.module else name
                                for alias in node.names]
                else:
                    targets.append((node.module or "").split("."))
        for target in targets:
            if target[0] == package.name:
                there = _part(target)
            elif target[0]:
                there = target[0]
            else:
                continue
            if there != here:
                found.setdefault(here, {}).setdefault(there, set()).add(".".join(module))
    return found


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One loop of the graph (its parts in order, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _internal(found: dict[str, dict[str, set[str]]]) -> dict[str, set[str]]:
    parts = set(LAYERS) | set(found)
    return {part: {t for t in targets if t in parts} for part, targets in found.items()}


def test_every_part_is_placed_in_a_layer():
    found = imports()
    assert set(found) | {p for targets in _internal(found).values() for p in targets} \
        <= set(LAYERS), "a new part of the package: give it a layer in LAYERS"


def test_each_part_imports_only_the_layers_it_may():
    found = imports()
    crossing = {f"{part} -> {target} ({', '.join(sorted(modules))})"
                for part, targets in found.items()
                for target, modules in targets.items()
                if target in LAYERS and target not in LAYERS.get(part, frozenset())}
    assert not crossing, sorted(crossing)


def test_the_actors_the_access_core_and_the_store_keep_off_wire_formats_and_databases():
    found = imports()
    refused = {f"{part} -> {library} ({', '.join(sorted(modules))})"
               for part, libraries in FORBIDDEN_LIBRARIES.items()
               for library, modules in found.get(part, {}).items() if library in libraries}
    assert not refused, sorted(refused)


def test_no_loop_between_parts():
    assert cycle(_internal(imports())) is None


def test_the_reading_sees_loops_and_lazy_imports(tmp_path):
    """The checks above cannot pass by not reading: a package whose layers loop through an
    import inside a function is caught, with the loop named."""
    root = tmp_path / "pkg"
    (root / "low").mkdir(parents=True)
    (root / "high").mkdir()
    (root / "__init__.py").write_text("")
    (root / "low" / "__init__.py").write_text("")
    (root / "high" / "__init__.py").write_text("")
    (root / "high" / "a.py").write_text("from ..low import b\n")
    (root / "low" / "b.py").write_text("def f():\n    from ..high.a import x\n    import lxml\n")
    found = imports(root)
    assert found["low"] == {"high": {"pkg.low.b"}, "lxml": {"pkg.low.b"}}
    assert cycle({part: set(targets) - {"lxml"} for part, targets in found.items()}) in (
        ["high", "low", "high"], ["low", "high", "low"])


@pytest.mark.parametrize("part", sorted(FORBIDDEN_LIBRARIES))
def test_each_guarded_part_exists(part):
    """A guard on a part that is gone would pass for nothing."""
    assert (PACKAGE / part).is_dir()

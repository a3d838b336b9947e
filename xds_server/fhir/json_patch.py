"""JSON Patch (RFC 6902: add, remove, replace, test) on a resource, with the one extension
PDSM4DMP TD3.3d writes: a path step `extension[url:'…']` naming the extension by its url
(added when a replace or add reaches into one the resource does not have)."""

from __future__ import annotations

import re
from typing import Any

from .outcome import FhirError, issue

MAX_OPERATIONS = 20
_BY_URL = re.compile(r"(\w+)\[url:'([^']+)'\]")
_STEP = re.compile(r"(?:[^/\[]|\[[^\]]*\])+")


# the XDS error code every refused PATCH carries, as the registry's refusals of one do
# (issue 16 re-test m9: "test failed" and "does not exist" carried none)
PATCH_ERROR = "XDSMetadataUpdateOperationError"


def _fail(message: str, position: int) -> FhirError:
    return FhirError(422, [issue(message, f"patch[{position}]", "invalid", PATCH_ERROR)])


def _steps(path: Any, position: int) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise _fail("path is a JSON Pointer (/…)", position)
    # a step in [...] may hold slashes (the extension's url): split outside brackets only
    steps = _STEP.findall(path[1:])
    if not steps or "/".join(steps) != path[1:]:
        raise _fail("path is a JSON Pointer (/…) to an element of the resource", position)
    return [s.replace("~1", "/").replace("~0", "~") for s in steps]


def _resolve_step(node: Any, step: str, create: bool, position: int) -> tuple[Any, Any]:
    """(container, key) for one step; the extension-by-url form resolved to an index."""
    if (match := _BY_URL.fullmatch(step)) and isinstance(node, dict):
        name, url = match.groups()
        items = node.setdefault(name, []) if create else node.get(name)
        if not isinstance(items, list):
            raise _fail(f"no {name} to patch", position)
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("url") == url:
                return items, index
        if not create:
            raise _fail(f"no {name} with url {url}", position)
        items.append({"url": url})
        return items, len(items) - 1
    if isinstance(node, list):
        if step == "-":
            return node, len(node)
        if not step.isdigit() or (step != "0" and step.startswith("0")) or not step.isascii():
            # RFC 6901 §4: "0" or digits without a leading zero (/securityLabel/00 was 0)
            raise _fail(f"'{step}' is not an index", position)
        return node, int(step)
    if isinstance(node, dict):
        return node, step
    raise _fail(f"'{step}' goes past a value", position)


def apply_patch(resource: dict, patch: Any) -> dict:
    if not isinstance(patch, list) or not patch or len(patch) > MAX_OPERATIONS:
        raise FhirError(400, [issue(f"a JSON Patch is a list of 1 to {MAX_OPERATIONS} "
                                    "operations", "patch", "structure")])
    for position, operation in enumerate(patch):
        if not isinstance(operation, dict):
            raise _fail("an operation is an object", position)
        op = operation.get("op")
        if op not in ("add", "remove", "replace", "test"):
            raise _fail(f"op '{op}' is not served (add, remove, replace, test)", position)
        steps = _steps(operation.get("path"), position)
        create = op in ("add", "replace")
        node: Any = resource
        for step in steps[:-1]:
            container, key = _resolve_step(node, step, create, position)
            try:
                node = container[key]
            except (KeyError, IndexError):
                # only a member of an object is created on the way; an array's items are
                # named by existing indexes (RFC 6902 §4.1: the parent must exist)
                if not create or isinstance(container, list):
                    raise _fail(f"path {operation['path']} does not exist", position) from None
                container[key] = node = {}
        container, key = _resolve_step(node, steps[-1], create, position)
        exists = (key in container) if isinstance(container, dict) else key < len(container)
        if op == "test":
            if not exists or container[key] != operation.get("value"):
                raise FhirError(422, [issue("test failed", f"patch[{position}]", "conflict",
                                            PATCH_ERROR)])
        elif op == "remove":
            if not exists:
                raise _fail(f"path {operation['path']} does not exist", position)
            del container[key]
        elif "value" not in operation:
            raise _fail(f"{op} needs a value", position)
        elif isinstance(container, list) and (op == "add" or not exists):
            if key > len(container) or (op == "replace" and not exists):
                raise _fail(f"index {key} is out of range", position)
            container.insert(key, operation["value"])
        else:
            if op == "replace" and not exists and isinstance(container, dict) and \
                    not _BY_URL.fullmatch(steps[-2] if len(steps) > 1 else ""):
                raise _fail(f"path {operation['path']} does not exist", position)
            container[key] = operation["value"]
    return resource

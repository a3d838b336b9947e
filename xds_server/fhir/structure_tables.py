"""The R4B models' structure rules as tables, read from fhir.resources' own classes, for the
ITI-65 hot path: measured, the models' validation of a one-document Bundle (some 60 model
instances) cost 2.4-3.2 ms of CPU, most of it the library's Python checks run per instance
(`reject_null_complex_elements` over every field, the import of each contained resource's
class by name), a third of everything the FHIR front added to ITI-41's work.

`accepts(model, value)` walks the JSON with one table per class (built once from
`model_fields`: each element's JSON name, single or list, primitive, complex or any
resource; the required elements; the choice groups) and answers True only where it is sure
the models accept: anything it does not know (an unknown or `_`-prefixed key, a null, a class
with a validator of its own, a required element absent) answers False, and the caller then
runs the models themselves, whose answer (and words) stand. Primitive values are checked by a
pydantic TypeAdapter of the field's own annotation (the library's own primitive types:
regular expressions, dates, lax coercions alike), so the table decides nothing the library
would not. `tests/test_fhir_structure_tables.py` holds the two to the same verdict over the
tests' bundles, the PDSm examples and mutations of them.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from fhir_core.constraints import FHIR_TYPES_MAPS
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import TypeAdapter
from pydantic._internal._validators import import_string

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2
# the validators every model has (fhirabstractmodel.py), which the walk applies itself
_BASE_VALIDATORS = {"reject_null_complex_elements", "validate_after_model_construction"}
_BASE_CONFIG = {"extra": "forbid", "validate_assignment": True, "populate_by_name": True}
_CACHED = 4096              # primitive verdicts kept a type (codes, systems, URLs repeat)
_SCALARS = (str, int, bool, float)
_KEPT_LENGTH = 256          # longer texts are checked, never kept (memory: a client's texts)


@dataclass(frozen=True)
class Element:
    kind: int
    many: bool
    check: Any = None       # PRIMITIVE: the field's TypeAdapter.validate_python
    model: Any = None       # COMPLEX: the class; RESOURCE: the types' prefix (R4.)


@dataclass
class Table:
    resource_type: str
    elements: dict[str, Element] = field(default_factory=dict)
    required: tuple[str, ...] = ()                   # present and not null
    choices: tuple[tuple[tuple[str, ...], bool], ...] = ()   # (JSON names, one required)
    choice_of: dict[str, int] = field(default_factory=dict)  # JSON name → its group
    known: bool = True      # False: a class this walk does not cover (the models decide)


def _unwrapped(annotation: Any) -> tuple[Any, bool]:
    """(the element's type, whether it is a list) of Optional[List[X]], X | None, X."""
    many = False
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, many
            annotation = args[0]
        elif origin is list:
            if many:
                return annotation, many
            many, annotation = True, typing.get_args(annotation)[0]
        else:
            return annotation, many


@cache
def table(model: type[FHIRAbstractModel]) -> Table:
    """The class's table (built once a class, from the class itself)."""
    result = Table(model.__resource_type__)
    decorators = model.__pydantic_decorators__
    own = (set(decorators.model_validators) - _BASE_VALIDATORS) or decorators.field_validators \
        or decorators.validators or decorators.root_validators
    config = {k: model.model_config.get(k) for k in _BASE_CONFIG}
    if own or config != _BASE_CONFIG or model.model_config.get("strict"):
        result.known = False
        return result
    aliases = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        aliases[name] = key
        if key.startswith("_"):      # a primitive's extension: left to the models
            continue
        inner, many = _unwrapped(info.annotation)
        if isinstance(inner, type) and issubclass(inner, FhirElementOrResourceBase):
            if inner._model_klass.rsplit(".", 1)[-1] != "Resource":
                continue                                        # Element: not walked
            result.elements[key] = Element(RESOURCE, many, model=inner._prefix)
        elif isinstance(inner, type) and issubclass(inner, FhirBase):
            result.elements[key] = Element(COMPLEX, many, model=import_string(inner._model_klass))
        elif info.metadata or info.validate_default:
            continue                                            # constraints of its own
        else:
            result.elements[key] = Element(PRIMITIVE, many, check=_primitive(info.annotation))
        if info.is_required():
            result.required += (key,)
    blank = model.model_construct()
    result.required += tuple(alias for alias, _ in blank.get_required_fields())
    result.choices = tuple(
        (tuple(aliases[n] for n in names),
         model.model_fields[names[0]].json_schema_extra["one_of_many_required"] is True)
        for names in blank.get_one_of_many_fields().values())
    result.choice_of = {name: group for group, (names, _) in enumerate(result.choices)
                        for name in names}
    return result


@cache
def _primitive(annotation: Any) -> Any:
    """The check of a primitive field (one a distinct annotation): the library's own
    validation of the value; verdicts on scalars kept, keyed by type (True == 1 as keys)."""
    validate = TypeAdapter(annotation).validate_python

    def decide(value: Any) -> bool:
        try:
            validate(value)
        except Exception:       # its slips on odd input too: the models then decide, as
            return False        # structure() reports them
        return True

    @lru_cache(maxsize=_CACHED)
    def kept(key: tuple[type, Any]) -> bool:
        kind, value = key
        return decide([item for _, item in value] if kind is list else value)

    def check(value: Any) -> bool:
        kind = type(value)
        if kind in _SCALARS and (kind is not str or len(value) <= _KEPT_LENGTH):
            return kept((kind, value))
        if kind is list and len(value) <= 8 and all(
                type(item) in _SCALARS and (type(item) is not str or len(item) <= _KEPT_LENGTH)
                for item in value):
            return kept((kind, tuple((type(item), item) for item in value)))
        return decide(value)
    check.kept = kept       # type: ignore[attr-defined]  (its size, for the tests)
    return check


def _resource_model(prefix: str, value: Any) -> Any:
    """The resource class a dict names by its resourceType, or None (the models decide)."""
    kind = value.get("resourceType") if type(value) is dict else None
    return _resource_class(prefix, kind) if type(kind) is str else None


@lru_cache(maxsize=1024)
def _resource_class(prefix: str, kind: str) -> Any:
    """FhirElementOrResourceBase's look-up (FHIR_TYPES_MAPS), kept."""
    path = FHIR_TYPES_MAPS.get(f"{prefix}{kind}Type")
    if path is None or not path.startswith("fhir.resources.R4B."):
        return None
    model = import_string(path)
    return model if model.has_resource_base() else None


def accepts(model: type[FHIRAbstractModel], value: Any) -> bool:
    """True where the models surely accept `value` as a `model`; False: ask them."""
    stack = [(model, value)]
    while stack:
        model, node = stack.pop()
        if type(node) is not dict:
            return False
        rules = table(model)
        if not rules.known:
            return False
        elements = rules.elements
        for key, item in node.items():
            element = elements.get(key)
            if element is None:
                if key != "resourceType" or item != rules.resource_type:
                    return False
                continue
            if element.many:
                if type(item) is not list:
                    return False
                items = item
            else:
                items = (item,)
            kind = element.kind
            if kind == PRIMITIVE:
                if not element.check(item):
                    return False
                continue
            for one in items:
                if kind == COMPLEX:
                    stack.append((element.model, one))
                else:
                    found = _resource_model(element.model, one)
                    if found is None:
                        return False
                    stack.append((found, one))
        for key in rules.required:
            if node.get(key) is None:
                return False
        if rules.choices and not _one_of_each(rules, node):
            return False
    return True


def _one_of_each(rules: Table, node: dict) -> bool:
    """At most one element of each choice group given (not null), one if it is required."""
    given = [0] * len(rules.choices)
    for key, item in node.items():
        group = rules.choice_of.get(key)
        if group is not None and item is not None:
            given[group] += 1
    return all(count <= 1 and (count or not required)
               for count, (_, required) in zip(given, rules.choices, strict=True))


def text_for_object(model: type[FHIRAbstractModel], value: Any, root: str) -> str | None:
    """The FHIRPath of the first JSON string given where the model wants an object or a list,
    or None. The models parse such a string as JSON and accept it (`"entry": ["{...}"]`), but
    the server reads the JSON itself, which holds a string there (outsider 16d: 500s and a
    submission set's author dropped): the JSON must hold what FHIR says, so it is refused."""
    stack = [(model, value, root)]
    while stack:
        model, node, path = stack.pop()
        if type(node) is not dict:
            continue
        elements = table(model).elements
        for key, item in node.items():
            element = elements.get(key)
            if element is None or element.kind == PRIMITIVE:
                continue
            where = f"{path}.{key}"
            if isinstance(item, str):
                return where
            items = enumerate(item) if element.many and type(item) is list else [(None, item)]
            for index, one in items:
                at = where if index is None else f"{where}[{index}]"
                if isinstance(one, str):
                    return at
                sub = element.model if element.kind == COMPLEX else _resource_model(
                    element.model, one)
                if sub is not None:
                    stack.append((sub, one, at))
    return None

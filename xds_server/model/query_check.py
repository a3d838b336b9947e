"""The IHE parameter rules held on a typed query however it was built: `parse` (the ebXML
front) holds raw values to them, and `check` holds a query a front built directly
(`FindDocuments(patient_id=…, statuses=())`, an MHD search) to the same rules, so no front can
ask the registry what ITI-18 would refuse. The registry runs it on every query: a wrong value
is an error naming the parameter, never an empty answer (a status 'Approved' without its URN
found nothing before).
"""

from __future__ import annotations

from collections.abc import Iterator

from . import vocabulary as v
from .errors import ErrorCode, RegistryError, RegistryFailure, error
from .stored_queries import LEVELS, CodeValue, Kind, Param, ReturnType, StoredQuery


def _values(param: Param, value: object) -> Iterator[object]:
    """Each value of a field, whatever its shape (one, OR tuple, AND tuple of tuples)."""
    if isinstance(value, tuple) and not isinstance(value, CodeValue):
        for item in value:
            yield from _values(param, item)
    else:
        yield value


def _wrong(kind: Kind, value: object) -> str | None:
    """What is wrong with one typed value of this kind, or None."""
    if kind is Kind.TIME:
        ok = isinstance(value, str) and len(value) == 14 and value.isdigit()
        return None if ok else "is not a 14-digit time key (model.hl7.dtm_key of a DTM)"
    if kind is Kind.CODE:
        ok = isinstance(value, CodeValue) and bool(value.code) and bool(value.scheme)
        return None if ok else "is not a CodeValue with its code and coding scheme"
    if kind is Kind.STATUS:
        return None if value in v.STATUSES else \
            f"is not an availability status URN ({', '.join(v.STATUSES)})"
    if kind is Kind.ENTRY_TYPE:
        return None if value in v.DOCUMENT_ENTRY_TYPES else "is not a DocumentEntry type"
    if kind is Kind.LEVEL:
        return None if value in LEVELS else "is not 1 or 2"
    return None if isinstance(value, str) and value else "is not a non-empty text"


def problems(query: StoredQuery) -> list[RegistryError]:
    """Every way this typed query breaks its rules (empty when it keeps them)."""
    errors: list[RegistryError] = []
    if query.return_type not in tuple(ReturnType):
        errors.append(error(ErrorCode.REGISTRY_ERROR, f"{query.NAME}: return type "
                            f"'{query.return_type}' is not LeafClass or ObjectRef", "returnType"))
    given = set()
    for param in query.PARAMS:
        value = getattr(query, param.field, None)
        if value is None or value == ():
            if param.required:
                errors.append(error(ErrorCode.STORED_QUERY_MISSING_PARAM,
                                    f"{query.NAME}: required parameter {param.name} is "
                                    "missing", param.name))
            continue
        given.add(param.name)
        values = list(_values(param, value))
        if len(values) > 1 and not (param.multiple or param.repeatable):
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.NAME}: parameter {param.name} takes one value",
                                param.name))
        for item in values:
            wrong = _wrong(param.kind, item)
            if wrong:
                errors.append(error(ErrorCode.REGISTRY_ERROR,
                                    f"{query.NAME}: parameter {param.name}: {item!r} {wrong}",
                                    param.name))
                break
    for group in query.ONE_OF:
        named = [name for name in group if name in given]
        if len(named) != 1:
            errors.append(error(
                ErrorCode.STORED_QUERY_PARAM_NUMBER if named
                else ErrorCode.STORED_QUERY_MISSING_PARAM,
                f"{query.NAME}: give exactly one of {', '.join(group)}", group[0]))
    return errors


def check(query: StoredQuery) -> None:
    """RegistryFailure with every problem of a typed query; nothing when it keeps the rules."""
    found = problems(query)
    if found:
        raise RegistryFailure(found)

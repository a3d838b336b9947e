"""Checks a stored query's parameters against its table and converts them to typed values.

Errors follow ITI TF-2 §3.18.4.1.3: an unknown query id is XDSUnknownStoredQuery, a missing
required parameter XDSStoredQueryMissingParam, a list or repeated slot where one value is
allowed (or two alternatives given together) XDSStoredQueryParamNumber.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ebxml.query import AdhocQuery
from ..model import hl7
from ..model import vocabulary as v
from ..model.errors import ErrorCode, RegistryError, RegistryFailure, error
from ..security.principal import SYSTEM, Principal
from .query_params import COMMON_PARAMS, QUERIES_BY_ID, Kind, QueryDef

RETURN_TYPES = ("LeafClass", "ObjectRef")
_OASIS_STATUSES = {s.rsplit(":", 1)[-1]: s for s in (v.APPROVED, v.DEPRECATED, v.SUBMITTED)}


@dataclass
class QueryArgs:
    query: QueryDef
    return_type: str
    groups: dict[str, list[list]] = field(default_factory=dict)
    reader: str | None = None      # the caller the access policy applies to (None: system)
    reader_needs: frozenset[str] = frozenset()   # the record facts the policy reads for it
    # the one patient (registry key) the caller may act on, None for the system: objects of
    # another patient are, to this query, objects that do not exist
    scope: str | None = None
    principal: Principal = SYSTEM

    def in_scope(self, patient: str) -> bool:
        return self.scope is None or patient == self.scope

    def has(self, name: str) -> bool:
        return name in self.groups

    def values(self, name: str) -> list:
        """All values of a parameter (OR), flattened over slots."""
        return [value for group in self.groups.get(name, []) for value in group]

    def value(self, name: str):
        values = self.values(name)
        return values[0] if values else None

    def and_groups(self, name: str) -> list[list]:
        return self.groups.get(name, [])


def _convert(query: QueryDef, name: str, kind: Kind, raw: str) -> object:
    where = f"{query.name}: parameter {name}"
    if kind is Kind.TIME:
        if not raw.isdigit() or not hl7.is_dtm(raw[:14]):
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                         f"{where}: '{raw}' is not a DTM time (YYYY[MM[DD[hh[mm"
                                         "[ss]]]]])", name)])
        return hl7.dtm_key(raw)
    if kind is Kind.CODE:
        code, _, scheme = raw.partition("^^")
        if not code or not scheme or "^" in scheme:
            raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                         f"{where}: '{raw}' is not code^^codingScheme (a coded "
                                         "value needs its coding scheme)", name)])
        return (code, scheme)
    if kind is Kind.STATUS:
        # ebRIM statuses by their last segment, so '...:ResponseStatusType:Approved' (a slip in
        # the IHE example) still means Approved; the CI-SIS statuses are kept as sent.
        return _OASIS_STATUSES.get(raw.rsplit(":", 1)[-1], raw)
    if kind is Kind.ENTRY_TYPE and raw not in v.DOCUMENT_ENTRY_TYPES:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"{where}: '{raw}' is not a DocumentEntry type "
                                     f"({v.DOC_STABLE} or {v.DOC_ON_DEMAND})", name)])
    if kind is Kind.INTEGER and not raw.isdigit():
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"{where}: '{raw}' is not an integer", name)])
    return raw


def check_query(adhoc: AdhocQuery) -> QueryArgs:
    """Validate `adhoc` against its table; raise RegistryFailure with every problem found."""
    query = QUERIES_BY_ID.get(adhoc.query_id)
    if query is None:
        raise RegistryFailure([error(ErrorCode.UNKNOWN_STORED_QUERY,
                                     f"stored query id '{adhoc.query_id}' is not one of the 14 "
                                     "ITI-18 stored queries", "AdhocQuery/@id")])
    if adhoc.return_type not in RETURN_TYPES:
        raise RegistryFailure([error(ErrorCode.REGISTRY_ERROR,
                                     f"returnType '{adhoc.return_type}' is not LeafClass or "
                                     "ObjectRef", "ResponseOption/@returnType")])
    errors: list[RegistryError] = []
    args = QueryArgs(query, adhoc.return_type)
    for name, slots in adhoc.slots.items():
        param = query.param(name)
        if param is None:
            continue  # $homeCommunityId and unknown parameters are ignored, as IHE allows
        if len(slots) > 1 and not param.repeatable:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.name}: parameter {name} appears in {len(slots)} slots; "
                                "it may appear once", name))
            continue
        if any(len(values) > 1 for values in slots) and not param.multiple:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.name}: parameter {name} takes one value", name))
            continue
        try:
            args.groups[name] = [[_convert(query, name, param.kind, raw) for raw in values]
                                 for values in slots if values]
        except RegistryFailure as failure:
            errors += failure.errors
        if not args.groups.get(name):
            args.groups.pop(name, None)
    for param in query.params:
        if param.required and param.name not in args.groups:
            errors.append(error(ErrorCode.STORED_QUERY_MISSING_PARAM,
                                f"{query.name}: required parameter {param.name} is missing",
                                param.name))
    for group in query.one_of:
        given = [name for name in group if name in args.groups]
        if not given:
            errors.append(error(ErrorCode.STORED_QUERY_MISSING_PARAM,
                                f"{query.name}: one of {', '.join(group)} is required",
                                group[0]))
        elif len(given) > 1:
            errors.append(error(ErrorCode.STORED_QUERY_PARAM_NUMBER,
                                f"{query.name}: give only one of {', '.join(given)}",
                                given[0]))
    if errors:
        raise RegistryFailure(errors)
    return args


__all__ = ["COMMON_PARAMS", "QueryArgs", "check_query"]

"""ITI-67 pages that hold under updates and past the registry's LeafClass limit (findings 9,
10, 13 of the outsider's report), with the registry's own typed queries only:

1. a first page whose whole answer fits the LeafClass limit is one FindDocuments (LeafClass),
   as ITI-18 runs it;
2. otherwise FindDocuments as ObjectRef gives every match's entryUUID (no metadata read, no
   LeafClass limit), in the registry's order: registration order, where a new version (a
   masking, ITI-57) is registered after everything that exists;
3. the page is a GetDocuments (LeafClass) of that page's entryUUIDs only, so a page is never
   more than the LeafClass limit (the page size is capped by it).

The next link carries a keyset cursor, the entryUUIDs of the page's last entries (`_cursor`),
not an offset: the next page starts after the latest of them still listed. A document
updated during a walk leaves its place (its old version is superseded) and its new version
comes at the end: no document is skipped, whatever is updated; an offset would have skipped
the one that slid into the page already read. `_offset` stays beside it for the case where
every cursor entry left the list. `_count=0` answers the total alone, with no next link.

ITI-66 (Lists) is paged by offset over one LeafClass answer: the typed queries fetch
submission sets by the documents they hold, not by their own ids, so a set cannot be fetched
alone as a page. A patient with more sets than the LeafClass limit gets a 422 that says how to
narrow the search (date, code, status), not the SOAP advice a FHIR client cannot follow.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from ..model.errors import ErrorCode, RegistryFailure
from ..model.hl7 import canonical_uuid
from ..model.registered import DocumentRecord
from ..model.stored_queries import FindDocuments, GetDocuments, ReturnType, StoredQuery
from ..registry.actor import Registry
from ..registry.stored_queries import QueryAnswer
from ..security.principal import Principal
from .http import FhirRequest
from .outcome import FhirError, bad_request, issue

CURSOR_ENTRIES = 3          # the page's last entries named by the cursor
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Page:
    records: list[DocumentRecord]
    total: int
    start: int                          # the position of the page's first entry
    notices: list[str] = field(default_factory=list)

    def cursor(self) -> str:
        return ",".join(r.entry_uuid.removeprefix("urn:uuid:")
                        for r in self.records[-CURSOR_ENTRIES:])


def parse_cursor(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    uuids = tuple(value.split(","))
    if len(uuids) > CURSOR_ENTRIES or not all(_UUID.fullmatch(u) for u in uuids):
        raise bad_request("_cursor is the value a next link gives", "_cursor")
    return tuple(canonical_uuid(f"urn:uuid:{u}") for u in uuids)     # either case


def _resume(uuids: list[str], cursor: tuple[str, ...], offset: int) -> int:
    """Where the next page starts: after the latest cursor entry still listed."""
    positions = {uuid: index for index, uuid in enumerate(uuids)}
    found = [positions[u] for u in cursor if u in positions]
    if found:
        return max(found) + 1
    return min(offset, len(uuids))


def _too_many(failure: RegistryFailure) -> bool:
    return any(e.code == ErrorCode.TOO_MANY_RESULTS for e in failure.errors)


def lists_answer(registry: Registry, query: StoredQuery, principal: Principal
                 ) -> QueryAnswer:
    try:
        return registry.query(query, principal)
    except RegistryFailure as failure:
        if not _too_many(failure):
            raise
        raise FhirError(422, [issue(
            f"more than {registry.queries.max_leaf_class_results} Lists match: narrow the "
            "search (date, code=submissionset or folder, status, designationType)", "",
            "too-costly", ErrorCode.TOO_MANY_RESULTS)]) from None


def find_page(registry: Registry, query: FindDocuments, principal: Principal, count: int,
              cursor: tuple[str, ...], offset: int) -> Page:
    count = min(count, registry.queries.max_leaf_class_results)
    if not cursor and offset == 0:
        try:
            answer = registry.query(query, principal)
        except RegistryFailure as failure:
            if not _too_many(failure):
                raise
        else:
            records = answer.result.documents
            return Page(records[:count], len(records), 0, [n.context for n in answer.notices])
    refs = registry.query(dataclasses.replace(query, return_type=ReturnType.OBJECT_REF),
                          principal)
    uuids = [record.entry_uuid for record in refs.result.documents]
    start = _resume(uuids, cursor, offset)
    wanted = uuids[start:start + count]
    records: list[DocumentRecord] = []
    if wanted:
        found = registry.query(GetDocuments(entry_uuids=tuple(wanted)), principal)
        by_uuid = {record.entry_uuid: record for record in found.result.documents}
        records = [by_uuid[u] for u in wanted if u in by_uuid]
    return Page(records, len(uuids), start, [n.context for n in refs.notices])


PAGING_PARAMS = ("_count", "_offset", "_cursor")


def page_links(request: FhirRequest, kind: str, start: int, shown: int, total: int,
               count: int, cursor: str = "") -> list[dict]:
    """self, next (keyset cursor and offset) and previous (offset) links of one page."""
    def url(offset: int, keyset: str = "") -> str:
        params = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
                  if k not in PAGING_PARAMS]
        params += [("_count", str(count)), ("_offset", str(offset))]
        params += [("_cursor", keyset)] if keyset else []
        return f"{request.base}/{kind}?{urlencode(params)}"

    links = [{"relation": "self", "url": url(start)}]
    if count and start + shown < total:
        links.append({"relation": "next", "url": url(start + shown, cursor)})
    if count and start > 0:
        links.append({"relation": "previous", "url": url(max(start - count, 0))})
    return links

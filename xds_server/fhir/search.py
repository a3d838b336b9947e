"""ITI-67 and ITI-66 searches → the typed stored queries ITI-18 runs (FindDocuments,
GetDocuments, GetRelatedDocuments, FindSubmissionSets, FindFolders): the same registry call,
so the same result and the same visibility as over SOAP.

| ITI-67 parameter | FindDocuments field |
|---|---|
| patient, patient.identifier | patient_id (required, one of them) |
| status (+ isArchived) | statuses (required): DOCUMENT_STATUS below |
| category, type, setting, facility, format | CODE_PARAMS below (a comma is OR) |
| event, security-label | event_codes, confidentiality_codes (repeated: AND) |
| creation (date) | creation_time_from / _to |
| period | service_stop_time_from (ge/gt), service_start_time_to (le/lt): overlap |
| period-start, period-end | service_start_time_*, service_stop_time_* |
| author.identifier, author.family, author.given | author_persons (an XCN pattern) |
| identifier, _id | GetDocuments by uniqueId or entryUUID (then held to patient and status) |
| relatesto | GetRelatedDocuments of that DocumentReference |

A parameter this server does not serve is refused (400), never ignored: ignoring it would
answer a broader search than the one asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ..model import vocabulary as v
from ..model.hl7 import canonical_uuid, is_oid
from ..model.stored_queries import (
    CodeValue,
    FindDocuments,
    FindFolders,
    FindSubmissionSets,
    GetDocuments,
    GetRelatedDocuments,
    StoredQuery,
)
from .datatypes import Invalid, cx_of_identifier, cx_of_patient_id, scheme_oid
from .dates import DateError, search_bounds
from .http import local_id
from .outcome import FhirError, bad_request
from .paging import parse_cursor
from .texts import check_text, shown
from .vocabulary import LIST_STATUS_BACK, LIST_TYPES, RELATES_TO

MAX_QUERY_BYTES = 8192          # no search is the attacker's to size
MAX_VALUES = 50                 # values of one parameter, all its occurrences together
MAX_COUNT = 500                 # the largest page
DEFAULT_COUNT = 100

CODE_PARAMS = {"category": "class_codes", "type": "type_codes",
               "setting": "practice_setting_codes", "facility": "healthcare_facility_type_codes",
               "format": "format_codes"}
AND_CODE_PARAMS = {"event": "event_codes", "security-label": "confidentiality_codes"}
DATE_PARAMS = {"creation": ("creation_time_from", "creation_time_to"),
               "date": ("creation_time_from", "creation_time_to"),
               "period-start": ("service_start_time_from", "service_start_time_to"),
               "period-end": ("service_stop_time_from", "service_stop_time_to"),
               "period": ("service_stop_time_from", "service_start_time_to")}
DOCUMENT_STATUS = {"current": (v.APPROVED, v.CISIS_ARCHIVED), "superseded": (v.DEPRECATED,),
                   "entered-in-error": (v.CISIS_DELETED,)}
PAGING = ("_count", "_offset", "_cursor", "_format")
DOCUMENT_PARAMS = frozenset({"patient", "patient.identifier", "status", "isArchived",
                             "identifier", "_id", "relatesto", "author.identifier",
                             "author.family", "author.given", *CODE_PARAMS, *AND_CODE_PARAMS,
                             *DATE_PARAMS, *PAGING})
LIST_PARAMS = frozenset({"patient", "patient.identifier", "status", "code", "date",
                         "designationType", "sourceId", *PAGING})


@dataclass
class Search:
    """The typed query (or queries, for Lists of both kinds) and what the front does after
    it: the page, and for a search by id the patient and statuses it is held to."""

    queries: list[StoredQuery]
    count: int = DEFAULT_COUNT
    offset: int = 0
    patient_id: str = ""
    statuses: tuple[str, ...] = ()
    related_to: str | None = None
    cursor: tuple[str, ...] = ()
    params: list[tuple[str, str]] = field(default_factory=list)


def parse_query_string(query_string: str, allowed: frozenset[str]) -> dict[str, list[str]]:
    if len(query_string) > MAX_QUERY_BYTES:
        raise FhirError(414, [{"severity": "error", "code": "too-costly", "diagnostics":
                               f"the search is over {MAX_QUERY_BYTES} bytes"}])
    params: dict[str, list[str]] = {}
    try:        # strict: bytes that are not UTF-8 were searched as U+FFFD, finding nothing
        pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise bad_request("the search's percent-encoded bytes are not UTF-8 (RFC 3986: "
                          "encode the characters' UTF-8 bytes)", "") from None
    for name, value in pairs:
        check_text(name, shown(name))
        check_text(value, shown(name))
        base, _, modifier = name.partition(":")
        if base not in allowed or (modifier and modifier != "exact"):
            raise bad_request(f"search parameter '{name}' is not served here (see "
                              "/fhir/metadata); it is refused rather than ignored", name,
                              code="not-supported")
        params.setdefault(base, []).append(value)
        if sum(len(x.split(",")) for x in params[base]) > MAX_VALUES:
            raise bad_request(f"more than {MAX_VALUES} values for '{base}'", base,
                              code="too-costly")
    return params


_UNESCAPED = re.compile(r"(?<!\\)((?:\\\\)*),")      # a comma after an even run of \


def values_of(values: list[str]) -> list[str]:
    """The values of all occurrences of a parameter, split on the commas that are not
    escaped (FHIR search §3.1.1.4.4: a backslash makes the comma, bar, dollar or backslash
    after it literal); each value keeps its escapes for token_parts."""
    out: list[str] = []
    for text in values:
        out += [part for part in _UNESCAPED.sub(lambda m: m.group(1) + "\x00", text)
                .split("\x00")]
    return out


def unescape(text: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", text)


def token_parts(value: str) -> tuple[str, bool, str]:
    """(system, whether a | was given, code) of a token, on its first unescaped |."""
    match = re.search(r"(?<!\\)((?:\\\\)*)\|", value)
    if match is None:
        return "", False, unescape(value)
    return unescape(value[:match.end(1)]), True, unescape(value[match.end():])


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad_request(f"'{name}' may be given once", name)
    return values[0]


def patient_of(params: dict[str, list[str]], base: str = "") -> str:
    reference, identifier = _one(params, "patient"), _one(params, "patient.identifier")
    for name, given in (("patient", reference), ("patient.identifier", identifier)):
        if given and len(values_of([given])) > 1:     # was the first patient's, silently
            raise bad_request(f"{name} names one patient (a search is about one record)",
                              name)
    if bool(reference) == bool(identifier):
        raise bad_request("give one of patient or patient.identifier (MHD requires the "
                          "patient)", "patient", "XDSStoredQueryMissingParam", "required")
    if identifier:
        system, _, value = identifier.partition("|")
        try:
            return cx_of_identifier({"system": system, "value": value}, "patient.identifier")
        except Invalid as exc:
            raise bad_request(str(exc), "patient.identifier") from None
    named = local_id(reference, "Patient", base, bare=True)
    cx = cx_of_patient_id(named) if named else None
    if cx is None:
        raise bad_request("patient must be Patient/<authority OID>-<identifier> (or use "
                          "patient.identifier=urn:oid:<authority>|<identifier>)", "patient")
    return cx


def _codes(values: list[str], name: str) -> tuple[CodeValue, ...]:
    codes = []
    for value in values_of(values):
        system, bar, code = token_parts(value)
        if not bar or not system or not code:
            raise bad_request(f"'{name}={value}': a code is searched as system|code: XDS "
                              "codes are registered with their coding scheme and matched with "
                              "it (a code alone, or |code without a system, is not served)",
                              name)
        codes.append(CodeValue(code, scheme_oid(system)))
    return tuple(codes)


def _bounds(values: list[str], name: str) -> dict[int, str]:
    """{0: From (inclusive), 1: To (exclusive)} as 14-digit keys (fhir/dates.py)."""
    try:
        low, high = search_bounds(values)
    except DateError as exc:
        raise bad_request(f"{name}: {exc}", name) from None
    return {side: bound for side, bound in ((0, low), (1, high)) if bound is not None}


_NUMBER = re.compile(r"-?[0-9]{1,9}")   # FHIR integer, ASCII: int() took 5_0, ٣ and +5 (16e F6)


def _integer(params: dict[str, list[str]], name: str, default: int) -> int:
    text = _one(params, name)
    if not text:
        return default
    if not _NUMBER.fullmatch(text):
        raise bad_request(f"{name} is an integer of ASCII digits", name)
    return int(text)


def _paging(params: dict[str, list[str]]) -> tuple[int, int]:
    count = _integer(params, "_count", DEFAULT_COUNT)
    offset = _integer(params, "_offset", 0)
    if not 0 <= count <= MAX_COUNT or offset < 0:
        raise bad_request(f"_count is 0 to {MAX_COUNT}, _offset not negative", "_count",
                          code="too-costly")
    return count, offset


def _document_statuses(params: dict[str, list[str]]) -> tuple[str, ...]:
    values = params.get("status")
    if not values:
        raise bad_request("status is required (MHD ITI-67)", "status",
                          "XDSStoredQueryMissingParam", "required")
    statuses: list[str] = []
    for value in ",".join(values).split(","):
        if value not in DOCUMENT_STATUS:
            raise bad_request(f"status '{value}' is not current, superseded or "
                              "entered-in-error", "status")
        statuses += DOCUMENT_STATUS[value]
    archived = _one(params, "isArchived")
    if archived not in (None, "true", "false"):
        raise bad_request("isArchived is true or false", "isArchived")
    if archived is not None:
        drop = v.APPROVED if archived == "true" else v.CISIS_ARCHIVED
        statuses = [s for s in statuses if s != drop]
    return tuple(dict.fromkeys(statuses))


def document_search(query_string: str, base: str = "") -> Search:
    params = parse_query_string(query_string, DOCUMENT_PARAMS)
    patient = patient_of(params, base)
    statuses = _document_statuses(params)
    count, offset = _paging(params)
    cursor = parse_cursor(_one(params, "_cursor"))
    by_id = [name for name in ("identifier", "_id", "relatesto") if name in params]
    if len(by_id) > 1:
        raise bad_request(f"give one of {', '.join(by_id)}", by_id[0])
    if by_id:
        return _by_id(by_id[0], params, patient, statuses, count, offset, base)
    fields: dict[str, object] = {"patient_id": patient, "statuses": statuses}
    for name, attribute in CODE_PARAMS.items():
        if name in params:
            fields[attribute] = _codes(params[name], name)
    for name, attribute in AND_CODE_PARAMS.items():
        if name in params:
            fields[attribute] = tuple(_codes([value], name) for value in params[name])
    for name, (low, high) in DATE_PARAMS.items():
        if name in params:
            bounds = _bounds(params[name], name)
            for side, attribute in ((0, low), (1, high)):
                if side in bounds:
                    fields[attribute] = bounds[side]
    authors = _author_pattern(params)
    if authors:
        fields["author_persons"] = authors
    return Search([FindDocuments(**fields)], count, offset, cursor=cursor)


def _author_pattern(params: dict[str, list[str]]) -> tuple[str, ...]:
    """The $XDSDocumentEntryAuthorPerson patterns (several: OR): author.identifier, or
    author.family and author.given; a comma gives several values (FHIR: OR), each a pattern
    (author.family=Dupont,Durand found nothing: it was one name with a comma)."""
    identifier = _one(params, "author.identifier")
    family, given = _one(params, "author.family"), _one(params, "author.given")
    if identifier:
        if family or given:
            raise bad_request("author.identifier alone, or author.family/author.given",
                              "author.identifier")
        patterns = []
        for one in values_of([identifier]):
            system, bar, value = token_parts(one)
            if system == "https://rpps.esante.gouv.fr" and bar:
                value = "8" + value
            patterns.append(f"{_escape(value)}^%")
        return tuple(patterns)
    if family or given:
        families = [unescape(f) for f in values_of([family])] if family else [None]
        givens = [unescape(g) for g in values_of([given])] if given else [None]
        if len(families) * len(givens) > MAX_VALUES:    # each pair is a pattern to match
            raise bad_request(f"author.family x author.given gives over {MAX_VALUES} "
                              "names", "author.family", code="too-costly")
        return tuple(f"%^{_escape(f) if f else '%'}^{_escape(g) if g else '%'}%"
                     for f in families for g in givens)
    return ()


def _escape(text: str) -> str:
    """A search value as literal text in an XDS pattern (% and _ are the wildcards)."""
    if any(c in text for c in "%_^&\\"):
        raise bad_request(f"'{text}' holds a character searches do not take (% _ ^ & \\)",
                          "author")
    return text


def _by_id(name: str, params: dict[str, list[str]], patient: str,
           statuses: tuple[str, ...], count: int, offset: int, base: str = "") -> Search:
    values = [unescape(value) for value in values_of(params[name])]
    if name == "relatesto":
        if len(values) != 1:
            raise bad_request("relatesto names one DocumentReference", name)
        named = local_id(values[0], "DocumentReference", base, bare=True)
        if named is None:       # another server's, or another kind (m6)
            raise bad_request("relatesto names a DocumentReference of this server", name)
        target = canonical_uuid(f"urn:uuid:{named}")
        query: StoredQuery = GetRelatedDocuments(entry_uuids=(target,),
                                                 association_types=tuple(RELATES_TO.values()))
        return Search([query], count, offset, patient, statuses, related_to=target)
    if name == "_id":
        query = GetDocuments(entry_uuids=tuple(canonical_uuid(f"urn:uuid:{x}") for x in values))
        return Search([query], count, offset, patient, statuses)
    uuids, unique_ids = [], []
    for value in values:
        # URN:UUID:, Urn:Uuid: name the same id (RFC 8141; issue 16 re-test c, 5)
        identifier = canonical_uuid(value.partition("|")[2] or value)
        if identifier.startswith("urn:uuid:"):
            uuids.append(identifier)
        elif identifier:
            unique_ids.append(identifier.removeprefix("urn:oid:"))
    if uuids and unique_ids:
        raise bad_request("search identifier by entryUUIDs (urn:uuid:) or by uniqueIds, not "
                          "both at once", name)
    query = GetDocuments(entry_uuids=tuple(uuids)) if uuids else \
        GetDocuments(unique_ids=tuple(unique_ids))
    return Search([query], count, offset, patient, statuses)


def list_search(query_string: str, base: str = "") -> Search:
    """ITI-66: FindSubmissionSets and/or FindFolders, by List.code."""
    params = parse_query_string(query_string, LIST_PARAMS)
    patient = patient_of(params, base)
    count, offset = _paging(params)
    statuses = []
    for value in ",".join(params.get("status") or ["current"]).split(","):
        if value not in LIST_STATUS_BACK:
            raise bad_request(f"status '{value}' is not current or retired", "status")
        statuses.append(LIST_STATUS_BACK[value])
    # sourceId is a submission set's: with it, no code means the submission sets
    default = "submissionset" if "sourceId" in params else "submissionset,folder"
    kinds = set()
    for value in values_of(params.get("code") or [default]):
        system, bar, kind = token_parts(value)
        if kind not in ("submissionset", "folder") or (bar and system not in ("", LIST_TYPES)):
            raise bad_request(f"code is submissionset or folder (of {LIST_TYPES})", "code")
        kinds.add(kind)
    bounds = _bounds(params["date"], "date") if "date" in params else {}
    designation = _codes(params["designationType"], "designationType") \
        if "designationType" in params else ()
    queries: list[StoredQuery] = []
    if "submissionset" in kinds:
        sources = tuple(s.partition("|")[2] or s for s in
                        ",".join(params.get("sourceId") or []).split(",") if s)
        queries.append(FindSubmissionSets(
            patient_id=patient, statuses=tuple(statuses),
            source_ids=tuple(x.removeprefix("urn:oid:") for x in sources),
            submission_time_from=bounds.get(0), submission_time_to=bounds.get(1),
            content_type_codes=designation))
    if "folder" in kinds:
        if "sourceId" in params:
            raise bad_request("sourceId searches submission sets (code=submissionset)",
                              "sourceId")
        queries.append(FindFolders(patient_id=patient, statuses=tuple(statuses),
                                   last_update_time_from=bounds.get(0),
                                   last_update_time_to=bounds.get(1),
                                   codes=(designation,) if designation else ()))
    return Search(queries, count, offset)


__all__ = ["Search", "document_search", "is_oid", "list_search"]

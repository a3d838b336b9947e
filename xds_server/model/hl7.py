"""HL7 v2 data types as XDS carries them in strings: CX, XCN, XON, and DTM timestamps.

Parsed only as far as the rules need; the original string is what is stored and returned.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

OID = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))+")
UUID_URN = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}")
DTM = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?")


def is_oid(value: str) -> bool:
    return len(value) <= 64 and _oid_form(value)


@functools.lru_cache(maxsize=4096)
def _oid_form(value: str) -> bool:
    """Cached (the FHIR front asks it of every code system and identifier it writes, the same
    few hundred over and over); only values of an OID's length reach it, so what is kept is
    bounded in bytes as well as in count."""
    return bool(OID.fullmatch(value))


DOCUMENT_UNIQUE_ID = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))+(\^[A-Za-z0-9._-]{1,16})?")


def is_document_unique_id(value: str) -> bool:
    """A DocumentEntry.uniqueId: an OID, optionally ^extension, at most 128 characters (ITI TF-3
    Table 4.2.3.2-1)."""
    return bool(DOCUMENT_UNIQUE_ID.fullmatch(value)) and len(value) <= 128


def is_uuid_urn(value: str) -> bool:
    return bool(UUID_URN.fullmatch(value))


def canonical_uuid(value: str) -> str:
    """A urn:uuid: id in its one form, lower case (RFC 4122 3: the hex digits are read in
    either case and written in lower case; RFC 8141: "urn" and the NID in either case); any
    other value as it is. Every front's decoding of ids and every stored query pass theirs
    through it. Attack stopped (issue 16 re-test, M2): an ITI-65 or ITI-42 registered an
    existing entryUUID spelt in capitals, another patient's too, as a new object; reads by the
    lower-case form then answered with either, and the record's paging cursor broke."""
    if len(value) == 45 and value[:9].lower() == "urn:uuid:" and \
            UUID_URN.fullmatch(f"urn:uuid:{value[9:]}"):
        return value.lower()
    return value


def is_dtm(value: str) -> bool:
    """XDS DTM: YYYY[MM[DD[hh[mm[ss]]]]], UTC, no fractions or zone (ITI TF-3 Table 4.2.3.1.7-2)."""
    if not DTM.fullmatch(value):
        return False
    month, day = value[4:6], value[6:8]
    hour, minute, second = value[8:10], value[10:12], value[12:14]
    return ((not month or 1 <= int(month) <= 12) and (not day or 1 <= int(day) <= 31)
            and (not hour or int(hour) <= 23) and (not minute or int(minute) <= 59)
            and (not second or int(second) <= 59))


def dtm_key(value: str) -> str:
    """A 14-digit key that orders timestamps of any precision (missing parts count as zero)."""
    return value.ljust(14, "0")[:14]


def bound_key(key: str) -> str:
    """The stored-key bound of a query time (a dtm_key) under which every stored time counts as
    the earliest instant its precision covers ('2025' as 2025-01-01T00:00:00, '202512' as
    2025-12-01T00:00:00; docs/fhir.md, Dates): a stored key is 00-padded (`2025` sorts before
    `20250101000000`), so a bound at the first instant of a year or month moves down to that
    year's or month's 00-padded key. Monotonic, so `>=`/`<` on the keys stay exact. Outsider
    16e F5: `ServiceStartTimeTo=20250101000000` found a start of `2025`; FHIR `ge2025` missed
    it while ITI-18 `From=2025` found it."""
    key = key[:4] + (key[4:6] if key[4:6] != "00" else "01") + \
        (key[6:8] if key[6:8] != "00" else "01") + key[8:]
    if key[6:] != "01000000":
        return key
    return key[:4] + "0" * 10 if key[4:6] == "01" else key[:6] + "0" * 8


@dataclass(frozen=True)
class Cx:
    """`id^^^&OID&ISO[^type]`: a patient identifier with its assigning authority."""

    id: str
    authority_oid: str
    id_type: str = ""

    @classmethod
    def parse(cls, value: str) -> Cx | None:
        """None when `value` is not a CX with an ISO assigning authority (XDS requires one)."""
        return _cached_cx(value) if len(value) <= MAX_CACHED_CX else _parse_cx(value)

    def __str__(self) -> str:
        base = f"{self.id}^^^&{self.authority_oid}&ISO"
        return f"{base}^{self.id_type}" if self.id_type else base


MAX_CACHED_CX = 256     # a patient id is some 40 characters: what the cache keeps is bounded


@functools.lru_cache(maxsize=4096)
def _cached_cx(value: str) -> Cx | None:
    """Cached: the FHIR front parses a patient's identifiers for each of its documents it
    writes (a Cx is immutable)."""
    return _parse_cx(value)


def _parse_cx(value: str) -> Cx | None:
    parts = value.split("^")
    if len(parts) < 4 or not parts[0] or any(parts[1:3]):
        return None
    authority = parts[3].split("&")
    if len(authority) != 3 or authority[0] or authority[2] != "ISO" \
            or not is_oid(authority[1]):
        return None
    if len(parts) > 5 or "&" in parts[0]:
        return None
    return Cx(parts[0], authority[1], parts[4] if len(parts) > 4 else "")


def xcn_is_valid(value: str) -> bool:
    """XCN: an id (XCN.1) or a family name (XCN.2); with an id, XCN.9 names its authority."""
    parts = value.split("^")
    if len(parts) > 23 or not value.strip():
        return False
    has_id = bool(parts[0])
    has_name = len(parts) > 1 and bool(parts[1])
    if not (has_id or has_name):
        return False
    if has_id and len(parts) > 8 and parts[8]:
        authority = parts[8].split("&")
        return len(authority) == 3 and authority[2] == "ISO" and is_oid(authority[1])
    return True


def xon_is_valid(value: str) -> bool:
    """XON: an organisation name (XON.1); XON.10 an id, with XON.6 its ISO authority if OID-like."""
    parts = value.split("^")
    if not parts[0] or len(parts) > 10:
        return False
    if len(parts) >= 10 and parts[9] and len(parts) > 5 and parts[5]:
        authority = parts[5].split("&")
        return len(authority) == 3 and authority[2] == "ISO" and is_oid(authority[1])
    return True


@functools.lru_cache(maxsize=4096)
def patient_key(patient_id: str) -> str:
    """The registry's key for a patient: `id^^^&OID&ISO` (a CX type code such as ^NH dropped).
    Cached: every authenticated request asks it several times of the same few patients."""
    cx = Cx.parse(patient_id)
    return f"{cx.id}^^^&{cx.authority_oid}&ISO" if cx else patient_id.strip()

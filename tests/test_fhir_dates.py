"""FHIR date search at every precision (fhir/dates.py): a value is a range, the prefixes
compare against its ends, and every bad value (impossible dates, years past 9999, zones out of
range, random text) is the caller's 400, never a 500."""

from __future__ import annotations

import contextlib
import random
import string

import pytest

from xds_server.fhir.dates import END_OF_TIME, DateError, date_range, search_bounds

from .fhir_data import fhir, patient_query
from .test_fhir_front import _provide_soap

RANGES = [
    ("2025", "20250101000000", "20260101000000"),
    ("2025-12", "20251201000000", "20260101000000"),
    ("2024-02-29", "20240229000000", "20240301000000"),
    ("2025-04-25T08:30Z", "20250425083000", "20250425083100"),
    ("2025-04-25T08:30:00+01:00", "20250425073000", "20250425073001"),
    ("2025-04-25T08:30:00.123-05:30", "20250425140000", "20250425140001"),
    ("9999-12-31", "99991231000000", END_OF_TIME),
    ("9999-12-31T23:59:59Z", "99991231235959", END_OF_TIME),
    ("9999", "99990101000000", END_OF_TIME),
]


@pytest.mark.parametrize(("text", "start", "end"), RANGES)
def test_a_date_is_the_range_of_its_precision(text, start, end):
    assert date_range(text) == (start, end)


def test_prefixes_compare_with_the_ends_of_the_range():
    assert search_bounds(["2025"]) == ("20250101000000", "20260101000000")
    assert search_bounds(["ge2025-04"]) == ("20250401000000", None)
    assert search_bounds(["gt2025-04"]) == ("20250501000000", None)
    assert search_bounds(["le2025-04"]) == (None, "20250501000000")
    assert search_bounds(["lt2025-04"]) == (None, "20250401000000")
    assert search_bounds(["ge2025", "lt2025-07"]) == ("20250101000000", "20250701000000")
    assert search_bounds(["gt9999-12-31T23:59:59Z"]) == (END_OF_TIME, None)


BAD = ["2024-02-30", "2025-02-29", "2025-13", "2025-00-10", "0000", "2025-04-25T24:00Z",
       "2025-04-25T08:30:00+15:00", "2025-04-25T08:30", "2025-04-25T08:61Z", "25",
       "2025-4-5", "ne2025", "sa2025", "2025-04-25Z", "\x00", "２０２５", "", "ge",
       "2025-04-25T08:30:00+01:60"]


@pytest.mark.parametrize("value", BAD)
def test_bad_values_are_date_errors(value):
    with pytest.raises(DateError):
        search_bounds([value])


def test_random_values_raise_nothing_but_date_errors():
    """The class of problem, not the listed inputs: any text made of the characters a date
    is written with (and some it is not) ends as a value or a DateError."""
    rng = random.Random(16)
    alphabet = string.digits * 4 + "-:TZ+.eglt " + "\x00\ufffe"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        with contextlib.suppress(DateError):
            search_bounds([text])
    for year in (1, 2, 9998, 9999):
        for shape in ("{y:04d}", "{y:04d}-12", "{y:04d}-12-31T23:59:59+14:00",
                      "{y:04d}-01-01T00:00:00-14:00", "{y:04d}-12-31T23:59:59-14:00"):
            for prefix in ("", "ge", "gt", "le", "lt"):
                search_bounds([prefix + shape.format(y=year)])


FOUND_BY_DATE = [
    ("creation=2025", 1), ("creation=2025-11", 1), ("creation=2025-11-03", 1),
    ("creation=2025-11-04", 0), ("creation=ge2025", 1), ("creation=lt2025", 0),
    ("creation=2025-11-03T10:15Z", 1), ("creation=2025-11-03T11:15:00%2B01:00", 1),
    ("creation=gt2025-11-03T10:15:00Z", 0), ("creation=lt2025-11-03T10:15:01Z", 1),
    ("period=2025-11-02", 1), ("period-start=2025-11", 1), ("period-end=le2026", 1),
    ("period-start=2024", 0), ("period=2025-11-05", 0),
    ("creation=ge2025&creation=lt2025-11-03", 0),
]


def test_iti67_finds_by_date_at_every_precision(app, patient):
    # creationTime 20251103101500, service 20251102 to 20251104
    _provide_soap(app, patient, service_stop_time="20251104")
    for search, found in FOUND_BY_DATE:
        answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                  f"&status=current&{search}")
        assert answer.status == 200, answer.body
        assert answer.json["total"] == found, search


IMPOSSIBLE = [
    "/DocumentReference?{p}&status=current&creation=2024-02-30",
    "/DocumentReference?{p}&status=current&period=2025-02-29",
    "/DocumentReference?{p}&status=current&creation=ne2025",
    "/DocumentReference?{p}&status=current&period-end=2025-04-25T10:00",
    "/List?{p}&date=2024-02-30",
    "/List?{p}&date=20250425",
]


def test_impossible_dates_are_a_400_naming_the_parameter(app, patient):
    for search in IMPOSSIBLE:
        answer = fhir(app, "GET", search.format(p=patient_query(patient)))
        assert answer.status == 400, answer.body
        name = search.rsplit("&", 1)[1].split("=")[0]
        assert answer.expressions == [name]
        assert "model." not in answer.body.decode()


def test_list_search_by_date_at_any_precision(app, patient):
    _provide_soap(app, patient)     # submissionTime 20251103120000
    for search, found in (("date=2025", 1), ("date=2025-11-03", 1), ("date=2026", 0),
                          ("date=ge9999-12-31T23:59:59Z", 0), ("date=le9999-12-31", 1)):
        answer = fhir(app, "GET", f"/List?{patient_query(patient)}&code=submissionset&"
                                  f"{search}")
        assert answer.status == 200, answer.body
        assert answer.json["total"] == found, search


# A stored time of reduced precision (16e F5): serviceStartTime 2025, serviceStopTime 202512.
# Both fronts read a stored time as the earliest instant it covers (docs/fhir.md, Dates); each
# FHIR search with the ITI-18 bounds it becomes (From inclusive, To exclusive) and the verdict
# both give. Before, the first two found it and the next two missed it on one front or both.
REDUCED = [
    ("period=le2024-12-31", {"ServiceStartTimeTo": "20250101000000"}, 0),
    ("period-start=lt2025-01-01", {"ServiceStartTimeTo": "20250101"}, 0),
    ("period-start=ge2025", {"ServiceStartTimeFrom": "2025"}, 1),
    ("period-end=ge2025-12", {"ServiceStopTimeFrom": "20251201000000"}, 1),
    ("period=ge2025-12", {"ServiceStopTimeFrom": "202512"}, 1),
    ("period-start=lt2025", {"ServiceStartTimeTo": "2025"}, 0),
    ("period-end=ge2025-12-15", {"ServiceStopTimeFrom": "20251215"}, 0),
    ("period-end=lt2026", {"ServiceStopTimeTo": "2026"}, 1),
    ("period-start=ge2025-01-01T00:00:01Z", {"ServiceStartTimeFrom": "20250101000001"}, 0),
]


def test_reduced_precision_times_get_one_verdict_on_both_fronts(app, patient):
    from .registry_data import FIND_DOCUMENTS, run_query
    _provide_soap(app, patient, service_start_time="2025", service_stop_time="202512")
    for search, bounds, found in REDUCED:
        answer = fhir(app, "GET", f"/DocumentReference?{patient_query(patient)}"
                                  f"&status=current&{search}")
        assert answer.status == 200, answer.body
        params = {"$XDSDocumentEntryPatientId": patient,
                  "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:"
                                              "Approved"],
                  **{f"$XDSDocumentEntry{k}": v for k, v in bounds.items()}}
        reply = run_query(app, FIND_DOCUMENTS, params, "ObjectRef")
        assert reply.codes == [], reply.errors
        assert (answer.json["total"], len(reply.objects())) == (found, found), search


def test_bound_key_is_the_earliest_instant_reading():
    from xds_server.model.hl7 import bound_key, dtm_key
    instants = ["2024", "202412", "20241231", "2025", "202501", "20250101", "2025010100",
                "20250101000001", "202512", "20251201", "20251215"]

    def earliest(dtm):
        key = dtm_key(dtm)
        return key[:4] + (key[4:6].replace("00", "01")) + key[6:8].replace("00", "01") + key[8:]
    for bound in instants:
        for stored in instants:
            assert (dtm_key(stored) >= bound_key(dtm_key(bound))) == \
                (earliest(stored) >= earliest(bound)), (stored, bound)

"""The DMP services' request lines and metrics say their outcome in the words of every other
front (issue 18 m1): `success`, or `fault:` and the innermost fault code as `prefix:local`,
never `fault:400` (a status, not a code)."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

import pytest

from xds_server.dmp.services import PATIENTS_NS

from .conftest import call_wsgi
from .registry_data import new_patient, open_patient
from .soap_messages import envelope


def _close(patient: str) -> bytes:
    return envelope(f'<p:CloseRecord xmlns:p="{PATIENTS_NS}"><p:patient_id>{escape(patient)}'
                    "</p:patient_id></p:CloseRecord>", action=None, message_id=None)


def _outcomes(app, caplog, body: bytes) -> list[tuple[str, int]]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="xds_server"):
        call_wsgi(app, "POST", "/dmp/patients", body, "application/soap+xml")
    return [(r.xds["outcome"], r.xds["status"]) for r in caplog.records
            if getattr(r, "xds", {}).get("front") == "dmp" and "outcome" in r.xds]


@pytest.mark.parametrize(("case", "expected"), [
    ("unknown patient", ("fault:dmp:UnknownPatient", 400)),
    ("not soap", ("fault:xds:NotSoap12Envelope", 400)),
    ("unknown operation", ("fault:xds:UnknownOperation", 400)),
    ("success", ("success", 200))])
def test_each_outcome_is_the_fault_code(app, caplog, case, expected):
    patient = new_patient()
    if case == "success":
        open_patient(app, patient)
    bodies = {"not soap": b"<not-soap/>",
              "unknown operation": envelope(f'<p:Nothing xmlns:p="{PATIENTS_NS}"/>',
                                            action=None, message_id=None)}
    assert _outcomes(app, caplog, bodies.get(case) or _close(patient)) == [expected]


def test_the_metrics_count_the_fault_code(app):
    call_wsgi(app, "POST", "/dmp/patients", _close(new_patient()), "application/soap+xml")
    exposed = app.metrics.render().decode()
    lines = [line for line in exposed.splitlines()
             if line.startswith("xds_requests_total{") and 'front="dmp"' in line]
    assert any('outcome="fault:dmp:UnknownPatient"' in line for line in lines), lines
    assert not any('outcome="fault:4' in line for line in lines), lines

"""The DMP management services over real HTTP with a zeep client reading the WSDL spyne writes:
records, oppositions, authorisations, access history; and under VIHF, who may do what."""

from __future__ import annotations

import pytest
import requests
import zeep
from zeep.exceptions import Fault
from zeep.transports import Transport

from .registry_data import new_patient
from .test_vihf_http import secured  # noqa: F401 (the VIHF-secured server fixture)
from .vihf_data import NON_PROFESSIONAL, assertion, security_header

pytestmark = pytest.mark.http   # every test here talks to a server over loopback

PATIENT_INS = "285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH"


def modes(*names: str) -> dict:
    """An Array(Unicode) as zeep sends it (spyne names the items `string`)."""
    return {"string": list(names)}


def clients(url: str) -> tuple[zeep.Client, zeep.Client]:
    # gunicorn's sync workers close each connection: a client that pools them must not reuse one
    session = requests.Session()
    session.headers["Connection"] = "close"
    transport = Transport(session=session)
    return (zeep.Client(url + "/dmp/patients?wsdl", transport=transport),
            zeep.Client(url + "/dmp/authorizations?wsdl", transport=transport))


def test_records_oppositions_and_authorisations(live_server):
    patients, authorizations = clients(live_server.url)
    patient = new_patient()
    assert patients.service.OpenRecord(patient, modes("bris_de_glace")) == "opened"
    assert patients.service.OpenRecord(patient, modes()) == "already open"
    assert patients.service.SetOppositions(patient, modes("centre_15", "bris_de_glace")) == \
        "bris_de_glace centre_15"
    with pytest.raises(Fault, match="unknown access mode"):
        patients.service.SetOppositions(patient, modes("toujours"))
    assert authorizations.service.AddAuthorization(patient, "810101234567") == "authorised"
    assert authorizations.service.AddAuthorization(patient, "810101234567") == \
        "already authorised"
    assert authorizations.service.ListProfessionals(patient) == ["810101234567"]
    assert patient.split("^")[0] in authorizations.service.ListRecords("810101234567")[0]
    assert authorizations.service.RemoveAuthorization(patient, "810101234567") == "removed"
    assert authorizations.service.ListProfessionals(patient) in (None, [])
    assert patients.service.AccessHistory(patient) in (None, [])   # system calls are not reads
    assert patients.service.CloseRecord(patient) == "closed"
    with pytest.raises(Fault, match="no record"):
        authorizations.service.AddAuthorization(new_patient(), "810101234567")


def test_the_wsdl_describes_both_services(live_server):
    patients, authorizations = clients(live_server.url)
    assert {"OpenRecord", "CloseRecord", "SetOppositions", "AccessHistory"} <= \
        set(patients.service._operations)
    assert {"AddAuthorization", "RemoveAuthorization", "ListProfessionals", "ListRecords"} <= \
        set(authorizations.service._operations)


def test_under_vihf_the_patient_manages_their_own_record(secured):  # noqa: F811
    authority, url, _ = secured
    patients, authorizations = clients(url)

    def header(role: tuple[str, str], patient: str = PATIENT_INS, subject: str = "P1"):
        return security_header(authority.sign(assertion(patient, role=role, speciality=None,
                                                        subject=subject)))

    admin = header(("ADMINISTRATEUR", NON_PROFESSIONAL))
    assert patients.service.OpenRecord(PATIENT_INS, modes(), _soapheaders=[admin]) in (
        "opened", "already open")
    me = header(("PATIENT", NON_PROFESSIONAL))
    assert authorizations.service.AddAuthorization(PATIENT_INS, "810101234567",
                                                   _soapheaders=[me]) in (
        "authorised", "already authorised")
    history = patients.service.AccessHistory(PATIENT_INS, _soapheaders=[
        header(("PATIENT", NON_PROFESSIONAL))])
    assert history is None or all(event.subject_id for event in history)
    doctor = header(("10", "1.2.250.1.71.1.2.7"), subject="810101234567")
    with pytest.raises(Fault, match="may not do this"):
        authorizations.service.AddAuthorization(PATIENT_INS, "810109999999",
                                                _soapheaders=[doctor])
    assert authorizations.service.ListRecords("810101234567", _soapheaders=[doctor])
    someone_else = header(("PATIENT", NON_PROFESSIONAL), patient="1850675123456^^^&"
                          "1.2.250.1.213.1.4.10&ISO^NH")
    with pytest.raises(Fault, match="another patient"):
        authorizations.service.ListProfessionals(PATIENT_INS, _soapheaders=[someone_else])
    with pytest.raises(Fault, match="VIHF refused"):
        authorizations.service.ListProfessionals(PATIENT_INS)

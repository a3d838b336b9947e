"""Before a run: can the registry pass the toolkit's tests at all? One plain IHE registration
(ITI-42, one DocumentEntry with the toolkit's kind of codes, for a fresh test patient) says so.

A registry that refuses it for a reason every test shares (it asks callers for an identity, it
applies national rules to patients and codes, it does not know the runner's patients) would
fail two hundred steps with the same answer; the run stops instead, with that answer and what
to change. What the probe registers belongs to a run patient, so the run's cleanup removes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..consumer.metadata import has_member, new_oid, submit_objects_request
from ..model.metadata import Author, Code, DocumentEntry, Submission, SubmissionSet
from .exchange import Endpoints, Unreachable, listing
from .patients import FeedError, Patients

# the codes the toolkit's own metadata carries (its "Connect-a-thon" coding schemes)
_CODE = Code("Communication", "Connect-a-thon classCodes", "Communication")


@dataclass
class Preflight:
    stop: str = ""          # why the run cannot pass, and what to change ("" : go on)
    note: str = ""          # what the run should know (it goes on)
    # the endpoint did not answer: nothing more is asked of it (the clean-up waited a second
    # --timeout for the same silence, outsider F9)
    unreachable: bool = False


def _probe(patient: str) -> Submission:
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    document = DocumentEntry(
        "Document01", unique_id=new_oid(), patient_id=patient, source_patient_id=patient,
        mime_type="text/plain", class_code=_CODE, type_code=_CODE,
        format_code=Code("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=_CODE, practice_setting_code=_CODE,
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25")], creation_time=now,
        language_code="en-us", hash="da39a3ee5e6b4b0d3255bfef95601890afd80709", size="0",
        repository_unique_id="1.1.4567332.1.2", title="xds-server conformance probe",
        authors=[Author(person="^Probe^Conformance")])
    package = SubmissionSet("SubmissionSet01", unique_id=new_oid(), patient_id=patient,
                            source_id="1.3.6.1.4.1.21367.4", submission_time=now,
                            content_type_code=_CODE, authors=[Author(person="^Probe^Run")])
    return Submission(package, [document],
                      associations=[has_member(package.entry_uuid, document.entry_uuid)])


def preflight(endpoints: Endpoints, patients: Patients) -> Preflight:
    patient = patients.new()
    try:
        patients.ensure_fed(patient)
    except FeedError as exc:
        return Preflight(stop=f"the patient feed failed for a test patient: {exc}")
    try:
        reply = endpoints.send("ITI-42", submit_objects_request(_probe(patient)))
    except Unreachable as exc:      # a silent endpoint ended as "internal error (a bug)" (m5)
        return Preflight(stop=f"cannot reach {exc}: is it the right address, and the server "
                              "running and not overloaded?", unreachable=True)
    if reply.short_status == "Success":
        return Preflight()
    if reply.fault:
        if "wsse" in reply.fault or "Security" in reply.fault:
            return Preflight(stop=(
                f"the registry asks callers for an identity ({reply.fault[:160]}); the "
                "toolkit's tests send none: run them against a registry without caller "
                "authentication (this server: XDS_SECURITY=none, as `make run` sets it)"))
        return Preflight(stop=f"the registry answers a plain ITI-42 with a SOAP fault: "
                              f"{reply.fault[:300]}")
    codes = {e.code for e in reply.errors if e.is_error}
    first = listing([str(e) for e in reply.errors if e.is_error])
    if codes == {"XDSUnknownPatientId"}:
        if not patients.can_feed:
            return Preflight(note=(
                "the registry does not know the runner's test patients (XDSUnknownPatientId) "
                "and --patient-feed is none: every submission will be refused; give "
                "--patient-feed cli (this server's database) or a feed command"))
        return Preflight(stop=f"the registry does not know a patient the feed just gave it: "
                              f"{first}")
    return Preflight(stop=(
        f"the registry refuses a plain IHE registration for a toolkit test patient "
        f"({reply.short_status}: {first}); the toolkit's tests carry IHE metadata and test "
        f"patients of {patients.authority}, so every test would fail the same way: run them "
        "against a registry that applies the IHE rules only (this server: XDS_PROFILE=ihe "
        "XDS_SECURITY=none, e.g. `XDS_PROFILE=ihe make run`)"))

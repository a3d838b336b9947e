"""The DMP management services (typed SOAP with spyne; WSDL at `?wsdl`): open and close a
record with the patient's oppositions (to emergency access, to feeding), authorise
professionals, list who may read a record and which records a professional may read, read a
record's access history.

A typed SOAP face of the records actor (records/actor.py), which asks the access decision
(security/access.py, `ROLE_ACTIONS`) who may call what: the patient
(VIHF role patient, about their own record) manages their authorisations and oppositions and
reads their history; a legal representative likewise; an administrator opens and closes
records; a professional lists the records they may read. Every caller acts on the patient
their VIHF names (resource-id) only. With XDS_SECURITY=none every call acts as the system
(test platforms). Changes are audited, so the patient's history shows who changed what.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from spyne import Array, ComplexModel, DateTime, Fault, Integer, ServiceBase, Unicode, rpc

from ..records.actor import InvalidMode, NotAllowed, Records, RecordsRefusal, UnknownRecord
from ..security.principal import SYSTEM, Principal

PATIENTS_NS = "urn:xds-server:dmp:patients"
AUTHORIZATIONS_NS = "urn:xds-server:dmp:authorizations"
PRINCIPAL_KEY = "xds.principal"
T = TypeVar("T")
MAX_HISTORY = 1000          # events in one AccessHistory answer
HISTORY_BYTES = 4 * 1024 * 1024   # and about this much of their text at most


def _newest_within(events: list, budget: int) -> list:
    """The newest of these time-ordered events whose text fits `budget` (an event naming many
    documents is long: the answer stays bounded; `since` pages through the rest)."""
    kept, used = [], 0
    for event in reversed(events):
        used += 256 + len(event.documents or "")
        if used > budget and kept:
            break
        kept.append(event)
    return kept[::-1]


# required and not empty: an empty patient id is a schema error, answered before any service runs
PatientId = Unicode(min_occurs=1, min_len=1, nillable=False)
ProfessionalId = Unicode(min_occurs=1, min_len=1, max_len=64, nillable=False)


class AccessEvent(ComplexModel):
    __namespace__ = PATIENTS_NS
    at = Unicode
    transaction = Unicode
    action = Unicode
    outcome = Unicode
    subject_id = Unicode
    role = Unicode
    structure_id = Unicode
    purpose_of_use = Unicode
    documents = Unicode


# the transaction names the audit trail records for the services' changes (16 characters)
AUDITED = {"OpenRecord": "DMP-OpenRecord", "CloseRecord": "DMP-CloseRecord",
           "SetOppositions": "DMP-Oppositions", "AddAuthorization": "DMP-Authorize",
           "RemoveAuthorization": "DMP-Unauthorize"}
# the records actor's refusals as the services' faults
FAULTS: dict[type[RecordsRefusal], str] = {NotAllowed: "Client.Forbidden",
                                            UnknownRecord: "Client.UnknownPatient",
                                            InvalidMode: "Client.InvalidMode"}


def _call(ctx, work: Callable[[Records, Principal], T]) -> T:
    """Run `work` with the records actor and the caller (named for the audit trail by the
    operation); the actor's refusals as Faults, which name no identifier but the caller's."""
    principal = ctx.transport.req_env.get(PRINCIPAL_KEY) or SYSTEM
    operation = ctx.method_request_string.rsplit("}", 1)[-1]
    principal = dataclasses.replace(principal, transaction=AUDITED.get(operation, "DMP"))
    try:
        return work(ctx.app.config["records"], principal)
    except RecordsRefusal as refusal:
        raise Fault(FAULTS[type(refusal)], str(refusal)) from None


class PatientService(ServiceBase):
    """Records: open, close, oppositions, access history."""

    @rpc(PatientId, Array(Unicode), _returns=Unicode)
    def OpenRecord(ctx, patient_id, opposed_modes):
        opened = _call(ctx, lambda records, caller: records.open(
            patient_id, caller, list(opposed_modes or [])))
        return "opened" if opened else "already open"

    @rpc(PatientId, _returns=Unicode)
    def CloseRecord(ctx, patient_id):
        _call(ctx, lambda records, caller: records.close(patient_id, caller))
        return "closed"

    @rpc(PatientId, Array(Unicode), _returns=Unicode)
    def SetOppositions(ctx, patient_id, opposed_modes):
        modes = _call(ctx, lambda records, caller: records.set_oppositions(
            patient_id, list(opposed_modes or []), caller))
        return " ".join(modes) or "none"

    @rpc(PatientId, DateTime(min_occurs=0), Integer(min_occurs=0, ge=1, le=MAX_HISTORY),
         _returns=Array(AccessEvent))
    def AccessHistory(ctx, patient_id, since, last):
        """The record's history, oldest first: the `last` most recent events (at most
        MAX_HISTORY, the default), from `since` when given; ask again with a later `since` for
        the next ones. An answer is bounded whatever the history holds."""
        events = _newest_within(_call(ctx, lambda records, caller: records.history(
            patient_id, caller, since=since, last=last or MAX_HISTORY)), HISTORY_BYTES)
        return [AccessEvent(at=event.at.isoformat(), transaction=event.transaction,
                            action=event.action, outcome=event.outcome,
                            subject_id=event.subject_id, role=event.role,
                            structure_id=event.structure_id,
                            purpose_of_use=event.purpose_of_use, documents=event.documents)
                for event in events]


class AuthorizationService(ServiceBase):
    """Which professionals may read which records."""

    @rpc(PatientId, ProfessionalId, _returns=Unicode)
    def AddAuthorization(ctx, patient_id, professional_id):
        added = _call(ctx, lambda records, caller: records.authorize(
            patient_id, professional_id, caller))
        return "authorised" if added else "already authorised"

    @rpc(PatientId, ProfessionalId, _returns=Unicode)
    def RemoveAuthorization(ctx, patient_id, professional_id):
        removed = _call(ctx, lambda records, caller: records.revoke(
            patient_id, professional_id, caller))
        return "removed" if removed else "was not authorised"

    @rpc(PatientId, _returns=Array(Unicode))
    def ListProfessionals(ctx, patient_id):
        granted = _call(ctx, lambda records, caller: records.professionals(patient_id, caller))
        return [authorization.professional_id for authorization in granted]

    @rpc(ProfessionalId, _returns=Array(Unicode))
    def ListRecords(ctx, professional_id):
        granted = _call(ctx, lambda records, caller: records.records_of(professional_id, caller))
        return [authorization.patient_id for authorization in granted]

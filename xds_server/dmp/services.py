"""The DMP management services (typed SOAP with spyne; WSDL at `?wsdl`): open and close a
record with the patient's oppositions (to emergency access, to feeding), authorise
professionals, list who may read a record and which records a professional may read, read a
record's access history.

Who may call what is the access decision's (security/access.py, `ROLE_ACTIONS`): the patient
(VIHF role patient, about their own record) manages their authorisations and oppositions and
reads their history; a legal representative likewise; an administrator opens and closes
records; a professional lists the records they may read. Every caller acts on the patient
their VIHF names (resource-id) only. With XDS_SECURITY=none every call acts as the system
(test platforms). Changes are audited, so the patient's history shows who changed what.
"""

from __future__ import annotations

from spyne import Array, ComplexModel, DateTime, Fault, Integer, ServiceBase, Unicode, rpc
from sqlalchemy import Engine

from ..security.access import OPPOSITIONS, Action, in_scope, may_ask
from ..security.principal import SYSTEM, Principal
from ..store import access_store
from ..store import registry_store as store

PATIENTS_NS = "urn:xds-server:dmp:patients"
AUTHORIZATIONS_NS = "urn:xds-server:dmp:authorizations"
PRINCIPAL_KEY = "xds.principal"
REFUSAL_KEY = "xds.refusal"


MAX_HISTORY = 1000          # events in one AccessHistory answer
HISTORY_BYTES = 4 * 1024 * 1024   # and about this much of their text at most


def _newest_within(rows: list, budget: int) -> list:
    """The newest of these time-ordered events whose text fits `budget` (an event naming many
    documents is long: the answer stays bounded; `since` pages through the rest)."""
    kept, used = [], 0
    for row in reversed(rows):
        used += 256 + len(row.documents or "")
        if used > budget and kept:
            break
        kept.append(row)
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


def _engine(ctx) -> Engine:
    return ctx.app.config["engine"]


# the transaction names the audit trail records for the services' changes (16 characters)
AUDITED = {"OpenRecord": "DMP-OpenRecord", "CloseRecord": "DMP-CloseRecord",
           "SetOppositions": "DMP-Oppositions", "AddAuthorization": "DMP-Authorize",
           "RemoveAuthorization": "DMP-Unauthorize"}


def _principal(ctx, patient_id: str | None, action: Action) -> Principal:
    """The caller, when the access decision lets them do this (on this patient's record); a
    Fault otherwise. The refusal names no identifier."""
    environ = ctx.transport.req_env
    if environ.get(REFUSAL_KEY):
        raise Fault("Client.Authentication", f"VIHF refused: {environ[REFUSAL_KEY]}")
    principal = environ.get(PRINCIPAL_KEY) or SYSTEM
    if not may_ask(principal, action):
        raise Fault("Client.Forbidden", f"a {principal.role} may not do this")
    if patient_id is not None and not in_scope(principal, patient_id):
        raise Fault("Client.Forbidden", "the VIHF (resource-id) is for another patient")
    return principal


def _audit(ctx, connection, principal: Principal, patient: str) -> None:
    """An authenticated caller's change, in the record's history (as reads are)."""
    if principal.is_system:
        return
    operation = ctx.method_request_string.rsplit("}", 1)[-1]
    access_store.audit(connection, principal, "U", "success", patient, (),
                       AUDITED.get(operation, "DMP"))


def _modes(modes) -> list[str]:
    chosen = list(modes or [])
    unknown = sorted(set(chosen) - set(OPPOSITIONS))
    if unknown:
        raise Fault("Client.InvalidMode", f"unknown access mode(s) {', '.join(unknown)}; "
                                          f"known: {', '.join(OPPOSITIONS)}")
    return chosen


def _known(connection, patient: str) -> None:
    if store.patient_status(connection, patient) is None:
        raise Fault("Client.UnknownPatient", f"no record for patient {patient}")


class PatientService(ServiceBase):
    """Records: open, close, oppositions, access history."""

    @rpc(PatientId, Array(Unicode), _returns=Unicode)
    def OpenRecord(ctx, patient_id, opposed_modes):
        principal = _principal(ctx, patient_id, Action.OPEN_RECORD)
        modes = _modes(opposed_modes)
        with _engine(ctx).begin() as connection:
            created = store.add_patient(connection, patient_id)
            access_store.set_opposed_modes(connection, store.patient_key(patient_id), modes)
            _audit(ctx, connection, principal, store.patient_key(patient_id))
        return "opened" if created else "already open"

    @rpc(PatientId, _returns=Unicode)
    def CloseRecord(ctx, patient_id):
        principal = _principal(ctx, patient_id, Action.OPEN_RECORD)
        with _engine(ctx).begin() as connection:
            closed = store.close_patient(connection, patient_id)
            if closed:
                _audit(ctx, connection, principal, store.patient_key(patient_id))
        if not closed:
            raise Fault("Client.UnknownPatient", f"no open record for patient {patient_id}")
        return "closed"

    @rpc(PatientId, Array(Unicode), _returns=Unicode)
    def SetOppositions(ctx, patient_id, opposed_modes):
        principal = _principal(ctx, patient_id, Action.MANAGE_CONSENT)
        modes = _modes(opposed_modes)
        patient = store.patient_key(patient_id)
        with _engine(ctx).begin() as connection:
            _known(connection, patient)
            access_store.set_opposed_modes(connection, patient, modes)
            _audit(ctx, connection, principal, patient)
        return " ".join(sorted(modes)) or "none"

    @rpc(PatientId, DateTime(min_occurs=0), Integer(min_occurs=0, ge=1, le=MAX_HISTORY),
         _returns=Array(AccessEvent))
    def AccessHistory(ctx, patient_id, since, last):
        """The record's history, oldest first: the `last` most recent events (at most
        MAX_HISTORY, the default), from `since` when given; ask again with a later `since` for
        the next ones. An answer is bounded whatever the history holds."""
        _principal(ctx, patient_id, Action.READ_HISTORY)
        with _engine(ctx).connect() as connection:
            rows = access_store.audit_trail(connection, store.patient_key(patient_id),
                                            since=since, last=last or MAX_HISTORY)
        rows = _newest_within(rows, HISTORY_BYTES)
        return [AccessEvent(at=row.at.isoformat(), transaction=row.transaction,
                            action=row.action, outcome=row.outcome, subject_id=row.subject_id,
                            role=row.role, structure_id=row.structure_id,
                            purpose_of_use=row.purpose_of_use, documents=row.documents)
                for row in rows]


class AuthorizationService(ServiceBase):
    """Which professionals may read which records."""

    @rpc(PatientId, ProfessionalId, _returns=Unicode)
    def AddAuthorization(ctx, patient_id, professional_id):
        principal = _principal(ctx, patient_id, Action.MANAGE_CONSENT)
        patient = store.patient_key(patient_id)
        with _engine(ctx).begin() as connection:
            _known(connection, patient)
            added = access_store.grant(connection, patient, professional_id)
            if added:
                _audit(ctx, connection, principal, patient)
        return "authorised" if added else "already authorised"

    @rpc(PatientId, ProfessionalId, _returns=Unicode)
    def RemoveAuthorization(ctx, patient_id, professional_id):
        principal = _principal(ctx, patient_id, Action.MANAGE_CONSENT)
        patient = store.patient_key(patient_id)
        with _engine(ctx).begin() as connection:
            removed = access_store.revoke(connection, patient, professional_id)
            if removed:
                _audit(ctx, connection, principal, patient)
        return "removed" if removed else "was not authorised"

    @rpc(PatientId, _returns=Array(Unicode))
    def ListProfessionals(ctx, patient_id):
        _principal(ctx, patient_id, Action.MANAGE_CONSENT)
        with _engine(ctx).connect() as connection:
            rows = access_store.authorized_professionals(connection,
                                                         store.patient_key(patient_id))
        return [row.professional_id for row in rows]

    @rpc(ProfessionalId, _returns=Array(Unicode))
    def ListRecords(ctx, professional_id):
        principal = _principal(ctx, None, Action.LIST_RECORDS)
        if principal.role == "professional" and principal.subject_id != professional_id:
            raise Fault("Client.Forbidden", "a professional lists only their own records")
        with _engine(ctx).connect() as connection:
            rows = access_store.authorized_records(connection, professional_id)
        return [row.patient_id for row in rows]

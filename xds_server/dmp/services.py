"""The DMP management services (typed SOAP with spyne; WSDL at `?wsdl`): open and close a
record with the patient's oppositions to emergency access, authorise professionals, list who may
read a record and which records a professional may read, read a record's access history.

Who may call what: the patient (VIHF role patient, about their own record) manages their
authorisations, oppositions and reads their history; a legal representative likewise; an
administrator opens and closes records; a professional lists the records they may read. With
XDS_SECURITY=none every call acts as the system (test platforms).
"""

from __future__ import annotations

from spyne import Array, ComplexModel, Fault, ServiceBase, Unicode, rpc
from sqlalchemy import Engine

from ..security.principal import SYSTEM, Principal
from ..security.visibility import EMERGENCY_MODES
from ..store import access_store
from ..store import registry_store as store

PATIENTS_NS = "urn:xds-server:dmp:patients"
AUTHORIZATIONS_NS = "urn:xds-server:dmp:authorizations"
PRINCIPAL_KEY = "xds.principal"
REFUSAL_KEY = "xds.refusal"


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


def _principal(ctx, patient_id: str | None, allowed: tuple[str, ...]) -> Principal:
    """The caller, when its role may do this (on this patient's record); a Fault otherwise."""
    environ = ctx.transport.req_env
    if environ.get(REFUSAL_KEY):
        raise Fault("Client.Authentication", f"VIHF refused: {environ[REFUSAL_KEY]}")
    principal = environ.get(PRINCIPAL_KEY) or SYSTEM
    if principal.is_system:
        return principal
    if principal.role not in allowed:
        raise Fault("Client.Forbidden", f"a {principal.role} may not do this")
    if patient_id is not None and principal.role != "administrator" and \
            store.patient_key(principal.patient_id or "") != store.patient_key(patient_id):
        raise Fault("Client.Forbidden", "the VIHF (resource-id) is for another patient")
    return principal


def _modes(modes) -> list[str]:
    chosen = list(modes or [])
    unknown = sorted(set(chosen) - set(EMERGENCY_MODES))
    if unknown:
        raise Fault("Client.InvalidMode", f"unknown access mode(s) {', '.join(unknown)}; "
                                          f"known: {', '.join(EMERGENCY_MODES)}")
    return chosen


def _known(connection, patient: str) -> None:
    if store.patient_status(connection, patient) is None:
        raise Fault("Client.UnknownPatient", f"no record for patient {patient}")


class PatientService(ServiceBase):
    """Records: open, close, oppositions, access history."""

    @rpc(Unicode(min_occurs=1), Array(Unicode), _returns=Unicode)
    def OpenRecord(ctx, patient_id, opposed_modes):
        _principal(ctx, None, ("administrator",))
        modes = _modes(opposed_modes)
        with _engine(ctx).begin() as connection:
            created = store.add_patient(connection, patient_id)
            access_store.set_opposed_modes(connection, store.patient_key(patient_id), modes)
        return "opened" if created else "already open"

    @rpc(Unicode(min_occurs=1), _returns=Unicode)
    def CloseRecord(ctx, patient_id):
        _principal(ctx, None, ("administrator",))
        with _engine(ctx).begin() as connection:
            closed = store.close_patient(connection, patient_id)
        if not closed:
            raise Fault("Client.UnknownPatient", f"no open record for patient {patient_id}")
        return "closed"

    @rpc(Unicode(min_occurs=1), Array(Unicode), _returns=Unicode)
    def SetOppositions(ctx, patient_id, opposed_modes):
        _principal(ctx, patient_id, ("patient", "legal_representative", "administrator"))
        modes = _modes(opposed_modes)
        patient = store.patient_key(patient_id)
        with _engine(ctx).begin() as connection:
            _known(connection, patient)
            access_store.set_opposed_modes(connection, patient, modes)
        return " ".join(sorted(modes)) or "none"

    @rpc(Unicode(min_occurs=1), _returns=Array(AccessEvent))
    def AccessHistory(ctx, patient_id):
        _principal(ctx, patient_id, ("patient", "legal_representative", "administrator"))
        with _engine(ctx).connect() as connection:
            rows = access_store.audit_trail(connection, store.patient_key(patient_id))
        return [AccessEvent(at=row.at.isoformat(), transaction=row.transaction,
                            action=row.action, outcome=row.outcome, subject_id=row.subject_id,
                            role=row.role, structure_id=row.structure_id,
                            purpose_of_use=row.purpose_of_use, documents=row.documents)
                for row in rows]


class AuthorizationService(ServiceBase):
    """Which professionals may read which records."""

    @rpc(Unicode(min_occurs=1), Unicode(min_occurs=1), _returns=Unicode)
    def AddAuthorization(ctx, patient_id, professional_id):
        _principal(ctx, patient_id, ("patient", "legal_representative", "administrator"))
        patient = store.patient_key(patient_id)
        with _engine(ctx).begin() as connection:
            _known(connection, patient)
            added = access_store.grant(connection, patient, professional_id)
        return "authorised" if added else "already authorised"

    @rpc(Unicode(min_occurs=1), Unicode(min_occurs=1), _returns=Unicode)
    def RemoveAuthorization(ctx, patient_id, professional_id):
        _principal(ctx, patient_id, ("patient", "legal_representative", "administrator"))
        with _engine(ctx).begin() as connection:
            removed = access_store.revoke(connection, store.patient_key(patient_id),
                                          professional_id)
        return "removed" if removed else "was not authorised"

    @rpc(Unicode(min_occurs=1), _returns=Array(Unicode))
    def ListProfessionals(ctx, patient_id):
        _principal(ctx, patient_id, ("patient", "legal_representative", "administrator"))
        with _engine(ctx).connect() as connection:
            rows = access_store.authorized_professionals(connection,
                                                         store.patient_key(patient_id))
        return [row.professional_id for row in rows]

    @rpc(Unicode(min_occurs=1), _returns=Array(Unicode))
    def ListRecords(ctx, professional_id):
        principal = _principal(ctx, None, ("professional", "administrator"))
        if principal.role == "professional" and principal.subject_id != professional_id:
            raise Fault("Client.Forbidden", "a professional lists only their own records")
        with _engine(ctx).connect() as connection:
            rows = access_store.authorized_records(connection, professional_id)
        return [row.patient_id for row in rows]

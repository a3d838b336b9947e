"""Access policy, in one place. A VIHF names the patient it is about (resource-id): a request
about another patient is refused, whatever else the caller may do."""

from __future__ import annotations

from collections.abc import Iterable

from ..store.registry_store import patient_key
from ..validation.errors import ErrorCode, RegistryFailure, error
from .principal import Principal


def check_patient(principal: Principal, patients: Iterable[str | None], what: str) -> None:
    """Refuse when `patients` (CX or registry keys) include one the VIHF is not about."""
    if principal.is_system or not principal.patient_id:
        return
    allowed = patient_key(principal.patient_id)
    others = sorted({patient_key(p) for p in patients if p} - {allowed})
    if others:
        raise RegistryFailure([error(
            ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
            f"{what} is about patient {others[0]}, but the VIHF (resource-id) is for "
            f"{principal.patient_id}", "VIHF resource-id")])

"""Who asks a stored query, as the query reads it: the access decision's view of the caller."""

from __future__ import annotations

from dataclasses import dataclass

from ..security.access import record_facts_needed, scope
from ..security.principal import Principal


@dataclass(frozen=True)
class QueryContext:
    principal: Principal
    reader: str | None                 # the caller the access policy applies to (None: system)
    reader_needs: frozenset[str]       # the record facts the policy reads for them
    # the one patient (registry key) the caller may act on, None for the system: objects of
    # another patient are, to this query, objects that do not exist
    scope: str | None

    @classmethod
    def of(cls, principal: Principal) -> QueryContext:
        return cls(principal, None if principal.is_system else principal.subject_id,
                   record_facts_needed(principal), scope(principal))

    def in_scope(self, patient: str) -> bool:
        return self.scope is None or patient == self.scope

"""What a stored query found, before the access policy and the rendering."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Row


@dataclass
class QueryResult:
    documents: list[Row] = field(default_factory=list)
    submission_sets: list[Row] = field(default_factory=list)
    folders: list[Row] = field(default_factory=list)
    associations: list[Row] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (len(self.documents) + len(self.submission_sets) + len(self.folders)
                + len(self.associations))

    def patients(self) -> set[str]:
        return {row.patient_id for rows in (self.documents, self.submission_sets, self.folders,
                                            self.associations) for row in rows}

"""The metadata profiles a registry applies to a submission: `ihe` (IHE TF rules) and `cisis`
(the IHE rules plus the French CI-SIS rules). Chosen by the `profile` setting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model.errors import RegistryError
from ..model.metadata import Submission
from ..valuesets import load_value_sets
from .cisis import CisisRules
from .ihe import check_submission_objects
from .submission import check_structure


@dataclass
class MetadataProfile:
    name: str
    cisis: CisisRules | None = None

    def check(self, submission: Submission, update: bool = False) -> list[RegistryError]:
        """`update`: the submission is an ITI-57 metadata update."""
        findings = check_structure(submission, update) + check_submission_objects(submission)
        if self.cisis is not None:
            findings += self.cisis.check(submission)
        return findings


IHE = MetadataProfile("ihe")


def profile_for(name: str, kit_dir: Path | None = None,
                accept_test_ins: bool = False) -> MetadataProfile:
    if name == "ihe":
        return IHE
    return MetadataProfile("cisis", CisisRules(load_value_sets(kit_dir), accept_test_ins))

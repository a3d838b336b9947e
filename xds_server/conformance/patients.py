"""Test patients: made up by the run, made known to the registry only where the user said how.

`--patient-feed none` (the default) feeds nobody: a registry that wants patients fed must know
them by other means, and a toolkit Patient Identity Feed step is reported as not run. `cli`
opens the record the way `xds-server patient add` does (this server's database, from --config,
--data-dir or XDS_DATABASE_URL). Anything else is a command run once per patient, `{patient}`
replaced, e.g. an HL7 v2 feed script for another vendor's registry.
"""

from __future__ import annotations

import shlex
import subprocess
import uuid
from collections.abc import Callable

from .exchange import listing

Feed = Callable[[str], None]
NIST_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"   # the toolkit's default assigning authority
# every patient a run allocates starts so: `conformance clean` removes these and no other record
TEST_PATIENT_PREFIX = "XDSCONF"


def is_test_patient(patient: str) -> bool:
    """Whether `patient` is one a conformance run allocates (`Patients.new`)."""
    return patient.startswith(TEST_PATIENT_PREFIX) and "^^^&" in patient


class FeedError(Exception):
    pass


def command_feed(template: str) -> Feed:
    def feed(patient: str) -> None:
        command = [part.replace("{patient}", patient) for part in shlex.split(template)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FeedError(f"{command[0]}: {exc}") from None
        if done.returncode != 0:
            raise FeedError(f"{' '.join(command)} exited {done.returncode}: "
                            f"{(done.stderr or done.stdout).strip()[:200]}")
    return feed


class Patients:
    """Patients of the run: allocated fresh, fed at most once each, remembered for cleanup."""

    def __init__(self, feed: Feed | None, authority: str = NIST_AUTHORITY,
                 forget: Feed | None = None) -> None:
        """`forget`: undo the feed once the run's data is removed (this server's database: the
        empty record is deleted), so a run leaves no patient behind."""
        self._feed = feed
        self._forget = forget
        self.authority = authority
        self.allocated: list[str] = []
        self.fed: set[str] = set()

    @property
    def can_feed(self) -> bool:
        return self._feed is not None

    def new(self) -> str:
        patient = f"{TEST_PATIENT_PREFIX}{uuid.uuid4().hex[:12].upper()}^^^&{self.authority}&ISO"
        self.allocated.append(patient)
        return patient

    def ensure_fed(self, patient: str) -> bool:
        """Feed `patient` once if the run may; False when it may not."""
        if self._feed is None:
            return False
        if patient not in self.fed:
            self._feed(patient)
            self.fed.add(patient)
        return True

    def forget_fed(self) -> str:
        """Undo the feed of every patient fed; one line saying what was left."""
        if self._forget is None or not self.fed:
            return ""
        return forgotten(self._forget, sorted(self.fed))


def forgotten(forget: Feed, patients: list[str]) -> str:
    """Forget each patient's record; one line saying what was left."""
    kept = []
    for patient in patients:
        try:
            forget(patient)
        except Exception as exc:       # a record still holding data: say so, go on
            kept.append(f"{patient} ({exc})")
    line = f"patients: {len(patients) - len(kept)} of {len(patients)} test patients forgotten"
    return line + (f"; kept: {listing(kept)}" if kept else "")

"""Every field this front reads, held to one table of rules before the message is acted on: a
value that breaks a rule is an error (AE, nothing done) when the front acts on it, a warning
(an ERR of severity W in the AA) when it only records or ignores it. Each problem names the
field (ERR-2) and says what was expected.

Before it, a value the front did not understand was silently read as something else: PID-32
`vali` as VALI, a 10-digit ADELI given a prefix and stored, a ROL-4 `abc` dropped from a
consent without a word, MSH-7 `notadate` or a NUL byte inside a segment accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import ack
from .ack import Problem, Refused
from .er7 import Message
from .identity import PS_LENGTHS, PS_PREFIXES

_DTM = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?)?)?([+-]\d{4})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# PAM-FR 2.11 identity status (PID-32, table 0445 as France extends it)
IDENTITY_STATUSES = frozenset({"VIDE", "PROV", "VALI", "DOUTE", "FICTI"})
PATIENT_CLASSES = frozenset({"I", "O", "E", "R", "N", "B", "C", "P", "U"})   # table 0004
PS_NATIONAL_ID = "1.2.250.1.71.4.2.1"


@dataclass(frozen=True)
class Rule:
    segment: str
    field: int
    component: int
    valid: Callable[[str], bool]
    expected: str                  # what the text says was expected
    code: str                      # HL7 table 0357
    severity: str                  # ack.ERROR: refused; ack.WARNING: AA with a warning
    kinds: frozenset[str] = frozenset({"ADT", "ORU", "MDM"})


def _one_of(values: frozenset[str] | set[str]) -> Callable[[str], bool]:
    return lambda value: value in values


def _dtm(value: str) -> bool:
    return bool(_DTM.fullmatch(value))


RULES = (
    Rule("MSH", 3, 1, bool, "the sending application", ack.REQUIRED_FIELD_MISSING, ack.ERROR),
    Rule("MSH", 4, 1, bool, "the sending facility", ack.REQUIRED_FIELD_MISSING, ack.ERROR),
    Rule("MSH", 7, 1, _dtm, "a date and time (YYYYMMDDHHMMSS[+ZZZZ])", ack.DATA_TYPE_ERROR,
         ack.WARNING),
    Rule("EVN", 2, 1, lambda x: not x or _dtm(x), "a date and time", ack.DATA_TYPE_ERROR,
         ack.WARNING),
    Rule("PID", 7, 1, lambda x: not x or _dtm(x), "a date (YYYYMMDD)", ack.DATA_TYPE_ERROR,
         ack.WARNING),
    Rule("PID", 32, 1, lambda x: not x or x in IDENTITY_STATUSES,
         f"one of {', '.join(sorted(IDENTITY_STATUSES))} (exactly)", ack.TABLE_VALUE_NOT_FOUND,
         ack.ERROR),
    Rule("PV1", 2, 1, lambda x: not x or x in PATIENT_CLASSES,
         f"a patient class of HL7 table 0004 ({', '.join(sorted(PATIENT_CLASSES))})",
         ack.TABLE_VALUE_NOT_FOUND, ack.WARNING, frozenset({"ORU", "MDM"})),
    Rule("ZFA", 6, 1, _one_of({"", "Y", "N"}), "Y or N", ack.TABLE_VALUE_NOT_FOUND, ack.ERROR),
    Rule("ZFA", 7, 1, _one_of({"", "Y", "N"}), "Y or N", ack.TABLE_VALUE_NOT_FOUND, ack.ERROR),
    Rule("ZFA", 9, 1, _one_of({"", "IO", "INO", "NA"}), "IO, INO or NA",
         ack.TABLE_VALUE_NOT_FOUND, ack.ERROR),
    Rule("ZFA", 11, 1, _one_of({"", "IC", "INC", "NA"}), "IC, INC or NA",
         ack.TABLE_VALUE_NOT_FOUND, ack.ERROR),
)


def check_fields(message: Message, kind: str) -> list[Problem]:
    """The warnings of the message; Refused (AE) at its first error."""
    problems: list[Problem] = []
    for number, segment in enumerate(message.all, 1):
        # isprintable() first: C speed over a 300 KB Base64 OBX-5, where the regex takes ms
        if any(not value.isprintable() and _CONTROL.search(value) for value in segment.fields):
            problems.append(Problem(ack.DATA_TYPE_ERROR, f"{segment.name}^{number}",
                                    f"segment {number} ({segment.name}) holds a control "
                                    "character (a NUL byte or another C0 control)"))
    occurrences: dict[str, int] = {}
    for segment in message.all:
        occurrences[segment.name] = occurrences.get(segment.name, 0) + 1
        for rule in RULES:
            if rule.segment != segment.name or kind not in rule.kinds:
                continue
            value = message.value(segment, rule.field, rule.component)
            if not rule.valid(value):
                where = f"{rule.segment}^{occurrences[segment.name]}^{rule.field}"
                said = f"is '{value[:40]}'" if value else "is empty"
                problems.append(Problem(rule.code, where,
                                        f"{rule.segment}-{rule.field} {said}: expected "
                                        f"{rule.expected}", rule.severity))
    problems += _professionals(message)
    errors = [p for p in problems if p.severity == ack.ERROR]
    if errors:
        raise Refused(*errors)
    return problems


def _professionals(message: Message) -> list[Problem]:
    """ROL-4: each professional of a consent is an idNat_PS of the right length (8 + RPPS, 0 +
    ADELI, or already prefixed), and a consent given or withdrawn (ZFA-11 IC/INC) names one."""
    problems = []
    named = 0
    for number, rol in enumerate(message.segments("ROL"), 1):
        for repetition in message.repetitions(rol, 4):
            ident = message.value(rol, 4, 1, repetition)
            authority = message.value(rol, 4, 9, repetition, 2)
            kind = message.value(rol, 4, 13, repetition).upper()
            if authority != PS_NATIONAL_ID:
                continue
            length = PS_LENGTHS.get(kind)
            prefixed = PS_PREFIXES.get(kind, "")
            good = ident.isdigit() and (
                len(ident) == length or (len(ident) == (length or 0) + 1
                                         and ident.startswith(prefixed))
                if length else len(ident) in (10, 12) and ident[:1] in "08")
            if not good:
                problems.append(Problem(ack.DATA_TYPE_ERROR, f"ROL^{number}^4^{repetition}",
                                        f"ROL-4 '{ident[:40]}' ({kind or 'idNat_PS'}) is not "
                                        "a national professional id (RPPS 11 digits, ADELI "
                                        "9, or idNat_PS 8+RPPS / 0+ADELI)"))
            else:
                named += 1
    zfa = message.first("ZFA")
    consent = message.value(zfa, 11) if zfa is not None else ""
    if consent in ("IC", "INC") and not named and not problems:
        problems.append(Problem(ack.REQUIRED_FIELD_MISSING, "ZFA^1^11",
                                f"ZFA-11 is {consent} but no ROL-4 names a professional "
                                "(idNat_PS): no consent was recorded", ack.WARNING))
    return problems

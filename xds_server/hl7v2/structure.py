"""The segment structure of each message this front acts on, checked before anything is read
from the message: which segments, in which order, how many times. One table per structure
(HL7 v2.5 abstract message syntax, with what the volets add: PAM-FR's Z segments, the
CI-SIS document volet's PRT after OBX), and one walk over it.

Without it, what a message holds beyond what the front reads was silently ignored: a second
message in one MLLP frame (its MSH, its PID, its documents acted on under the first's control
id and checked against the first's patient), a second PID, a ZFA before PID. Now:
- a second MSH is a second message where one was expected: AR 100 (it is not acted on);
- a segment out of place, repeated beyond its cardinality, or a required one missing: AE 100
  naming the segment and its position (ERR-2 `SEG^n`).
The front acts on one patient per message: the repeatable patient groups of ORU_R01 (PATIENT_
RESULT) and ADT_A39 (PATIENT) are limited to one (IHE ITI-8 merges one patient per A40 too).
Unknown Z segments are taken only where the structure has room for them (PAM-FR's block).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ack
from .ack import Problem, Refused

ANY = None                       # no upper bound


@dataclass(frozen=True)
class Seg:
    name: str                    # a segment id; "Z**" any Z segment
    min: int = 0
    max: int | None = 1

    def starts(self) -> frozenset[str]:
        return frozenset({self.name})

    def accepts(self, name: str) -> bool:
        return name == self.name or (self.name == "Z**" and name.startswith("Z"))


@dataclass(frozen=True)
class Group:
    name: str
    items: tuple[Seg | Group, ...]
    min: int = 0
    max: int | None = 1

    def accepts(self, name: str) -> bool:
        """Whether `name` can begin the group (its items up to the first required one)."""
        for item in self.items:
            if item.accepts(name):
                return True
            if item.min > 0:
                return False
        return False


def _s(name: str, low: int = 0, high: int | None = 1) -> Seg:
    return Seg(name, low, high)


# PAM-FR's segments after PV2 (ZBE movement, ZFA DMP status, ZFP/ZFV/ZFM/ZFD/ZFS…), any order
_PAM_FR_Z = _s("Z**", 0, ANY)
_INSURANCE = Group("INSURANCE", (_s("IN1", 1), _s("IN2"), _s("IN3", 0, ANY), _s("ROL", 0, ANY)),
                   0, ANY)
_PROCEDURE = Group("PROCEDURE", (_s("PR1", 1), _s("ROL", 0, ANY)), 0, ANY)

# ADT_A01 / ADT_A05 (A01, A04, A05, A08, A28, A31 and the movements): PV1 optional here, as
# identity-only feeds (A28, A31) often omit it
ADT_A01 = (_s("MSH", 1), _s("SFT", 0, ANY), _s("EVN", 1), _s("PID", 1), _s("PD1"),
           _s("ROL", 0, ANY), _s("NK1", 0, ANY), _s("PV1"), _s("PV2"), _PAM_FR_Z,
           _s("ROL", 0, ANY), _s("DB1", 0, ANY), _s("OBX", 0, ANY), _s("AL1", 0, ANY),
           _s("DG1", 0, ANY), _s("DRG"), _PROCEDURE, _s("GT1", 0, ANY), _INSURANCE,
           _s("ACC"), _s("UB1"), _s("UB2"), _s("PDA"))
# ADT_A39 (A40): one PATIENT group (one merge per message)
ADT_A39 = (_s("MSH", 1), _s("SFT", 0, ANY), _s("EVN", 1),
           Group("PATIENT", (_s("PID", 1), _s("PD1"), _s("MRG", 1), _s("PV1")), 1, 1),
           _PAM_FR_Z)
# ADT_A30 (A47)
ADT_A30 = (_s("MSH", 1), _s("SFT", 0, ANY), _s("EVN", 1), _s("PID", 1), _s("PD1"),
           _s("MRG", 1), _PAM_FR_Z)
# ORU_R01: one PATIENT_RESULT (one patient), its PID required (the INS is there)
_OBSERVATION = Group("OBSERVATION", (_s("OBX", 1), _s("NTE", 0, ANY), _s("PRT", 0, ANY)),
                     0, ANY)
_ORDER = Group("ORDER_OBSERVATION", (_s("ORC"), _s("OBR", 1), _s("NTE", 0, ANY),
                                     Group("TIMING_QTY", (_s("TQ1", 1), _s("TQ2", 0, ANY)),
                                           0, ANY),
                                     _s("PRT", 0, ANY), _s("CTD"), _OBSERVATION,
                                     _s("FT1", 0, ANY), _s("CTI", 0, ANY),
                                     Group("SPECIMEN", (_s("SPM", 1), _s("OBX", 0, ANY)),
                                           0, ANY)), 1, ANY)
ORU_R01 = (_s("MSH", 1), _s("SFT", 0, ANY),
           Group("PATIENT", (_s("PID", 1), _s("PD1"), _s("NTE", 0, ANY), _s("NK1", 0, ANY),
                             Group("VISIT", (_s("PV1", 1), _s("PV2")))), 1, 1),
           _ORDER, _s("DSC"))
# MDM_T02 (T02, T04, T10; T11 here too: its documents are the deletions)
MDM_T02 = (_s("MSH", 1), _s("SFT", 0, ANY), _s("EVN", 1), _s("PID", 1), _s("PV1", 1),
           Group("COMMON_ORDER", (_s("ORC", 1),
                                  Group("TIMING", (_s("TQ1", 1), _s("TQ2", 0, ANY)), 0, ANY),
                                  _s("OBR"), _s("NTE", 0, ANY)), 0, ANY),
           _s("TXA", 1), _s("CON", 0, ANY),
           Group("OBSERVATION", (_s("OBX", 1), _s("NTE", 0, ANY), _s("PRT", 0, ANY)), 1, ANY))

# the Z segments this front reads (identity.py): never "ignored" out of their place
READ_Z = frozenset({"ZFA"})
# MSH-9.1^MSH-9.2 → its structure (the ADT events not named use ADT_A01)
STRUCTURES = {"ADT^A40": ("ADT_A39", ADT_A39), "ADT^A47": ("ADT_A30", ADT_A30),
              "ORU^R01": ("ORU_R01", ORU_R01), "MDM^T02": ("MDM_T02", MDM_T02),
              "MDM^T04": ("MDM_T02", MDM_T02), "MDM^T10": ("MDM_T02", MDM_T02),
              "MDM^T11": ("MDM_T02", MDM_T02)}


class _Misplaced(Exception):
    def __init__(self, index: int, expected: str) -> None:
        self.index = index
        self.expected = expected


def _described(item: Seg | Group) -> str:
    """A missing item as a text names it: a segment, or a group by its first segments."""
    if isinstance(item, Seg):
        return item.name
    leads = []
    for inner in item.items:
        leads.append(_described(inner))
        if inner.min > 0:
            break
    return f"{' or '.join(leads)} (group {item.name})"


def _walk(items: tuple[Seg | Group, ...], names: list[str], index: int) -> int:
    for item in items:
        count = 0
        while (item.max is None or count < item.max) and index < len(names) \
                and item.accepts(names[index]):
            index = index + 1 if isinstance(item, Seg) else _walk(item.items, names, index)
            count += 1
        if count < item.min:
            raise _Misplaced(index, _described(item))
    return index


def check_structure(names: list[str], kind: str, event: str) -> list[Problem]:
    """Refused (AE 100, AR 100 for a second MSH) when the segments do not follow the
    structure of the message type; the warnings otherwise: Z segments the structure has no
    room for, after its last segment, are ignored with a warning (HL7's rule for a receiver:
    local segments it does not expect are not a reason to refuse)."""
    for number, name in enumerate(names[1:], 2):
        if name == "MSH":
            raise Refused(Problem(ack.SEGMENT_SEQUENCE_ERROR, f"MSH^{number}",
                                  f"segment {number} is a second MSH: one message per MLLP "
                                  "frame, each sent after the previous one's ACK; nothing "
                                  "done"), reject=True)
    structure, items = STRUCTURES.get(f"{kind}^{event}", ("ADT_A01", ADT_A01))
    try:
        end = _walk(items, names, 0)
    except _Misplaced as missing:
        found = names[missing.index] if missing.index < len(names) else "the end"
        where = f"{found}^{missing.index + 1}" if missing.index < len(names) else ""
        raise Refused(Problem(ack.SEGMENT_SEQUENCE_ERROR, where,
                              f"{structure}: {missing.expected} expected before "
                              f"{'segment ' + str(missing.index + 1) + ' ' if where else ''}"
                              f"({found})")) from None
    twice = next((n for i, n in enumerate(names) if n.startswith("Z") and n in names[:i]), "")
    if twice and end == len(names):
        end = len(names) - names[::-1].index(twice) - 1
    elif end < len(names) and all(n.startswith("Z") and n not in names[:end]
                                  and n not in READ_Z for n in names[end:]):
        return [Problem(ack.SEGMENT_SEQUENCE_ERROR, f"{names[end]}^{end + 1}",
                        f"{structure}: segment {end + 1} ({names[end]}) and what follows "
                        "are local segments this server does not read: ignored",
                        ack.WARNING)]
    if end < len(names):
        name = names[end]
        repeated = name in names[:end]
        raise Refused(Problem(ack.SEGMENT_SEQUENCE_ERROR, f"{name}^{end + 1}",
                              f"{structure}: segment {end + 1} ({name}) is "
                              f"{'one ' + name + ' too many' if repeated else 'out of place'}"
                              f" (a {kind}^{event} has its segments in the order of "
                              f"{structure})"))
    return []

"""Who a message is about (PID, MRG) and what the patient decided (ZFA, ROL), read as IHE PAM
France 2.11 writes them.

- The INS is the PID-3 repetition whose assigning authority (CX-4.2) is an INS OID (NIR, NIA;
  the test and demo OIDs only with XDS_ACCEPT_TEST_INS): the registry key of the record.
- PID-32 is the identity's status. Only a qualified identity (VALI) feeds a DMP record
  (`QUALIFIED`): with any other status the INS is not trusted, so the message changes nothing
  and is answered AA with a warning (the ADT sends every patient; refusing them would only
  make it retry), and a document for such a patient is refused (AE).
- The local identifiers (CX-5 = PI) are kept as the record's cross-references.
- ZFA (PAM-FR 2.11 "statut DMP du patient"): ZFA-6 / ZFA-7 (Y/N) the oppositions to access
  in bris de glace and centre 15 modes; ZFA-9 the opposition to feeding (IO opposed, INO not
  opposed, NA not asked); ZFA-11 the consent to consultation (IC given, INC refused, NA not
  asked). An empty or NA value changes nothing.
- Consent to consultation is what the access decision reads as authorisations: IC authorises
  the professionals the message names in ROL (their national id, idNat_PS), INC withdraws
  their authorisation. What is not said stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.french_ids import INS_PRODUCTION, INS_TEST, PS_NATIONAL_ID, ins_problem
from ..model.hl7 import is_oid
from ..model.patients import ConsentChange
from ..security.access import BRIS_DE_GLACE, CENTRE_15, FEEDING
from . import ack
from .ack import Problem, Refused
from .er7 import Message

QUALIFIED = frozenset({"VALI"})
INS_OIDS = INS_PRODUCTION | INS_TEST
INS_TYPES = frozenset({"INS", "NH", "INS-C", "INS-NIR", "INS-NIA"})   # CX-5 of an INS

# ZFA field → (opposition, the value that sets it, the value that withdraws it)
OPPOSITION_FIELDS: dict[int, tuple[str, str, str]] = {
    6: (BRIS_DE_GLACE, "Y", "N"),
    7: (CENTRE_15, "Y", "N"),
    9: (FEEDING, "IO", "INO"),
}
CONSULTATION_FIELD = 11
CONSENT_GIVEN, CONSENT_REFUSED = "IC", "INC"
NOT_ASKED = "NA"
# XCN-13 (identifier type) → the idNat_PS prefix (CI-SIS: 8 + RPPS, 0 + ADELI)
PS_PREFIXES = {"RPPS": "8", "ADELI": "0", "IDNPS": ""}
PS_LENGTHS = {"RPPS": 11, "ADELI": 9}


@dataclass(frozen=True)
class Identity:
    ins: str | None              # id^^^&OID&ISO, None without an INS
    status: str                  # PID-32
    local_ids: tuple[str, ...]   # id^^^namespace&uid&type

    @property
    def qualified(self) -> bool:
        return self.ins is not None and self.status in QUALIFIED


def _cx(message: Message, segment, field: int, repetition: int) -> tuple[str, str, str, str]:
    """(id, namespace, universal id, its type) of one CX repetition."""
    v = message.value
    return (v(segment, field, 1, repetition), v(segment, field, 4, repetition, 1),
            v(segment, field, 4, repetition, 2), v(segment, field, 4, repetition, 3))


def identifiers(message: Message, segment_name: str, field: int, accept_test_ins: bool
                ) -> tuple[str | None, tuple[str, ...]]:
    """(the INS, the local identifiers) of a CX list (PID-3, MRG-1); Refused when an INS is
    there but is not one this server accepts."""
    segment = message.first(segment_name)
    ins, local = None, []
    for repetition in message.repetitions(segment, field):
        ident, namespace, universal, kind = _cx(message, segment, field, repetition)
        type_code = message.value(segment, field, 5, repetition)
        where = f"{segment_name}^1^{field}^{repetition}"
        if universal in INS_OIDS:
            problem = ins_problem(ident, universal, accept_test_ins)
            if problem is not None:
                raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND if "OID" in problem
                                      else ack.DATA_TYPE_ERROR, where, f"INS: {problem}"))
            found = f"{ident}^^^&{universal}&ISO"
            if ins is not None and ins != found:
                # two INS for one person: which record is meant cannot be told (the record
                # of the second would have been made and the first ignored)
                raise Refused(Problem(ack.DUPLICATE_KEY_IDENTIFIER, where,
                                      f"{segment_name}-{field} holds two different INS "
                                      "(an identity conflict): nothing done"))
            ins = found
        elif ident and type_code.upper() in INS_TYPES:
            # written as an INS but under another authority: not a local identifier either
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, where,
                                  f"{segment_name}-{field} repetition {repetition} is an "
                                  f"{type_code} whose assigning authority '{universal}' is "
                                  "not an INS OID"))
        elif ident and type_code in ("PI", "PN", "PT", "") and (namespace or universal):
            if universal and kind == "ISO" and is_oid(universal):
                local.append(f"{ident}^^^&{universal}&ISO")
            else:
                local.append(f"{ident}^^^{namespace}&{universal}&{kind}")
    return ins, tuple(dict.fromkeys(local))


def read_identity(message: Message, accept_test_ins: bool) -> Identity:
    pid = message.first("PID")
    if pid is None:
        raise Refused(Problem(ack.SEGMENT_SEQUENCE_ERROR, "PID", "the message has no PID "
                                                                 "segment"))
    ins, local = identifiers(message, "PID", 3, accept_test_ins)
    if ins is None and not local:
        raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, "PID^1^3",
                              "PID-3 holds neither an INS nor a local identifier (PI)"))
    # exact: fields.py refused any other spelling of the PAM-FR statuses
    return Identity(ins, message.value(pid, 32).strip(), local)


def read_consent(message: Message) -> ConsentChange:
    """What ZFA and ROL say the patient decided; Refused for a value PAM-FR does not define."""
    zfa = message.first("ZFA")
    oppose, withdraw = set(), set()
    grant: tuple[str, ...] = ()
    revoke: tuple[str, ...] = ()
    if zfa is not None:
        for field, (mode, sets, clears) in OPPOSITION_FIELDS.items():
            value = message.value(zfa, field).strip().upper()
            if value == sets:
                oppose.add(mode)
            elif value == clears:
                withdraw.add(mode)
            elif value not in ("", NOT_ASKED):
                raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"ZFA^1^{field}",
                                      f"ZFA-{field} is '{value}': expected {sets}, {clears} "
                                      f"or {NOT_ASKED}"))
        consultation = message.value(zfa, CONSULTATION_FIELD).strip().upper()
        if consultation not in ("", NOT_ASKED, CONSENT_GIVEN, CONSENT_REFUSED):
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"ZFA^1^{CONSULTATION_FIELD}",
                                  f"ZFA-{CONSULTATION_FIELD} is '{consultation}': expected "
                                  f"{CONSENT_GIVEN}, {CONSENT_REFUSED} or {NOT_ASKED}"))
        professionals = role_professionals(message)
        if consultation == CONSENT_GIVEN:
            grant = professionals
        elif consultation == CONSENT_REFUSED:
            revoke = professionals
    return ConsentChange(frozenset(oppose), frozenset(withdraw), grant, revoke)


def role_professionals(message: Message) -> tuple[str, ...]:
    """The national ids (idNat_PS) of the professionals ROL names (ROL-4, an XCN whose
    authority is idNat_PS's OID)."""
    found = []
    for rol in message.segments("ROL"):
        for repetition in message.repetitions(rol, 4):
            ident = message.value(rol, 4, 1, repetition)
            authority = message.value(rol, 4, 9, repetition, 2)
            kind = message.value(rol, 4, 13, repetition).upper()
            if ident and authority == PS_NATIONAL_ID:
                # fields.py held the id to its length: RPPS 11 / ADELI 9 digits, or already
                # prefixed (8 + RPPS, 0 + ADELI: one digit more)
                prefix = PS_PREFIXES.get(kind, "")
                length = PS_LENGTHS.get(kind)
                found.append(prefix + ident if length and len(ident) == length else ident)
    return tuple(dict.fromkeys(found))

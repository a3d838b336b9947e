"""The documents of an ORU^R01 or MDM^T02/T04/T10/T11 as the CI-SIS volet "Transmission de
document(s) CDA en HL7v2" carries them, read into what the repository takes.

A document is an OBX of type ED whose OBX-5 is `^text^XML^Base64^<the CDA>` (OBX-5.3 XML);
the OBX and PRT segments after it, up to the next document, are its own: the DMP metadata
flags (OBX-3 MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REP_LEGAUX, … with Y or N in OBX-5) and
the participants (PRT-4 SB "sent by": PRT-5 the professional, PRT-8 their organisation).
OBX-11 says what to do with it: F a first transmission, C a replacement (of the document
its CDA's relatedDocument RPLC names, or TXA-13), D a deletion (of the registered document
whose id the CDA carries). MDM^T11 cancels: every document is a deletion.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from ..cda.document import NotCda, parse_cda
from ..cda.header import CdaHeader, read_header
from ..model.vocabulary import INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS, MASQUE_PS
from . import ack
from .ack import Problem, Refused
from .er7 import Message

INITIAL, REPLACEMENT, DELETION = "F", "C", "D"
ACTIONS = {INITIAL: "initial", REPLACEMENT: "replacement", DELETION: "deletion"}
# OBX-3.1 metadata flag → the DMP visibility code (TRE_A07) a Y sets
VISIBILITY_FLAGS = {"MASQUE_PS": MASQUE_PS, "INVISIBLE_PATIENT": INVISIBLE_PATIENT,
                    "INVISIBLE_REP_LEGAUX": INVISIBLE_REPRESENTANTS,
                    "INVISIBLE_REPRESENTANTS_LEGAUX": INVISIBLE_REPRESENTANTS}
YES, NO = "Y", "N"
SENT_BY = "SB"
CDA_SUBTYPES = frozenset({"XML"})


@dataclass
class CdaDocument:
    """One document of the message, with where it is (OBX-1 and its segment number)."""

    position: str                      # OBX-1 (its set id), as errors name it
    location: str                      # OBX^n for ERR-2
    action: str                        # INITIAL, REPLACEMENT, DELETION
    content: bytes
    header: CdaHeader
    visibility: set[str] = field(default_factory=set)
    sender_person: str = ""            # PRT-5 of SB: the professional's national id
    sender_organization: str = ""      # PRT-8.10 of SB

    @property
    def name(self) -> str:
        return f"OBX-{self.position} (document {self.header.unique_id or 'without id'})"


def _decode(text: str, location: str, position: str) -> bytes:
    """OBX-5.5 Base64; a missing final padding (some ANS examples have it) is forgiven."""
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(Problem(ack.DATA_TYPE_ERROR, f"{location}^5^1^5",
                              f"OBX-{position}: OBX-5.5 is not Base64")) from None


def read_documents(message: Message, cancel: bool) -> list[CdaDocument]:
    """Every CDA document of the message with its own flags and participants."""
    documents: list[CdaDocument] = []
    current: CdaDocument | None = None
    obx_count = 0
    v = message.value
    for segment in message.all:
        name = segment.name
        if name == "OBX":
            obx_count += 1
            location = f"OBX^{obx_count}"
            if v(segment, 2).upper() == "ED" and v(segment, 5, 3).upper() in CDA_SUBTYPES:
                current = _document(message, segment, location, cancel)
                documents.append(current)
            elif current is not None:
                flag = v(segment, 3, 1).upper()
                value = v(segment, 5, 1).upper()
                if flag in VISIBILITY_FLAGS:
                    if value not in (YES, NO):
                        raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{location}^5",
                                              f"{current.name}: {flag} is '{value}', "
                                              "expected Y or N"))
                    if value == YES:
                        current.visibility.add(VISIBILITY_FLAGS[flag])
        elif name == "PRT" and current is not None and v(segment, 4, 1).upper() == SENT_BY:
            current.sender_person = v(segment, 5, 1)
            current.sender_organization = v(segment, 8, 10)
    if not documents:
        raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, "OBX",
                              "the message carries no CDA document (an OBX of type ED with "
                              "OBX-5 ^text^XML^Base64^…)"))
    return documents


def _document(message: Message, segment, location: str, cancel: bool) -> CdaDocument:
    v = message.value
    position = v(segment, 1) or location.split("^")[1]
    status = DELETION if cancel else v(segment, 11).upper()
    if status not in ACTIONS:
        raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{location}^11",
                              f"OBX-{position}: OBX-11 is '{status}': F (first transmission), "
                              "C (replacement) or D (deletion)"))
    if v(segment, 5, 4).lower() != "base64":
        raise Refused(Problem(ack.DATA_TYPE_ERROR, f"{location}^5^1^4",
                              f"OBX-{position}: OBX-5.4 must be Base64"))
    content = _decode(v(segment, 5, 5), location, position)
    try:
        header = read_header(parse_cda(content))
    except NotCda as exc:
        raise Refused(Problem(ack.DATA_TYPE_ERROR, f"{location}^5^1^5",
                              f"OBX-{position}: the document is not a CDA: {exc}")) from None
    return CdaDocument(position, location, status, content, header)

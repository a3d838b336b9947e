"""HL7 v2 test material: the ANS examples, loaded from ../shared/reference at test time (never
copied), the changes their READMEs tell an integrator to make (a new MSH-10, a new document id,
the document it replaces), and messages of the same volets written here."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from xds_server.hl7v2.service import Peer
from xds_server.model import vocabulary as v
from xds_server.model.stored_queries import FindDocuments, GetDocuments
from xds_server.repository.actor import DocumentRequest
from xds_server.security.principal import SYSTEM

from .conftest import REFERENCE

ANS = REFERENCE / "hl7v2" / "ansforge-hl7v2-exemples"
SGL = ANS / "SGL"
CONSENT = ANS / "Vague 2" / "Consentement_DMP_PAMFR"
VOLET = ANS / "Vague 2" / "Trans_Doc-CDA-HL7V2" / "TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1"
MDM_INIT = VOLET / "MDM" / "Transmission initiale MDM"
MDM_RPLC = VOLET / "MDM" / "Remplacement MDM"
MDM_DEL = VOLET / "MDM" / "Suppression MDM"
ORU_INIT = VOLET / "ORU" / "Transmission initiale ORU"
ORU_RPLC = VOLET / "ORU" / "Remplacement ORU"
ORU_DEL = VOLET / "ORU" / "Suppression ORU"

# the ANS's test patient (PAT-TROIS DOMINIQUE), INS on the test NIR OID
INS = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO"
TEST_NIR = "1.2.250.1.213.1.4.10"
HL7 = "urn:hl7-org:v3"


def load(path: Path) -> bytes:
    """A message file as it goes on the wire: segments separated by CR."""
    lines = [line for line in path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
             .split(b"\n") if line.strip()]
    return b"\r".join(lines) + b"\r"


def segments(message: bytes) -> list[str]:
    return [s for s in message.decode("utf-8").split("\r") if s]


def join(lines: list[str]) -> bytes:
    return ("\r".join(lines) + "\r").encode("utf-8")


def set_field(message: bytes, segment: str, field: int, value: str, occurrence: int = 1) -> bytes:
    """The message with one field replaced (MSH counted as HL7 does: MSH-3 is index 3)."""
    lines = segments(message)
    seen = 0
    for number, line in enumerate(lines):
        if line.startswith(segment + "|"):
            seen += 1
            if seen == occurrence:
                parts = line.split("|")
                index = field - 1 if segment == "MSH" else field
                parts += [""] * (index + 1 - len(parts))
                parts[index] = value
                lines[number] = "|".join(parts)
                return join(lines)
    raise AssertionError(f"no {segment} #{occurrence}")


def field(message: bytes, segment: str, number: int, occurrence: int = 1) -> str:
    found = [s for s in segments(message) if s.startswith(segment + "|")]
    parts = found[occurrence - 1].split("|")
    index = number - 1 if segment == "MSH" else number
    return parts[index] if index < len(parts) else ""


def new_control_id(message: bytes) -> bytes:
    """README: "MSH-10 Identifiant du message" is to be changed for each message sent."""
    return set_field(message, "MSH", 10, uuid.uuid4().hex[:20])


def cda_of(message: bytes, obx: int = 1) -> bytes:
    """The document of the n-th document OBX (OBX-5.5, Base64; the final padding some ANS
    examples lack put back)."""
    documents = [s for s in segments(message) if s.startswith("OBX|") and "|ED|" in s[:12]
                 and s.split("|")[5].split("^")[2].upper() == "XML"]
    text = documents[obx - 1].split("|")[5].split("^")[4]
    return base64.b64decode(text + "=" * (-len(text) % 4))


def with_cda(message: bytes, cda: bytes, obx: int = 1) -> bytes:
    lines = segments(message)
    seen = 0
    for number, line in enumerate(lines):
        if line.startswith("OBX|") and "|ED|" in line[:12] and \
                line.split("|")[5].split("^")[2].upper() == "XML":
            seen += 1
            if seen == obx:
                parts = line.split("|")
                value = parts[5].split("^")
                value[4] = base64.b64encode(cda).decode()
                parts[5] = "^".join(value)
                lines[number] = "|".join(parts)
    return join(lines)


def rewrite_cda(cda: bytes, *, document_id: str | None = None, replaces: str | None = None,
                patient: str | None = None) -> bytes:
    """README "Integration": a new document id, the id of the document it replaces."""
    root = etree.fromstring(cda)
    if document_id is not None:
        element = root.find(f"{{{HL7}}}id")
        element.set("root", document_id)
        if "extension" in element.attrib:
            del element.attrib["extension"]
    if replaces is not None:
        parent = root.find(f"{{{HL7}}}relatedDocument/{{{HL7}}}parentDocument/{{{HL7}}}id")
        if parent is None:
            related = etree.SubElement(root, f"{{{HL7}}}relatedDocument", typeCode="RPLC")
            document = etree.SubElement(related, f"{{{HL7}}}parentDocument")
            parent = etree.SubElement(document, f"{{{HL7}}}id")
            # relatedDocument comes before componentOf / component in the CDA schema
            anchor = root.find(f"{{{HL7}}}componentOf")
            if anchor is None:
                anchor = root.find(f"{{{HL7}}}component")
            anchor.addprevious(related)
        parent.set("root", replaces)
        parent.attrib.pop("extension", None)
    if patient is not None:
        ident = root.find(f"{{{HL7}}}recordTarget/{{{HL7}}}patientRole/{{{HL7}}}id")
        ident.set("extension", patient)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def new_oid() -> str:
    return f"1.2.250.1.999.42.{uuid.uuid4().int % 10**12}"


@dataclass
class Ack:
    raw: bytes
    code: str
    control_id: str
    message_type: str
    errors: list[list[str]]

    @property
    def texts(self) -> str:
        return " | ".join(e[8] if len(e) > 8 else "" for e in self.errors)


def parse_ack(raw: bytes) -> Ack:
    lines = segments(raw.replace(b"\n", b"\r"))
    msh = lines[0].split("|")
    msa = next(line for line in lines if line.startswith("MSA|")).split("|")
    errors = [line.split("|") for line in lines if line.startswith("ERR|")]
    return Ack(raw, msa[1], msa[2] if len(msa) > 2 else "", msh[8], errors)


_ORDERS_GIVEN: set[str] = set()


def nir(sex: str = "1", year: str = "80", month: str = "05", place: str = "75056",
        order: str | None = None) -> str:
    """A NIR with its key (what a production INS carries). The order number is drawn without
    repeat within a process: two draws in one test (a merge's survivor and merged patient) were
    the same one time in 1,000 and the merge was refused as "into itself"."""
    if order is None:
        if len(_ORDERS_GIVEN) >= 1000:
            _ORDERS_GIVEN.clear()
        order = f"{uuid.uuid4().int % 1000:03d}"
        while order in _ORDERS_GIVEN:
            order = f"{uuid.uuid4().int % 1000:03d}"
        _ORDERS_GIVEN.add(order)
    body = f"{sex}{year}{month}{place}{order}"
    digits = body.replace("2A", "19").replace("2B", "18")
    return f"{body}{97 - int(digits) % 97:02d}"


def adt(event: str, ins: str, *, status: str = "VALI", control_id: str | None = None,
        oid: str = TEST_NIR, local: str = "", zfa: str = "", rol: str = "",
        mrg: str = "", sender: str = "GAM^CHU-Y", extra: list[str] | None = None,
        charset: str = "UNICODE UTF-8", family: str = "TEST") -> bytes:
    """A PAM-FR ADT message written here (the structure of the ANS examples)."""
    app, facility = sender.split("^")
    pid3 = f"{ins}^^^ASIP-SANTE-INS-NIR&{oid}&ISO^INS"
    if local:
        pid3 = f"{local}^^^CHU-Y&1.2.250.1.999.7&ISO^PI~{pid3}"
    lines = [
        f"MSH|^~\\&|{app}|{facility}|XDS|XDS|20261202101010||ADT^{event}^ADT_{event}|"
        f"{control_id or uuid.uuid4().hex[:16]}|P|2.5^FRA^2.11|||||FRA|{charset}|FR||"
        "2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20261202101010",
        "|".join(["PID", "1", "", pid3, "", f"{family}^DOMINIQUE^DOMINIQUE^^^^L", "",
                  "19800528", "M", *[""] * 23, status]),
        *(extra or []),
    ]
    if mrg:
        lines.append(f"MRG|{mrg}")
    if rol:
        lines.append(rol)
    if zfa:
        lines.append(zfa)
    return join(lines)


# the senders the tests' messages come from (XDS_MLLP_SENDERS), bound to the loopback: the
# ANS examples' systems with the organisations their CDAs are authored in, and the tests' own
def sender(application: str, facility: str, messages: tuple[str, ...],
           organisations: tuple[str, ...] = (), networks: tuple[str, ...] = ("127.0.0.0/8",)
           ) -> str:
    """One [[sender]] entry of an XDS_MLLP_SENDERS table (TOML)."""
    lines = ["[[sender]]", f'application = "{application}"', f'facility = "{facility}"',
             f"messages = {json.dumps(list(messages))}"]
    if organisations:
        lines.append(f"organisations = {json.dumps(list(organisations))}")
    lines.append(f"networks = {json.dumps(list(networks))}")
    return "\n".join(lines) + "\n\n"


ADT_CHU_Y = sender("GAM", "CHU-Y", ("ADT",))
TEST_SENDERS = "".join([
    sender("GAM", "CHU-X", ("ADT",)),
    ADT_CHU_Y,
    sender("RIS-Y", "Organisation-Y", ("MDM", "ORU"), ("1120456789",)),
    sender("SIL-Y", "labo", ("ORU", "MDM"), ("1120459876", "1120459877")),
    sender("A", "B", ("ADT", "ORU", "MDM"), ("1120459876",)),
])
LOOPBACK = Peer(address="127.0.0.1:40000", host="127.0.0.1")


def senders_file(directory: Path, table: str = TEST_SENDERS) -> Path:
    path = directory / "mllp-senders.toml"
    path.write_text(table, encoding="utf-8")
    return path


@dataclass
class Hl7Setup:
    xds: Any          # the XdsApplication (the SOAP side: ITI-18, ITI-43 actors)
    hl7: Any          # the Hl7Application (the MLLP side)

    def send(self, message: bytes, peer: Peer = LOOPBACK):
        return parse_ack(self.raw(message, peer))

    def raw(self, message: bytes, peer: Peer = LOOPBACK) -> bytes:
        """The ACK's bytes, for a message from a connection of the loopback."""
        return self.hl7.service.handle(message, peer)

    def documents(self, statuses=(v.APPROVED,), patient: str = INS) -> list[str]:
        """The uniqueIds FindDocuments (ITI-18) finds for the patient."""
        answer = self.xds.registry.query(FindDocuments(patient_id=patient + "^NH",
                                                       statuses=tuple(statuses)), SYSTEM)
        uuids = tuple(d.entry_uuid for d in answer.result.documents)
        if not uuids:
            return []
        found = self.xds.registry.query(GetDocuments(entry_uuids=uuids), SYSTEM)
        return sorted(d.unique_id for d in found.result.documents)

    def document(self, unique_id: str):
        answer = self.xds.registry.query(GetDocuments(unique_ids=(unique_id,)), SYSTEM)
        return answer.result.documents[0] if answer.result.documents else None

    def retrieve(self, unique_id: str) -> bytes:
        found, errors = self.xds.repository.retrieve(
            [DocumentRequest(self.xds.settings.repository_unique_id, unique_id)], SYSTEM)
        assert not errors, errors
        return found[0].content.read_bytes()


@contextlib.contextmanager
def hl7_setups(make_settings, database_url):
    """make(**settings) → an Hl7Setup on the test's database; everything closed after."""
    from xds_server.app import Hl7Application, create_app
    from xds_server.store.schema import migrate

    made = []
    directory = Path(tempfile.mkdtemp(prefix="hl7-senders-"))
    table = senders_file(directory)

    def make(**overrides: Any) -> Hl7Setup:
        values = {"profile": "cisis", "accept_test_ins": True,
                  "require_submission_signature": False, "mllp_senders": str(table),
                  **overrides}
        settings = make_settings(database_url=database_url, **values)
        xds = create_app(settings)
        migrate(xds.database.engine)
        hl7 = Hl7Application(settings)
        made.extend([xds, hl7])
        return Hl7Setup(xds, hl7)

    yield make
    for app in made:
        app.close()
    shutil.rmtree(directory, ignore_errors=True)

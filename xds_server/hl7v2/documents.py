"""ORU / MDM documents into the registry and repository, exactly as an ITI-41 would put them:
the DocumentEntry from the CDA header (cda/mapping.py, the CI-SIS mapping the document source
uses), the patientId the qualified INS of PID-3, the visibility flags of the message added to
the confidentiality codes, then `repository.provide` (CDA validation, CDA ⇄ metadata
consistency, the access decision's feeding rule) for first transmissions and replacements
(an RPLC association to the registered document), and an ITI-57 status change to the CI-SIS
Deleted status for deletions (only the author deletes, as the DMP).

The sending system acts for the document's author (the CDA's first author, else the
professional PRT-5 "sent by" names): a professional of the record, so the access decision's
rules hold as over SOAP (a patient's opposition to feeding refuses the document; only its
author replaces what they see or deletes it), scoped to the patient of PID-3. The message's
own audit record names the sending application and facility (MSH-3/4).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..cda.mapping import entry_values
from ..model import vocabulary as v
from ..model.content import Attachment
from ..model.errors import RegistryFailure
from ..model.metadata import Association, Code, DocumentEntry, Submission, SubmissionSet
from ..model.registered import DocumentRecord
from ..records.identity import Within
from ..registry.actor import Registry
from ..repository.actor import Repository
from ..security.principal import Principal
from ..valuesets import ValueSets
from . import ack
from .ack import Problem, Refused
from .cda_documents import DELETION, INITIAL, REPLACEMENT, CdaDocument, read_documents
from .er7 import Message
from .identity import Identity, read_identity
from .refusals import as_refusal, refused_as_ack
from .senders import Sender

CONTENT_TYPE_SYSTEM = "1.2.250.1.213.2.2"
# PV1-2 (patient class) → the submission set's contentTypeCode (HV2 mapping)
CONTENT_TYPES = {"I": "03", "O": "07", "E": "07", "R": "19", "N": "97"}
DEFAULT_CONTENT_TYPE = "07"


@dataclass
class DocumentsOutcome:
    code: str
    patient_id: str
    action: str
    documents: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    detail: str = ""


class DocumentFeed:
    def __init__(self, repository: Repository, registry: Registry, value_sets: ValueSets,
                 accept_test_ins: bool, source_id: str,
                 institutions_of: Callable[[DocumentRecord], list[str]]) -> None:
        """`institutions_of(record)`: the authorInstitution (XON) values a registered
        document has, read from its stored metadata (the front cannot read that form)."""
        self.institutions_of = institutions_of
        self.repository = repository
        self.registry = registry
        self.value_sets = value_sets
        self.accept_test_ins = accept_test_ins
        self.source_id = source_id

    def handle(self, message: Message, cancel: bool, sender: Sender,
               principal_for: Callable[[str, str, str], Principal],
               within: Callable[[DocumentsOutcome], Within]) -> DocumentsOutcome:
        """Register, replace or delete the message's documents; Refused naming the document
        otherwise. `sender` is the table's (senders.py): the organisations it acts for;
        `principal_for(patient, person, organisation)` is the sender acting for the author."""
        identity = read_identity(message, self.accept_test_ins)
        if not identity.qualified:
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, "PID^1^32" if identity.ins
                                  else "PID^1^3",
                                  "a document feeds a DMP record only for a qualified "
                                  f"identity: PID-32 is '{identity.status or 'empty'}', not "
                                  "VALI" if identity.ins else "PID-3 holds no INS"))
        assert identity.ins is not None
        documents = read_documents(message, cancel)
        organisations = []
        for document in documents:
            _check_action(message, document)
            self._check_document(message, identity, document)
            organisations.append(self._organisation(document, sender))
        registered = self._registered([d.header.unique_id for d in documents
                                       if d.action == DELETION]
                                      + [self._parent(message, d) for d in documents
                                         if d.action == REPLACEMENT])
        for document in documents:
            target = registered.get(document.header.unique_id if document.action == DELETION
                                    else self._parent(message, document)
                                    if document.action == REPLACEMENT else "")
            if target is not None and target.patient_id == identity.ins:
                self._check_owner(document, target, sender)
        first = documents[0]
        # the organisation is the table's (one the document names), never MSH-4's
        principal = principal_for(identity.ins, _author_id(first) or first.sender_person,
                                  organisations[0])
        for document in documents:
            target = registered.get(self._parent(message, document)) \
                if document.action == REPLACEMENT else None
            if target is not None and target.patient_id == identity.ins:
                self._check_replaceable(document, target, principal)
        provided = [d for d in documents if d.action != DELETION]
        deleted = [d for d in documents if d.action == DELETION]
        outcome = DocumentsOutcome(ack.AA, identity.ins, "C" if not deleted else "D",
                                   [d.header.unique_id for d in documents],
                                   detail="\n".join(f"{d.name}: {d.action}" for d in documents))
        if provided:
            self._provide(message, identity, provided, principal,
                          within(outcome) if not deleted else None)
        if deleted:
            self._delete(identity, deleted, principal, within(outcome))
        return outcome

    # --- checks --------------------------------------------------------------------------------

    def _check_document(self, message: Message, identity: Identity,
                        document: CdaDocument) -> None:
        """The CDA is about PID-3's patient, and has the id TXA-12 gives (MDM)."""
        ins = {f"{i.extension}^^^&{i.root}&ISO" for i in document.header.patient_ids}
        if identity.ins not in ins:
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, f"{document.location}^5",
                                  f"{document.name}: its recordTarget is not the patient of "
                                  "PID-3 (the INS differs)"))
        if not document.header.unique_id:
            raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, f"{document.location}^5",
                                  f"{document.name}: the CDA has no id"))
        txa = message.first("TXA")
        given = message.value(txa, 12, 1) if txa is not None else ""
        if given and len(message.segments("TXA")) == 1 and \
                given != document.header.unique_id:
            raise Refused(Problem(ack.DATA_TYPE_ERROR, "TXA^1^12",
                                  f"TXA-12 is '{given}' but {document.name} has the id "
                                  f"'{document.header.unique_id}'"))

    # --- first transmissions and replacements --------------------------------------------------

    def _provide(self, message: Message, identity: Identity, documents: list[CdaDocument],
                 principal: Principal, within: Within | None) -> None:
        patient = f"{identity.ins}^NH"
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        package = SubmissionSet(_uuid(), unique_id=f"2.25.{uuid.uuid4().int}",
                                patient_id=patient, source_id=self.source_id,
                                submission_time=now,
                                content_type_code=Code(self._content_type(message),
                                                       CONTENT_TYPE_SYSTEM))
        entries: list[DocumentEntry] = []
        associations: list[Association] = []
        attachments: dict[str, Attachment] = {}
        symbols: dict[str, str] = {}
        for document in documents:
            entry = self._entry(message, identity, document, patient)
            entries.append(entry)
            symbols[document.name] = entry.entry_uuid
            attachments[entry.entry_uuid] = Attachment("text/xml", entry.entry_uuid,
                                                       data=document.content)
            associations.append(Association(_uuid(), v.HAS_MEMBER, package.entry_uuid,
                                            entry.entry_uuid,
                                            slots={v.SUBMISSION_SET_STATUS: ["Original"]}))
            if document.action == REPLACEMENT:
                associations.append(Association(_uuid(), v.RPLC, entry.entry_uuid,
                                                self._replaced(message, identity, document)))
        package.authors = [a for e in entries for a in e.authors][:1]
        submission = Submission(package, entries, associations=associations,
                                symbolic_ids=symbols)
        try:
            self.repository.provide(submission, attachments, principal, [], within,
                                    on_behalf_of_source=True)
        except RegistryFailure as failure:
            self._check_not_deleted(entries, documents)
            if not self._done_already(identity, entries):
                raise as_refusal(failure, documents) from None
            # sent again after its ACK was lost, where the log could not be written with the
            # registration (a remote registry): the documents are there, once
            if within is not None:
                with self.registry.database.transaction() as uow:
                    within(uow)

    def _check_not_deleted(self, entries: list[DocumentEntry],
                           documents: list[CdaDocument]) -> None:
        """A document deleted since it was registered, sent again under a new control id:
        AE naming it (it was answered AA with nothing done: the sender believed it
        published)."""
        registered = self._registered([entry.unique_id for entry in entries])
        for entry, document in zip(entries, documents, strict=True):
            record = registered.get(entry.unique_id)
            if record is not None and record.status == v.CISIS_DELETED:
                raise Refused(Problem(ack.DUPLICATE_KEY_IDENTIFIER, f"{document.location}^5",
                                      f"{document.name} was deleted: a deleted document is "
                                      "not registered again (new content takes a new id)"))

    def _done_already(self, identity: Identity, entries: list[DocumentEntry]) -> bool:
        registered = self._registered([entry.unique_id for entry in entries])
        return all((record := registered.get(entry.unique_id)) is not None
                   and record.patient_id == identity.ins and record.hash == entry.hash
                   for entry in entries)

    def _entry(self, message: Message, identity: Identity, document: CdaDocument,
               patient: str) -> DocumentEntry:
        pid = message.first("PID")
        values = entry_values(document.header, self.value_sets)
        entry = DocumentEntry(_uuid(), patient_id=patient,
                              source_patient_id=_source_patient(identity),
                              source_patient_info=[f"PID-{n}|{message.value(pid, n, 1)}"
                                                   f"{_rest(message, pid, n)}"
                                                   for n in (5, 7, 8)
                                                   if message.value(pid, n, 1)])
        for attribute, value in values.items():
            if value is not None:
                setattr(entry, attribute, value)
        entry.confidentiality_codes = [*entry.confidentiality_codes,
                                       *(Code(code, v.VISIBILITY_SYSTEM)
                                         for code in sorted(document.visibility))]
        if document.action == INITIAL or document.action == REPLACEMENT:
            entry.hash = Attachment("text/xml", "", data=document.content).sha1
        return entry

    @staticmethod
    def _parent(message: Message, document: CdaDocument) -> str:
        """The uniqueId of the document a replacement replaces."""
        txa = message.first("TXA")
        parents = [str(i) for i in document.header.replaces] or \
            ([message.value(txa, 13, 1)] if txa is not None and message.value(txa, 13, 1)
             else [])
        if not parents:
            raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, f"{document.location}^11",
                                  f"{document.name}: a replacement (OBX-11 = C) names the "
                                  "document it replaces (CDA relatedDocument RPLC, TXA-13)"))
        return parents[0]

    def _replaced(self, message: Message, identity: Identity, document: CdaDocument) -> str:
        """The entryUUID of the registered document a replacement replaces."""
        parent = self._parent(message, document)
        record = self._registered([parent]).get(parent)
        if record is None or record.patient_id != identity.ins:
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, f"{document.location}^5",
                                  f"{document.name} replaces document '{parent}', which "
                                  "is not registered for this patient"))
        return record.entry_uuid

    # --- the sender's organisations ------------------------------------------------------------

    @staticmethod
    def _organisation(document: CdaDocument, sender: Sender) -> str:
        """The organisation the sender acts for with this document: the one its authors (CDA
        author's representedOrganization, PRT-8.10 of SB) name, which must be one the sender
        table gives this sender. Stops a listed lab registering documents as another
        organisation's (and its professionals')."""
        # the CDA's authors' organisations are what the registry keeps (authorInstitution);
        # PRT-8 of SB only when the CDA names none
        named = [i.extension.strip() for author in document.header.authors
                 for i in author.organization_ids if i.extension.strip()] or \
            ([document.sender_organization.strip()]
             if document.sender_organization.strip() else [])
        if not named:
            if len(sender.organisations) == 1:
                return sender.organisations[0]
            raise Refused(Problem(ack.REQUIRED_FIELD_MISSING, f"{document.location}^5",
                                  f"{document.name}: its author names no organisation, and "
                                  f"sender {sender.name} acts for several"))
        foreign = [o for o in named if o not in sender.organisations]
        if foreign:
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{document.location}^5",
                                  f"{document.name}: its author's organisation "
                                  f"'{foreign[0]}' is not one sender {sender.name} acts for "
                                  "(XDS_MLLP_SENDERS)"))
        return named[0]

    def _check_owner(self, document: CdaDocument, record: DocumentRecord,
                     sender: Sender) -> None:
        """A replacement or deletion touches only a document registered with an author of one
        of the sender's organisations (its stored authorInstitution): stops a listed sender
        deleting or replacing what another organisation registered, with a copy of its CDA."""
        held = {_xon_id(xon) for xon in self.institutions_of(record)} - {""}
        if not held & set(sender.organisations):
            what = "deletes" if document.action == DELETION else "replaces"
            raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{document.location}^5",
                                  f"{document.name} {what} document '{record.unique_id}', "
                                  f"registered by an organisation sender {sender.name} does "
                                  "not act for"))

    def _check_replaceable(self, document: CdaDocument, record: DocumentRecord,
                           principal: Principal) -> None:
        """The registry's rule for a replacement, said here: it lets a professional replace
        what they see (their own documents; another's when the patient authorised them to
        read the record and it is not masked from professionals), as for ITI-41. The registry
        itself would answer that the target does not exist (a hidden document is, to the
        caller, no document); the sender's organisation registered it (`_check_owner`), so
        naming the rule discloses nothing it does not hold."""
        if record.status == v.CISIS_DELETED:
            raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, f"{document.location}^5",
                                  f"{document.name} replaces document '{record.unique_id}', "
                                  "which was deleted"))
        if self.registry.readable_documents(principal, [record.unique_id]):
            return
        raise Refused(Problem(ack.APPLICATION_RECORD_LOCKED, f"{document.location}^5",
                              f"{document.name} replaces document '{record.unique_id}' of "
                              f"another author: its author {principal.subject_id} may not "
                              "(a professional replaces their own documents, or another's "
                              "only when the patient authorised them to read the record and "
                              "it is not masked from professionals, as for ITI-41)"))

    # --- deletions -----------------------------------------------------------------------------

    def _delete(self, identity: Identity, documents: list[CdaDocument], principal: Principal,
                within: Within) -> None:
        registered = self._registered([d.header.unique_id for d in documents])
        package = SubmissionSet(_uuid(), unique_id=f"2.25.{uuid.uuid4().int}",
                                patient_id=f"{identity.ins}^NH", source_id=self.source_id,
                                submission_time=dt.datetime.now(dt.UTC)
                                .strftime("%Y%m%d%H%M%S"),
                                content_type_code=Code(DEFAULT_CONTENT_TYPE,
                                                       CONTENT_TYPE_SYSTEM))
        changes = []
        for document in documents:
            record = registered.get(document.header.unique_id)
            if record is None or record.patient_id != identity.ins:
                raise Refused(Problem(ack.UNKNOWN_KEY_IDENTIFIER, f"{document.location}^5",
                                      f"{document.name}: no such document is registered for "
                                      "this patient"))
            if record.status == v.CISIS_DELETED:
                continue         # deleted already (its ACK was lost): once
            if principal.subject_id not in (record.author_ids or ()):
                # said here: the registry would answer that no such document is visible
                raise Refused(Problem(ack.APPLICATION_RECORD_LOCKED, f"{document.location}^5",
                                      f"{document.name}: only its author deletes it (the "
                                      "deletion's CDA names another first author)"))
            changes.append(Association(_uuid(), v.UPDATE_AVAILABILITY_STATUS,
                                       package.entry_uuid, record.entry_uuid,
                                       slots={v.ORIGINAL_STATUS: [record.status],
                                              v.NEW_STATUS: [v.CISIS_DELETED]}))
        if not changes:
            with self.registry.database.transaction() as uow:
                within(uow)
            return
        package.authors = []
        submission = Submission(package, associations=changes)
        refused_as_ack(lambda: self.registry.update(submission, principal, [], within),
                        documents)

    # --- helpers -------------------------------------------------------------------------------

    def _registered(self, unique_ids: list[str]) -> dict[str, DocumentRecord]:
        # a first transmission names none: no read transaction for it
        return self.registry.registered_documents(unique_ids) if unique_ids else {}

    @staticmethod
    def _content_type(message: Message) -> str:
        pv1 = message.first("PV1")
        return CONTENT_TYPES.get(message.value(pv1, 2).upper(), DEFAULT_CONTENT_TYPE) \
            if pv1 is not None else DEFAULT_CONTENT_TYPE


# MSH-9 events that announce a replacement: their documents are replacements (OBX-11 C)
REPLACEMENT_EVENTS = frozenset({"T10"})


def _check_action(message: Message, document: CdaDocument) -> None:
    """OBX-11 and what the CDA says of itself agree: a first transmission (F) whose CDA
    replaces another (relatedDocument typeCode RPLC) or that an MDM^T10 (replacement) carries
    is contradictory, refused rather than guessed. Registered as new, it would leave the
    document it replaces Approved beside it (two current versions of one report, the DMP
    requiring the RPLC in both the CDA and the metadata); taken as a replacement, it would
    deprecate a document on the word of a message that said "first transmission"."""
    if document.action != INITIAL:
        return
    if document.header.replaces:
        raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{document.location}^11",
                              f"{document.name}: OBX-11 is F (first transmission) but its CDA "
                              f"replaces document '{document.header.replaces[0]}' "
                              "(relatedDocument typeCode RPLC): a replacement is sent with "
                              "OBX-11 C; nothing done"))
    event = message.value(message.first("MSH"), 9, 2).upper()
    if message.value(message.first("MSH"), 9, 1).upper() == "MDM" and \
            event in REPLACEMENT_EVENTS:
        raise Refused(Problem(ack.TABLE_VALUE_NOT_FOUND, f"{document.location}^11",
                              f"{document.name}: OBX-11 is F (first transmission) in an "
                              f"MDM {event} (MSH-9: a document replacement): a replacement is sent "
                              "with OBX-11 C; nothing done"))


def _uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _author_id(document: CdaDocument) -> str:
    for author in document.header.authors:
        for ident in author.ids:
            if ident.extension:
                return ident.extension
    return ""


def _xon_id(xon: str) -> str:
    """XON-10, the organisation identifier ('' when the XON is only a name)."""
    parts = xon.split("^")
    return parts[9] if len(parts) > 9 else ""


def _source_patient(identity: Identity) -> str:
    """sourcePatientId: the local identifier (IPP) when it is an ISO CX, else the INS (NH)."""
    for local in identity.local_ids:
        if local.endswith("&ISO"):
            return f"{local}^PI"
    return f"{identity.ins}^NH"


def _rest(message: Message, segment, field: int) -> str:
    """The components after the first of a PID field, as sourcePatientInfo keeps them."""
    parts = [message.value(segment, field, n) for n in range(2, 8)]
    while parts and not parts[-1]:
        parts.pop()
    return "".join(f"^{p}" for p in parts)

"""The IHE XDS.b transactions by name, with the wsa:Action of their request and answer (ITI TF-2
and the supplements' WSDLs): written once, read by the endpoints (transactions/), the client
(consumer/) and the conformance runner."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transaction:
    name: str                # as IHE numbers it, for logs, metrics and audit: "ITI-18"
    action: str
    response_action: str


ITI_18 = Transaction("ITI-18", "urn:ihe:iti:2007:RegistryStoredQuery",
                     "urn:ihe:iti:2007:RegistryStoredQueryResponse")
ITI_41 = Transaction("ITI-41", "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
                     "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse")
ITI_42 = Transaction("ITI-42", "urn:ihe:iti:2007:RegisterDocumentSet-b",
                     "urn:ihe:iti:2007:RegisterDocumentSet-bResponse")
ITI_43 = Transaction("ITI-43", "urn:ihe:iti:2007:RetrieveDocumentSet",
                     "urn:ihe:iti:2007:RetrieveDocumentSetResponse")
ITI_57 = Transaction("ITI-57", "urn:ihe:iti:2010:UpdateDocumentSet",
                     "urn:ihe:iti:2010:UpdateDocumentSetResponse")
ITI_62 = Transaction("ITI-62", "urn:ihe:iti:2010:DeleteDocumentSet",
                     "urn:ihe:iti:2010:DeleteDocumentSetResponse")
ITI_86 = Transaction("ITI-86", "urn:ihe:iti:2017:RemoveDocuments",
                     "urn:ihe:iti:2017:RemoveDocumentsResponse")
TRANSACTIONS = {t.name: t for t in (ITI_18, ITI_41, ITI_42, ITI_43, ITI_57, ITI_62, ITI_86)}

"""The FHIR side's fixed values, as tables: code systems (URI ⇄ OID), statuses, relationship
codes, the extensions and profiles PDSm names. The ANS concept maps (PDSM4DMP
documentReferenceToPDSM, submissionSetToPDSM) and the annexes on identifiers and dates are
the source; each row says where it comes from when it is not obvious."""

from __future__ import annotations

from ..model import vocabulary as v
from ..model.french_ids import INS_NIA, INS_NIR, INS_NIR_DEMO, INS_NIR_TEST

RFC3986 = "urn:ietf:rfc:3986"
NOS = "https://mos.esante.gouv.fr/NOS"
PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm"
MHD = "https://profiles.ihe.net/ITI/MHD"

# Code systems: the URI FHIR writes ⇄ the OID XDS metadata carries. A system not in the table
# goes as urn:oid:<oid> (FHIR's rule for OIDs), and comes back the same way.
SYSTEMS: tuple[tuple[str, str], ...] = (
    ("http://loinc.org", "2.16.840.1.113883.6.1"),
    ("http://snomed.info/sct", "2.16.840.1.113883.6.96"),
    ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "2.16.840.1.113883.5.25"),
    ("http://hl7.org/fhir/sid/icd-10", "2.16.840.1.113883.6.3"),
    (f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "1.2.250.1.213.1.1.4.1"),
    (f"{NOS}/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode", "1.3.6.1.4.1.19376.1.2.3"),
    (f"{NOS}/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire",
     "1.2.250.1.213.1.1.4.2.282"),
    (f"{NOS}/TRE_A05-TypeDocComplementaireCISIS/FHIR/TRE-A05-TypeDocComplementaireCISIS",
     "1.2.250.1.213.1.1.4.12"),
    (f"{NOS}/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "1.2.250.1.71.4.2.4"),
    (f"{NOS}/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice", "1.2.250.1.213.1.1.4.9"),
    (f"{NOS}/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
     "1.2.250.1.213.1.1.4.6"),
    (f"{NOS}/TRE_R209-TypeActivite/FHIR/TRE-R209-TypeActivite", "1.2.250.1.213.2.2"),
    # the DMP's visibility codes: PDSM4DMP TD3.3a/b spell it StatutVisibiliteDocument
    (f"{NOS}/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument",
     v.VISIBILITY_SYSTEM),
    (f"{NOS}/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "1.2.250.1.71.1.2.7"),
    (f"{NOS}/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale", "1.2.250.1.71.1.2.8"),
    ("https://rpps.esante.gouv.fr", "RPPS"),
)
# read, never written: the spelling of the PDSm example (DR_comprehensive.fsh)
SYSTEM_ALIASES: dict[str, str] = {
    f"{NOS}/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument":
        v.VISIBILITY_SYSTEM,
}
URI_OF_OID = {oid: uri for uri, oid in SYSTEMS}
OID_OF_URI = {**{uri: oid for uri, oid in SYSTEMS}, **SYSTEM_ALIASES}

# Patient identifiers (PDSM4DMP annexe identifiants): the INS as urn:oid:<authority>
INS_AUTHORITIES = (INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO)

# availabilityStatus ⇄ (DocumentReference.status, isArchived); PDSM4DMP TD3.3c/TD3.3d
STATUS_TO_FHIR: dict[str, tuple[str, bool]] = {
    v.APPROVED: ("current", False),
    v.CISIS_ARCHIVED: ("current", True),
    v.DEPRECATED: ("superseded", False),
    v.CISIS_DELETED: ("entered-in-error", False),
}
FHIR_TO_STATUS = {fhir: status for status, fhir in STATUS_TO_FHIR.items()}
# List.status for SubmissionSets and Folders (MHD: current; a deprecated folder is retired)
LIST_STATUS = {v.APPROVED: "current", v.DEPRECATED: "retired"}
LIST_STATUS_BACK = {fhir: status for status, fhir in LIST_STATUS.items()}

# relatesTo.code ⇄ association type (MHD Table 4.5.1.1-1)
RELATES_TO: dict[str, str] = {"replaces": v.RPLC, "appends": v.APND, "transforms": v.XFRM,
                              "signs": v.SIGNS}
RELATION_OF_TYPE = {kind: code for code, kind in RELATES_TO.items()}

IS_ARCHIVED = f"{PDSM}/StructureDefinition/pdsm-ext-is-archived"
SOURCE_ID = f"{MHD}/StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE = f"{MHD}/StructureDefinition/ihe-designationType"
AUTHOR_ORG = f"{MHD}/StructureDefinition/ihe-authorOrg"
LIST_TYPES = f"{MHD}/CodeSystem/MHDlistTypes"
REFERENCE_ID_TYPE = RFC3986       # context.related[referenceIdList].identifier.type.coding

PROFILE_DOCUMENT = f"{PDSM}/StructureDefinition/pdsm-comprehensive-document-reference"
PROFILE_SUBMISSION_SET = f"{PDSM}/StructureDefinition/pdsm-submissionset-comprehensive"
PROFILE_FOLDER = f"{PDSM}/StructureDefinition/pdsm-folder-comprehensive"
PROFILE_PROVIDE = f"{PDSM}/StructureDefinition/pdsm-comprehensive-provide-document-bundle"

FHIR_JSON = "application/fhir+json"

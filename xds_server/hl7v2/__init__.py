"""The HL7 v2 front: MLLP, the PAM-FR patient identity feed and CDA documents in ORU / MDM."""

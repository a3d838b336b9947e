"""The MHD / PDSm front: the same registry and repository over FHIR R4 (docs/fhir.md)."""

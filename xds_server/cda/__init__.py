"""CDA R2 schema validation, CI-SIS header rules, CDA ⇄ XDS metadata mapping and consistency."""

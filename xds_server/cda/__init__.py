"""CDA R2 in the CI-SIS: reading a document safely, schema validation (the project's own schema
or an installed ANS kit), the CI-SIS header rules, the CDA → XDS metadata mapping and the
consistency of a DocumentEntry with its document."""

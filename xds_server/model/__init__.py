"""Plain dataclasses of XDS metadata (DocumentEntry, SubmissionSet, Folder, Association, ...)."""

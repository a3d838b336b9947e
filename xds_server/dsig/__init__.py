"""Signed submission sets (IHE DSG SubmissionSet Signature, XAdES, as the DMP requires them):
verification on ITI-41 (`verify.py`) and ITI-42 (`metadata.py`), production for a source
(`produce.py`), and the enveloped signature a CDA may carry (`cda.py`).

Kept free of the actors: it takes model objects and bytes, and answers RegistryErrors.
"""

"""The SOAP 1.2 core: WSGI endpoints, WS-Addressing, MTOM/XOP, faults, hardened XML parsing.

Knows nothing of XDS: operations are plugged in as rows of a dispatch table keyed by wsa:Action.
"""

"""What a refusal carries before it becomes a RegistryError: where (an XML path or a metadata
field) and why, in words an integrator can act on."""

from __future__ import annotations


class SignatureRefused(Exception):
    """One reason a signature is not accepted."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason

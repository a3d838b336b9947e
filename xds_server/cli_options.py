"""Checks of id and text options given to the client commands, made before anything is sent:
one place for every command (submit, update, audit, conformance, hl7, backup), so a lower
command module never imports the consumer commands to reuse them."""

from __future__ import annotations

import click


def check_unique_ids(ctx: click.Context | None, param: click.Parameter | None,
                     value: str | tuple[str, ...]) -> str | tuple[str, ...]:
    """Document uniqueIds (an OID, optionally ^extension), checked before anything is sent."""
    from .model.hl7 import is_document_unique_id

    for unique_id in (value,) if isinstance(value, str) else value:
        if not is_document_unique_id(unique_id):
            raise click.BadParameter(f"{unique_id!r} is not a document uniqueId (an OID such as "
                                     "1.2.250.1.999.7.1.1, optionally ^extension)",
                                     ctx=ctx, param=param)
    return value


def check_oid(ctx: click.Context | None, param: click.Parameter | None,
              value: str | None) -> str | None:
    """An id option that is an OID (a repositoryUniqueId, an assigning authority): given empty
    it went to the server, which answered a SOAP fault (outsider F7)."""
    from .model.hl7 import is_oid

    if value is not None and not is_oid(value):
        what = "an empty value" if not value.strip() else repr(value)
        raise click.BadParameter(f"{what} is not an OID (e.g. 1.2.250.1.999.1.1.7): give the "
                                 "OID, or leave the option out", ctx=ctx, param=param)
    return value


def not_empty(ctx: click.Context | None, param: click.Parameter | None,
              value: str | None) -> str | None:
    """An option given empty (or blank) is a mistake, not "the default": said before anything
    is done."""
    if value is not None and not value.strip():
        raise click.BadParameter("an empty value: give one, or leave the option out", ctx=ctx,
                                 param=param)
    return value


def check_patient(ctx: click.Context | None, param: click.Parameter | None,
                  value: str | None) -> str | None:
    """A CX patient id with an ISO assigning authority, as every XDS transaction names one."""
    from .model.hl7 import Cx

    if value is not None and Cx.parse(value) is None:
        raise click.BadParameter(f"{value!r} is not a patient id 'ID^^^&OID&ISO' (a CX with an "
                                 "ISO assigning authority OID), e.g. "
                                 "'285067512345639^^^&1.2.250.1.213.1.4.10&ISO^NH'",
                                 ctx=ctx, param=param)
    return value

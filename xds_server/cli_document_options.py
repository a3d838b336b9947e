"""`submit`'s metadata options for a file that is not a CDA (issue 18 m10): what a CDA header
would have given (legalAuthenticator, serviceStartTime/StopTime, author, confidentiality,
codes), checked before anything is sent, and named in the server's refusal when it refused
what they give (the cisis profile requires legalAuthenticator and serviceStartTime, and a
typeCode of J07: this command's default LOINC 55107-7 is in no CI-SIS value set). Whether they
are required is the server's profile's business: an IHE server takes a PDF without them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import click

from .cli_codes import checked

# a metadata attribute the server names in a refusal → the option that gives it
OPTION_OF = {"legalAuthenticator": "--legal-authenticator",
             "serviceStartTime": "--service-start", "serviceStopTime": "--service-stop",
             "typeCode": "--type", "classCode": "--class", "formatCode": "--format",
             "confidentialityCode": "--confidentiality", "authorPerson": "--author",
             "title": "--title"}
_TIME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ]?(\d{2}):?(\d{2})(?::?(\d{2}))?)?")
_XCN = re.compile(r"[^\^\s]+\^[^\^\r\n]+(\^[^\r\n]*)?")


def _moment(ctx: click.Context | None, param: click.Parameter | None,
            value: str | None) -> str | None:
    """A date or date-time (2025-03-14, 20250314, 2025-03-14T09:30) as an HL7 DTM."""
    if value is None:
        return None
    match = _TIME.fullmatch(value.strip())
    try:
        if match is None:
            raise ValueError
        year, month, day, hour, minute, second = match.groups()
        dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                    int(second or 0))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or date-time (2025-03-14, "
                                 "20250314, 2025-03-14T09:30)", ctx=ctx, param=param) from None
    return "".join(part for part in match.groups() if part)


def _person(ctx: click.Context | None, param: click.Parameter | None,
            value: str | None) -> str | None:
    if value is not None and not _XCN.fullmatch(value):
        raise click.BadParameter(
            f"{value!r} is not a person (XCN) 'ID^FAMILY^GIVEN^^^^^^&OID&ISO', e.g. "
            "'810000000001^MARTIN^PAUL^^^^^^&1.2.250.1.71.4.2.1&ISO' (a national id, "
            "idNat_PS)", ctx=ctx, param=param)
    return value


OPTIONS: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
    click.option("--legal-authenticator", "legal_authenticator", metavar="XCN",
                 callback=_person, help="legalAuthenticator of a file that is not a CDA: "
                 "ID^FAMILY^GIVEN^^^^^^&OID&ISO"),
    click.option("--service-start", "service_start", metavar="DATE", callback=_moment,
                 help="serviceStartTime of a file that is not a CDA (2025-03-14[T09:30])"),
    click.option("--service-stop", "service_stop", metavar="DATE", callback=_moment,
                 help="serviceStopTime of a file that is not a CDA"),
    click.option("--confidentiality", callback=checked("confidentiality"), metavar="CODE",
                 help="confidentialityCode: N, R or V (or code^^scheme; `xds-server codes "
                      "confidentiality`); default: the CDA's, else N"),
)


def document_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def check_times(start: str | None, stop: str | None) -> None:
    if start and stop and stop.ljust(14, "0") < start.ljust(14, "0"):
        raise click.BadParameter(f"--service-stop {stop} is before --service-start {start}",
                                 param_hint="--service-stop")


def options_for_refusal(message: str) -> list[str]:
    """The options that give the attributes a refusal names, in the order it names them."""
    found = []
    for attribute, option in OPTION_OF.items():
        at = message.find(attribute)
        if at >= 0 and option not in (o for _, o in found):
            found.append((at, option))
    return [option for _, option in sorted(found)]

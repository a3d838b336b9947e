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
_CLOCKS_APART = dt.timedelta(days=1)    # a local date given as UTC, time zones apart
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
    moment = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                         int(second or 0), tzinfo=dt.UTC)
    if moment > dt.datetime.now(dt.UTC) + _CLOCKS_APART:     # 2999 was sent
        raise click.BadParameter(f"{value!r} is in the future: a service that took place",
                                 ctx=ctx, param=param)
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


# what a CDA header gives and a file that is not a CDA needs given, for the cisis profile
# (validation/cisis.py requires them), in the order a refusal names them
CISIS_NEEDS = (("--legal-authenticator", "legal_authenticator"),
               ("--service-start", "service_start"), ("--type", "type_code"))
# the options that stand for the CDA header: given with a CDA, they contradict it
HEADER_OPTIONS = (("--legal-authenticator", "legal_authenticator"),
                  ("--service-start", "service_start"), ("--service-stop", "service_stop"))


def check_document_options(files: list, given: dict[str, Any], profile: str) -> None:
    """Before anything is sent (outsider F6): a CDA takes none of the header's options (the
    server refused their contradiction of its header), and under the cisis profile a file
    that is not a CDA needs what its header would have given (the server refused it after
    the upload)."""
    from .consumer.sources import is_cda

    cdas = [path for path in files if is_cda(path)]
    if cdas:
        header = [option for option, name in HEADER_OPTIONS if given.get(name)]
        if header:
            raise click.BadParameter(f"{cdas[0]} is a CDA: its header gives "
                                     f"{', '.join(header)} (the document's own values); give "
                                     "them only for a PDF or a text file", param_hint=header[0])
    others = [path for path in files if path not in cdas]
    if others and profile == "cisis":
        missing = [option for option, name in CISIS_NEEDS if not given.get(name)]
        if missing:
            raise click.BadParameter(
                f"{others[0]} is not a CDA: the CI-SIS needs what its header would give: "
                f"give {', '.join(missing)} (`xds-server codes type` lists the typeCodes); "
                "nothing sent (XDS_PROFILE=ihe sends without them)", param_hint=missing[0])


def options_for_refusal(message: str) -> list[str]:
    """The options that give the attributes a refusal names, in the order it names them."""
    found = []
    for attribute, option in OPTION_OF.items():
        at = message.find(attribute)
        if at >= 0 and option not in (o for _, o in found):
            found.append((at, option))
    return [option for _, option in sorted(found)]

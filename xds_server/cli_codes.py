"""Codes given on a command line, checked against the installed value sets before anything is
sent (issue 18 m6: `--confidentiality X` went to the server, which refused it), and
`xds-server codes`, which lists them.

The installed value sets are the CI-SIS ones the `cisis` profile checks (valuesets/: the
built-in set, or the data directory's ANS kit when one is installed). A client whose settings
say XDS_PROFILE=ihe sends any code: an IHE server takes any coding scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from .model.metadata import Code

CONFIDENTIALITY_SCHEME = "2.16.840.1.113883.5.25"


@dataclass(frozen=True)
class CodeKind:
    """A metadata code an option gives: its value set, and the scheme a bare code takes."""

    value_set: str
    attribute: str
    default_scheme: str = ""


# `xds-server codes NAME` and each option's value set (validation/cisis.py checks the same)
KINDS = {
    "class": CodeKind("J06", "classCode"),
    "type": CodeKind("J07", "typeCode"),
    "format": CodeKind("J10", "formatCode"),
    "confidentiality": CodeKind("J08", "confidentialityCode", CONFIDENTIALITY_SCHEME),
    "facility": CodeKind("J02", "healthcareFacilityTypeCode"),
    "practice": CodeKind("J04", "practiceSettingCode"),
}


def _value_sets():
    """The value sets the server of these settings checks, or None (XDS_PROFILE=ihe)."""
    from .cli_settings import command_settings
    from .valuesets import load_value_sets

    ctx = click.get_current_context(silent=True)
    settings = command_settings(ctx) if ctx is not None else None
    if settings is not None and settings.profile == "ihe":
        return None
    kit = settings.kit_dir if settings is not None and settings.kit_dir.is_dir() else None
    return load_value_sets(kit)


def parse(text: str, kind: CodeKind) -> Code:
    """`code^^scheme[^^display]`, or a bare code when the kind has a default scheme (N)."""
    from .consumer.sources import parse_code

    if "^^" not in text and kind.default_scheme and text:
        return Code(text, kind.default_scheme)
    return parse_code(text)


def checked(name: str) -> Callable[[click.Context | None, click.Parameter | None, Any], Any]:
    """A click callback: the option's code (or codes), parsed and found in its value set."""
    kind = KINDS[name]

    def callback(ctx: click.Context | None, param: click.Parameter | None, value: Any) -> Any:
        if value is None or value == ():
            return value
        texts = value if isinstance(value, tuple) else (value,)
        try:
            codes = [parse(text, kind) for text in texts]
        except ValueError as exc:
            raise click.BadParameter(f"{exc} (the valid codes: `xds-server codes {name}`)",
                                     ctx=ctx, param=param) from None
        sets = _value_sets()
        if sets is not None:
            value_set = sets[kind.value_set]
            for code in codes:
                if (code.code, code.scheme) not in value_set:
                    raise click.BadParameter(
                        f"{kind.attribute} '{code.code}^^{code.scheme}' is not in "
                        f"{value_set.describe()}: nothing sent (the valid codes: `xds-server "
                        f"codes {name}`; XDS_PROFILE=ihe sends any code)", ctx=ctx, param=param)
        return tuple(codes) if isinstance(value, tuple) else codes[0]
    return callback


@click.command()
@click.argument("name", required=False, type=click.Choice(sorted(KINDS)))
def codes(name: str | None) -> None:
    """The codes a metadata option takes (the installed CI-SIS value sets), one per line as
    code^^scheme then its display name; without NAME, the value sets."""
    from .valuesets import load_value_sets

    sets = _value_sets() or load_value_sets()
    if name is None:
        for key, kind in KINDS.items():
            value_set = sets[kind.value_set]
            click.echo(f"{key:<16} {kind.attribute:<28} {len(value_set.concepts):>4} codes  "
                       f"{value_set.describe()}")
        return
    value_set = sets[KINDS[name].value_set]
    displays = _displays(sets.origin, KINDS[name].value_set)
    for code, scheme in sorted(value_set.concepts):
        display = displays.get((code, scheme), "")
        click.echo(f"{code}^^{scheme}" + (f"  {display}" if display else ""))


def _displays(origin: str, name: str) -> dict[tuple[str, str], str]:
    """The display names of a value set's codes, from its JSON file (ValueSet keeps none)."""
    import json
    from pathlib import Path

    from .valuesets import BUILTIN

    displays: dict[tuple[str, str], str] = {}
    for path in (BUILTIN, Path(origin)):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))["sets"].get(name, {})
        except (OSError, ValueError, KeyError):
            continue
        displays.update({(c[0], c[1]): c[2] for c in entry.get("concepts", []) if len(c) > 2})
    return displays

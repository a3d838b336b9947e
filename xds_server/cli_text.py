"""One rule for every option and argument of the tree, applied where click reads them (not
option by option, which left some out: outsider 18f F4, F6):

- given empty (or blank) on the command line, a text or path value is a usage error naming
  it: click made `--data-dir ''` the current directory, and `--title ''` fell back to the file
  name;
- a text value holds no control character (a line break, ESC…) nor any character XML cannot
  carry: it goes into the metadata sent, and a title with a line break forged rows in
  `query`'s table ("ValueError: All strings must be XML compatible" was reported as a bug).
  MULTI_LINE options may hold line breaks and tabs.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import click
from click.core import ParameterSource

MULTI_LINE = {"comments"}           # free text where a line break is the user's
_LINE_BREAKS = {"\n", "\r", "\t"}


def bad_character(text: str, multi_line: bool = False) -> str | None:
    """The first character a one-line text (or, multi_line, a free text) may not hold."""
    for char in text:
        if multi_line and char in _LINE_BREAKS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in ("\ufffe", "\uffff"):
            return char
    return None


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [item for item in value if isinstance(item, str)]
    return []


def _check(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if ctx.get_parameter_source(param.name or "") in (None, ParameterSource.DEFAULT):
        return
    text_type = isinstance(param.type, click.types.StringParamType)
    if not (text_type or isinstance(param.type, click.Path)):
        return
    for item in _values(value):
        if not item.strip():
            raise click.BadParameter("an empty value: give one, or leave it out", ctx=ctx,
                                     param=param)
        char = bad_character(item, param.name in MULTI_LINE) if text_type else None
        if char is not None:
            raise click.BadParameter(
                f"{item!r} holds the control character U+{ord(char):04X}: give plain text",
                ctx=ctx, param=param)


def _guarded(param: click.Parameter) -> None:
    original = param.process_value

    def process_value(ctx: click.Context, value: Any) -> Any:
        if param.callback is None or isinstance(param.type, click.Path):
            _check(ctx, param, value)       # before click's Path made '' the directory '.'
        result = original(ctx, value)       # an option's own check says it more precisely
        _check(ctx, param, value)
        return result

    param.process_value = process_value     # type: ignore[method-assign]


def guard_text(command: click.Command) -> None:
    """Apply the rule to every parameter of the command and of its subcommands."""
    for param in command.params:
        _guarded(param)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard_text(sub)


def printable(text: str) -> str:
    """Text stored or answered by a server, shown on one line: its control characters escaped
    (`\\n`, `\\x1b`), so that a title cannot forge a row of a table nor drive the terminal
    (outsider 18f F5)."""
    if bad_character(text) is None:
        return text
    return "".join(char.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(char) in ("Cc", "Cs") else char for char in text)

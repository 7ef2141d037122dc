"""Diagnostics: every user-facing problem carries a location and prints as
``file:line:col: error: message`` (lines and columns are 1-based)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: How much of a long value a message shows.
SHOWN_CHARS = 80


def shown(value: object) -> str:
    """A value for a message: quoted, and cut with its length when long.

    >>> shown("vendor")
    "'vendor'"
    >>> shown("a" * 100)
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…' (100 characters)"
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= SHOWN_CHARS:
        return repr(text) if isinstance(value, str) else text
    return f"'{text[:SHOWN_CHARS]}…' ({len(text):,} characters)"


#: A quoted run too long to print whole, as rules that do not use ``shown`` write it.
#: A quoted value without spaces (a name, a type) over 80 characters: always cut.
#: (``…`` excluded: a value already cut by ``shown`` is not cut again.)
_LONG_TOKEN = re.compile(rf"'([^'\s…]{{{SHOWN_CHARS + 1},}})'")
#: Messages are short; one this long quotes a long expression: cut its quoted runs and
#: unbroken runs over _LONG (a lower bound would cut between two short quoted values).
_LONG_MESSAGE = 1000
_LONG = 3 * SHOWN_CHARS
_LONG_QUOTED = re.compile(rf"'([^'\n…]{{{_LONG},}})'|\"([^\"\n…]{{{_LONG},}})\"")
_LONG_WORD = re.compile(rf"[^\s'\"…]{{{_LONG},}}")


def cut_long_values(message: str) -> str:
    """Long values in a message cut the way :func:`shown` cuts them, so no message
    repeats a 5 MB value: names and types over 80 characters, and in a long message
    any quoted or unbroken run over 240."""
    message = _LONG_TOKEN.sub(lambda m: shown(m.group(1)), message)
    if len(message) > _LONG_MESSAGE:
        message = _LONG_QUOTED.sub(lambda m: shown(m.group(1) or m.group(2)), message)
        message = _LONG_WORD.sub(lambda m: shown(m.group()), message)
    return message


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located problem in a spec file.

    >>> str(Diagnostic("vendor.yml", 3, 5, "unknown key 'kye'"))
    'vendor.yml:3:5: error: unknown key \\'kye\\''
    """

    file: str
    line: int
    col: int
    message: str
    path: tuple[str | int, ...] = field(default=(), compare=False)
    severity: str = field(default="error", compare=False)

    def __post_init__(self) -> None:
        # A safety net for every rule: a long value never reaches the terminal whole.
        if len(self.message) > SHOWN_CHARS:
            object.__setattr__(self, "message", cut_long_values(self.message))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"


class CdcgenError(Exception):
    """Base class of errors the CLI turns into a message and an exit code."""

    exit_code = 2


class InputError(CdcgenError):
    """The input or the data is wrong (a bad argument, a refusal): exit code 1."""

    exit_code = 1


class SpecError(CdcgenError):
    """The spec has problems; ``diagnostics`` lists all of them, sorted by position."""

    exit_code = 1

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

"""Diagnostics: every user-facing problem carries a location and prints as
``file:line:col: error: message`` (lines and columns are 1-based)."""

from __future__ import annotations

from dataclasses import dataclass, field


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

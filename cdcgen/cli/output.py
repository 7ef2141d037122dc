"""How every command ends: the exit-code contract and failures as text or JSON.

Exit codes (README, "Exit codes"):

- 0: ok.
- 1: the input or the data is wrong (spec errors, refusals, an unknown target, bad
  schedule arguments, verify differences, a stale build, a freshness error, nothing
  deployed): ``CdcgenError`` subclasses with ``exit_code = 1``.
- 2: the tool or the connection failed, including any uncaught exception.

This module stays light (no sqlglot, pydantic, drivers, rich): ``cdcgen --help`` imports it.
"""

from __future__ import annotations

import gc
import json
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from typer.exceptions import TyperException

from cdcgen.errors import CdcgenError, SpecError

#: The exit code of a failure that is not the input's fault.
TOOL_FAILED = 2

#: Secrets (passwords) seen in this process's DSNs, scrubbed from every failure message.
_SECRETS: list[str] = []


def remember_secrets(*secrets: str) -> None:
    _SECRETS.extend(s for s in secrets if s and s not in _SECRETS)


def scrub(text: str) -> str:
    from cdcgen.deploy.connect import redact  # stdlib only; kept local to stay lazy

    return redact(text, _SECRETS)


#: Set by the console script (cdcgen.cli.main): this process ends with its command.
#: Commands invoked in-process (tests' CliRunner) leave it False.
ONE_SHOT = False


@contextmanager
def no_collection_till_exit() -> Iterator[None]:
    """In a one-shot process, no cyclic garbage collection in the block, nor of what it
    leaves at exit. sqlglot trees are parent cycles, so a build's ~350,000 objects per
    vendor-sized spec can only be freed by the collector; freeing them costs as much
    as collecting them along the way did (a fifth of a build), and the process is
    about to hand its memory back anyway (~20 MB more per spec at the peak). The
    frozen objects are skipped by the interpreter's final collection; they hold no
    resources (no files, no connections). In-process callers keep the collector."""
    if not ONE_SHOT or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextmanager
def reported(as_json: bool = False) -> Iterator[None]:
    """Turn whatever escapes the block into one message and the contract's exit code.

    Click's own exits (``typer.Exit``, usage errors) pass through unchanged.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, TyperException):  # Typer's own ends: usage errors, exits
        raise
    except CdcgenError as exc:
        fail_with(exc, as_json)
    except Exception as exc:  # a bug or an unexpected environment: the tool failed
        fail(_crash_message(exc), TOOL_FAILED, as_json)


def fail_with(exc: CdcgenError, as_json: bool) -> NoReturn:
    if isinstance(exc, SpecError):
        diagnostics = [
            {"file": d.file, "line": d.line, "col": d.col, "message": d.message}
            for d in exc.diagnostics
        ]
        if as_json:
            emit_json(
                {
                    "error": _count_errors(len(diagnostics)),
                    "exit_code": exc.exit_code,
                    "diagnostics": diagnostics,
                }
            )
        else:
            for diagnostic in exc.diagnostics:
                typer.echo(scrub(str(diagnostic)), err=True)
        raise typer.Exit(exc.exit_code)
    fail(str(exc), exc.exit_code, as_json)


def fail(message: str, code: int, as_json: bool = False, **extra: Any) -> NoReturn:
    """One failure: ``error: …`` on stderr, or ``{"error", "exit_code"}`` on stdout."""
    message = scrub(message)
    if as_json:
        emit_json({"error": message, "exit_code": code, **extra})
    else:
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.secho(f"warning: {scrub(message)}", fg=typer.colors.YELLOW, err=True)


def emit_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _crash_message(exc: Exception) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    return (
        f"internal error: {type(exc).__name__}: {exc}{at}. This is a bug in cdcgen; "
        "please report it with the command that caused it"
    )


def _count_errors(n: int) -> str:
    return f"{n} error" + ("" if n == 1 else "s") + " in the spec"

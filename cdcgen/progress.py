"""Progress for the slow steps, drawn with rich on a terminal only.

Shared by ``cdcgen demo`` (its console) and the CLI commands (``build``, ``bootstrap``,
``run``, ``rebuild``). rich loads inside the functions, so importing this module costs
nothing: ``cdcgen --help`` must not load rich (tests/test_cli_startup.py).

Nothing is drawn when stderr is not a terminal (pipes, CI logs, tests) or with
``--json``: the commands' output is then exactly what it was without progress.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

#: ``advance(done, total)``, optionally with a new description of the step.
Advance = Callable[..., None]


def shown(as_json: bool = False) -> bool:
    """Whether to draw progress: on a terminal (stderr, where it is drawn), never with
    ``--json`` nor on a dumb terminal."""
    if as_json or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(callable(isatty) and isatty())


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@contextmanager
def step(
    console: Console,
    label: str,
    *,
    bar: bool = True,
    done_line: bool = True,
    total: int | None = None,
) -> Iterator[Advance]:
    """A transient spinner with the elapsed time (and a bar with a count once the total
    is known) while the block runs; with ``done_line``, ``✓ label (1.2s)`` after it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[ProgressColumn | str] = [SpinnerColumn(), TextColumn("{task.description}")]
    if bar:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    progress = Progress(*columns, console=console, transient=True)
    task = progress.add_task(label, total=total)

    def advance(done: int, total: int | None = None, description: str | None = None) -> None:
        if description is None:
            progress.update(task, completed=done, total=total)
        else:
            progress.update(task, completed=done, total=total, description=description)

    started = time.perf_counter()
    with progress:
        yield advance
    if done_line:
        console.print(f"[green]✓[/] {label} [dim]({time.perf_counter() - started:.1f}s)[/]")


def _ignore(done: int, total: int | None = None, description: str | None = None) -> None:
    return None


@contextmanager
def on_terminal(
    label: str, enabled: bool, *, bar: bool = False, total: int | None = None
) -> Iterator[Advance]:
    """:func:`step` on stderr when ``enabled`` (see :func:`shown`), with no line left
    behind; otherwise nothing at all."""
    if not enabled:
        yield _ignore
        return
    with step(stderr_console(), label, bar=bar, done_line=False, total=total) as advance:
        yield advance

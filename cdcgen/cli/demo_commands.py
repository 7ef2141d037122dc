"""``cdcgen demo``: the vendor pipeline end to end on a throwaway PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cdcgen.cli import app
from cdcgen.demo import DemoOptions, DemoResult, DemoServer, run_demo, start_server
from cdcgen.demo.console import RichObserver
from cdcgen.deploy.connect import connect, redact
from cdcgen.errors import CdcgenError


@app.command()
def demo(
    dsn: Annotated[
        str,
        typer.Option(
            "--dsn",
            help="Run on this PostgreSQL (postgresql://…) instead of an embedded server. "
            "Use an empty database, or --reset. CDCGEN_DSN is deliberately not read.",
            show_default=False,
        ),
    ] = "",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Data directory of the embedded server (default: a temporary one).",
        ),
    ] = None,
    scale: Annotated[
        float,
        typer.Option("--scale", min=0.01, help="Data size: 1 = 300 companies, 10 = 3,000."),
    ] = 1.0,
    cycles: Annotated[
        int, typer.Option("--cycles", min=0, help="CDC cycles to run after the bootstrap.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data and changes.")] = 42,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave the embedded server running and print how to connect."),
    ] = False,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="First drop what an earlier demo deployed in the database."),
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", dir_okay=False, help="The vendor spec (default mappings/vendor.yml)."
        ),
    ] = None,
) -> None:
    """Start an embedded PostgreSQL, deploy the vendor pipeline, load sample data, then run
    cycles of realistic changes and show what each run changed and that it verifies."""
    console = Console(highlight=False)
    if dsn and (data_dir or keep):
        _fail(
            console, "--dsn runs on your server: --data-dir and --keep are for the embedded one", 2
        )
    options = DemoOptions(scale=scale, cycles=cycles, seed=seed, spec=spec, reset=reset)
    started = time.perf_counter()
    server: DemoServer | None = None
    try:
        if not dsn:
            with console.status("starting PostgreSQL"):
                server = start_server(data_dir, keep=keep)
            console.print(f"[green]✓[/] PostgreSQL started ({server.backend}) in {server.data_dir}")
        result = _run(console, dsn or (server.dsn if server else ""), options)
    except CdcgenError as exc:
        _fail(console, str(exc), exc.exit_code)
    finally:
        if server is not None:
            _stop_or_keep(console, server, keep)
    _summary(console, result, time.perf_counter() - started)
    if not result.ok:
        raise typer.Exit(1)


def _run(console: Console, dsn: str, options: DemoOptions) -> DemoResult:
    with connect(dsn) as db:
        console.print(f"[green]✓[/] connected to {redact(dsn, db.secrets)}", soft_wrap=True)
        return run_demo(db, options, RichObserver(console))


def _stop_or_keep(console: Console, server: DemoServer, keep: bool) -> None:
    if not keep:
        server.stop()
        console.print("[green]✓[/] PostgreSQL stopped")
        return
    console.print(
        "\n[bold]The server keeps running.[/]\n"
        f"  connect:  {server.psql_command}\n"
        f"  socket:   {server.socket_dir}\n"
        f"  try:      cdcgen status vendor --dsn '{server.dsn}'\n"
        f"  stop it:  {server.stop_hint}"
    )


def _summary(console: Console, result: DemoResult, seconds: float) -> None:
    cycles = len(result.cycles) - 1
    verdict = (
        "[bold green]every run verified with 0 differences[/]"
        if result.ok
        else "[bold red]some runs left facts differing from their definition[/]"
    )
    console.rule()
    console.print(
        f"demo finished in {seconds:.1f}s: bootstrap + {cycles} cycles on "
        f"{sum(result.world_rows.values()):,} source rows; {verdict}"
    )


def _fail(console: Console, message: str, code: int) -> None:
    Console(stderr=True, highlight=False).print(f"[red]error: {message}[/]")
    raise typer.Exit(code)

"""``cdcgen build``: thin wrapper over ``cdcgen.render.build``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdcgen.cli import app
from cdcgen.render.build import build


@app.command("build")
def build_command(
    specs: Annotated[list[Path] | None, typer.Argument(help="Spec files or directories (default: mappings/).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("generated"),
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if generated files are stale; write nothing.")] = False,
) -> None:
    """Generate the Redshift and PostgreSQL SQL for each pipeline spec."""
    result = build(specs or [Path("mappings")], out, check=check)
    if check:
        if result.stale:
            for path in result.stale:
                typer.echo(f"stale: {path}", err=True)
            typer.echo("generated SQL is out of date: run `cdcgen build`", err=True)
            raise typer.Exit(1)
        typer.echo(f"up to date: {', '.join(result.pipelines)}")
        return
    typer.echo(f"built {', '.join(result.pipelines)}: {len(result.written)} file(s) changed in {out}")

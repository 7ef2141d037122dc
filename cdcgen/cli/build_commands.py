"""``cdcgen build``: thin wrapper over ``cdcgen.render.build``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdcgen.cli import app
from cdcgen.cli.output import emit_json, fail, no_collection_till_exit, reported

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.command("build")
def build_command(
    specs: Annotated[
        list[Path] | None,
        typer.Argument(help="Spec files or directories (default: mappings/).", show_default=False),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            envvar="CDCGEN_BUILD_DIR",
            show_envvar=True,
            help="Build root: writes OUT/<pipeline>/<dialect>/ (deploy, run, … find a pipeline "
            "name there with --build-dir OUT).",
        ),
    ] = Path("generated"),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if generated files are stale; write nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate the Redshift and PostgreSQL SQL for each pipeline spec."""
    with reported(as_json):
        from cdcgen.progress import on_terminal, shown
        from cdcgen.render.build import BuildResult, build, spec_files  # lazy: sqlglot, …

        paths = spec_files(specs or [Path("mappings")])
        result = BuildResult()
        # one spec at a time, so a terminal shows which spec builds and how many are left
        with (
            no_collection_till_exit(),
            on_terminal("build", shown(as_json), bar=True, total=len(paths)) as step,
        ):
            for done, spec_path in enumerate(paths):
                step(done, len(paths), f"build {spec_path.name}")
                part = build([spec_path], out, check=check, parallel=True)
                result.pipelines += part.pipelines
                result.written += part.written
                result.stale += part.stale
    if check and result.stale:
        stale = [str(p) for p in result.stale]
        if not as_json:
            for path in stale:
                typer.echo(f"stale: {path}", err=True)
        fail("generated SQL is out of date: run `cdcgen build`", 1, as_json, stale=stale)
    if as_json:
        emit_json(
            {
                "pipelines": result.pipelines,
                "written": [str(p) for p in result.written],
                "stale": [],
                "check": check,
            }
        )
    elif check:
        typer.echo(f"up to date: {', '.join(result.pipelines)}")
    else:
        typer.echo(
            f"built {', '.join(result.pipelines)}: {len(result.written)} file(s) changed in {out}"
        )


@app.command("staging-ddl")
def staging_ddl(
    spec: Annotated[Path, typer.Argument(help="The pipeline spec.", show_default=False)],
    dialect: Annotated[
        str, typer.Option("--dialect", help="redshift (what the ETL lands into) or postgres.")
    ] = "redshift",
    as_json: JsonOption = False,
) -> None:
    """The staging schema, tables and indexes an ETL must land into, as DDL (for the ETL
    team: what each source's staging table holds is described in docs/staging.md)."""
    with reported(as_json):
        from cdcgen.render.build import render_pipeline, staging_statements
        from cdcgen.render.objects import DIALECTS

        chosen = [d for d in DIALECTS if d == dialect]
        if not chosen:
            fail(f"unknown dialect '{dialect}': redshift or postgres", 1, as_json)
        from cdcgen.validate import validate_file

        vspec = validate_file(spec)
        statements = staging_statements(render_pipeline(vspec, dialects=chosen)[dialect])
    if as_json:
        emit_json({"pipeline": vspec.spec.pipeline, "dialect": dialect, "statements": statements})
        return
    typer.echo(f"-- staging DDL of pipeline {vspec.spec.pipeline} ({dialect}), from cdcgen")
    for statement in statements:
        typer.echo(statement.rstrip() + "\n")

"""Commands that talk to a database: deploy, bootstrap, run, status, verify, rebuild,
introspect. Each opens a connection, calls one function of ``cdcgen.deploy`` and prints.

The DSN comes from ``--dsn`` or ``CDCGEN_DSN``; passwords from ``CDCGEN_PASSWORD`` /
``PGPASSWORD`` or IAM, and are scrubbed from every message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cdcgen.cli import app
from cdcgen.deploy import ops
from cdcgen.deploy.apply import apply_plan
from cdcgen.deploy.connect import Database, connect
from cdcgen.deploy.errors import BuildNotFound, DeployError
from cdcgen.deploy.manifest import Manifest, load_manifest, locate_build
from cdcgen.deploy.plan import build_plan, explain, plan_as_dict
from cdcgen.errors import CdcgenError


class Dialect(StrEnum):
    auto = "auto"
    postgres = "postgres"
    redshift = "redshift"


Dsn = Annotated[
    str,
    typer.Option(
        "--dsn",
        envvar="CDCGEN_DSN",
        show_envvar=True,
        help="postgresql://user@host:5432/db or redshift://user@host:5439/db[?iam=true&…]. "
        "Passwords: CDCGEN_PASSWORD/PGPASSWORD or IAM, not the command line.",
        show_default=False,
    ),
]
Build = Annotated[
    str,
    typer.Argument(
        help="Pipeline name (generated/<pipeline>/<dialect>/), generated/<pipeline>, "
        "or a build directory holding manifest.json.",
        show_default=False,
    ),
]
DialectOption = Annotated[
    Dialect,
    typer.Option(
        "--dialect",
        help="Which rendering to use; auto asks the server (Redshift or PostgreSQL).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


# --------------------------------------------------------------------------- commands


@app.command()
def deploy(
    build: Build,
    dsn: Dsn = "",
    plan_only: Annotated[
        bool, typer.Option("--plan", help="Print what would change (and drift); change nothing.")
    ] = False,
    allow_destructive: Annotated[
        bool,
        typer.Option("--allow-destructive", help="Apply column drops, retypes and key changes."),
    ] = False,
    with_staging: Annotated[
        bool,
        typer.Option("--with-staging", help="Also create staging tables (demos and tests)."),
    ] = False,
    dialect: DialectOption = Dialect.auto,
    as_json: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List unchanged objects.")
    ] = False,
) -> None:
    """Apply a build: create what is missing, replace changed views and procedures,
    migrate tables additively, record the deployment. Exit 1 if refused as destructive."""
    with _errors_exit(), _session(dsn, build, dialect) as (db, manifest):
        plan = build_plan(
            db, manifest, allow_destructive=allow_destructive, with_staging=with_staging
        )
        if as_json:
            typer.echo(json.dumps(plan_as_dict(plan), indent=2))
        else:
            typer.echo(explain(plan, verbose=verbose))
        if plan.refused:
            raise typer.Exit(1)
        if plan_only or plan.is_noop:
            return
        result = apply_plan(db, plan)
        typer.echo(
            f"deployed: deployment {result.deployment_id} of {manifest.pipeline}", err=as_json
        )
        for target in result.backfilled:
            typer.echo(f"backfilled: {target}", err=as_json)


@app.command()
def bootstrap(
    build: Build,
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    force: Annotated[
        bool, typer.Option("--force", help="Bootstrap even if baselines already hold rows.")
    ] = False,
) -> None:
    """First load onto empty baselines: one run, then a rebuild of every target."""
    with _errors_exit(), _session(dsn, build, dialect) as (db, manifest):
        result = ops.bootstrap(db, manifest, force=force)
        _print_run(result.run)
        for target in result.rebuilt:
            typer.echo(f"rebuilt: {target}")


@app.command()
def run(
    build: Build, dsn: Dsn = "", dialect: DialectOption = Dialect.auto, as_json: JsonOption = False
) -> None:
    """Run one CDC cycle (CALL the run procedure) and print what it changed."""
    with _errors_exit(), _session(dsn, build, dialect) as (db, manifest):
        result = ops.run_cycle(db, manifest)
        if as_json:
            typer.echo(json.dumps(ops.run_as_dict(result), indent=2))
        else:
            _print_run(result)


@app.command()
def status(
    build: Build,
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent runs.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Recent runs, failures with their errors, freshness per source."""
    with _errors_exit(), _connection(dsn) as db:
        pipeline, cdc = _pipeline_and_cdc_schema(build, _dialect(db, dialect))
        result = ops.status(db, pipeline, cdc_schema=cdc, limit=limit)
        if as_json:
            typer.echo(json.dumps(ops.status_as_dict(result), indent=2))
        else:
            _print_status(result)


@app.command()
def verify(build: Build, dsn: Dsn = "", dialect: DialectOption = Dialect.auto) -> None:
    """Compare every target with its full definition; exit 1 if any differs."""
    with _errors_exit(), _session(dsn, build, dialect) as (db, manifest):
        result = ops.verify(db, manifest, raise_on_difference=False)
        typer.echo(ops.verify_summary(result, manifest.pipeline))
        if not result.ok:
            raise typer.Exit(1)


@app.command()
def rebuild(
    build: Build,
    target: Annotated[
        str, typer.Argument(help="Fact or dimension to recompute.", show_default=False)
    ],
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
) -> None:
    """Recompute one target in full from the baseline."""
    with _errors_exit(), _session(dsn, build, dialect) as (db, manifest):
        ops.rebuild(db, manifest, target)
        typer.echo(f"rebuilt: {target}")


@app.command()
def introspect(
    dsn: Dsn = "",
    schema: Annotated[str, typer.Option("--schema", help="Schema to read.")] = "staging",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write a catalog YAML (column types of a schema) for specs to reference."""
    with _errors_exit(), _connection(dsn) as db:
        text = ops.introspect_yaml(db, schema)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


# --------------------------------------------------------------------------- plumbing


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Library errors become one red message on stderr and their exit code."""
    try:
        yield
    except CdcgenError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None


@contextmanager
def _connection(dsn: str) -> Iterator[Database]:
    if not dsn:
        raise DeployError("no database: pass --dsn or set CDCGEN_DSN")
    db = connect(dsn)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _session(dsn: str, build: str, dialect: Dialect) -> Iterator[tuple[Database, Manifest]]:
    with _connection(dsn) as db:
        chosen = _dialect(db, dialect)
        manifest = load_manifest(locate_build(build, chosen))
        if manifest.dialect != chosen:
            raise DeployError(
                f"{manifest.directory} is the {manifest.dialect} rendering but the server speaks "
                f"{chosen}; pass the {chosen} build (generated/{manifest.pipeline}/{chosen}) "
                "or --dialect"
            )
        yield db, manifest


def _dialect(db: Database, option: Dialect) -> str:
    return db.dialect if option is Dialect.auto else option.value


def _pipeline_and_cdc_schema(build: str, dialect: str) -> tuple[str, str]:
    """Status needs only names: read them from the build when there is one."""
    try:
        manifest = load_manifest(locate_build(build, dialect))
    except BuildNotFound:
        if "/" in build or Path(build).exists():
            raise
        return build, "cdc"
    return manifest.pipeline, manifest.cdc_schema


# --------------------------------------------------------------------------- printing


def _print_run(result: ops.RunResult) -> None:
    run = result.run
    typer.echo(
        f"run {run['run_id']} {run['status']} in {_duration(run.get('duration_ms'))}, "
        f"{run.get('rows_changed') or 0} row(s) changed"
    )
    rows = [
        [
            c["object_kind"],
            c["object_name"],
            c["inserted"],
            c["updated"],
            c["deleted"],
            c["stale"],
            c["dead_lettered"],
        ]
        for c in result.counts
    ]
    if rows:
        typer.echo(
            _table(
                ["kind", "name", "inserted", "updated", "deleted", "stale", "dead-lettered"], rows
            )
        )


def _print_status(result: ops.Status) -> None:
    deployment = result.last_deployment
    if deployment:
        typer.echo(
            f"{result.pipeline}: deployment {deployment['deployment_id']} at "
            f"{_when(deployment['deployed_at'])} by {str(deployment['deployed_by']).strip()}"
        )
    else:
        typer.echo(f"{result.pipeline}: no deployment recorded")
    if result.runs:
        typer.echo("\nrecent runs:")
        typer.echo(
            _table(
                ["run", "kind", "status", "started", "duration", "rows"],
                [
                    [
                        r["run_id"],
                        r["kind"],
                        r["status"],
                        _when(r["started_at"]),
                        _duration(r["duration_ms"]),
                        r["rows_changed"],
                    ]
                    for r in result.runs
                ],
            )
        )
    else:
        typer.echo("no runs yet")
    if result.failures:
        typer.echo("\nfailures:")
        for failure in result.failures:
            typer.echo(
                f"  run {failure['run_id']} at {_when(failure['started_at'])}: {failure['error']}"
            )
    if result.freshness:
        typer.echo("\nfreshness:")
        columns = list(result.freshness[0])
        typer.echo(_table(columns, [[_when(row[c]) for c in columns] for row in result.freshness]))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in header]] + [
        ["" if v is None else str(v) for v in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _duration(ms: Any) -> str:
    if ms is None:
        return "?"
    seconds = int(ms) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def _when(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    return (
        isoformat(sep=" ", timespec="seconds")
        if callable(isoformat) and hasattr(value, "hour")
        else ("" if value is None else str(value))
    )

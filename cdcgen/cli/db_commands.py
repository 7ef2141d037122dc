"""Commands that talk to a database: deploy, bootstrap, run, status, verify, rebuild,
introspect. Each opens a connection, calls one function of ``cdcgen.deploy`` and prints.

The DSN comes from ``--dsn`` or ``CDCGEN_DSN``; passwords from ``CDCGEN_PASSWORD`` /
``PGPASSWORD`` or IAM, and are scrubbed from every message. The deploy modules (and
with them psycopg, redshift_connector, sqlglot) load inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cdcgen.cli import app
from cdcgen.cli.output import emit_json, fail, remember_secrets, reported, scrub, warn

if TYPE_CHECKING:
    from cdcgen.deploy import ops
    from cdcgen.deploy.connect import Database
    from cdcgen.deploy.manifest import Manifest


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
        help="Pipeline name (looked up as <build-dir>/<pipeline>/<dialect>), or a "
        "directory: DIR/<pipeline> or DIR/<pipeline>/<dialect> (what build -o DIR wrote).",
        show_default=False,
    ),
]
BuildDir = Annotated[
    str,
    typer.Option(
        "--build-dir",
        envvar="CDCGEN_BUILD_DIR",
        show_envvar=True,
        help="Where a pipeline name is looked up: the DIR of build -o DIR [default: generated].",
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
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for machines (failures too).")
]

#: Seconds a run may wait for another run's lock before it says so.
LOCK_NOTICE_AFTER = 2.0


# --------------------------------------------------------------------------- commands


@app.command()
def deploy(
    build: Build,
    build_dir: BuildDir = "",
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
    with reported(as_json), _session(dsn, build, build_dir, dialect, deployed=False) as (db, manifest):
        from cdcgen.deploy.apply import apply_plan
        from cdcgen.deploy.plan import build_plan, explain, plan_as_dict, staging_ddl

        plan = build_plan(
            db, manifest, allow_destructive=allow_destructive, with_staging=with_staging
        )
        if plan.refused:
            if as_json:
                fail("refused: destructive changes", 1, as_json, plan=plan_as_dict(plan))
            typer.echo(explain(plan, verbose=verbose))
            raise typer.Exit(1)
        staging = staging_ddl(plan) if with_staging else []
        data = {**plan_as_dict(plan), "staging_ddl": staging} if as_json else None
        if data is None:
            typer.echo(explain(plan, verbose=verbose))
        if plan_only or plan.is_noop:
            if data is not None:
                emit_json(data)
            elif with_staging:
                _print_staging(staging, "would create" if plan_only else "created")
            return
        with _spinner(f"deploy {manifest.pipeline}", as_json):
            result = apply_plan(db, plan)
        if data is not None:
            data["deployment_id"] = result.deployment_id
            data["backfilled"] = list(result.backfilled)
            emit_json(data)
        typer.echo(
            f"deployed: deployment {result.deployment_id} of {manifest.pipeline}", err=as_json
        )
        for target in result.backfilled:
            typer.echo(f"backfilled: {target}", err=as_json)
        if data is None and with_staging:
            _print_staging(staging, "created")


def _print_staging(statements: Sequence[str], done: str) -> None:
    """The staging DDL as it runs, one statement after another, never wrapped: it can be
    pasted into psql or handed to the ETL team."""
    if not statements:
        typer.echo("staging: nothing to create (the staging tables exist)")
        return
    typer.echo(f"\nstaging DDL {done}:")
    for statement in statements:
        typer.echo(statement.rstrip() + "\n")


@app.command()
def bootstrap(
    build: Build,
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    force: Annotated[
        bool, typer.Option("--force", help="Bootstrap even if baselines already hold rows.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """First load onto empty baselines: one run (with --force, targets that held rows are then rebuilt)."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        with _lock_notice(db, dsn, manifest.pipeline), _spinner(
            f"bootstrap {manifest.pipeline}", as_json
        ):
            result = ops.bootstrap(db, manifest, force=force)
        if as_json:
            emit_json({**ops.run_as_dict(result.run), "rebuilt": list(result.rebuilt)})
            return
        _print_run(result.run)
        for target in result.rebuilt:
            typer.echo(f"rebuilt: {target}")


@app.command()
def run(
    build: Build,
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    as_json: JsonOption = False,
) -> None:
    """Run one CDC cycle (CALL the run procedure) and print what it changed: the
    sources and targets with changes, and how many had none (--json: every count row).
    Says so when it waits for another run's lock."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        with _lock_notice(db, dsn, manifest.pipeline), _spinner(
            f"run {manifest.pipeline}", as_json
        ):
            result = ops.run_cycle(db, manifest)
        if as_json:
            emit_json(ops.run_as_dict(result))
        else:
            _print_run(result)


@app.command()
def status(
    build: Build,
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent runs.")] = 10,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="For monitors: exit 1 on a freshness error or a failed last run; "
            "warnings (freshness warn, dead letters) exit 0.",
        ),
    ] = False,
    warn_error: Annotated[
        bool, typer.Option("--warn-error", help="With --check: warnings exit 1 too.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Recent runs, failures with their errors, dead letters, freshness per source. Exit 1
    when a source is past its freshness error_after (and, with --check, when the last run
    failed)."""
    with reported(as_json), _connection(dsn) as db:
        from cdcgen.deploy import ops

        pipeline, cdc = _pipeline_and_cdc_schema(build, build_dir, _dialect(db, dialect))
        ops.require_deployed(db, pipeline, cdc, _where(dsn))
        result = ops.status(db, pipeline, cdc_schema=cdc, limit=limit)
        errors, warnings = _health(result, pipeline, check=check)
        if warn_error:
            errors, warnings = errors + warnings, []
        data = ops.status_as_dict(result) if as_json else None
        if data is None:
            _print_status(result)
            for message in warnings:
                warn(message)
        else:
            data["warnings"] = warnings
        if errors:
            fail("; ".join(errors), 1, as_json, **({"status": data} if data is not None else {}))
        if data is not None:
            emit_json(data)


def _health(result: Any, pipeline: str, *, check: bool) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a status: what a monitor acts on."""
    by_state: dict[str, list[str]] = {}
    for row in result.freshness:
        by_state.setdefault(str(row.get("status")), []).append(
            str(row.get("source"))
        )
    errors = [_freshness_error(pipeline, by_state["error"])] if "error" in by_state else []
    warnings = []
    if check and result.runs and result.runs[0].get("status") == "failed":
        errors.append(f"the last {pipeline} run ({result.runs[0]['run_id']}) failed")
    if "warn" in by_state:
        warnings.append(f"{pipeline} is past its freshness warn_after for {', '.join(by_state['warn'])}")
    if result.dead_letters:
        held = sum(int(r["row_count"]) for r in result.dead_letters)
        warnings.append(f"{held} dead-lettered row(s) held back (cdcgen dead-letters {pipeline})")
    return errors, warnings


@app.command("dead-letters")
def dead_letters(
    build: Build,
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    source: Annotated[str, typer.Option("--source", help="Only this source.")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many rows, newest first.")] = 50,
    include_resolved: Annotated[
        bool, typer.Option("--all", help="Resolved dead letters too (a later run applied the key).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Open dead letters, rows still held back in cdc.dead_letter: source, key, reason,
    when (newest first). A dead letter is resolved when a later run applies a newer
    version of its key (or deletes it); --all lists those too."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        rows = ops.dead_letters(
            db, manifest, source=source or None, limit=limit, include_resolved=include_resolved
        )
        if as_json:
            emit_json({"pipeline": manifest.pipeline, "dead_letters": [ops.jsonable(r) for r in rows]})
            return
        if not rows:
            typer.echo(f"{manifest.pipeline}: no {'' if include_resolved else 'open '}dead letters")
            return
        headers = ["run", "source", "key", "reason", "when"]
        typer.echo(
            _table(
                [*headers, "resolved by run"] if include_resolved else headers,
                [
                    [
                        r["run_id"],
                        r["source"],
                        ", ".join(f"{k}={v}" for k, v in r["key"].items()),
                        r["reason"],
                        _when(r["dead_lettered_at"]),
                        *([r["resolved_run_id"] or "open"] if include_resolved else []),
                    ]
                    for r in rows
                ],
            )
        )


@app.command()
def verify(
    build: Build,
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    as_json: JsonOption = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also replay change_log from empty and compare it with the baseline."
        ),
    ] = False,
) -> None:
    """Compare every target with its full definition and check the audit trail (LSNs,
    payloads, run counts, SCD2 validity, old dead letters); exit 1 on any finding."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        with _spinner(f"verify {manifest.pipeline}", as_json):
            result = ops.verify(db, manifest, raise_on_difference=False, deep=deep)
        summary = ops.verify_summary(result, manifest.pipeline)
        if as_json:
            rows = [ops.jsonable(r) for r in result.rows]
            checks = [ops.jsonable(r) for r in result.checks]
            if not result.ok:
                fail(summary.splitlines()[-1], 1, as_json, targets=rows, checks=checks)
            emit_json({"ok": True, "targets": rows, "checks": checks})
            return
        typer.echo(summary)
        if not result.ok:
            raise typer.Exit(1)


@app.command()
def rebuild(
    build: Build,
    target: Annotated[
        str, typer.Argument(help="Fact or dimension to recompute.", show_default=False)
    ],
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    as_json: JsonOption = False,
) -> None:
    """Recompute one target in full from the baseline and print the rebuild's counts."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        with _spinner(f"rebuild {target}", as_json):
            result = ops.rebuild(db, manifest, target)
        if as_json:
            emit_json({"rebuilt": target, **(ops.run_as_dict(result) if result else {})})
            return
        typer.echo(f"rebuilt: {target}")
        if result is not None:
            _print_run(result)


@app.command()
def rollback(
    build: Build,
    to: Annotated[
        int,
        typer.Option(
            "--to",
            help="Run to roll back to: every later successful run is undone, newest first.",
            show_default=False,
        ),
    ],
    build_dir: BuildDir = "",
    dsn: Dsn = "",
    dialect: DialectOption = Dialect.auto,
    as_json: JsonOption = False,
) -> None:
    """Undo every successful run after run TO in one transaction (CALL the rollback_to
    procedure): targets, SCD2 versions, baselines, tombstones and watermarks end as they
    were after run TO. The logs keep the runs and their undo; a later run re-applies what
    staging still holds."""
    with reported(as_json), _session(dsn, build, build_dir, dialect) as (db, manifest):
        from cdcgen.deploy import ops

        with _lock_notice(db, dsn, manifest.pipeline), _spinner(
            f"rollback {manifest.pipeline} to run {to}", as_json
        ):
            result = ops.rollback_to(db, manifest, to)
        if as_json:
            emit_json(
                {"run": ops.jsonable(result.run), "to": to, "rolled_back": list(result.undone)}
            )
            return
        undone = ", ".join(map(str, result.undone)) or "none (it is the latest)"
        typer.echo(
            f"rollback {result.run['run_id']} {result.run['status']}: back to run {to}; "
            f"rolled back: {undone}"
        )


@app.command()
def introspect(
    dsn: Dsn = "",
    schema: Annotated[str, typer.Option("--schema", help="Schema to read.")] = "staging",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write a catalog YAML (column types of a schema) for specs to reference."""
    with reported(), _connection(dsn) as db:
        from cdcgen.deploy import ops

        text = ops.introspect_yaml(db, schema)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


# --------------------------------------------------------------------------- plumbing


@contextmanager
def _connection(dsn: str) -> Iterator[Database]:
    from cdcgen.deploy.connect import connect, dsn_secrets
    from cdcgen.deploy.errors import DeployError

    if not dsn:
        raise DeployError("no database: pass --dsn or set CDCGEN_DSN")
    secrets = dsn_secrets(dsn)
    remember_secrets(*secrets)
    if secrets:
        warn(
            "the DSN holds a password, which shell history and process lists keep: "
            "set CDCGEN_PASSWORD instead (or use IAM for redshift://)"
        )
    db = connect(dsn)
    remember_secrets(*db.secrets)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _session(
    dsn: str, build: str, build_dir: str, dialect: Dialect, *, deployed: bool = True
) -> Iterator[tuple[Database, Manifest]]:
    """A connection and the build for its dialect; with ``deployed``, the pipeline must
    have been deployed there (else: "run cdcgen deploy first", exit 1)."""
    from cdcgen.deploy import ops
    from cdcgen.deploy.manifest import load_manifest, locate_build
    from cdcgen.errors import InputError

    with _connection(dsn) as db:
        chosen = _dialect(db, dialect)
        manifest = load_manifest(locate_build(build, chosen, build_dir=build_dir or None))
        if manifest.dialect != chosen:
            raise InputError(
                f"{manifest.directory} is the {manifest.dialect} rendering but the server speaks "
                f"{chosen}; pass the {chosen} build ({manifest.directory.parent / chosen}) "
                "or --dialect"
            )
        if deployed:
            ops.require_deployed(db, manifest.pipeline, manifest.cdc_schema, _where(dsn))
        yield db, manifest


@contextmanager
def _lock_notice(db: Database, dsn: str, pipeline: str) -> Iterator[None]:
    """Tell the user, on stderr, when the run waits for another run's lock."""
    from cdcgen.deploy.connect import connect
    from cdcgen.deploy.waits import notice_when_blocked

    def blocked(holder: str) -> None:
        warn(
            f"waiting for another run of {pipeline} to finish: its lock is held by {holder}"
        )

    with notice_when_blocked(db, lambda: connect(dsn), blocked, after=LOCK_NOTICE_AFTER):
        yield


@contextmanager
def _spinner(label: str, as_json: bool) -> Iterator[None]:
    """A spinner with the elapsed time on a terminal while the procedure runs."""
    from cdcgen.progress import on_terminal, shown

    with on_terminal(label, shown(as_json)):
        yield


def _where(dsn: str) -> str:
    return scrub(dsn)


def _freshness_error(pipeline: str, sources: Sequence[str]) -> str:
    return (
        f"{pipeline} is past its freshness error_after for {', '.join(sources)}: "
        f"no successful run recently (see the runs above, or cdcgen run {pipeline})"
    )


def _dialect(db: Database, option: Dialect) -> str:
    return db.dialect if option is Dialect.auto else option.value


def _pipeline_and_cdc_schema(build: str, build_dir: str, dialect: str) -> tuple[str, str]:
    """Status needs only names: read them from the build when there is one."""
    from cdcgen.deploy.errors import BuildNotFound
    from cdcgen.deploy.manifest import load_manifest, locate_build

    try:
        manifest = load_manifest(locate_build(build, dialect, build_dir=build_dir or None))
    except BuildNotFound:
        if "/" in build or Path(build).exists():
            raise
        return build, "cdc"
    return manifest.pipeline, manifest.cdc_schema


# --------------------------------------------------------------------------- printing


_COUNTS = ("inserted", "updated", "deleted", "stale", "dead_lettered")


def _print_run(result: ops.RunResult) -> None:
    """The run line, then only the count rows that changed something, then how many
    objects had no change (``--json`` keeps every row)."""
    run = result.run
    typer.echo(
        f"{str(run.get('kind') or 'run').strip()} {run['run_id']} {run['status']} in {_duration(run.get('duration_ms'))}, "
        f"{run.get('rows_changed') or 0} row(s) changed"
    )
    changed = [c for c in result.counts if any(c.get(k) for k in _COUNTS)]
    if changed:
        typer.echo(
            _table(
                ["kind", "name", "inserted", "updated", "deleted", "stale", "dead-lettered"],
                [[c["object_kind"], c["object_name"], *(c[k] for k in _COUNTS)] for c in changed],
            )
        )
    unchanged = len(result.counts) - len(changed)
    if unchanged:
        typer.echo(f"  {unchanged} unchanged")


def _print_status(result: ops.Status) -> None:
    """Deployment, failures first (in red on a terminal), recent runs (failed ones in
    red), dead letters held back, freshness with a human lag (``--json`` keeps seconds)."""
    deployment = result.last_deployment
    if deployment:
        typer.echo(
            f"{result.pipeline}: deployment {deployment['deployment_id']} at "
            f"{_when(deployment['deployed_at'])} by {str(deployment['deployed_by']).strip()}"
        )
    else:
        typer.echo(f"{result.pipeline}: no deployment recorded")
    if result.failures:
        typer.secho("\nfailures:", fg=typer.colors.RED, bold=True)
        for failure in result.failures:
            typer.secho(
                f"  run {failure['run_id']} at {_when(failure['started_at'])}: {failure['error']}",
                fg=typer.colors.RED,
            )
    if result.runs:
        typer.echo("\nrecent runs:")
        with_statements = any("statements" in r for r in result.runs)
        header = ["run", "kind", "status", "started", "duration", "rows"]
        lines = _table(
            header + (["statements"] if with_statements else []),
            [
                [
                    r["run_id"],
                    r["kind"],
                    r["status"],
                    _when(r["started_at"]),
                    _duration(r["duration_ms"]),
                    r["rows_changed"],
                    *([r.get("statements")] if with_statements else []),
                ]
                for r in result.runs
            ],
        ).splitlines()
        typer.echo(lines[0])
        for run, line in zip(result.runs, lines[1:], strict=True):
            failed = str(run["status"]).strip() == "failed"
            typer.secho(line, fg=typer.colors.RED if failed else None)
        if result.timed_runs:
            typer.echo(
                f"  duration p50 {_duration(result.duration_p50_ms)}, p95 "
                f"{_duration(result.duration_p95_ms)} over the last "
                f"{len(result.timed_runs)} succeeded run(s)"
            )
    else:
        typer.echo("no runs yet")
    if result.dead_letters:
        typer.echo("\nopen dead letters (rows held back; `cdcgen dead-letters` lists them):")
        typer.echo(
            _table(
                ["source", "reason", "rows", "latest"],
                [
                    [r["source"], r["reason"], r["row_count"], _when(r["latest"])]
                    for r in result.dead_letters
                ],
            )
        )
    if result.freshness:
        typer.echo("\nfreshness:")
        columns = list(result.freshness[0])
        typer.echo(
            _table(
                ["lag" if c == "lag_seconds" else c for c in columns],
                [
                    [lag(row[c]) if c == "lag_seconds" else _when(row[c]) for c in columns]
                    for row in result.freshness
                ],
            )
        )


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


def lag(seconds: Any) -> str:
    """Seconds as people read them, in the two largest units: ``45 s``, ``12 min 5 s``,
    ``3 h 12 min``, ``2 d 4 h`` (``""`` when unknown)."""
    if seconds is None:
        return ""
    left = int(seconds)
    if left < 0:
        return f"{left} s"  # a clock ahead of the server: shown as is
    units = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
    for i, (size, name) in enumerate(units[:-1]):
        if left >= size:
            big, rest = divmod(left, size)
            small, small_name = units[i + 1]
            part = rest // small
            return f"{big} {name}" + (f" {part} {small_name}" if part else "")
    return f"{left} s"


def _when(value: Any) -> str:
    isoformat = getattr(value, "isoformat", None)
    return (
        isoformat(sep=" ", timespec="seconds")
        if callable(isoformat) and hasattr(value, "hour")
        else ("" if value is None else str(value))
    )

"""Operate a deployed pipeline: run a cycle, read its status, verify, rebuild, bootstrap,
and introspect a staging schema into a catalog file.

Each function CALLs a generated procedure and reads the cdc state tables; nothing
here computes CDC itself (the warehouse does). Connections are in autocommit mode
(see ``connect``): the run procedure COMMITs to keep a ``failed`` run_log row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cdcgen.deploy.connect import Database
from cdcgen.deploy.errors import (
    BootstrapRefused,
    DatabaseError,
    DeployError,
    NotDeployed,
    RunFailed,
    UnknownTarget,
    VerifyFailed,
)
from cdcgen.deploy.live import information_schema_type, table_exists
from cdcgen.deploy.manifest import Manifest
from cdcgen.errors import InputError
from cdcgen.validate.types import TypeProblem, canonical_type

_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")

Row = dict[str, Any]


@dataclass(frozen=True)
class RunResult:
    run: Row  # the run_log row
    counts: tuple[Row, ...]  # its run_counts rows


@dataclass(frozen=True)
class Status:
    pipeline: str
    runs: tuple[Row, ...]  # newest first
    failures: tuple[Row, ...]  # recent failed runs, with their errors
    freshness: tuple[Row, ...]  # one row per source, from the freshness view
    last_deployment: Row | None = None
    dead_letters: tuple[Row, ...] = ()  # per source and reason: rows held back, newest

    @property
    def timed_runs(self) -> list[int]:
        """Durations (ms) of the succeeded runs among :attr:`runs` (kind ``run`` only:
        rebuilds and rollbacks are not what a schedule waits for)."""
        return [
            int(r["duration_ms"])
            for r in self.runs
            if r.get("kind") == "run"
            and str(r.get("status")).strip() == "succeeded"
            and r.get("duration_ms") is not None
        ]

    @property
    def duration_p50_ms(self) -> int | None:
        return percentile(self.timed_runs, 50)

    @property
    def duration_p95_ms(self) -> int | None:
        return percentile(self.timed_runs, 95)


def percentile(values: Sequence[int], q: int) -> int | None:
    """The nearest-rank percentile (a value that occurred; None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-q * len(ordered) // 100) - 1)]


@dataclass(frozen=True)
class VerifyResult:
    rows: tuple[Row, ...]  # per target: its comparison with its full definition
    #: the audit-trail checks (check_name, target, findings, examples; cdcgen.sql.verify)
    checks: tuple[Row, ...] = ()

    @property
    def differing(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if _differs(r))

    @property
    def findings(self) -> tuple[Row, ...]:
        return tuple(r for r in self.checks if r.get("findings"))

    @property
    def ok(self) -> bool:
        return not self.differing and not self.findings


@dataclass(frozen=True)
class BootstrapResult:
    run: RunResult
    rebuilt: tuple[str, ...] = field(default_factory=tuple)


def _differs(row: Row) -> bool:
    return any(row.get(c) for c in ("missing_rows", "extra_rows", "different_rows"))


def call_literal(value: str) -> str:
    """A string literal for a CALL argument; target names are plain identifiers anyway."""
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------- deployed?


def require_deployed(db: Database, pipeline: str, cdc_schema: str, where: str) -> None:
    """Raise :class:`NotDeployed` unless ``pipeline`` was deployed here, so commands say
    "run cdcgen deploy first" instead of ``relation "cdc.run_log" does not exist``.

    ``where`` names the database in the message (a redacted DSN).
    """
    if not table_exists(db, f"{cdc_schema}.run_log"):
        raise NotDeployed(pipeline, where)
    if not table_exists(db, f"{cdc_schema}.deployments"):
        return  # state tables applied by other means (tests, hand-run SQL): trust them
    recorded = db.scalar(
        f"SELECT count(*) FROM {cdc_schema}.deployments WHERE pipeline = %s",
        [pipeline],
        what="look for the pipeline's deployment",
    )
    if not recorded:
        raise NotDeployed(pipeline, where)


# --------------------------------------------------------------------------- run


def run_cycle(db: Database, manifest: Manifest) -> RunResult:
    """One CDC cycle: ``CALL <run>()``; returns its run_log row and counts.

    On failure the procedure has already logged a ``failed`` row with the error; that
    row is what :class:`RunFailed` reports.
    """
    procedure = manifest.procedure("run")
    cdc = manifest.cdc_schema
    before = _latest_run_id(db, cdc, manifest.pipeline)
    try:
        db.execute(f"CALL {procedure}()", what=f"CALL {procedure}()")
    except DatabaseError as exc:
        failed = _latest_run(db, cdc, manifest.pipeline, after=before)
        logged = f" (run {failed['run_id']} logged as {failed['status']})" if failed else ""
        raise RunFailed(
            f"the {manifest.pipeline} run failed{logged}: {exc}\n"
            f"Nothing of the failed run was applied; fix the cause and run again. "
            f"History: cdcgen status {manifest.pipeline}"
        ) from None
    run = _latest_run(db, cdc, manifest.pipeline, after=before)
    if run is None:
        raise DeployError(f"CALL {procedure}() returned but wrote no run_log row in {cdc}.run_log")
    return RunResult(run, _run_counts(db, cdc, manifest.pipeline, run["run_id"]))


def _run_counts(db: Database, cdc: str, pipeline: str, run_id: Any) -> tuple[Row, ...]:
    counts = db.fetch_dicts(
        f"""
        SELECT object_kind, object_name, inserted, updated, deleted, stale, dead_lettered
        FROM {cdc}.run_counts WHERE run_id = %s AND pipeline = %s
        ORDER BY CASE object_kind WHEN 'source' THEN 0 WHEN 'fact' THEN 1 ELSE 2 END, object_name
        """,
        [run_id, pipeline],
        what="read the run's counts",
    )
    return tuple(counts)


_RUN_COLUMNS = "run_id, kind, status, started_at, finished_at, duration_ms, rows_changed, error"


def _latest_run_id(db: Database, cdc: str, pipeline: str) -> int:
    value = db.scalar(
        f"SELECT COALESCE(MAX(run_id), 0) FROM {cdc}.run_log WHERE pipeline = %s",
        [pipeline],
        what="read the last run id",
    )
    return int(value or 0)


def _latest_run(
    db: Database, cdc: str, pipeline: str, *, after: int, kind: str = "run"
) -> Row | None:
    rows = db.fetch_dicts(
        f"""
        SELECT {_RUN_COLUMNS} FROM {cdc}.run_log
        WHERE pipeline = %s AND run_id > %s AND kind = %s
        ORDER BY run_id DESC LIMIT 1
        """,
        [pipeline, after, kind],
        what="read the run log",
    )
    return rows[0] if rows else None


# --------------------------------------------------------------------------- status


def status(db: Database, pipeline: str, *, cdc_schema: str = "cdc", limit: int = 10) -> Status:
    """Recent runs (with the statements each executed, when the run log records them),
    recent failures with their errors, and freshness per source."""
    columns = _RUN_COLUMNS + (", statements" if _logs_statements(db, cdc_schema) else "")
    runs = db.fetch_dicts(
        f"SELECT {columns} FROM {cdc_schema}.run_log WHERE pipeline = %s "
        "ORDER BY run_id DESC LIMIT %s",
        [pipeline, limit],
        what="read the run log",
    )
    failures = db.fetch_dicts(
        f"SELECT run_id, kind, started_at, error FROM {cdc_schema}.run_log "
        "WHERE pipeline = %s AND status = 'failed' ORDER BY run_id DESC LIMIT %s",
        [pipeline, limit],
        what="read failed runs",
    )
    freshness_view = f"{cdc_schema}.{pipeline}_freshness"
    freshness = (
        db.fetch_dicts(f"SELECT * FROM {freshness_view}", what=f"read {freshness_view}")
        if _view_exists(db, freshness_view)
        else []
    )
    return Status(
        pipeline,
        tuple(runs),
        tuple(failures),
        tuple(freshness),
        _last_deployment(db, cdc_schema, pipeline),
        tuple(dead_letter_summary(db, pipeline, cdc_schema))
        if table_exists(db, f"{cdc_schema}.dead_letter")
        else (),
    )


def _logs_statements(db: Database, cdc_schema: str) -> bool:
    """Run logs deployed before cdcgen counted statements have no such column."""
    return bool(
        db.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'run_log' AND column_name = 'statements'",
            [cdc_schema],
            what="look for run_log.statements",
        )
    )


def _open_only(db: Database, cdc_schema: str) -> str:
    """The filter keeping open dead letters (not yet resolved by a later run). A table
    deployed before dead letters were resolved has no such column: all are open."""
    has_column = db.scalar(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'dead_letter' AND column_name = 'resolved_run_id'",
        [cdc_schema],
        what="look for dead_letter.resolved_run_id",
    )
    return " AND resolved_run_id IS NULL" if has_column else ""


def dead_letter_summary(db: Database, pipeline: str, cdc_schema: str) -> list[Row]:
    """Open dead letters (rows still held back), per source and reason; each bad row is
    recorded once, and resolved when a later run applies a newer version of its key."""
    return db.fetch_dicts(
        f"SELECT source, reason, COUNT(*) AS row_count, MAX(dead_lettered_at) AS latest "
        f"FROM {cdc_schema}.dead_letter WHERE pipeline = %s{_open_only(db, cdc_schema)} "
        "GROUP BY source, reason ORDER BY source, reason",
        [pipeline],
        what="read the dead letters",
    )


def dead_letters(
    db: Database,
    manifest: Manifest,
    *,
    source: str | None = None,
    limit: int = 50,
    include_resolved: bool = False,
) -> list[Row]:
    """The newest open dead letters (all with ``include_resolved``), each with its source
    key read from the row image and, once resolved, the run that resolved it.

    >>> # [{'run_id': 3, 'source': 'companies', 'key': {'id': 100},
    >>> #   'reason': 'value too long for companies.name (400 > 255)', ...}]
    """
    if not table_exists(db, f"{manifest.cdc_schema}.dead_letter"):
        return []
    keys = {s.name: s.key for s in manifest.sources}
    where, params = "pipeline = %s", [manifest.pipeline]
    if source:
        where, params = where + " AND source = %s", [*params, source]
    open_only = _open_only(db, manifest.cdc_schema)
    resolved = "resolved_run_id, resolved_at" if open_only else "NULL AS resolved_run_id, NULL AS resolved_at"
    if not include_resolved:
        where += open_only
    rows = db.fetch_dicts(
        f"SELECT run_id, source, reason, dead_lettered_at, {resolved}, row_data "
        f"FROM {manifest.cdc_schema}.dead_letter WHERE {where} "
        "ORDER BY dead_lettered_at DESC, run_id DESC LIMIT %s",
        [*params, limit],
        what="read the dead letters",
    )
    return [_with_key(r, keys.get(str(r["source"]), ())) for r in rows]


def _with_key(row: Row, key: tuple[str, ...]) -> Row:
    from cdcgen.sql.nodes import flat_image

    image = row.pop("row_data", None)
    if isinstance(image, str | bytes):  # SUPER arrives as JSON text from Redshift
        image = json.loads(image)
    flat = flat_image(image) if isinstance(image, dict) else {}
    return {**row, "key": {k: (flat or {}).get(k) for k in key}, "row": flat}


def _view_exists(db: Database, qualified: str) -> bool:
    schema, _, name = qualified.partition(".")
    return bool(
        db.scalar(
            "SELECT count(*) FROM pg_views WHERE schemaname = %s AND viewname = %s",
            [schema, name],
            what=f"look for {qualified}",
        )
    )


def _last_deployment(db: Database, cdc: str, pipeline: str) -> Row | None:
    if not table_exists(db, f"{cdc}.deployments"):
        return None
    rows = db.fetch_dicts(
        f"SELECT deployment_id, deployed_at, deployed_by, tool_version FROM {cdc}.deployments "
        "WHERE pipeline = %s ORDER BY deployment_id DESC LIMIT 1",
        [pipeline],
        what="read the last deployment",
    )
    return rows[0] if rows else None


def status_as_dict(result: Status) -> dict[str, Any]:
    return {
        "pipeline": result.pipeline,
        "last_deployment": jsonable(result.last_deployment),
        "runs": [jsonable(r) for r in result.runs],
        "failures": [jsonable(r) for r in result.failures],
        "freshness": [jsonable(r) for r in result.freshness],
        "dead_letters": [jsonable(r) for r in result.dead_letters],
        "duration_p50_ms": result.duration_p50_ms,
        "duration_p95_ms": result.duration_p95_ms,
        "duration_runs": len(result.timed_runs),
    }


def run_as_dict(result: RunResult) -> dict[str, Any]:
    return {"run": jsonable(result.run), "counts": [jsonable(c) for c in result.counts]}


def jsonable(row: Row | None) -> Row | None:
    if row is None:
        return None
    return {k: _json_value(v) for k, v in row.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        return value.rstrip()  # CHAR(n) pads
    return value


# --------------------------------------------------------------------------- verify / rebuild


def verify(
    db: Database, manifest: Manifest, *, raise_on_difference: bool = True, deep: bool = False
) -> VerifyResult:
    """``CALL <verify>()`` (``<verify_deep>()`` with ``deep``: also replays change_log
    against the baseline) and read the rows it logged; raises :class:`VerifyFailed` with
    a summary when a target differs from its full definition or a check finds anything."""
    procedure = manifest.procedure("verify_deep" if deep else "verify")
    db.execute(f"CALL {procedure}()", what=f"CALL {procedure}()")
    cdc = manifest.cdc_schema
    rows = db.fetch_dicts(
        f"""
        SELECT *
        FROM {cdc}.verify_log
        WHERE pipeline = %s
          AND verified_at = (SELECT MAX(verified_at) FROM {cdc}.verify_log WHERE pipeline = %s)
        ORDER BY target
        """,
        [manifest.pipeline, manifest.pipeline],
        what="read the verification",
    )
    # SELECT *: a verify_log from before the audit-trail checks has no check columns
    targets = tuple(
        {k: r.get(k) for k in ("target", "missing_rows", "extra_rows", "different_rows", "verified_at")}
        for r in rows
        if r.get("check_name") is None
    )
    checks = tuple(
        sorted(
            (
                {k: r.get(k) for k in ("check_name", "target", "findings", "examples", "verified_at")}
                for r in rows
                if r.get("check_name") is not None
            ),
            key=lambda r: (str(r["check_name"]), str(r["target"])),
        )
    )
    targets = tuple(
        {**row, "examples": _difference_examples(db, manifest, row)} for row in targets
    )
    result = VerifyResult(targets, checks)
    if raise_on_difference and not result.ok:
        raise VerifyFailed(verify_summary(result, manifest.pipeline))
    return result


#: Example keys per kind of difference that verify shows for a target.
EXAMPLE_KEYS = 10
#: verify_log count column -> kind of difference, as ``--json`` names it.
_DIFFERENCE_KINDS = {"missing_rows": "missing", "extra_rows": "extra", "different_rows": "different"}
#: The columns that mark the current, live version of an SCD2 dimension row.
_CURRENT_VERSION = "is_current = TRUE AND is_deleted = FALSE"


def _difference_examples(
    db: Database, manifest: Manifest, row: Row
) -> dict[str, list[dict[str, Any]]]:
    """Up to :data:`EXAMPLE_KEYS` keys per kind of difference the verify procedure
    counted for one target, read with bounded queries (EXCEPT both ways, key columns
    only) against the target and its ``<cdc>.<target>__full`` view, the same pair the
    procedure compares (a dimension: its current, live versions). Kinds counted as 0
    run no query, so a clean verify costs nothing more."""
    examples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _DIFFERENCE_KINDS.values()}
    if not _differs(row):
        return examples
    try:
        target = manifest.target(str(row["target"]))
    except UnknownTarget:
        return examples
    cdc = manifest.cdc_schema
    full = f"{cdc}.{target.name}__full"
    key = ", ".join(_quoted(k) for k in target.key)
    view_columns = db.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        [cdc, f"{target.name}__full"],
        what=f"read the columns of {full}",
    )
    columns = ", ".join(_quoted(str(r[0])) for r in view_columns) or key
    where = f" WHERE {_CURRENT_VERSION}" if target.kind == "dimension" else ""
    stored = f"{_quoted_name(target.table)}{where}"
    view = _quoted_name(full)
    queries = {
        "missing": f"SELECT {key} FROM {view} EXCEPT SELECT {key} FROM {stored}",
        "extra": f"SELECT {key} FROM {stored} EXCEPT SELECT {key} FROM {view}",
        "different": (
            f"SELECT {key} FROM (SELECT {columns} FROM {view} EXCEPT "
            f"SELECT {columns} FROM {stored}) AS d "
            f"INTERSECT SELECT {key} FROM {stored}"
        ),
    }
    order = ", ".join(str(i) for i in range(1, len(target.key) + 1))
    for count_column, kind in _DIFFERENCE_KINDS.items():
        if not row.get(count_column):
            continue
        found = db.fetchall(
            f"SELECT * FROM ({queries[kind]}) AS e ORDER BY {order} LIMIT {EXAMPLE_KEYS}",
            what=f"example keys of the {kind} rows of {target.name}",
        )
        examples[kind] = [
            {k: _json_value(v) for k, v in zip(target.key, r, strict=True)} for r in found
        ]
    return examples


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quoted_name(name: str) -> str:
    return ".".join(_quoted(part) for part in name.split("."))


def _shown_key(key: dict[str, Any]) -> str:
    parts = [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in key.items()]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def verify_summary(result: VerifyResult, pipeline: str) -> str:
    lines = []
    for row in result.rows:
        state = "DIFFERS" if _differs(row) else "ok"
        lines.append(
            f"{row['target']}: {state} (missing {row['missing_rows'] or 0}, "
            f"extra {row['extra_rows'] or 0}, different {row['different_rows'] or 0})"
        )
        for count_column, kind in _DIFFERENCE_KINDS.items():
            keys = (row.get("examples") or {}).get(kind) or []
            if keys:
                more = int(row.get(count_column) or 0) - len(keys)
                lines.append(
                    f"  {kind:<9} {', '.join(_shown_key(k) for k in keys)}"
                    + (f" (+{more} more)" if more > 0 else "")
                )
    for row in result.checks:
        found = row.get("findings") or 0
        state = f"FOUND {found}" if found else "ok"
        example = f" e.g. {row['examples']}" if found and row.get("examples") else ""
        lines.append(f"check {row['check_name']} {row['target']}: {state}{example}")
    problems = []
    if result.differing:
        names = " ".join(str(r["target"]) for r in result.differing)
        problems.append(
            f"{len(result.differing)} target(s) differ from their full definition. "
            f"Recompute each with: cdcgen rebuild {pipeline} <target>  (targets: {names})"
        )
    if result.findings:
        names = " ".join(f"{r['check_name']}:{r['target']}" for r in result.findings)
        problems.append(f"{len(result.findings)} audit-trail check(s) found problems ({names})")
    if problems:
        lines.append(" ".join(problems))
    return "\n".join(lines)


def rebuild(db: Database, manifest: Manifest, target: str) -> RunResult | None:
    """Full recompute of one target from its full definition over the baseline; returns
    the rebuild's run_log row and counts (None when the procedure logs no run)."""
    manifest.target(target)  # a clear error for an unknown name, before any SQL
    procedure = manifest.procedure("rebuild")
    cdc = manifest.cdc_schema
    before = _latest_run_id(db, cdc, manifest.pipeline)
    db.execute(f"CALL {procedure}({call_literal(target)})", what=f"rebuild {target}")
    run = _latest_run(db, cdc, manifest.pipeline, after=before, kind="rebuild")
    if run is None:
        return None
    return RunResult(run, _run_counts(db, cdc, manifest.pipeline, run["run_id"]))


@dataclass(frozen=True)
class RollbackResult:
    run: Row  # the rollback's run_log row
    undone: tuple[int, ...]  # the runs it rolled back, newest first


def rollback_to(db: Database, manifest: Manifest, run_id: int) -> RollbackResult:
    """``CALL sp_<p>_rollback_to(run_id)``: undo every later successful run or rebuild,
    newest first, in one transaction. On failure nothing was undone and the procedure
    logged a ``failed`` rollback row, which :class:`RunFailed` reports."""
    procedure = manifest.procedure("rollback_to")
    cdc = manifest.cdc_schema
    before = _latest_run_id(db, cdc, manifest.pipeline)
    later = db.fetch_dicts(
        f"""
        SELECT run_id FROM {cdc}.run_log
        WHERE pipeline = %s AND run_id > %s AND status = 'succeeded' AND kind IN ('run', 'rebuild')
        ORDER BY run_id DESC
        """,
        [manifest.pipeline, run_id],
        what="read the runs to roll back",
    )
    try:
        db.execute(f"CALL {procedure}({int(run_id)})", what=f"CALL {procedure}({int(run_id)})")
    except DatabaseError as exc:
        failed = _latest_run(db, cdc, manifest.pipeline, after=before, kind="rollback")
        logged = f" (logged as run {failed['run_id']}, {failed['status']})" if failed else ""
        raise RunFailed(
            f"the rollback of {manifest.pipeline} to run {run_id} failed{logged}: {exc}\n"
            f"Nothing was rolled back. History: cdcgen status {manifest.pipeline}"
        ) from None
    run = _latest_run(db, cdc, manifest.pipeline, after=before, kind="rollback")
    if run is None:
        raise DeployError(f"CALL {procedure} returned but wrote no run_log row in {cdc}.run_log")
    return RollbackResult(run, tuple(int(r["run_id"]) for r in later))


# --------------------------------------------------------------------------- bootstrap


def bootstrap(db: Database, manifest: Manifest, *, force: bool = False) -> BootstrapResult:
    """First load after the first deploy: one run (window-mode staging holding a full
    snapshot loads everything as inserts), then a rebuild of each target that held
    rows before it, so every target starts consistent with the baseline. A target
    that was empty needs none: every source row was an insert, so the run reached
    every key and loaded the full definition (rebuilding it doubled the bootstrap)."""
    if not force:
        loaded = [s.baseline for s in manifest.sources if _has_rows(db, s.baseline)]
        if loaded:
            raise BootstrapRefused(
                f"bootstrap is for empty baselines, but {', '.join(loaded)} already hold rows; "
                "use `cdcgen run` for the next cycle (or --force to bootstrap anyway)"
            )
    held = [t.name for t in manifest.targets if _has_rows(db, t.table)]
    run = run_cycle(db, manifest)
    for target in held:
        rebuild(db, manifest, target)
    return BootstrapResult(run, tuple(held))


def _has_rows(db: Database, table: str) -> bool:
    if not table_exists(db, table):
        return False
    return bool(db.fetchall(f"SELECT 1 FROM {table} LIMIT 1", what=f"look into {table}"))


# --------------------------------------------------------------------------- introspect


def introspect(db: Database, schema: str) -> dict[str, dict[str, str]]:
    """``{table: {column: type}}`` of a schema, types in canonical Redshift spelling
    (``character varying(255)`` → ``varchar(255)``); a type Redshift lacks is kept as
    the server wrote it, for ``cdcgen validate`` to report."""
    rows = db.fetchall(
        """
        SELECT c.table_name, c.column_name, c.data_type, c.udt_name,
               c.character_maximum_length, c.numeric_precision, c.numeric_scale
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = %s AND t.table_type IN ('BASE TABLE', 'VIEW')
        ORDER BY c.table_name, c.ordinal_position
        """,
        [schema],
        what=f"read the columns of schema {schema}",
    )
    if not rows:
        raise InputError(
            f"schema {schema!r} has no tables (or does not exist, or is not readable)"
        )
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type, udt, length, precision, scale in rows:
        written = information_schema_type(data_type, udt, length, precision, scale)
        tables.setdefault(table, {})[column] = _catalog_type(written)
    return tables


def _catalog_type(written: str) -> str:
    try:
        return canonical_type(written)
    except TypeProblem:
        return written


def introspect_yaml(db: Database, schema: str) -> str:
    from cdcgen.spec.catalog import dump_catalog

    return dump_catalog(schema, introspect(db, schema))

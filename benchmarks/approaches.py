"""The four approaches, each timed on its own clone of the prepared database, each
followed by a correctness check against the truth."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

import dbt_incremental
from databases import Cluster, fact_digests
from full_refresh import full_refresh, sync_baseline
from pipeline import Pipeline
from prepare import PREP, Digests, fact_columns, fact_state, wrong_rows
from seed_processor import seed_processor

CLONE = "bench_run"


@dataclass
class Measurement:
    approach: str
    seconds: float
    rows_written: int
    wrong: dict[str, int]  # fact -> rows differing from the full definition
    extra_seconds: dict[str, float] = field(default_factory=dict)  # other views of the time
    statements: int | None = None  # statements the run executed (cdcgen: run_log.statements)


@dataclass(frozen=True)
class Approach:
    name: str
    label: str
    run: Callable[[psycopg.Connection, Pipeline, Digests, Path | None], Measurement]


def _check(conn: psycopg.Connection, pipe: Pipeline, expected: Digests) -> dict[str, int]:
    actual = fact_state(conn, pipe)
    return {fact: wrong_rows(actual[fact], expected[fact]) for fact in expected}


def run_cdcgen(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, _: Path | None
) -> Measurement:
    procedure = pipe.manifest.procedure("run")
    started = time.perf_counter()
    conn.execute(f"CALL {procedure}()")
    seconds = time.perf_counter() - started
    cdc = pipe.manifest.cdc_schema
    status, written, statements = conn.execute(
        f"SELECT status, (SELECT COALESCE(SUM(inserted + updated + deleted), 0) FROM {cdc}.run_counts c "
        f"WHERE c.run_id = r.run_id AND object_kind <> 'source'), statements "
        f"FROM {cdc}.run_log r ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    if status != "succeeded":
        raise RuntimeError(f"the cdcgen run ended {status}")
    return Measurement(
        "cdcgen", seconds, int(written), _check(conn, pipe, expected), statements=statements
    )


def _run_cdcgen_lean(
    audit: str, conn: psycopg.Connection, pipe: Pipeline, expected: Digests, project: Path | None
) -> Measurement:
    """cdcgen with a lean ``audit``: the same tables, procedures writing leaner images
    (installed on the clone before the clock starts)."""
    for procedure in pipe.lean_procedures[audit]:
        conn.execute(procedure)
    measured = run_cdcgen(conn, pipe, expected, project)
    measured.approach = f"cdcgen_{audit}"
    return measured


def run_cdcgen_keys(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, project: Path | None
) -> Measurement:
    """cdcgen with ``audit: keys``: key-only row images."""
    return _run_cdcgen_lean("keys", conn, pipe, expected, project)


def run_cdcgen_changed(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, project: Path | None
) -> Measurement:
    """cdcgen with ``audit: changed``: an update logs its key and changed columns only."""
    return _run_cdcgen_lean("changed", conn, pipe, expected, project)


def run_full_refresh(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, _: Path | None
) -> Measurement:
    started = time.perf_counter()
    written = full_refresh(conn, pipe)
    seconds = time.perf_counter() - started
    return Measurement("full", seconds, written, _check(conn, pipe, expected))


def run_seed(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, _: Path | None
) -> Measurement:
    started = time.perf_counter()
    issued = seed_processor(conn, pipe)
    seconds = time.perf_counter() - started
    return Measurement("seed", seconds, issued, _check(conn, pipe, expected))


def run_dbt(
    conn: psycopg.Connection, pipe: Pipeline, expected: Digests, project: Path | None
) -> Measurement:
    assert project is not None
    started = time.perf_counter()
    with conn.transaction():
        sync_baseline(conn, pipe)
    sync_s = time.perf_counter() - started
    dbt = dbt_incremental.dbt_run(project, CLONE)
    actual = fact_digests(
        conn,
        dbt_incremental.TABLE,
        "vendor_id",
        fact_columns(pipe, pipe.manifest.target("fact_vendor").table),
    )
    wrong = {"fact_vendor": wrong_rows(actual, expected["fact_vendor"])}
    return Measurement(
        "dbt", sync_s + dbt.wall_s, dbt.rows, wrong, {"sql_only": sync_s + dbt.model_s}
    )


APPROACHES = (
    Approach("cdcgen", "cdcgen incremental (`CALL cdc.sp_vendor_run()`)", run_cdcgen),
    Approach(
        "cdcgen_changed",
        "cdcgen, `audit: changed` (updates log their changed columns)",
        run_cdcgen_changed,
    ),
    Approach("cdcgen_keys", "cdcgen, `audit: keys` (key-only row images)", run_cdcgen_keys),
    Approach("full", "full refresh (baseline sync + rebuild 4 facts)", run_full_refresh),
    Approach("seed", "seed-style Python processor", run_seed),
    Approach("dbt", "dbt incremental (sync + `dbt run`, fact_vendor only)", run_dbt),
)


def measure(
    cluster: Cluster, approach: Approach, pipe: Pipeline, expected: Digests, project: Path | None
) -> Measurement:
    """One timed run of ``approach`` on a fresh clone of the prepared database."""
    with cluster.copy_of(PREP, CLONE) as conn:
        return approach.run(conn, pipe, expected, project)

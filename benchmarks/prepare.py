"""The databases every measurement is cloned from.

- ``bench_boot``: the pipeline deployed, the world bulk-loaded into staging (COPY),
  bootstrapped (``cdcgen bootstrap``: the first run), the dbt model built.
- ``bench_prep``: a clone of ``bench_boot`` with one batch loaded into staging, as the
  ETL would (window sources cleared and reloaded, snapshots in full, append feeds
  untouched). Every approach runs on its own clone of it.
- the truth: a clone of ``bench_boot`` whose baseline is loaded straight from the
  generator's world after the batch, each fact recomputed from its full view; each
  approach's facts are compared with it (by row digest).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cdcgen.demo.data import World
from cdcgen.deploy import ops
from cdcgen.deploy.apply import apply_plan
from cdcgen.deploy.connect import connect
from cdcgen.deploy.plan import build_plan
from psycopg import sql

import dbt_incremental
from databases import Cluster, copy_rows, fact_digests, identifier
from datagen import APPEND_SOURCES, Batch, live_rows
from full_refresh import create_watermark, rebuild_facts
from pipeline import Pipeline

BOOT = "bench_boot"
PREP = "bench_prep"
TRUTH = "bench_truth"

Digests = dict[str, dict[str, str]]  # fact -> key -> md5


@dataclass(frozen=True)
class Bootstrapped:
    seconds: float  # cdcgen bootstrap: the first run (targets empty: no rebuild)
    statements: int  # statements those procedure calls executed (run_log.statements)
    rows_written: int  # target rows the first run wrote


def bootstrap(
    cluster: Cluster,
    pipe: Pipeline,
    world: World,
    dbt_project: Path | None,
    phases: dict[str, float] | None = None,
) -> Bootstrapped:
    """Create ``bench_boot``: deploy, load staging, bootstrap, build the dbt model.
    ``phases``, if given, receives the seconds each step took (deploy, copy,
    bootstrap, analyze, dbt)."""
    clock = _Clock(phases)
    cluster.create(BOOT)
    with connect(cluster.dsn(BOOT)) as db:
        apply_plan(db, build_plan(db, pipe.manifest, with_staging=True))
        clock.lap("deploy")
        with psycopg.connect(cluster.dsn(BOOT)) as conn:
            for name, _, staging, _ in pipe.sources:
                copy_rows(conn, staging, pipe.columns(staging), list(world.table(name).values()))
        clock.lap("copy")
        started = time.perf_counter()
        ops.bootstrap(db, pipe.manifest)
        seconds = time.perf_counter() - started
        clock.lap("bootstrap")
    cdc = pipe.manifest.cdc_schema
    with cluster.connect(BOOT) as conn:
        statements, written = conn.execute(
            f"SELECT COALESCE(SUM(statements), 0), (SELECT COALESCE(SUM(inserted + updated + deleted), 0) "
            f"FROM {cdc}.run_counts WHERE object_kind <> 'source') FROM {cdc}.run_log"
        ).fetchone()
        create_watermark(conn, pipe)
        conn.execute("VACUUM ANALYZE")
    clock.lap("analyze")
    if dbt_project is not None:
        dbt_incremental.dbt_run(dbt_project, BOOT)
        clock.lap("dbt")
    return Bootstrapped(seconds, int(statements), int(written))


class _Clock:
    """Seconds since the last lap, recorded by name (nothing when ``into`` is None)."""

    def __init__(self, into: dict[str, float] | None):
        self.into = into
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.into is not None:
            self.into[name] = now - self.last
        self.last = now


def stage_batch(cluster: Cluster, pipe: Pipeline, batch: Batch) -> None:
    """Create ``bench_prep``: ``bench_boot`` plus the batch in staging."""
    cluster.clone(BOOT, PREP)
    with psycopg.connect(cluster.dsn(PREP)) as conn:
        for name, _, staging, _ in pipe.sources:
            if name in APPEND_SOURCES:
                continue
            # TRUNCATE + COPY between runs, as docs/staging.md tells an ETL to reload (a
            # DELETE would leave the heap full of dead rows every staged read scans)
            conn.execute(sql.SQL("TRUNCATE {}").format(identifier(staging)))
            copy_rows(conn, staging, pipe.columns(staging), batch.rows.get(name, []))
        conn.commit()
    with cluster.connect(PREP) as conn:
        conn.execute("VACUUM ANALYZE")


def truth(cluster: Cluster, pipe: Pipeline, world: World) -> Digests:
    """Every fact recomputed from its full definition over the world's true state."""
    with cluster.copy_of(BOOT, TRUTH) as conn, conn.transaction():
        for name, _, _, baseline in pipe.sources:
            conn.execute(sql.SQL("TRUNCATE {}").format(identifier(baseline)))
            copy_rows(conn, baseline, pipe.columns(baseline), live_rows(world, name))
        rebuild_facts(conn, pipe)
        return fact_state(conn, pipe)


def fact_state(conn: psycopg.Connection, pipe: Pipeline) -> Digests:
    return {
        name: fact_digests(conn, table, key, fact_columns(pipe, table))
        for name, _, table, key in pipe.facts
    }


def fact_columns(pipe: Pipeline, table: str) -> list[tuple[str, str]]:
    obj = next(o for o in pipe.manifest.objects if o.name == table)
    return list(obj.columns)


def wrong_rows(actual: dict[str, str], expected: dict[str, str]) -> int:
    """Rows missing, extra, or different from the full definition."""
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    different = sum(1 for k in actual.keys() & expected.keys() if actual[k] != expected[k])
    return len(missing) + len(extra) + different

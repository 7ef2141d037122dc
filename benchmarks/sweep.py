"""Scale sweep (not run in CI): the same number of changed source rows (48 by default)
at several scales, to show whether a cdcgen run costs O(changes) or grows with the data.

    python benchmarks/sweep.py [SCALE ...] [--rows N] [--repeat R] [--no-dbt] [--json OUT] [--output MD]

One PostgreSQL (pgserver) serves every scale. Per scale, as ``run.py`` does: generate
the world, deploy, COPY it into staging, bootstrap; then stage one batch of about
``--rows`` changed source rows (``BatchMaker`` at the rate that yields them, so the mix
of renames, moves, deletes and new vendors is the rate-based batches' own), compute the
truth, and time cdcgen, the full refresh and dbt (if installed) ``--repeat`` times each
on fresh clones, checking every run's facts (0 wrong rows or the speed does not count).
The databases of a scale are dropped before the next.

``--json`` writes ``run.py``'s records (``scale``, ``changes_pct``, ``changed_rows``,
``approach``, ``median_s``, ``runs_s``, ``rows_written``, ``wrong_rows``,
``statements``, plus a ``bootstrap`` record per scale), each with ``"sweep": true`` so
``chart.py`` can tell them from the change-rate runs and draw them as time vs scale.
``--output`` (default ``benchmarks/sweep.md``) gets the table and the time every phase
of every scale took (to predict bigger scales).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdcgen.demo.server import start_server

import dbt_incremental
from approaches import APPROACHES, Approach, Measurement, measure
from chart import load_note, sweep_table
from databases import Cluster
from datagen import BatchMaker, generate
from pipeline import Pipeline
from prepare import BOOT, PREP, Bootstrapped, bootstrap, stage_batch, truth
from report import RateResult, machine
from run import STARTED, _dbt_note, log, records, revision, rotated, sweep_seed

HERE = Path(__file__).resolve().parent
SCALES = (1.0, 3.0, 10.0, 30.0)
ROWS = 48
#: the approaches a sweep times (dbt only when installed and not --no-dbt)
SWEPT = ("cdcgen", "full", "dbt")
PHASES = (
    "generate", "deploy", "copy", "bootstrap", "analyze", "dbt", "batch", "stage", "truth", "runs"
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scales", type=float, nargs="*", default=list(SCALES), metavar="SCALE",
        help="scales to sweep, 1 = 10,000 companies (default 1 3 10 30)",
    )
    parser.add_argument(
        "--rows", type=int, default=ROWS, help=f"changed source rows per batch (default {ROWS})"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per approach and scale (median; default 3)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-dbt", action="store_true", help="skip dbt even if installed")
    parser.add_argument("--output", type=Path, default=HERE / "sweep.md")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    return parser.parse_args(argv)


@dataclass
class Point:
    """One scale of the sweep."""

    scale: float
    source_rows: int
    boot: Bootstrapped
    result: RateResult
    database_mb: float  # bench_boot's size (every run clones it, via bench_prep)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step


def sweep_point(
    cluster: Cluster,
    pipe: Pipeline,
    scale: float,
    args: argparse.Namespace,
    chosen: list[Approach],
    project: Path | None,
) -> Point:
    phases: dict[str, float] = {}
    started = time.perf_counter()
    log(f"scale {scale:g}: generating the world")
    world, builder = generate(pipe.staging_types(), scale, args.seed)
    phases["generate"] = time.perf_counter() - started
    source_rows = sum(world.counts().values())
    log(f"scale {scale:g}: {source_rows:,} source rows; deploying, loading staging, bootstrapping")
    boot = bootstrap(cluster, pipe, world, project, phases)
    with cluster.admin() as conn:
        size = conn.execute("SELECT pg_database_size(%s)", [BOOT]).fetchone()[0]
    log(
        f"scale {scale:g}: bootstrap {boot.seconds:.2f} s, {boot.statements} statements; "
        f"database {size / 2**20:,.0f} MB"
    )
    lap = time.perf_counter()
    rate = BatchMaker.rate_for(world, args.rows)
    maker = BatchMaker(world, builder, rate, seed=sweep_seed(args.seed, args.rows))
    batch = maker.make()
    phases["batch"] = time.perf_counter() - lap
    log(f"scale {scale:g}: rate {rate * 100:.4g} %, {batch.total_changed} rows changed {batch.changed}")
    lap = time.perf_counter()
    stage_batch(cluster, pipe, batch)
    phases["stage"] = time.perf_counter() - lap
    lap = time.perf_counter()
    expected = truth(cluster, pipe, maker.world)
    phases["truth"] = time.perf_counter() - lap
    lap = time.perf_counter()
    runs: list[Measurement] = []
    for repeat in range(args.repeat):
        for approach in rotated(chosen, repeat):
            m = measure(cluster, approach, pipe, expected, project)
            wrong = sum(m.wrong.values())
            log(
                f"  {approach.name:6} run {repeat + 1}: {m.seconds:8.3f} s, wrote {m.rows_written:,}, "
                f"wrong {wrong}{'  <-- WRONG ROWS: this time does not count' if wrong else ''}"
            )
            runs.append(m)
    phases["runs"] = time.perf_counter() - lap
    timed = sum(m.seconds for m in runs)
    log(f"scale {scale:g}: runs {phases['runs']:.1f} s, of which timed {timed:.1f} s (the rest: clones, checks)")
    cluster.drop(PREP)
    cluster.drop(BOOT)
    fact_rows = {fact: len(rows) for fact, rows in expected.items()}
    result = RateResult(rate * 100, batch.changed, runs, fact_rows)
    log(f"scale {scale:g}: done in {time.perf_counter() - started:.0f} s")
    return Point(scale, source_rows, boot, result, size / 2**20, phases)


def sweep_records(points: list[Point]) -> list[dict[str, Any]]:
    """``run.py``'s records for every scale, marked ``"sweep": true``."""
    out = []
    for point in points:
        for record in records(point.scale, point.boot, [point.result]):
            if record["changes_pct"] is not None:
                record["changes_pct"] = round(record["changes_pct"], 6)
            out.append({**record, "sweep": True})
    return out


def phase_table(points: list[Point]) -> list[str]:
    """Where each scale's time went (to predict the next scale)."""
    used = [p for p in PHASES if any(p in point.phases for point in points)]
    lines = [
        "| scale | source rows | database | " + " | ".join(used) + " | whole scale |",
        "| ---: | ---: | ---: | " + " | ".join("---:" for _ in used) + " | ---: |",
    ]
    for point in points:
        cells = [f"{point.phases[p]:.1f} s" if p in point.phases else "" for p in used]
        lines.append(
            f"| {point.scale:g} | {point.source_rows:,} | {point.database_mb:,.0f} MB | "
            + " | ".join(cells)
            + f" | {sum(point.phases.values()) / 60:.1f} min |"
        )
    return lines


def markdown(
    points: list[Point], recs: list[dict[str, Any]], args: argparse.Namespace, head: dict[str, str]
) -> str:
    lines = [
        f"# cdcgen benchmark: scale sweep at {args.rows} changed source rows",
        "",
        f"- date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- command: `{head['command']}` (whole sweep {(time.perf_counter() - STARTED) / 60:.1f} min)",
        f"- cdcgen: commit {head['revision']} (generated PostgreSQL rendering of mappings/vendor.yml)",
        f"- machine: {machine()}; {load_note()}",
        f"- server: {head['server']}",
        f"- times: median of {args.repeat} run(s) per approach, each on a fresh "
        "`CREATE DATABASE … TEMPLATE` clone; the batch is `BatchMaker` at the rate that "
        f"changes about {args.rows} source rows at that scale",
        f"- dbt: {head['dbt']}",
        "",
        *sweep_table(recs),
        "## Where the time went",
        "",
        "Seconds per step of each scale: generate (Python), deploy, copy (COPY into staging), "
        "bootstrap (the first run), analyze (VACUUM ANALYZE), dbt (first model build), batch, "
        "stage (clone + load the batch), truth (clone + baseline from the generator + full "
        "rebuild + digests), runs (every timed run with its clone and check).",
        "",
        *phase_table(points),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    use_dbt = not args.no_dbt and dbt_incremental.available()
    chosen = [a for a in APPROACHES if a.name in SWEPT and (a.name != "dbt" or use_dbt)]
    with ExitStack() as stack:
        pipe = Pipeline.load(stack)
        server = start_server()
        stack.callback(server.stop)
        cluster = Cluster(server)
        project = None
        if use_dbt:
            project = Path(tempfile.mkdtemp(prefix="cdcgen-bench-dbt-"))
            stack.callback(dbt_incremental.remove_project, project)
            dbt_incremental.write_project(project, cluster, pipe)
        points = []
        for scale in args.scales:
            points.append(sweep_point(cluster, pipe, scale, args, chosen, project))
            recs = sweep_records(points)
            if args.json is not None:  # after every scale: a long sweep keeps what it measured
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(recs, indent=1) + "\n")
        with cluster.admin() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    head = {
        "command": "python benchmarks/sweep.py " + shlex.join(argv),
        "revision": revision(),
        "server": f"PostgreSQL {version} (pgserver, local unix socket)",
        "dbt": _dbt_note(args.no_dbt, use_dbt),
    }
    text = markdown(points, sweep_records(points), args, head)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    wrong = sum(r["wrong_rows"] for r in sweep_records(points))
    if wrong:
        print(f"{wrong} wrong rows: these times do not count", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

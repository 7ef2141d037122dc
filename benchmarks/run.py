"""Side-by-side benchmark of the vendor pipeline (not run in CI).

    python benchmarks/run.py [--scale N] [--changes PCT ...] [--rows N] [--repeat R] [--no-dbt] [--json OUT]

Starts its own PostgreSQL (pgserver; stopped at the end), generates the supplier
network at ``--scale`` (1 = 10,000 companies), bootstraps it, then for each change rate
stages one batch and measures, on identical clones of the same database:

1. cdcgen incremental: ``CALL cdc.sp_vendor_run()``;
2. full refresh: baseline sync + ``DELETE``/``INSERT … SELECT`` of every fact;
3. the seeds' Python processor (column-by-column compare, dictionary, UPDATEs);
4. dbt incremental (if ``benchmarks/.venv-dbt`` has dbt): sync + ``dbt run``.

and counts the fact rows each leaves different from the full definition. Writes
``benchmarks/results.md`` and prints it. ``--rows N`` adds one batch of about N changed
source rows: the scale sweep's point at this scale (``sweep.py``), measured on the world
this run already bootstrapped; its JSON records carry ``"sweep": true``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cdcgen.demo.data import World
from cdcgen.demo.server import start_server

import dbt_incremental
from approaches import APPROACHES, Approach, Measurement, measure
from databases import Cluster
from datagen import BatchMaker, FastBuilder, generate
from pipeline import Pipeline
from prepare import BOOT, PREP, Bootstrapped, bootstrap, stage_batch, truth
from report import RateResult, markdown

RESULTS = Path(__file__).resolve().parent / "results.md"
STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 10,000 companies (default 1)")
    parser.add_argument(
        "--changes",
        type=float,
        nargs="+",
        default=[0.1, 1.0, 10.0],
        metavar="PCT",
        help="change rates in percent; 0 = a no-op cycle (default 0.1 1 10)",
    )
    parser.add_argument(
        "--rows", type=int, default=None, metavar="N",
        help="also a batch of about N changed source rows, the scale sweep's point "
        "(JSON records marked sweep: true)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per approach and rate (median; default 3)"
    )
    parser.add_argument(
        "--bootstrap-repeat", type=int, default=1, metavar="N",
        help="bootstraps into a fresh database N times and reports their median (a single "
        "bootstrap at scale 10 has ranged from 45 to 71 s between records; default 1)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-dbt", action="store_true", help="skip dbt even if installed")
    parser.add_argument(
        "--no-seed", action="store_true", help="skip the seed-style Python processor (slow)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--json", type=Path, default=None, metavar="OUT",
        help="also write the measurements as JSON records (see records())",
    )
    return parser.parse_args(argv)


def approaches(use_dbt: bool, use_seed: bool = True) -> list[Approach]:
    return [
        a for a in APPROACHES if (a.name != "dbt" or use_dbt) and (a.name != "seed" or use_seed)
    ]


def rotated(items: list[Approach], shift: int) -> list[Approach]:
    """A different order each repeat, so no approach always runs first (cold caches)."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def bench_rate(
    cluster: Cluster,
    pipe: Pipeline,
    world: World,
    builder: FastBuilder,
    rate_pct: float,
    args: argparse.Namespace,
    chosen: list[Approach],
    project: Path | None,
    seed: int | None = None,
) -> RateResult:
    """One change rate: stage the batch, compute the truth, time every approach."""
    seed = args.seed + int(rate_pct * 1000) if seed is None else seed
    batch_maker = BatchMaker(world, builder, rate_pct / 100, seed=seed)
    batch = batch_maker.make()
    log(f"{rate_pct:g} %: {batch.total_changed:,} source rows changed {batch.changed}")
    stage_batch(cluster, pipe, batch)
    expected = truth(cluster, pipe, batch_maker.world)
    runs: list[Measurement] = []
    for repeat in range(args.repeat):
        for approach in rotated(chosen, repeat):
            m = measure(cluster, approach, pipe, expected, project)
            log(
                f"  {approach.name:6} run {repeat + 1}: {m.seconds:8.3f} s, wrote {m.rows_written:,}, wrong {m.wrong}"
            )
            runs.append(m)
    cluster.drop(PREP)
    fact_rows = {fact: len(rows) for fact, rows in expected.items()}
    return RateResult(rate_pct, batch.changed, runs, fact_rows)


#: what a benchmark measures: the SQL cdcgen generates and the harness that times it
#: (edits to docs, the README or past records leave a measurement unchanged)
MEASURED_PATHS = ("cdcgen", "templates", "mappings", "benchmarks/*.py", "pyproject.toml", "setup.py")


def revision() -> str:
    """The cdcgen commit measured, ``-dirty`` when a measured path has uncommitted changes."""
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = _git(repo, "rev-parse", "--short", "HEAD")
        changed = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", *MEASURED_PATHS)
    except (OSError, subprocess.CalledProcessError):
        recorded = repo / ".revision"  # an exported tree (git archive) may record it here
        return recorded.read_text().strip() if recorded.is_file() else "unknown"
    return f"{commit}-dirty" if changed else commit


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    use_dbt = not args.no_dbt and dbt_incremental.available()
    dbt_note = _dbt_note(args.no_dbt, use_dbt)
    chosen = approaches(use_dbt, not args.no_seed)
    with ExitStack() as stack:
        pipe = Pipeline.load(stack)
        log(f"generating the world at scale {args.scale:g}")
        world, builder = generate(pipe.staging_types(), args.scale, args.seed)
        log(f"world: {world.counts()}")
        server = start_server()
        stack.callback(server.stop)
        cluster = Cluster(server)
        project = None
        if use_dbt:
            project = Path(tempfile.mkdtemp(prefix="cdcgen-bench-dbt-"))
            stack.callback(dbt_incremental.remove_project, project)
            dbt_incremental.write_project(project, cluster, pipe)
        boot, boot_runs = bootstraps(cluster, pipe, world, project, args.bootstrap_repeat)
        results = [
            bench_rate(cluster, pipe, world, builder, pct, args, chosen, project)
            for pct in args.changes
        ]
        swept = None
        if args.rows is not None:
            rate = BatchMaker.rate_for(world, args.rows)
            # the seed sweep.py uses: the same world and rate give the same batch
            swept = bench_rate(
                cluster, pipe, world, builder, rate * 100, args, chosen, project,
                seed=sweep_seed(args.seed, args.rows),
            )
        with cluster.admin() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    command = "python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = markdown(
        results + ([swept] if swept else []),
        scale=args.scale,
        repeat=args.repeat,
        command=command.strip(),
        world_rows=world.counts(),
        server=f"PostgreSQL {version} (pgserver, local unix socket)",
        revision=revision(),
        dbt_note=dbt_note,
        elapsed_s=time.perf_counter() - STARTED,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)  # benchmarks/out/ is not in git
    args.output.write_text(text + "\n", encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = records(args.scale, boot, results, boot_runs)
        if swept is not None:
            out += [
                {**r, "changes_pct": round(r["changes_pct"], 6), "sweep": True}
                for r in records(args.scale, boot, [swept])
                if r["approach"] != "bootstrap"
            ]
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(text)
    return 0


def sweep_seed(seed: int, rows: int) -> int:
    """The batch seed of a sweep point (run.py --rows and sweep.py agree on it)."""
    return seed + rows


#: approach names in the JSON records
JSON_NAMES = {
    "cdcgen": "cdcgen",
    "cdcgen_changed": "cdcgen_audit_changed",
    "cdcgen_keys": "cdcgen_audit_keys",
    "full": "full_refresh",
    "seed": "seed_processor",
    "dbt": "dbt",
}


def bootstraps(
    cluster: Cluster, pipe: Pipeline, world: World, project: Path | None, times: int
) -> tuple[Bootstrapped, list[float]]:
    """Bootstrap ``times`` times, each into a fresh ``bench_boot``; the last one stays for
    the cycles (and builds the dbt model). Returns it and every run's seconds."""
    runs: list[float] = []
    times = max(times, 1)
    for i in range(times):
        last = i == times - 1
        if i:
            cluster.drop(BOOT)
        log("deploying, loading staging (COPY) and bootstrapping")
        boot = bootstrap(cluster, pipe, world, project if last else None)
        log(f"bootstrap: {boot.seconds:.2f} s, {boot.statements} statements")
        runs.append(boot.seconds)
    return boot, runs


def records(
    scale: float,
    boot: Bootstrapped,
    results: list[RateResult],
    boot_runs: list[float] | None = None,
) -> list[dict[str, Any]]:
    """One record per scale, change rate and approach, plus the bootstrap of the scale
    (the median of ``boot_runs`` when it was repeated)."""
    runs = boot_runs or [boot.seconds]
    out: list[dict[str, Any]] = [
        {
            "scale": scale,
            "changes_pct": None,
            "changed_rows": None,
            "approach": "bootstrap",
            "median_s": round(statistics.median(runs), 4),
            "runs_s": [round(r, 4) for r in runs],
            "rows_written": boot.rows_written,
            "wrong_rows": 0,
            "statements": boot.statements,
        }
    ]
    for result in results:
        for name, label in JSON_NAMES.items():
            runs = [m for m in result.measurements if m.approach == name]
            if not runs:
                continue
            statements = [m.statements for m in runs if m.statements is not None]
            out.append(
                {
                    "scale": scale,
                    "changes_pct": result.rate_pct,
                    "changed_rows": sum(result.source_rows_changed.values()),
                    "approach": label,
                    "median_s": round(statistics.median(m.seconds for m in runs), 4),
                    "runs_s": [round(m.seconds, 4) for m in runs],
                    "rows_written": int(statistics.median(m.rows_written for m in runs)),
                    "wrong_rows": max(sum(m.wrong.values()) for m in runs),
                    "statements": int(statistics.median(statements)) if statements else None,
                }
            )
    return out


def _dbt_note(skipped: bool, used: bool) -> str:
    if skipped:
        return "skipped (--no-dbt)"
    if not used:
        return f"skipped: no dbt at {dbt_incremental.DBT} (see benchmarks/README.md)"
    return "dbt-core + dbt-postgres from benchmarks/.venv-dbt; wall time includes dbt's process start and parse"


if __name__ == "__main__":
    sys.exit(main())

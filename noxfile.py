"""Developer sessions: tests, lint, types, golden updates, demo, soak and benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "types"]
nox.options.default_venv_backend = "venv"
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The CI test suite (same command as the README): unit, golden, execution, property."""
    session.install("-e", ".[test]")
    session.run("cdcgen", "build", "--check", "mappings")
    # two workers: the PostgreSQL-backed and sqlfluff-bound tests use both cores
    session.run("pytest", "-q", "-n", "auto", "--dist", "worksteal", "--durations=15", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5", "import-linter>=2.0", "-e", ".")
    session.run("ruff", "check", "cdcgen", "tests", "noxfile.py")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    session.install("mypy>=1.10", "-e", ".[test]")
    session.run("mypy", "cdcgen")


@nox.session(python=PYTHON)
def golden(session: nox.Session) -> None:
    """Regenerate golden files (generated SQL, error messages); review them as a diff."""
    session.install("-e", ".[test]")
    session.run("cdcgen", "build", "mappings")
    session.run("pytest", "-q", "tests", "--update-golden", "-k", "golden")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    session.install("-e", ".[demo]")
    session.run("cdcgen", "demo", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Long property run: thousands of hypothesis examples against the real PostgreSQL."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "tests", "-m", "slow", "--hypothesis-profile=soak",
                "--hypothesis-show-statistics", "-s", *session.posargs)


BENCH_SCALES = ("1", "10", "30")
BENCH_CHANGES = ("0", "0.01", "0.1", "1", "10")
#: the scale sweep at a fixed number of changed rows (benchmarks/sweep.py)
SWEEP_SCALES = ("1", "3", "10", "30")
SWEEP_ROWS = "48"
#: bootstraps per scale (median): single ones spread by a third between records
BOOTSTRAP_REPEAT = "3"


def _bench_scales(posargs: list[str]) -> tuple[list[str], list[str]]:
    """``[SCALE ...] [--sweep SCALE ...]``: the change-rate runs' scales, then the
    sweep's; no posargs = the defaults, posargs without ``--sweep`` = no sweep."""
    if not posargs:
        return list(BENCH_SCALES), list(SWEEP_SCALES)
    if "--sweep" not in posargs:
        return list(posargs), []
    at = posargs.index("--sweep")
    return list(posargs[:at]), list(posargs[at + 1 :])


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks at scales 1, 10 and 30 (hours at 30), then the scale sweep at 48 changed
    rows over scales 1, 3, 10 and 30, then benchmarks/out/summary.md, results.png and
    sweep.png. A swept scale that also has a run gets its sweep point from that run
    (``run.py --rows``: no second bootstrap); sweep.py does the others (3).
    ``nox -s bench -- 1`` runs only the scales given, no sweep; ``-- 1 --sweep 1 3``
    also sweeps 1 and 3; ``-- --sweep 1 3`` only sweeps."""
    session.install("-e", ".[test,bench]")
    scales, swept = _bench_scales(session.posargs)
    out = "benchmarks/out"
    inputs = []
    for scale in scales:
        records = f"{out}/scale-{scale}.json"
        session.run(
            "python", "benchmarks/run.py", "--scale", scale, "--changes", *BENCH_CHANGES,
            "--json", records, "--output", f"{out}/results-scale-{scale}.md", "--no-seed",
            "--bootstrap-repeat", BOOTSTRAP_REPEAT,
            # a swept scale's sweep point, measured on the world this run bootstrapped
            *(("--rows", SWEEP_ROWS) if scale in swept else ()),
        )
        inputs.append(records)
    swept = [s for s in swept if s not in scales]  # the others came with their run
    if swept:
        records = f"{out}/sweep.json"
        session.run(
            "python", "benchmarks/sweep.py", *swept, "--rows", SWEEP_ROWS,
            "--json", records, "--output", f"{out}/sweep.md",
        )
        inputs.append(records)
    if not inputs:
        session.error("nothing to run: give scales, --sweep scales, or no arguments")
    session.run(
        "python", "benchmarks/chart.py", *inputs, "--png", "benchmarks/results.png",
        "--sweep-png", "benchmarks/sweep.png", "--markdown", f"{out}/summary.md",
    )

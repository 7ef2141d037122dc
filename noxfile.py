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


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks at scales 1, 10 and 30 (hours at 30), then benchmarks/results.md and
    results.png. ``nox -s bench -- 1`` runs only the scales given."""
    session.install("-e", ".[test,bench]")
    scales = session.posargs or BENCH_SCALES
    out = "benchmarks/out"
    inputs = []
    for scale in scales:
        records = f"{out}/scale-{scale}.json"
        session.run(
            "python", "benchmarks/run.py", "--scale", scale, "--changes", *BENCH_CHANGES,
            "--json", records, "--output", f"{out}/results-scale-{scale}.md", "--no-seed",
        )
        inputs.append(records)
    session.run(
        "python", "benchmarks/chart.py", *inputs, "--png", "benchmarks/results.png",
        "--markdown", f"{out}/summary.md",
    )

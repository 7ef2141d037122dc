"""Shared fixtures: a real PostgreSQL 16 server (PyPI pgserver) per test session and a
fresh database per test. The server is stopped in a finally block, even when tests fail."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.golden_plugin", "tests.deploy_fixtures", "tests.strategies_pipeline"]
_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    pgserver = pytest.importorskip("pgserver")
    datadir = Path(tempfile.mkdtemp(prefix="cdcgen-pg-"))
    server = pgserver.get_server(datadir, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_server: object) -> str:
    return pg_server.get_uri()  # type: ignore[attr-defined]


def _with_database(uri: str, dbname: str) -> str:
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{dbname}" + (f"?{query}" if query else "")


def _fresh_database(pg_admin_dsn: str) -> Iterator[str]:
    name = f"cdcgen_t{next(_db_counter)}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_admin_dsn, name)
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    yield from _fresh_database(pg_admin_dsn)


@pytest.fixture
def other_pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A second fresh database, for tests that run two builds side by side."""
    yield from _fresh_database(pg_admin_dsn)


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _forget_cli_secrets() -> Iterator[None]:
    """The CLI remembers passwords to redact for the life of its process; in-process
    tests (CliRunner) must not leak one test's password into another's output."""
    yield
    from cdcgen.cli import output

    output._SECRETS.clear()

"""``cdcgen deploy --with-staging`` prints the staging DDL it created: the statements,
unwrapped, in the text form; a list under ``staging_ddl`` with ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app


@pytest.fixture
def cli(pg_dsn: str, secret_password: str):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(app, [*args, "--dsn", pg_dsn], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def _staging_files(build: Path) -> list[str]:
    return [
        (build / name).read_text(encoding="utf-8").strip() + "\n"
        for name in ("000_schema__staging.sql", "020_staging__staging.items.sql")
    ]


def test_text_prints_each_staging_statement_unwrapped_then_nothing_on_redeploy(
    cli, pg_dsn: str, mini_build: Path
) -> None:
    out = cli("deploy", "--with-staging", str(mini_build)).stdout
    assert "deployed: deployment 1 of mini" in out
    _, _, ddl = out.partition("staging DDL created:\n")
    assert ddl, out
    for statement in _staging_files(mini_build):
        assert statement.rstrip() in ddl
    assert ddl.index("CREATE SCHEMA IF NOT EXISTS staging") < ddl.index("CREATE TABLE")
    assert "CREATE TABLE IF NOT EXISTS staging.items (\n  id BIGINT," in ddl  # as written
    assert "mart" not in ddl and "cdc." not in ddl  # only staging
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('staging.items')::text").fetchone() == (
            "staging.items",
        )
    again = cli("deploy", "--with-staging", str(mini_build)).stdout
    assert "staging: nothing to create" in again


def test_without_with_staging_nothing_is_printed_about_staging(cli, mini_build: Path) -> None:
    out = cli("deploy", "--plan", str(mini_build)).stdout
    assert "staging DDL" not in out and "staging: nothing" not in out


def test_json_lists_the_statements(cli, mini_build: Path) -> None:
    planned = json.loads(cli("deploy", "--plan", "--json", "--with-staging", str(mini_build)).stdout)
    assert planned["staging_ddl"] == _staging_files(mini_build)
    assert "deployment_id" not in planned
    done = json.loads(cli("deploy", "--json", "--with-staging", str(mini_build)).stdout)
    assert done["staging_ddl"] == _staging_files(mini_build)
    assert done["deployment_id"] == 1 and done["backfilled"] == []
    again = json.loads(cli("deploy", "--json", "--with-staging", str(mini_build)).stdout)
    assert again["staging_ddl"] == [] and again["nothing_to_do"] is True
    plain = json.loads(cli("deploy", "--plan", "--json", str(mini_build)).stdout)
    assert plain["staging_ddl"] == []


def test_long_statements_are_not_wrapped_on_a_narrow_terminal(
    cli, mini_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    out = cli("deploy", "--plan", "--with-staging", str(mini_build)).stdout
    _, _, ddl = out.partition("staging DDL would create:\n")
    assert "CREATE TABLE IF NOT EXISTS staging.items (" in ddl

"""The database commands through the CLI (Typer's CliRunner), against a real PostgreSQL,
on the hand-written mini build (tests/fixtures/generated_mini)."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app


@pytest.fixture
def cli(pg_dsn, secret_password):
    """Runs ``cdcgen …`` against the test database; asserts the exit code and that the
    password (handed over in the environment) never shows in any output."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, dsn: str | None = pg_dsn):
        options = ["--dsn", dsn] if dsn else []
        result = runner.invoke(app, [*args, *options], catch_exceptions=False)
        output = result.output
        assert secret_password not in output
        assert result.exit_code == code, output
        return result

    return invoke


def sql(dsn: str, statement: str, *params):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else None


def stage(dsn: str, *rows: tuple[int, str]) -> None:
    for item_id, name in rows:
        sql(dsn, "INSERT INTO staging.items VALUES (%s, %s, clock_timestamp())", item_id, name)


def test_plan_changes_nothing_then_deploy_then_noop(cli, pg_dsn, mini_build):
    planned = cli("deploy", "--plan", str(mini_build))
    assert "+ create    schema cdc" in planned.output
    assert "Plan: 16 to create." in planned.output
    assert sql(pg_dsn, "SELECT nspname FROM pg_namespace WHERE nspname = 'cdc'") == []

    deployed = cli("deploy", str(mini_build))
    assert "deployed: deployment 1 of mini" in deployed.output

    again = cli("deploy", str(mini_build))
    assert "Nothing to do: the database matches this build." in again.output
    assert sql(pg_dsn, "SELECT count(*) FROM cdc.deployments") == [(1,)]


def test_deploy_finds_the_build_by_pipeline_name(cli, mini_build, monkeypatch):
    monkeypatch.chdir(mini_build.parent.parent.parent)  # the directory holding generated/
    assert "deployed: deployment 1" in cli("deploy", "mini").output
    assert "Nothing to do" in cli("deploy", "generated/mini").output


def test_plan_json_and_drift(cli, pg_dsn, mini_build):
    cli("deploy", str(mini_build))
    sql(
        pg_dsn,
        "CREATE OR REPLACE VIEW cdc.mini_status AS SELECT run_id, kind, status, started_at, "
        "finished_at, duration_ms, rows_changed, error FROM cdc.run_log",
    )
    result = cli("deploy", "--plan", "--json", str(mini_build))
    plan = json.loads(result.stdout)
    drifted = [s["object"] for s in plan["steps"] if s["drift"]]
    assert drifted == ["cdc.mini_status"]
    assert plan["previous_deployment"] == 1 and plan["nothing_to_do"] is False


def test_destructive_change_exits_1_with_the_reason(cli, mini_build, edit_build):
    cli("deploy", str(mini_build))
    edit_build(
        mini_build,
        "mart.fact_item",
        replace=("  item_name VARCHAR(100),\n", ""),
        columns=[["item_id", "bigint"]],
    )
    result = cli("deploy", str(mini_build), code=1)
    assert "x refused   target table mart.fact_item" in result.output
    assert "column item_name was dropped from the build" in result.output
    assert "rerun with --allow-destructive" in result.output
    cli("deploy", "--allow-destructive", str(mini_build))


def test_bootstrap_run_status_verify_rebuild(cli, pg_dsn, mini_build):
    cli("deploy", "--with-staging", str(mini_build))
    stage(pg_dsn, (1, "anvil"), (2, "rope"))

    boot = cli("bootstrap", str(mini_build))
    assert "run 1 succeeded" in boot.output
    # the run loaded the empty target in full: no rebuild after it
    assert "rebuilt:" not in boot.output
    cli("bootstrap", str(mini_build), code=1)  # refused: baselines hold rows now

    stage(pg_dsn, (3, "pulley"))
    ran = cli("run", str(mini_build))
    assert "run 2 succeeded" in ran.output
    assert "source  items" in ran.output and "fact    fact_item" in ran.output
    assert "unchanged" not in ran.output  # both count rows changed something

    ran_json = json.loads(cli("run", "--json", str(mini_build)).stdout)
    assert ran_json["run"]["status"] == "succeeded" and len(ran_json["counts"]) == 2

    shown = cli("status", str(mini_build))
    assert "mini: deployment 1" in shown.output and "recent runs:" in shown.output
    assert "freshness:" in shown.output and "ok" in shown.output
    status = json.loads(cli("status", "--json", "mini").stdout)  # by name: no build needed
    assert [r["run_id"] for r in status["runs"]] == [3, 2, 1]
    assert status["freshness"][0]["source"] == "items"
    assert isinstance(status["freshness"][0]["lag_seconds"], int)  # JSON keeps seconds
    assert "lag_seconds" not in shown.output and " s " in shown.output  # text: human lag

    # nothing staged since: no count row changed anything, so only how many had none
    quiet = cli("run", str(mini_build))
    assert "run 4 succeeded" in quiet.output and "0 row(s) changed" in quiet.output
    assert "inserted" not in quiet.output and "fact_item" not in quiet.output
    assert quiet.output.rstrip().endswith("2 unchanged")
    quiet_json = json.loads(cli("run", "--json", str(mini_build)).stdout)
    assert len(quiet_json["counts"]) == 2  # --json keeps every row

    assert "fact_item: ok" in cli("verify", str(mini_build)).output
    sql(pg_dsn, "UPDATE mart.fact_item SET item_name = 'wrong' WHERE item_id = 1")
    differs = cli("verify", str(mini_build), code=1)
    assert "fact_item: DIFFERS (missing 0, extra 0, different 1)" in differs.output
    assert "cdcgen rebuild mini <target>" in differs.output

    assert "rebuilt: fact_item" in cli("rebuild", str(mini_build), "fact_item").output
    cli("verify", str(mini_build))
    unknown = cli("rebuild", str(mini_build), "fact_nope", code=1)
    assert "no target 'fact_nope' (targets: fact_item)" in unknown.output

    # forced over loaded targets: the run, then a rebuild of each target that held rows
    assert "rebuilt: fact_item" in cli("bootstrap", "--force", str(mini_build)).output
    cli("verify", str(mini_build))


def test_failed_run_exits_1_and_shows_in_status(cli, pg_dsn, mini_build):
    cli("deploy", "--with-staging", str(mini_build))
    stage(pg_dsn, (1, "boom"))
    failed = cli("run", str(mini_build), code=1)
    assert "the mini run failed (run 1 logged as failed)" in failed.output
    assert "staging.items holds a row named boom" in failed.output
    assert sql(pg_dsn, "SELECT count(*) FROM public.items") == [(0,)]  # nothing applied
    shown = cli("status", str(mini_build), code=1)  # never succeeded: a freshness error
    assert "past its freshness error_after for items" in shown.output
    assert "failures:" in shown.output
    assert shown.output.index("failures:") < shown.output.index("recent runs:")  # first
    assert "run 1 at" in shown.output and "boom" in shown.output
    checked = cli("status", "--check", str(mini_build), code=1)
    assert "the last mini run (1) failed" in checked.output


def test_introspect_writes_a_catalog(cli, pg_dsn, tmp_path):
    sql(pg_dsn, "CREATE SCHEMA staging")
    sql(
        pg_dsn,
        "CREATE TABLE staging.companies (id bigint, name character varying(255), "
        "amount numeric(12,2), seen timestamp without time zone, flag boolean, code char(2))",
    )
    out = tmp_path / "catalog.yml"
    cli("introspect", "--schema", "staging", "-o", str(out))
    text = out.read_text()
    assert "schema: staging" in text
    for line in (
        "id: bigint",
        "name: varchar(255)",
        "amount: numeric(12,2)",
        "seen: timestamp",
        "flag: boolean",
        "code: char(2)",
    ):
        assert line in text
    cli("introspect", "--schema", "nothing_here", code=1)


def test_password_in_the_dsn_never_shows(cli, pg_dsn, secret_password, mini_build):
    dsn = pg_dsn.replace("postgres:@", f"postgres:{secret_password}@").replace(
        "/cdcgen_t", "/gone_"
    )
    result = cli("deploy", "--plan", str(mini_build), dsn=dsn, code=2)
    assert "postgres:***@" in result.output


def test_dsn_from_the_environment_and_its_absence(cli, pg_dsn, mini_build, monkeypatch):
    monkeypatch.delenv("CDCGEN_DSN", raising=False)
    assert "--dsn or set CDCGEN_DSN" in cli("deploy", str(mini_build), dsn=None, code=2).output
    monkeypatch.setenv("CDCGEN_DSN", pg_dsn)
    assert "deployed: deployment 1" in cli("deploy", str(mini_build), dsn=None).output


def test_wrong_rendering_is_refused(cli, mini_build):
    result = cli("deploy", "--dialect", "redshift", str(mini_build), code=1)
    assert "is the postgres rendering but the server speaks redshift" in result.output


def test_run_and_bootstrap_show_a_spinner_on_a_terminal_only(
    cli, pg_dsn, mini_build, monkeypatch
):
    """On a terminal a spinner with the elapsed time is drawn on stderr while the
    procedure runs, then erased: stdout is what it is in a pipe. Never with --json."""
    import io

    from rich.console import Console

    from cdcgen import progress

    drawn = io.StringIO()
    monkeypatch.setattr(progress, "shown", lambda as_json=False: not as_json)
    monkeypatch.setattr(
        progress, "stderr_console", lambda: Console(file=drawn, force_terminal=True, width=80)
    )
    cli("deploy", "--with-staging", str(mini_build))
    assert "deploy mini" in drawn.getvalue()
    stage(pg_dsn, (1, "anvil"))
    boot = cli("bootstrap", str(mini_build))
    assert "bootstrap mini" in drawn.getvalue() and "0:00:0" in drawn.getvalue()
    assert boot.stdout.startswith("run 1 succeeded") and boot.stderr == ""

    drawn.truncate(0)
    drawn.seek(0)
    assert cli("run", str(mini_build)).stdout.startswith("run 2 succeeded")
    assert "run mini" in drawn.getvalue()

    drawn.truncate(0)
    drawn.seek(0)
    json.loads(cli("run", "--json", str(mini_build)).stdout)
    assert drawn.getvalue() == ""

    assert cli("verify", str(mini_build)).stdout.startswith("fact_item: ok")
    assert "verify mini" in drawn.getvalue()

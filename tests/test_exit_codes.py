"""The exit-code contract of every command, through the real CLI and a real PostgreSQL
(tests/conftest.py, tests/deploy_fixtures.py; no mocks):

0 ok; 1 the input or the data is wrong; 2 the tool or the connection failed.
With ``--json`` a failure is ``{"error": …, "exit_code": N}`` on stdout.
The table in the README ("Exit codes") lists the same cases.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.cli.output import reported

REPO = Path(__file__).resolve().parent.parent
VENDOR = REPO / "mappings" / "vendor.yml"
CLUSTER = "arn:aws:redshift:eu-west-1:123456789012:cluster:my-cluster"
BROKEN = "pipeline: broken\nsources:\n  companies:\n    key: [id]\n    updatd_at: x\n"


def invoke(*args: str, code: int, secret: str | None = None):
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    if secret:
        assert secret not in result.output
    return result


def json_failure(result, code: int) -> dict:
    failure = json.loads(result.stdout)
    assert failure["exit_code"] == code and failure["error"], failure
    return failure


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN)
    return path


# --------------------------------------------------------------------------- spec commands


def test_spec_commands(tmp_path: Path, broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("validate", str(VENDOR), code=0)
    invoke("validate", str(broken), code=1)
    json_failure(invoke("validate", "--json", str(broken), code=1), 1)
    assert json.loads(invoke("validate", "--json", str(VENDOR), code=0).stdout)["ok"]
    invoke("impact", "-s", str(VENDOR), "companies.name", code=0)
    invoke("impact", "-s", str(broken), code=1)
    invoke("graph", "-s", str(VENDOR), code=0)
    invoke("graph", "-s", str(broken), code=1)
    invoke("schema", code=0)
    dictionary = REPO / "tests/fixtures/dictionary/expanded_dictionary.py"
    invoke("import-dictionary", str(dictionary), code=0)
    bad_dictionary = tmp_path / "bad.json"
    bad_dictionary.write_bytes(b'{"a": \xff}')
    invoke("import-dictionary", str(bad_dictionary), code=1)
    invoke("validate", str(tmp_path / "absent.yml"), code=2)  # a usage error (Click)


def test_build(tmp_path: Path, broken: Path) -> None:
    out = tmp_path / "generated"
    invoke("build", str(VENDOR), "-o", str(out), code=0)
    invoke("build", "--check", str(VENDOR), "-o", str(out), code=0)
    (next(out.rglob("*.sql"))).write_text("-- edited by hand\n")
    stale = json_failure(invoke("build", "--check", "--json", str(VENDOR), "-o", str(out), code=1), 1)
    assert stale["stale"]
    invoke("build", "--check", str(VENDOR), "-o", str(out), code=1)
    json_failure(invoke("build", "--json", str(broken), "-o", str(out), code=1), 1)


def test_schedule() -> None:
    args = ["schedule", str(VENDOR), "--cluster-arn", CLUSTER, "--db-user", "runner"]
    invoke(*args, code=0)
    invoke("schedule", str(VENDOR), "--cluster-arn", "arn:nope", "--db-user", "u", code=1)
    failure = invoke(
        "schedule", str(VENDOR), "--format", "cli-json", "--cluster-arn", "x", code=1
    )
    json_failure(failure, 1)


def test_a_crash_exits_2_with_one_line_not_a_traceback() -> None:
    """Any exception a command does not expect is the tool's failure: exit 2."""
    crashing = typer.Typer()

    @crashing.command()
    def boom(as_json: bool = typer.Option(False, "--json")) -> None:
        with reported(as_json):
            raise ZeroDivisionError("division by zero")

    text = CliRunner().invoke(crashing, [])
    assert text.exit_code == 2 and "internal error: ZeroDivisionError" in text.stderr
    assert "Traceback" not in text.output
    as_json = CliRunner().invoke(crashing, ["--json"])
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2


# --------------------------------------------------------------------------- database commands

DB_COMMANDS = {
    "run": ["run", "BUILD"],
    "status": ["status", "BUILD"],
    "verify": ["verify", "BUILD"],
    "bootstrap": ["bootstrap", "BUILD"],
    "rebuild": ["rebuild", "BUILD", "fact_item"],
    "dead-letters": ["dead-letters", "BUILD"],
}


def _args(command: str, build: Path, dsn: str, *extra: str) -> list[str]:
    return [a.replace("BUILD", str(build)) for a in DB_COMMANDS[command]] + [
        "--dsn",
        dsn,
        *extra,
    ]


@pytest.mark.parametrize("command", sorted(DB_COMMANDS))
def test_undeployed_database_says_deploy_first(
    command: str, pg_dsn: str, mini_build: Path, secret_password: str
) -> None:
    text = invoke(*_args(command, mini_build, pg_dsn), code=1, secret=secret_password)
    assert "nothing deployed for pipeline mini in postgresql://" in text.stderr
    assert "run cdcgen deploy first" in text.stderr
    assert "does not exist" not in text.output
    failure = json_failure(invoke(*_args(command, mini_build, pg_dsn, "--json"), code=1), 1)
    assert "nothing deployed" in failure["error"]


@pytest.mark.parametrize("command", [*sorted(DB_COMMANDS), "deploy", "introspect"])
def test_connection_failure_exits_2(
    command: str, pg_dsn: str, mini_build: Path, secret_password: str
) -> None:
    gone = pg_dsn.rsplit("/", 1)[0] + "/no_such_db" + (
        "?" + pg_dsn.split("?", 1)[1] if "?" in pg_dsn else ""
    )
    if command == "deploy":
        args = ["deploy", str(mini_build), "--dsn", gone]
    elif command == "introspect":
        args = ["introspect", "--dsn", gone]
    else:
        args = _args(command, mini_build, gone)
    text = invoke(*args, code=2, secret=secret_password)
    assert "cannot connect" in text.stderr
    if command != "introspect":
        json_failure(invoke(*args, "--json", code=2), 2)


def test_database_commands_through_each_case(
    pg_dsn: str, mini_build: Path, secret_password: str, edit_build
) -> None:
    def db(*args: str, code: int = 0):
        return invoke(*args, "--dsn", pg_dsn, code=code, secret=secret_password)

    build = str(mini_build)
    db("deploy", "--plan", build)
    db("deploy", "--with-staging", build)
    db("introspect", "--schema", "no_such_schema", code=1)
    _sql(pg_dsn, "INSERT INTO staging.items VALUES (1, 'anvil', clock_timestamp())")
    db("bootstrap", build)
    db("bootstrap", build, code=1)  # refused: the baselines hold rows
    json_failure(db("bootstrap", "--json", build, code=1), 1)
    assert json.loads(db("run", "--json", build).stdout)["run"]["status"] == "succeeded"
    db("status", build)
    assert json.loads(db("verify", "--json", build).stdout)["ok"] is True
    _sql(pg_dsn, "UPDATE mart.fact_item SET item_name = 'wrong'")
    db("verify", build, code=1)
    differs = json_failure(db("verify", "--json", build, code=1), 1)
    assert differs["targets"][0]["different_rows"] == 1
    assert json.loads(db("rebuild", "--json", build, "fact_item").stdout) == {
        "rebuilt": "fact_item"
    }
    db("rebuild", build, "fact_nope", code=1)
    json_failure(db("rebuild", "--json", build, "fact_nope", code=1), 1)
    _sql(pg_dsn, "INSERT INTO staging.items VALUES (2, 'boom', clock_timestamp())")
    json_failure(db("run", "--json", build, code=1), 1)  # the run failed: bad data
    _sql(pg_dsn, "DELETE FROM staging.items WHERE id = 2")
    _sql(pg_dsn, "UPDATE cdc.run_log SET finished_at = finished_at - interval '3 hours'")
    stale = json_failure(db("status", "--json", build, code=1), 1)  # freshness error
    assert "freshness" in stale["error"] and stale["status"]["runs"]
    edit_build(
        mini_build,
        "mart.fact_item",
        replace=("  item_name VARCHAR(100),\n", ""),
        columns=[["item_id", "bigint"]],
    )
    refused = json_failure(db("deploy", "--json", build, code=1), 1)
    assert refused["plan"]["steps"]


def test_a_run_waiting_for_a_lock_says_so(
    pg_dsn: str, mini_build: Path, secret_password: str
) -> None:
    invoke("deploy", "--with-staging", str(mini_build), "--dsn", pg_dsn, code=0)
    results: list = []
    with psycopg.connect(pg_dsn) as holder:  # a transaction: the lock is held until commit
        holder.execute("LOCK TABLE cdc.run_log IN EXCLUSIVE MODE")
        runner = threading.Thread(
            target=lambda: results.append(
                CliRunner().invoke(app, ["run", str(mini_build), "--dsn", pg_dsn])
            )
        )
        runner.start()
        time.sleep(4.5)
        holder.commit()
    runner.join(timeout=60)
    [result] = results
    assert result.exit_code == 0, result.output
    assert "waiting for another run of mini to finish: its lock is held by session" in (
        result.stderr
    )
    assert "LOCK TABLE cdc.run_log" in result.stderr


def test_passwords_never_show_whatever_the_dsn_encoding(
    pg_dsn: str, mini_build: Path, secret_password: str
) -> None:
    for password in ("p@ss-w0rd-Secret", "sl/ash-Secret@at", "co:lon@Secret#frag"):
        dsn = pg_dsn.replace("postgres:@", f"postgres:{password}@").replace(
            "/cdcgen_t", "/gone_"
        )
        result = invoke("deploy", "--plan", str(mini_build), "--dsn", dsn, code=2)
        for piece in (password, *password.replace("#", "@").replace("/", "@").split("@")):
            if len(piece) >= 4:
                assert piece not in result.output, (password, result.output)
        assert "CDCGEN_PASSWORD" in result.stderr  # the warning points there


def _sql(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)

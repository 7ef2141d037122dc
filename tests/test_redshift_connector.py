"""The real redshift_connector driver against PostgreSQL (through tests/rs_shim.py),
and the DSN handling of cdcgen.deploy.connect."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.deploy.connect import connect, redact, redshift_connect_arguments
from cdcgen.deploy.errors import ConnectionFailed, DatabaseError


def test_redshift_connector_reaches_postgres_with_autocommit_on(rs_dsn):
    with connect(rs_dsn) as db:
        assert db.driver == "redshift_connector"
        assert db.dialect == "postgres"  # asked from the server, not guessed from the scheme
        assert db.raw.autocommit is True
        assert db.fetchall("SELECT %s::int + 1", [41]) == [(42,)]


def test_procedure_that_commits_can_be_called(rs_dsn):
    with connect(rs_dsn) as db:
        db.execute("CREATE TABLE t (n int)")
        db.execute(
            "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO t VALUES (1); COMMIT; RAISE NOTICE '% done', 1; END $$"
        )
        db.execute("CALL p()")
        assert db.scalar("SELECT count(*) FROM t") == 1


def test_transaction_rolls_back_on_error(rs_dsn):
    with connect(rs_dsn) as db:
        db.execute("CREATE TABLE t (n int)")
        with pytest.raises(DatabaseError, match="no_such_table"), db.transaction():
            db.execute("INSERT INTO t VALUES (1)")
            db.execute("INSERT INTO no_such_table VALUES (1)")
        assert db.scalar("SELECT count(*) FROM t") == 0
        assert db.raw.autocommit is True


def test_psycopg_connection(pg_dsn):
    with connect(pg_dsn) as db:
        assert (db.driver, db.dialect) == ("psycopg", "postgres")
        with db.transaction():
            db.execute("CREATE TABLE t (n int)")
            db.execute("INSERT INTO t VALUES (%s)", [7])
        assert db.fetch_dicts("SELECT n FROM t") == [{"n": 7}]


def test_errors_never_show_the_password(pg_dsn, secret_password):
    bad = pg_dsn.replace("postgres:@", f"postgres:{secret_password}@").replace(
        "/cdcgen_t", "/nope_"
    )
    with pytest.raises(ConnectionFailed) as caught:
        connect(bad)
    assert secret_password not in str(caught.value)
    assert "***" in str(caught.value)


def test_redshift_arguments_from_env_password(monkeypatch):
    monkeypatch.delenv("CDCGEN_PASSWORD", raising=False)
    monkeypatch.setenv("PGPASSWORD", "pw")
    args = redshift_connect_arguments(
        "redshift://ann@h.example.com/dev?sslmode=verify-full&timeout=30"
    )
    assert args == {
        "host": "h.example.com",
        "port": 5439,
        "database": "dev",
        "user": "ann",
        "password": "pw",
        "sslmode": "verify-full",
        "timeout": 30,
    }


def test_redshift_arguments_need_a_password_or_iam(monkeypatch):
    for name in ("CDCGEN_PASSWORD", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConnectionFailed, match="CDCGEN_PASSWORD"):
        redshift_connect_arguments("redshift://ann@h/dev")
    iam = redshift_connect_arguments("redshift://ann@h/dev?iam=true&cluster_identifier=c&profile=p")
    assert iam["iam"] is True and iam["db_user"] == "ann" and "password" not in iam


def test_redshift_arguments_reject_unknown_and_secret_options():
    with pytest.raises(ConnectionFailed, match="unknown option 'secret_access_key'") as caught:
        redshift_connect_arguments("redshift://ann:pw@h/dev?secret_access_key=abc")
    assert ":pw@" not in str(caught.value)


def test_redact():
    assert redact("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert redact("user=x password=hunter2 host=h") == "user=x password=*** host=h"
    assert redact("said hunter2", ["hunter2"]) == "said ***"


# --------------------------------------------------------------------------- the CLI over it


def test_deploy_run_status_through_the_real_redshift_connector(rs_dsn, mini_build, secret_password):
    """deploy, bootstrap, run, status and verify with a ``redshift://`` DSN: every statement
    goes through redshift_connector's own wire protocol code. The server is PostgreSQL,
    so the build deployed is the *postgres* rendering (``--dialect auto`` asks the server)."""
    runner = CliRunner()

    def cdcgen(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--dsn", rs_dsn], catch_exceptions=False)
        assert secret_password not in result.output
        assert result.exit_code == code, result.output
        return result.output

    assert "Plan: 17 to create." in cdcgen("deploy", "--plan", "--with-staging", str(mini_build))
    assert "deployed: deployment 1 of mini" in cdcgen("deploy", "--with-staging", str(mini_build))
    assert "Nothing to do" in cdcgen("deploy", "--with-staging", str(mini_build))

    with connect(rs_dsn) as db:
        db.execute("INSERT INTO staging.items VALUES (1, 'anvil', LOCALTIMESTAMP)")
    assert "run 1 succeeded" in cdcgen("bootstrap", str(mini_build))
    with connect(rs_dsn) as db:
        db.execute("INSERT INTO staging.items VALUES (2, 'boom', LOCALTIMESTAMP)")
    # The failing run COMMITs its failed row inside the CALL: needs autocommit on.
    assert "run 2 logged as failed" in cdcgen("run", str(mini_build), code=1)
    with connect(rs_dsn) as db:
        db.execute("UPDATE staging.items SET name = 'rope' WHERE id = 2")
    assert "run 3 succeeded" in cdcgen("run", str(mini_build))

    status = json.loads(cdcgen("status", "--json", str(mini_build)))
    assert [(r["run_id"], r["status"]) for r in status["runs"]] == [
        (3, "succeeded"),
        (2, "failed"),
        (1, "succeeded"),
    ]
    assert "boom" in status["failures"][0]["error"]
    assert "fact_item: ok" in cdcgen("verify", str(mini_build))

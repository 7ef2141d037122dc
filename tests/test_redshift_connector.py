"""The real redshift_connector driver against PostgreSQL (through tests/rs_shim.py),
and the DSN handling of cdcgen.deploy.connect."""

from __future__ import annotations

import pytest

from cdcgen.deploy.connect import connect, redact, redshift_connect_arguments
from cdcgen.deploy.errors import ConnectionFailed, DatabaseError

pytest_plugins = ["tests.deploy_fixtures"]


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

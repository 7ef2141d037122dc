"""sp_<p>_check_freshness(): raises past freshness.error_after and not before (the real
vendor build on a real PostgreSQL, baseline timestamps moved by hand), and is a conformant
no-op for a spec without freshness."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.check.conformance import check_sql
from cdcgen.cli import app
from cdcgen.plan.model import build_plan
from cdcgen.render import build as build_module
from cdcgen.render.objects import render_objects
from cdcgen.validate import validate_file

REPO = Path(__file__).resolve().parent.parent
VENDOR = REPO / "mappings" / "vendor.yml"
PROC = "cdc.sp_vendor_check_freshness"


@pytest.fixture(scope="module")
def vendor_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    build_module.build([VENDOR], out)
    return out / "vendor" / "postgres"


def sql(dsn: str, statement: str):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else None


def age_baselines(dsn: str, interval: str) -> None:
    for table in ("public.cities", "public.countries"):
        sql(dsn, f"UPDATE {table} SET updated_at = LOCALTIMESTAMP - INTERVAL '{interval}'")


def test_check_freshness_raises_past_error_after_and_not_before(pg_dsn, vendor_build) -> None:
    runner = CliRunner()
    for args in (["deploy", "--with-staging"], ["bootstrap"]):
        result = runner.invoke(app, [*args, str(vendor_build), "--dsn", pg_dsn])
        assert result.exit_code == 0, result.output
    # Nothing staged yet: every source's status is 'unknown', which is no error.
    sql(pg_dsn, f"CALL {PROC}()")
    sql(
        pg_dsn,
        "INSERT INTO staging.countries (id, name, iso2, updated_at) "
        "VALUES (1, 'France', 'FR', LOCALTIMESTAMP)",
    )
    sql(
        pg_dsn,
        "INSERT INTO staging.cities (id, country_id, name, created_at, updated_at) "
        "VALUES (10, 1, 'Paris', LOCALTIMESTAMP, LOCALTIMESTAMP)",
    )
    result = runner.invoke(app, ["run", str(vendor_build), "--dsn", pg_dsn])
    assert result.exit_code == 0, result.output

    sql(pg_dsn, f"CALL {PROC}()")  # fresh: ok
    age_baselines(pg_dsn, "1 hour")  # past warn_after (45m), before error_after (2h)
    assert {r[0] for r in sql(pg_dsn, "SELECT status FROM cdc.vendor_freshness")} >= {"warn"}
    sql(pg_dsn, f"CALL {PROC}()")
    age_baselines(pg_dsn, "119 minutes")  # still before error_after
    sql(pg_dsn, f"CALL {PROC}()")

    age_baselines(pg_dsn, "3 hours")  # past error_after
    with pytest.raises(psycopg.errors.RaiseException) as raised:
        sql(pg_dsn, f"CALL {PROC}()")
    message = str(raised.value)
    assert "pipeline vendor is past its freshness error_after (7200 s) for 2 source(s)" in message
    assert "e.g. cities" in message


def test_without_freshness_the_procedure_does_nothing(tmp_path, pg_conn) -> None:
    text = VENDOR.read_text()
    assert "\nfreshness:" in text
    spec = tmp_path / "vendor.yml"
    spec.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("freshness:")) + "\n"
    )
    plan = build_plan(validate_file(spec), "x")
    (proc,) = [o for o in render_objects(plan, "redshift") if o.name == PROC]
    assert "RAISE INFO" in proc.sql and "RAISE EXCEPTION" not in proc.sql
    assert check_sql(proc.sql, proc.file) == []  # Redshift conformance
    (pg_proc,) = [o for o in render_objects(plan, "postgres") if o.name == PROC]
    pg_conn.execute("CREATE SCHEMA IF NOT EXISTS cdc")
    pg_conn.execute(pg_proc.sql)
    pg_conn.execute(f"CALL {PROC}()")  # nothing to read, nothing raised

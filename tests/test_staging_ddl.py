"""`cdcgen staging-ddl SPEC`: what the ETL team lands into. The PostgreSQL rendering is
executed on the real server and must create exactly the staging tables the pipeline
reads; the Redshift rendering passes the same conformance checks as every build."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from cdcgen.check.conformance import check_sql
from cdcgen.cli import app

REPO = Path(__file__).resolve().parent.parent
ORDERS = str(REPO / "mappings" / "orders.yml")


def ddl(*args: str) -> str:
    result = CliRunner().invoke(app, ["staging-ddl", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_postgres_staging_ddl_creates_what_the_pipeline_reads(pg_dsn: str) -> None:
    statements = json.loads(ddl(ORDERS, "--dialect", "postgres", "--json"))["statements"]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging'")}
        loaded_at = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'staging'").fetchall()
    manifest = json.loads((REPO / "generated/orders/postgres/manifest.json").read_text())
    assert tables == {s["staging"].split(".")[1] for s in manifest["sources"]}
    assert loaded_at == [("ix_order_items___loaded_at",)]


def test_redshift_staging_ddl_is_conformant() -> None:
    text = ddl(ORDERS)
    assert "CREATE TABLE IF NOT EXISTS staging.order_items" in text and "_loaded_at TIMESTAMP" in text
    assert check_sql(text) == []


def test_unknown_dialect_and_bad_spec_exit_1(tmp_path: Path) -> None:
    bad = CliRunner().invoke(app, ["staging-ddl", ORDERS, "--dialect", "oracle"])
    assert bad.exit_code == 1 and "unknown dialect 'oracle'" in bad.output
    spec = tmp_path / "broken.yml"
    spec.write_text("pipeline: x\nsources: {}\nnot_a_key: 1\n")
    broken = CliRunner().invoke(app, ["staging-ddl", str(spec)])
    assert broken.exit_code == 1 and "broken.yml:" in broken.output

"""``staging_types: declared``: staging holds the spec's types, so detection skips the
text castability patterns (most of a first load's staged copy) and keeps every other
test; the runs write exactly what the default (``any``) writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.check.conformance import check_file
from cdcgen.check.statements import format_report
from cdcgen.cli import app
from cdcgen.demo import DemoOptions, run_demo
from cdcgen.deploy.connect import connect
from cdcgen.plan.model import build_plan
from cdcgen.render.build import build, render_pipeline
from cdcgen.validate import validate_file
from tests.conftest import _with_database
from tests.pipeline_harness import REPO, spec_with
from tests.test_demo_synth import targets_equal_their_definition

ORDERS = REPO / "mappings" / "orders.yml"
DETECT = "060_procedure__cdc.sp_orders_detect__{}.sql"


def with_staging_types(tmp_path: Path, top: str, extra: dict[str, str] | None = None) -> Path:
    """mappings/orders.yml with a pipeline-level ``staging_types`` (and per-source
    overrides: ``{"sources.customers": "any"}`` inserts ``staging_types: any`` under it)."""
    return spec_with(ORDERS, tmp_path, "staging_types", top, extra)


def test_staging_types_default_to_any_and_can_be_set_per_source(tmp_path: Path) -> None:
    spec = with_staging_types(tmp_path, "declared", {"sources.customers": "any"})
    kinds = {s.name: s.staging_types for s in build_plan(validate_file(spec), "x").sources}
    assert kinds.pop("customers") == "any" and set(kinds.values()) == {"declared"}
    default = build_plan(validate_file(ORDERS), "x")
    assert {s.staging_types for s in default.sources} == {"any"}


def test_an_unknown_staging_types_value_is_a_located_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(with_staging_types(tmp_path, "text"))])
    assert result.exit_code == 1
    assert "orders.yml:13:16: error:" in result.output and "staging_types" in result.output


def test_declared_staging_skips_the_castability_patterns_only(tmp_path: Path) -> None:
    """The detect procedure of a declared source names no castability reason (and
    casts no text), while widths and ranges are still tested; the default keeps both."""
    declared = render_pipeline(validate_file(with_staging_types(tmp_path, "declared")))
    default = render_pipeline(validate_file(ORDERS))
    for dialect in ("redshift", "postgres"):
        plain = default[dialect][DETECT.format("orders")]
        lean = declared[dialect][DETECT.format("orders")]
        assert "value not castable to" in plain and "value not castable to" not in lean
        for kept in ("value too long for", "NULL key (order_id)", "check failed:"):
            assert (kept in plain) == (kept in lean), kept
        assert len(lean) < len(plain)


@pytest.mark.parametrize("procedure", ["orders", "customers"])
def test_declared_detect_procedures_are_redshift_conformant(tmp_path: Path, procedure: str) -> None:
    build([with_staging_types(tmp_path, "declared")], tmp_path / "out")
    path = tmp_path / "out" / "orders" / "redshift" / DETECT.format(procedure)
    findings = check_file(path)
    assert not findings, format_report(findings, f"{path} breaks Redshift rules")


@pytest.fixture
def second_dsn(pg_admin_dsn: str, pg_dsn: str) -> Iterator[str]:
    """Another fresh database beside ``pg_dsn`` (same server), dropped afterwards."""
    name = pg_dsn.rsplit("/", 1)[1].split("?")[0] + "_b"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_admin_dsn, name)
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: what a run leaves behind, read in a fixed order (run ids and times left out)
_STATE = {
    "baselines": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    "targets": "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = 'staging_public' AND table_type = 'BASE TABLE'",
}


def _digest(dsn: str) -> dict[str, str]:
    """A digest of every baseline and target table, of the dead letters' reasons and
    of the change log's operations and images."""
    out: dict[str, str] = {}
    with psycopg.connect(dsn) as conn:
        for schema, query in (("public", _STATE["baselines"]), ("staging_public", _STATE["targets"])):
            for (table,) in conn.execute(query).fetchall():
                rows = conn.execute(f'SELECT * FROM {schema}."{table}"').fetchall()
                out[f"{schema}.{table}"] = _hash(sorted(map(repr, rows)))
        dead = conn.execute("SELECT source, reason FROM cdc.dead_letter").fetchall()
        logged = conn.execute(
            "SELECT source, op, key_text, changed_columns, before_row::text, after_row::text"
            " FROM cdc.change_log"
        ).fetchall()
    out["dead_letter"] = _hash(sorted(map(repr, dead)))
    out["change_log"] = _hash(sorted(map(repr, logged)))
    return out


def _hash(items: list[str]) -> str:
    return f"{len(items)}:" + hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def test_declared_staging_writes_what_the_default_writes(
    tmp_path: Path, pg_dsn: str, second_dsn: str
) -> None:
    """Three synthetic cycles (with their dead letters: NULL keys, failed checks) on the
    demo's typed staging: the same baselines, targets, dead letters and change log as
    the default build, and every target equal to its definition."""
    declared = with_staging_types(tmp_path, "declared")
    states = []
    for spec, dsn in ((ORDERS, pg_dsn), (declared, second_dsn)):
        options = DemoOptions(spec=spec, synthetic=True, cycles=3, scale=0.1, seed=11)
        with connect(dsn) as db:
            result = run_demo(db, options)
        assert result.ok and all(c.run.run["status"] == "succeeded" for c in result.cycles)
        assert set(targets_equal_their_definition(dsn, result.manifest).values()) <= {0}
        states.append(_digest(dsn))
    assert states[0] == states[1]
    assert not states[0]["dead_letter"].startswith("0:")

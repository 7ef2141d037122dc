"""``audit: keys`` and ``audit: changed``: lean row images (the key only, or an update's
key and changed columns); targets stay exactly right. Under ``keys`` rollback refuses
instead of restoring from images that do not hold the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.check.conformance import check_file
from cdcgen.check.statements import format_report
from cdcgen.cli import app
from cdcgen.demo import DemoOptions, run_demo
from cdcgen.deploy.connect import connect
from cdcgen.plan.model import build_plan
from cdcgen.render.build import build
from cdcgen.validate import validate_file
from tests.pipeline_harness import REPO, spec_with
from tests.test_demo_synth import targets_equal_their_definition

ORDERS = REPO / "mappings" / "orders.yml"


def with_audit(tmp_path: Path, top: str, extra: dict[str, str] | None = None) -> Path:
    """mappings/orders.yml with a pipeline-level ``audit`` (and per-object overrides:
    ``{"sources.customers": "full"}`` inserts ``audit: full`` under that object)."""
    return spec_with(ORDERS, tmp_path, "audit", top, extra)


def test_audit_defaults_to_full_and_can_be_set_per_source_and_fact(tmp_path: Path) -> None:
    spec = with_audit(tmp_path, "keys", {"sources.customers": "full", "facts.fact_order": "full"})
    plan = build_plan(validate_file(spec), "x")
    audits = {s.name: s.audit for s in plan.sources}
    assert audits.pop("customers") == "full" and set(audits.values()) == {"keys"}
    assert {t.name: t.audit for t in plan.facts}["fact_order"] == "full"
    assert all(t.audit == "full" for t in plan.targets if t.kind == "dimension")
    default = build_plan(validate_file(ORDERS), "x")
    assert {s.audit for s in default.sources} | {t.audit for t in default.targets} == {"full"}


def test_an_unknown_audit_value_is_a_located_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(with_audit(tmp_path, "some"))])
    assert result.exit_code == 1
    assert "orders.yml:13:8: error:" in result.output and "audit" in result.output


def test_key_only_images_keep_targets_right_and_rollback_refuses(
    tmp_path: Path, pg_dsn: str
) -> None:
    spec = with_audit(tmp_path, "keys")
    plan = build_plan(validate_file(spec), "x")
    keys = {s.name: set(s.key) for s in plan.sources}
    fact_keys = {t.name: set(t.key) for t in plan.facts}
    options = DemoOptions(spec=spec, synthetic=True, cycles=3, scale=0.1, seed=5)
    with connect(pg_dsn) as db:
        result = run_demo(db, options)
    assert result.ok and all(c.run.run["status"] == "succeeded" for c in result.cycles)
    assert set(targets_equal_their_definition(pg_dsn, result.manifest).values()) <= {0}

    with psycopg.connect(pg_dsn) as conn:
        logged = conn.execute(
            "SELECT source, op, changed_columns, before_row, after_row FROM cdc.change_log"
        ).fetchall()
        facts = conn.execute(
            "SELECT target, before_row, after_row FROM cdc.fact_change_log"
        ).fetchall()
        latest = conn.execute(
            "SELECT MAX(run_id) FROM cdc.run_log WHERE status = 'succeeded'"
        ).fetchone()[0]
    assert {op for _, op, *_ in logged} == {"I", "U", "D"}
    for source, op, changed, before, after in logged:
        for image in (before, after):
            assert image is None or set(_flat(image)) == keys[source]
        assert (changed is not None) == (op == "U")
    assert {target for target, *_ in facts} >= set(fact_keys)
    assert all(  # SCD2 dimensions log full images whatever the audit says
        image is None or set(_flat(image)) == fact_keys[target]
        for target, before, after in facts
        if target in fact_keys
        for image in (before, after)
    )

    with psycopg.connect(pg_dsn, autocommit=True) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("CALL cdc.sp_orders_rollback(%s)", [latest])
    assert "rollback needs full row images" in str(refused.value)


def _flat(image: object) -> dict[str, object]:
    """A row image as {column: value} (wide images nest their columns in parts)."""
    data = image if isinstance(image, dict) else json.loads(str(image))
    if all(isinstance(v, dict) for v in data.values()):
        return {k: v for part in data.values() for k, v in part.items()}
    return data


def _logs(dsn: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """change_log and fact_change_log rows, in an order two runs of one history share."""
    with psycopg.connect(dsn) as conn:
        sources = conn.execute(
            "SELECT lsn, source, op, changed_columns, before_row, after_row"
            " FROM cdc.change_log ORDER BY lsn"
        ).fetchall()
        targets = conn.execute(
            "SELECT target, op, key_text, changed_columns, before_row, after_row"
            " FROM cdc.fact_change_log ORDER BY run_id, target, key_text, op"
        ).fetchall()
    return sources, targets


def _lean(image: object, key: set[str], changed: str) -> dict[str, object]:
    """What ``audit: changed`` keeps of a whole update image: the key and the changed
    columns, NULL ones dropped (PostgreSQL strips them; changed_columns names them)."""
    kept = key | set(changed.split(","))
    return {c: v for c, v in _flat(image).items() if c in key or (c in kept and v is not None)}


def test_changed_images_hold_the_key_and_the_changed_columns_of_updates(
    tmp_path: Path, pg_dsn: str, other_pg_dsn: str
) -> None:
    """The same history under ``audit: full`` and ``audit: changed``: inserts and deletes
    log the same whole rows, an update logs exactly its key and changed columns, the
    targets are exactly right, the audit-trail checks (deep replay included) find
    nothing, and rollback still works."""
    spec = with_audit(tmp_path, "changed")
    plan = build_plan(validate_file(spec), "x")
    assert {s.audit for s in plan.sources} | {t.audit for t in plan.facts} == {"changed"}
    keys = {s.name: set(s.key) for s in plan.sources} | {t.name: set(t.key) for t in plan.targets}
    lean_targets = {t.name for t in plan.facts}
    results = {}
    for dsn, path in ((pg_dsn, ORDERS), (other_pg_dsn, spec)):
        options = DemoOptions(spec=path, synthetic=True, cycles=3, scale=0.1, seed=5)
        with connect(dsn) as db:
            results[dsn] = run_demo(db, options)
        assert results[dsn].ok
    assert set(
        targets_equal_their_definition(other_pg_dsn, results[other_pg_dsn].manifest).values()
    ) <= {0}

    (full_sources, full_targets), (lean_sources, lean_targets_log) = (
        _logs(pg_dsn),
        _logs(other_pg_dsn),
    )
    assert len(full_sources) == len(lean_sources) and len(full_targets) == len(lean_targets_log)
    narrower = 0
    for whole, lean in zip(full_sources, lean_sources, strict=True):
        lsn, source, op, changed, before, after = whole
        assert lean[:4] == (lsn, source, op, changed)
        if op != "U":
            assert (lean[4], lean[5]) == (before, after)
            continue
        for full_image, lean_image in ((before, lean[4]), (after, lean[5])):
            assert _flat(lean_image) == _lean(full_image, keys[source], changed)
            narrower += len(_flat(lean_image)) < len(_flat(full_image))
    assert narrower > 0, "some update images are narrower than the whole row"
    for whole, lean in zip(full_targets, lean_targets_log, strict=True):
        target, op, _, changed, before, after = whole
        assert lean[:4] == whole[:4]
        if op != "U" or target not in lean_targets:  # SCD2 dimensions log whole rows
            assert (lean[4], lean[5]) == (before, after)
        else:
            assert _flat(lean[4]) == _lean(before, keys[target], changed)
            assert _flat(lean[5]) == _lean(after, keys[target], changed)
    assert {row[1] for row in lean_targets_log if row[0] in lean_targets} >= {"I", "U"}

    manifest = results[other_pg_dsn].manifest
    with psycopg.connect(other_pg_dsn, autocommit=True) as conn:
        conn.execute(f"CALL {manifest.procedures['verify_deep']}()")
        found = conn.execute(
            "SELECT check_name, target, findings, examples FROM cdc.verify_log"
            " WHERE check_name IS NOT NULL AND findings > 0"
        ).fetchall()
        assert not found
        # rollback restores an update's other columns from the current row
        # (tests/test_rollback_to.py runs its whole suite under audit: changed too)
        first, later = conn.execute(
            "SELECT MIN(run_id), COUNT(*) - 1 FROM cdc.run_log WHERE kind = 'run'"
        ).fetchone()
        conn.execute(f"CALL {manifest.procedures['rollback_to']}(%s)", [first])
        undone = conn.execute(
            "SELECT COUNT(*) FROM cdc.run_log WHERE status = 'rolled_back'"
        ).fetchone()[0]
    assert undone == later > 0
    assert set(targets_equal_their_definition(other_pg_dsn, manifest).values()) <= {0}


@pytest.mark.parametrize("audit", ["keys", "changed"])
@pytest.mark.parametrize(
    "procedure",
    ["sp_orders_undo", "sp_orders_sync_baseline", "sp_orders_apply_fact_order", "sp_orders_verify_deep"],
)
def test_lean_image_procedures_are_redshift_conformant(
    tmp_path: Path, procedure: str, audit: str
) -> None:
    """The Redshift rendering with lean images passes every conformance check."""
    build([with_audit(tmp_path, audit)], tmp_path / "out")
    path = tmp_path / "out" / "orders" / "redshift" / f"060_procedure__cdc.{procedure}.sql"
    findings = check_file(path)
    assert not findings, format_report(findings, f"{path} breaks Redshift rules")


def test_full_images_are_stored_uncompressed_on_postgresql(pg_dsn: str) -> None:
    """The change logs' row images skip pglz (a third of writing them): the columns are
    STORAGE EXTERNAL, and no stored image is compressed, yet every one reads back whole."""
    options = DemoOptions(spec=ORDERS, synthetic=True, cycles=2, scale=0.1, seed=3)
    with connect(pg_dsn) as db:
        result = run_demo(db, options)
    assert result.ok
    with psycopg.connect(pg_dsn) as conn:
        storage = conn.execute(
            "SELECT c.relname, a.attname, a.attstorage FROM pg_attribute AS a"
            " JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'cdc' AND c.relname IN ('change_log', 'fact_change_log')"
            " AND a.attname IN ('before_row', 'after_row')"
        ).fetchall()
        compressed, images, keyed = conn.execute(
            "SELECT COUNT(pg_column_compression(after_row)), COUNT(after_row),"
            " COUNT(*) FILTER (WHERE after_row ? 'id') FROM cdc.change_log"
            " WHERE source = 'customers'"
        ).fetchone()
    assert sorted(storage) == [
        (t, c, "e") for t in ("change_log", "fact_change_log") for c in ("after_row", "before_row")
    ]
    assert images > 0 and compressed == 0 and keyed == images

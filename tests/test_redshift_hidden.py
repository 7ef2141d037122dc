"""Generated SQL that PostgreSQL would accept but Redshift would not, or only wrongly
(issue 8): ``$$`` inside a spec literal, row images wider than a VARCHAR, and the run's
failure row. Each is executed on the real PostgreSQL and checked in the Redshift text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cdcgen.render.build import render_pipeline
from cdcgen.validate import validate_file
from tests import faults
from tests.pipeline_harness import Pipeline, deploy, ts

# --------------------------------------------------------------------------- dollar quotes

TRICKY = "a$$b $cdc$ c$$$"

DOLLAR_SPEC = """
pipeline: dollars
sources:
  companies:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(100), updated_at: timestamp}
facts:
  fact_company:
    key: [company_id]
    from: companies
    columns:
      company_id: companies.id
      label: {expr: "'a$$b $cdc$ c$$$' || companies.name", type: varchar(300)}
"""


def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


def test_dollars_in_a_spec_literal_keep_the_procedure_body_whole(
    tmp_path: Path, pg_conn: psycopg.Connection
) -> None:
    spec = _spec(tmp_path, "dollars", DOLLAR_SPEC)
    p = deploy(pg_conn, spec)
    p.stage("companies", {"id": 1, "name": "Acme", "updated_at": ts(1)})
    p.run()
    assert p.fact("fact_company", 1, ["label"]) == {"label": TRICKY + "Acme"}

    redshift = render_pipeline(validate_file(spec))["redshift"]
    apply = next(text for name, text in redshift.items() if "apply_fact_company" in name)
    # The body opens after AS $$ and closes right before LANGUAGE: no $$ in between.
    assert apply.count("$$") == 2, apply
    assert apply.rstrip().endswith("$$ LANGUAGE plpgsql;")
    assert "('a$' || '$b $cdc$ c$' || '$' || '$')" in apply


# --------------------------------------------------------------------------- wide rows

WIDTH = 200
VALUE = 1024  # bytes per text value: one row image is ~200 KB, far above 65,535


def _wide_spec() -> str:
    names = [f"c{i:03d}" for i in range(WIDTH - 2)]
    columns = ", ".join(f"{n}: varchar(1100)" for n in names)
    fact_columns = "\n".join(f"      {n}: wide.{n}" for n in names)
    return f"""
pipeline: wide
sources:
  wide:
    key: [id]
    updated_at: updated_at
    columns: {{id: bigint, updated_at: timestamp, {columns}}}
facts:
  fact_wide:
    key: [id]
    from: wide
    columns:
      id: wide.id
      updated_at: wide.updated_at
{fact_columns}
"""


def _wide_row(key: int, version: int) -> dict[str, object]:
    row: dict[str, object] = {"id": key, "updated_at": ts(version)}
    for i in range(WIDTH - 2):
        row[f"c{i:03d}"] = (f"{key}.{version}.{i}-" * 200)[:VALUE]
    return row


@pytest.fixture
def wide(tmp_path: Path, pg_conn: psycopg.Connection) -> Pipeline:
    return deploy(pg_conn, _spec(tmp_path, "wide", _wide_spec()))


def _table(p: Pipeline, table: str) -> list[dict[str, object]]:
    return p.rows(table, order_by="id")


def test_a_row_image_wider_than_a_varchar_is_logged_and_rolled_back(wide: Pipeline) -> None:
    wide.stage("wide", _wide_row(1, 1), _wide_row(2, 1))
    first = wide.run()
    baseline = wide.source("wide")["baseline"]
    fact = next(t["table"] for t in wide.manifest["targets"] if t["name"] == "fact_wide")
    after_first = (_table(wide, baseline), _table(wide, fact))

    wide.clear_staging()
    wide.stage("wide", _wide_row(1, 2), _wide_row(3, 2))  # one update, one insert
    second = wide.run()
    assert wide.last_run()["status"] == "succeeded"
    (update,) = [r for r in wide.change_log(second) if r["op"] == "U"]
    assert update["before_row"] == {k: _json(v) for k, v in _wide_row(1, 1).items()}
    assert update["after_row"] == {k: _json(v) for k, v in _wide_row(1, 2).items()}
    assert {r["op"] for r in wide.fact_changes(second, "fact_wide")} == {"U", "I"}

    wide.conn.execute(f"CALL {wide.manifest['procedures']['rollback']}(%s)", [second])
    assert (_table(wide, baseline), _table(wide, fact)) == after_first
    assert first < second


def _json(value: object) -> object:
    # jsonb writes timestamps in ISO form
    return value.isoformat() if isinstance(value, dt.datetime) else value


# --------------------------------------------------------------------------- failure row

SINGLE = Path(__file__).resolve().parent / "specs" / "valid" / "single_source.yml"


@pytest.fixture
def faulty(pg_conn: psycopg.Connection) -> Iterator[Pipeline]:
    p = deploy(pg_conn, SINGLE)
    faults.install(p)
    yield p
    faults.clear(pg_conn)


def test_a_failed_run_is_recorded_with_its_own_id_and_start(faulty: Pipeline) -> None:
    p = faulty
    p.stage("people", {"id": 1, "name": "Ann", "team": "a", "updated_at": ts(1)})
    assert p.run() == 1
    p.stage("people", {"id": 1, "name": "Ann", "team": "b", "updated_at": ts(2)})
    # Hold the run open for a moment, then fail it at its change-log write.
    p.conn.execute(
        "INSERT INTO test_hooks.faults (kind, tbl, op, seconds) VALUES "
        "('sleep', 'cdc.dead_letter', 'INSERT', 0.4), ('fail', 'cdc.change_log', 'INSERT', 0)"
    )
    (before,) = p.conn.execute("SELECT CAST(clock_timestamp() AS TIMESTAMP)").fetchone()  # type: ignore[misc]
    assert "injected fault" in p.run_expecting_failure()
    failed = p.last_run()
    assert (failed["run_id"], failed["status"], failed["kind"]) == (2, "failed", "run")
    # started_at is when the run started, not when its failure was handled
    assert before <= failed["started_at"] < before + dt.timedelta(seconds=0.3)
    assert failed["finished_at"] - failed["started_at"] >= dt.timedelta(seconds=0.4)
    assert "injected fault" in failed["error"]

    faults.clear(p.conn)
    assert p.run() == 3
    statuses = p.conn.execute("SELECT run_id, status FROM cdc.run_log ORDER BY run_id").fetchall()
    assert statuses == [(1, "succeeded"), (2, "failed"), (3, "succeeded")]


def test_the_redshift_failure_handler_reuses_the_runs_id_and_start_under_the_lock() -> None:
    files = render_pipeline(validate_file(SINGLE))["redshift"]
    run = next(text for name, text in files.items() if name.endswith("sp_people_run.sql"))
    handler = run[run.index("EXCEPTION WHEN OTHERS THEN") :]
    # atomic mode: the handler runs after the rollback, in a new transaction
    assert "LOCK cdc.run_log;" in handler
    assert "WHERE run_id = v_run_id" in handler
    assert "MAX(run_id)" in handler.split("IF v_run_id IS NULL OR v_taken > 0 THEN")[1]
    assert "'failed', v_started_at, GETDATE()" in handler
    assert "SYSDATE" not in handler[handler.index("INSERT INTO") :]  # not the handler's time


# --------------------------------------------------------------------------- typed read-back

TYPED_SPEC = """
pipeline: typed
sources:
  things:
    key: [id]
    updated_at: updated_at
    columns:
      id: bigint
      flag: boolean
      small: smallint
      amount: numeric(12,3)
      ratio: double precision
      day: date
      label: char(3)
      doc: super
      updated_at: timestamp
facts:
  fact_thing:
    key: [thing_id]
    from: things
    columns: {thing_id: things.id, label: things.label, flag: things.flag, day: things.day}
"""


def _thing(key: int, version: int, flag: bool | None, doc: str | None) -> dict[str, object]:
    return {
        "id": key, "flag": flag, "small": version, "amount": f"{key}.125", "ratio": 0.5 * version,
        "day": dt.date(2024, 1, version), "label": f"v{version}", "doc": doc, "updated_at": ts(version),
    }


def test_every_type_reads_back_from_a_row_image_on_rollback(
    tmp_path: Path, pg_conn: psycopg.Connection
) -> None:
    p = deploy(pg_conn, _spec(tmp_path, "typed", TYPED_SPEC))
    baseline = p.source("things")["baseline"]
    p.stage(
        "things",
        _thing(1, 1, True, '{"a": [1, "x"]}'),
        _thing(2, 1, False, '"just text"'),
        _thing(3, 1, None, None),
    )
    p.run()
    before = p.rows(baseline, order_by="id")
    p.clear_staging()
    p.stage("things", _thing(1, 2, False, "7"), _thing(2, 2, None, None), _thing(3, 2, True, '"t"'))
    second = p.run()
    assert p.rows(baseline, order_by="id") != before
    p.conn.execute(f"CALL {p.manifest['procedures']['rollback']}(%s)", [second])
    assert p.rows(baseline, order_by="id") == before
    assert p.fact("fact_thing", 1, ["flag", "day"]) == {"flag": True, "day": dt.date(2024, 1, 1)}

    redshift = render_pipeline(validate_file(tmp_path / "typed.yml"))["redshift"]
    undo = next(text for name, text in redshift.items() if name.endswith("sp_typed_undo.sql"))
    # straight from the SUPER scalar to the column type (limitations-super)
    for read in (
        'CAST(l.before_row."flag" AS BOOLEAN) AS flag',
        'CAST(l.before_row."amount" AS DECIMAL(12, 3)) AS amount',
        'CAST(l.before_row."day" AS DATE) AS day',
        'CAST(l.before_row."label" AS CHAR(3)) AS label',
        'l.before_row."doc" AS doc',
    ):
        assert read in undo, read


REPO_GENERATED = Path(__file__).resolve().parent.parent / "generated"


def test_no_generated_redshift_sql_reads_super_through_varchar_or_splices_json() -> None:
    for path in sorted(REPO_GENERATED.glob("*/redshift/*.sql")):
        text = path.read_text()
        assert "JSON_PARSE(" not in text and "JSON_SERIALIZE(" not in text, path.name
        # the old read: CAST(CAST(l.before_row."k" AS VARCHAR(65535)) AS t)
        assert not re.search(r'CAST\(CAST\([\w.]*_row(\."[^"]+")+ AS', text), path.name

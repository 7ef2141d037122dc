"""One bad value never stops the pipeline: a staged value that its baseline column cannot
hold (the ETL landed staging wider than the spec) is dead-lettered with its column and the
reason, its key keeps its last good state, and everything else in the run is applied.
Executed on the real PostgreSQL with the shipped vendor spec."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg
from typer.testing import CliRunner

from cdcgen.cli import app
from tests.pipeline_harness import REPO, Pipeline, ts, widen_staging
from tests.test_scenarios_vendor import SPEC, company, vendor, vendors

__all__ = ["vendor"]  # the fixture, re-used


def dead_letters(p: Pipeline) -> list[tuple[str, Any]]:
    return [(r["reason"], (r["row_data"] or {}).get("id")) for r in p.dead_letters()]


def test_an_over_long_value_is_dead_lettered_and_the_rest_applies(vendor: Pipeline) -> None:
    widen_staging(vendor.conn, "companies", "name", "varchar(1000)")
    long_name = "N" * 400
    vendor.stage("companies", company(100, long_name, updated=ts(2)),
                 company(101, "Beta Renamed", category=2, updated=ts(2)))
    run = vendor.run()
    assert vendor.last_run()["status"] == "succeeded"
    assert dead_letters(vendor) == [("value too long for companies.name (400 > 255)", 100)]
    assert vendor.dead_lettered(run) == 1
    # the good change went through; the poisoned key kept its last good state
    assert vendors(vendor, "vendor_name")[101] == ("Beta Renamed",)
    assert vendors(vendor, "vendor_name")[100] == ("Acme",)
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}
    # window-mode staging re-delivers the bad row: recorded and counted once
    run = vendor.run()
    assert len(vendor.dead_letters()) == 1 and vendor.dead_lettered(run) == 0
    assert vendor.counts(run) == {}
    # fixed upstream: the next run applies it
    vendor.clear_staging("companies")
    vendor.stage("companies", company(100, "Acme Fixed", updated=ts(3)))
    fixed = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme Fixed",)
    # its dead letter is resolved by that run
    (letter,) = [r for r in vendor.dead_letters() if r["row_data"]["id"] == 100]
    assert letter["resolved_run_id"] == fixed


def test_integer_and_numeric_overflow_are_dead_lettered(vendor: Pipeline) -> None:
    widen_staging(vendor.conn, "companies", "status", "integer")
    widen_staging(vendor.conn, "companies", "annual_revenue", "numeric(30,4)")
    vendor.stage("companies", company(100, "Acme", status=70000, updated=ts(2)),
                 company(101, "Beta", category=2, annual_revenue=Decimal("1e17"), updated=ts(2)),
                 # rounds to 10^16 at scale 2: one digit too many for numeric(18,2)
                 company(102, "Gamma", category=4, city=20,
                         annual_revenue=Decimal("9999999999999999.995"), updated=ts(2)),
                 company(104, "Epsilon", city=11, annual_revenue=Decimal("9999999999999999.994"),
                         updated=ts(2)))
    vendor.run()
    assert vendor.last_run()["status"] == "succeeded"
    assert sorted(dead_letters(vendor), key=lambda r: r[1]) == [
        ("value out of range for companies.status (smallint)", 100),
        ("numeric overflow for companies.annual_revenue (numeric(18,2))", 101),
        ("numeric overflow for companies.annual_revenue (numeric(18,2))", 102),
    ]
    got = vendor.rows("public.companies", ["id", "annual_revenue"], "id")
    assert {r["id"]: r["annual_revenue"] for r in got}[104] == Decimal("9999999999999999.99")
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}


def test_dead_letters_are_listed_and_summarised_by_the_cli(pg_dsn: str, secret_password: str) -> None:
    """deploy → stage a poisoned row and a NULL-key row → run → `status` shows them by
    reason and `dead-letters` lists them with their keys, in text and JSON."""
    build = str(REPO / "generated" / "orders" / "postgres")
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--dsn", pg_dsn], catch_exceptions=False)
        assert result.exit_code == code, result.output
        assert secret_password not in result.output
        return result.stdout

    cli("deploy", "--with-staging", build)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        widen_staging(conn, "customers", "email", "varchar(1000)")
        conn.execute(
            "INSERT INTO staging.customers (id, email, created_at, updated_at) VALUES "
            "(7, %s, now(), now()), (8, 'ok@x.io', now(), now()), (NULL, 'k@x.io', now(), now())",
            ["x" * 300],
        )
    cli("run", build)
    listed = json.loads(cli("dead-letters", build, "--json"))["dead_letters"]
    assert sorted((r["reason"], r["key"]["id"]) for r in listed) == [
        ("NULL key (id)", None),
        ("value too long for customers.email (300 > 255)", 7),
    ]
    shown = cli("dead-letters", build, "--source", "customers")
    assert "id=7" in shown and "value too long for customers.email (300 > 255)" in shown
    summary = json.loads(cli("status", build, "--json"))["dead_letters"]
    assert {(r["source"], r["reason"], r["row_count"]) for r in summary} == {
        ("customers", "NULL key (id)", 1),
        ("customers", "value too long for customers.email (300 > 255)", 1),
    }
    assert "dead letters" in cli("status", build)
    # for monitors: held-back rows are a warning; --warn-error makes it fail
    checked = json.loads(cli("status", build, "--check", "--json"))
    assert checked["warnings"] == ["2 dead-lettered row(s) held back (cdcgen dead-letters orders)"]
    failed = json.loads(cli("status", build, "--check", "--warn-error", "--json", code=1))
    assert failed["exit_code"] == 1 and "dead-lettered" in failed["error"]
    # key 7 fixed upstream: its dead letter is resolved; status, its check and the
    # listing count open dead letters only, `dead-letters --all` shows both
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO staging.customers (id, email, created_at, updated_at) VALUES "
                     "(7, 'fixed@x.io', now(), now() + interval '1 second')")
    cli("run", build)
    listed = json.loads(cli("dead-letters", build, "--json"))["dead_letters"]
    assert [(r["reason"], r["key"]["id"]) for r in listed] == [("NULL key (id)", None)]
    everything = json.loads(cli("dead-letters", build, "--all", "--json"))["dead_letters"]
    resolved = {r["key"]["id"]: r["resolved_run_id"] for r in everything}
    assert set(resolved) == {None, 7} and resolved[None] is None and resolved[7] is not None
    assert "resolved by run" in cli("dead-letters", build, "--all")
    summary = json.loads(cli("status", build, "--json"))["dead_letters"]
    assert {(r["reason"], r["row_count"]) for r in summary} == {("NULL key (id)", 1)}
    checked = json.loads(cli("status", build, "--check", "--json"))
    assert checked["warnings"] == ["1 dead-lettered row(s) held back (cdcgen dead-letters orders)"]
    # a source whose newest change is older than error_after: status exits 1
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO staging.products (id, sku, created_at, updated_at) "
                     "VALUES (1, 'P-1', '2020-01-01', '2020-01-01')")
    cli("run", build)
    stale = json.loads(cli("status", build, "--json", code=1))
    assert "past its freshness error_after for products" in stale["error"]



def test_a_computed_value_its_declared_type_cannot_hold_is_dead_lettered(pg_admin_dsn: str) -> None:
    """fact_order_item.line_total is declared numeric(14,2) and computed as quantity *
    unit_price: a line whose product reaches 10^12 cannot be stored. The run goes
    through, the value is NULL, the row is dead-lettered with target, column and key,
    verify is clean, and the next correct version computes it again."""
    import datetime as dt

    from tests.strategies_pipeline import deployed_database, postgres_rendering, reset

    spec = REPO / "mappings" / "orders.yml"
    t0, t1, t2 = (dt.datetime(2024, 1, 1, h) for h in (0, 1, 2))
    with deployed_database(pg_admin_dsn, postgres_rendering(spec)) as p:
        reset(p)
        p.stage("orders", {"id": 1, "order_number": "A-1", "subtotal": Decimal("1.00"),
                           "created_at": t0, "updated_at": t1, "op": "I"})
        line = {"order_id": 1, "product_id": 9, "created_at": t0}
        p.stage("order_items",
                {**line, "line_number": 1, "quantity": 2_000_000, "unit_price": Decimal("9999999.99"),
                 "updated_at": t1, "_loaded_at": t1},
                {**line, "line_number": 2, "quantity": 3, "unit_price": Decimal("2.50"),
                 "updated_at": t1, "_loaded_at": t1})
        run = p.run()
        assert p.last_run()["status"] == "succeeded"
        totals = {r["line_number"]: r["line_total"]
                  for r in p.rows("analytics.fact_order_item", ["line_number", "line_total"])}
        assert totals == {1: None, 2: Decimal("7.50")}
        (dead,) = p.dead_letters()
        assert (dead["run_id"], dead["source"], dead["reason"]) == (
            run, "fact_order_item", "numeric overflow for fact_order_item.line_total (numeric(14,2))")
        assert dead["row_data"] == {"order_id": 1, "line_number": 1}
        assert all(v == (0, 0, 0) for v in p.verify().values())
        p.run()
        assert len(p.dead_letters()) == 1  # recorded once
        assert p.dead_letters()[0]["resolved_run_id"] is None  # still held back
        p.stage("order_items", {**line, "line_number": 1, "quantity": 2, "unit_price": Decimal("9999999.99"),
                                "updated_at": t2, "_loaded_at": t2})
        fixed = p.run()
        # the line is stored now: its dead letter is resolved by that run
        assert p.dead_letters()[0]["resolved_run_id"] == fixed
        totals = {r["line_number"]: r["line_total"]
                  for r in p.rows("analytics.fact_order_item", ["line_number", "line_total"])}
        assert totals == {1: Decimal("19999999.98"), 2: Decimal("7.50")}
        assert all(v == (0, 0, 0) for v in p.verify().values())


def test_values_staged_as_text_that_do_not_cast_are_dead_lettered(vendor: Pipeline) -> None:
    """Done-when of castability: the ETL lands timestamp, date and number columns as
    text. A value that cannot be cast is dead-lettered with its key, column, value and
    reason; the run exits normally, every other change applies, verify is clean, and the
    fixed row applies on the next run (its dead letter is then resolved)."""
    for column in ("onboarded_at", "incorporation_date", "employee_count", "annual_revenue"):
        widen_staging(vendor.conn, "companies", column, "varchar(100)", SPEC)
    vendor.stage(
        "companies",
        company(100, "Acme Bad Month", onboarded_at="2024-13-45", updated=ts(2)),
        company(101, "Beta Feb 30", category=2, incorporation_date="2023-02-30", updated=ts(2)),
        company(102, "Gamma Text", category=4, city=20, employee_count="12 people", updated=ts(2)),
        company(103, "Delta Huge", status=0, city=11, annual_revenue="1e5", updated=ts(2)),
        # good text values: a real leap day, a fraction rounded into an integer, a
        # decimal rounded to the column's scale, a timestamp with microseconds
        company(104, "Epsilon Good", city=11, onboarded_at="2024-02-29 23:59:59.123456",
                incorporation_date="2000-02-29", employee_count="41.5",
                annual_revenue="-0012.345", updated=ts(2)),
    )
    run = vendor.run()
    assert vendor.last_run()["status"] == "succeeded"
    assert sorted(dead_letters(vendor), key=lambda r: r[1]) == [
        ('value not castable to timestamp for companies.onboarded_at ("2024-13-45")', 100),
        ('value not castable to date for companies.incorporation_date ("2023-02-30")', 101),
        ('value not castable to integer for companies.employee_count ("12 people")', 102),
        ('value not castable to numeric(18,2) for companies.annual_revenue ("1e5")', 103),
    ]
    assert vendor.dead_lettered(run) == 4
    got = {r["id"]: r for r in vendor.rows("public.companies", None, "id")}
    # poisoned keys keep their previous state; the good row applied, cast as stored
    assert [got[k]["name"] for k in (100, 101, 102, 103)] == ["Acme", "Beta", "Gamma", "Delta"]
    good = got[104]
    assert (good["name"], good["employee_count"], good["annual_revenue"]) == (
        "Epsilon Good", 42, Decimal("-12.35"))
    assert str(good["onboarded_at"]) == "2024-02-29 23:59:59.123456"
    assert str(good["incorporation_date"]) == "2000-02-29"
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}
    # fixed upstream: the next run applies it
    vendor.clear_staging("companies")
    vendor.stage("companies", company(100, "Acme Fixed", onboarded_at="2024-12-31 10:00", updated=ts(3)))
    fixed = vendor.run()
    assert vendor.dead_lettered(fixed) == 0
    assert str(got_row(vendor, 100)["onboarded_at"]) == "2024-12-31 10:00:00"
    resolved = {r["row_data"]["id"]: r["resolved_run_id"] for r in vendor.dead_letters()}
    assert resolved == {100: fixed, 101: None, 102: None, 103: None}
    assert vendors(vendor, "vendor_name")[100] == ("Acme Fixed",)
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}


def got_row(p: Pipeline, key: int) -> dict[str, Any]:
    return next(r for r in p.rows("public.companies", None, "id") if r["id"] == key)


def test_closing_dead_letters_costs_statements_only_while_one_is_open(vendor: Pipeline) -> None:
    """A run closes dead letters with an UPDATE per changed source (and per target whose
    values can overflow). It makes them only while a letter of an earlier run is open:
    the same change costs those statements while company 100 is held back, and not once
    its letter is resolved."""
    widen_staging(vendor.conn, "companies", "name", "varchar(1000)")
    vendor.stage("companies", company(100, "N" * 400, updated=ts(2)))
    vendor.run()
    assert [r["resolved_run_id"] for r in vendor.dead_letters()] == [None]

    def rename_beta(hour: int) -> int:
        """The statements of a run that renames company 101 (and nothing else)."""
        vendor.clear_staging("companies")
        vendor.stage("companies", company(101, f"Beta {hour}", category=2, updated=ts(hour)))
        vendor.run()
        assert vendors(vendor, "vendor_name")[101] == (f"Beta {hour}",)
        return int(vendor.last_run()["statements"])

    while_open = rename_beta(3)
    vendor.clear_staging("companies")
    vendor.stage("companies", company(100, "Acme Fixed", updated=ts(4)))
    fixed = vendor.run()
    assert [r["resolved_run_id"] for r in vendor.dead_letters()] == [fixed]
    none_open = rename_beta(5)
    # companies' detection, and the applies of the three facts the rename reaches whose
    # values can overflow: fact_vendor, fact_company_profile, fact_relationship
    assert while_open - none_open == 1 + 3
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}

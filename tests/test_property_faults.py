"""Fault injection (tests/faults.py): a run made to fail at every write step in turn
(detection, each baseline, the change log, watermarks, each fact, the fact change
log, run counts, the run's close) leaves facts, baselines, logs, dead letters and
watermarks exactly as they were and a ``failed`` run_log row with the injected
error; the next run, fault removed, reaches the state the model predicts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests import faults
from tests.pipeline_harness import REPO, Pipeline
from tests.reference_model import T0, Figures, History, orders_rules
from tests.strategies_pipeline import (
    bump,
    deployed_database,
    postgres_rendering,
    reset,
    soak,
    soak_variant,
)

ORDERS = REPO / "mappings" / "orders.yml"
FIG = Figures()


@pytest.fixture(scope="module")
def orders_faulty(pg_admin_dsn: str):
    with deployed_database(pg_admin_dsn, postgres_rendering(ORDERS)) as p:
        faults.install(p)
        yield p


def _world(h: History) -> None:
    h.snapshot["countries"] = {(c,): {"code": c, "name": n, "created_at": T0, "updated_at": T0}
                               for c, n in (("FR", "France"), ("NO", "Norway"))}
    h.snapshot["products"] = {(i,): {"id": i, "sku": f"S{i}", "name": f"P{i}", "unit_cost": Decimal("1.00"),
                                     "created_at": T0, "updated_at": T0} for i in (1, 2)}
    for i in (1, 2, 3):
        h.stage("customers", {"id": i, "email": f"c{i}@x.io", "segment": "smb", "created_at": T0, "updated_at": T0})
        h.stage("addresses", {"id": i, "customer_id": i, "city": "Paris", "country_code": "FR" if i < 3 else "NO",
                              "created_at": T0, "updated_at": T0})
        h.stage("orders", {"id": i, "customer_id": i, "order_number": f"O{i}", "status": "placed",
                           "subtotal": Decimal("10.00"), "shipping_address_id": i, "op": "I",
                           "created_at": T0, "updated_at": T0})
        h.stage("order_items", {"order_id": i, "line_number": 1, "product_id": 1, "quantity": 2,
                                "unit_price": Decimal("2.50"), "created_at": T0, "updated_at": T0,
                                "_loaded_at": T0})


def _changes(h: History) -> None:
    """One batch touching every source with inserts, updates, deletes and dead letters."""
    t = T0 + dt.timedelta(hours=1)
    h.snapshot["countries"][("FR",)] = {"code": "FR", "name": "République française", "created_at": T0,
                                        "updated_at": t}
    del h.snapshot["countries"][("NO",)]
    h.snapshot["products"][(3,)] = {"id": 3, "sku": "S3", "name": "P3", "created_at": t, "updated_at": t}
    h.stage("customers", {"id": 1, "email": "new@x.io", "segment": "enterprise", "created_at": T0, "updated_at": t},
            {"id": 4, "email": "c4@x.io", "created_at": t, "updated_at": t})
    h.stage("customers", {"id": 2, "created_at": T0, "updated_at": t, "deleted_at": t})
    h.stage("addresses", {"id": 3, "customer_id": 3, "city": "Oslo", "country_code": "NO", "created_at": T0,
                          "updated_at": t})
    h.stage("orders", {"id": 2, "customer_id": 2, "order_number": "O2", "status": "paid", "subtotal": Decimal("12.00"),
                       "shipping_address_id": 2, "op": "U", "created_at": T0, "updated_at": t},
            {"id": 3, "op": "D", "created_at": T0, "updated_at": t},
            {"id": None, "op": "I", "created_at": t, "updated_at": t})
    h.stage("order_items", {"order_id": 1, "line_number": 2, "product_id": 2, "quantity": 1,
                            "unit_price": Decimal("3.00"), "created_at": t, "updated_at": t, "_loaded_at": t},
            {"order_id": 2, "line_number": 1, "product_id": 1, "quantity": 0, "created_at": t, "updated_at": t,
             "_loaded_at": t})


def _every_step_fails_cleanly(p: Pipeline, *, distinct_only: bool) -> None:
    reset(p)
    faults.clear(p.conn)
    h = History(p, orders_rules(p))
    _world(h)
    h.cycle(FIG, clear_window=True)
    _changes(h)
    # stage this load's snapshots now, so the traced (and every faulted) run sees them:
    # a run only writes the sources that changed
    h.stage_snapshots()
    steps = faults.trace_run(p)
    touched = {s.tbl for s in steps}
    # the run writes every kind of persistent object the brief lists
    for table in ("cdc.dead_letter", "cdc.change_log", "cdc.fact_change_log", "cdc.run_counts", "cdc.watermark",
                  "public.customers", "public.orders", "public.order_items", "public.countries",
                  "analytics.fact_order", "analytics.fact_order_item"):
        assert table in touched, f"the run never writes {table}: {sorted(touched)}"
    chosen = [s for s in steps if s.tbl not in faults.NOT_FAULTED]
    if distinct_only:
        chosen = [s for s in chosen if s.occurrence == 0]
    before = faults.state(p)
    for step in [*chosen, faults.CLOSE]:
        faults.arm(p.conn, step)
        try:
            error = p.run_expecting_failure()
        finally:
            faults.clear(p.conn)
        where = "run close" if step == faults.CLOSE else f"{step.tbl} {step.op}"
        assert f"injected fault at {where}" in error, error
        last = p.last_run()
        assert last["status"] == "failed" and f"injected fault at {where}" in last["error"], last
        assert faults.state(p) == before, f"a run failing at {step} left changes behind"
        assert p.conn.execute("SELECT count(*) FROM cdc.run_counts WHERE run_id = %s",
                              [last["run_id"]]).fetchone() == (0,)
        bump("faults.injected")
    # fault removed: the next run starts from the same place and reaches the model's state
    h.cycle(FIG, clear_window=True)
    bump("faults.recoveries")
    print(f"\nfaults: {len(chosen) + 1} steps of {len(steps)} injected, recovered; {FIG}")


def test_a_run_failing_at_any_step_changes_nothing_and_the_next_run_recovers(orders_faulty: Pipeline) -> None:
    """CI: the first statement of every (table, operation) the run writes, and its close."""
    _every_step_fails_cleanly(orders_faulty, distinct_only=not soak())


@soak_variant
def test_a_run_failing_at_every_single_statement_soak(orders_faulty: Pipeline) -> None:
    _every_step_fails_cleanly(orders_faulty, distinct_only=False)


VENDOR = REPO / "mappings" / "vendor.yml"


@pytest.fixture(scope="module")
def vendor_faulty(pg_admin_dsn: str):
    with deployed_database(pg_admin_dsn, postgres_rendering(VENDOR)) as p:
        faults.install(p)
        yield p


def test_vendor_fact_apply_failures_roll_back_everything(vendor_faulty: Pipeline) -> None:
    """The failing step is each vendor fact in turn (and its log), after the baseline sync."""
    from tests.test_scenarios_vendor import CATEGORIES, COUNTRIES, city, company, mapping

    p = vendor_faulty
    reset(p)
    faults.clear(p.conn)
    p.stage("countries", *COUNTRIES)
    p.stage("product_categories", *CATEGORIES)
    p.stage("cities", city(10, "Paris", 1))
    p.stage("companies", company(100, "Acme"), company(101, "Beta", category=2))
    p.stage("buyer_seller_company_mappings", mapping(1000, 100), mapping(1001, 101))
    p.run()
    p.stage("companies", company(100, "Acme Corp", updated=dt.datetime(2024, 1, 5)))
    p.stage("cities", city(10, "Paris-Centre", 1, updated=dt.datetime(2024, 1, 5)))
    before = faults.state(p)
    for target in p.manifest["targets"]:
        for table in (target["table"], "cdc.fact_change_log"):
            faults.arm(p.conn, faults.Step(table, "INSERT" if table.startswith("cdc") else "UPDATE", 0))
            try:
                error = p.run_expecting_failure()
            finally:
                faults.clear(p.conn)
            assert "injected fault at" in error
            assert faults.state(p) == before
            bump("faults.injected")
    run = p.run()
    assert p.counts(run)["fact_vendor"] == (0, 2, 0)  # Acme renamed; both vendors are in Paris
    assert all(v == (0, 0, 0) for v in p.verify().values())

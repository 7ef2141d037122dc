"""Concurrent runs on a real PostgreSQL: runs are serialised by the run's lock on
cdc.run_log, LSNs stay gapless and unique, no change is lost or applied twice, and
staging rows committed while a run is in progress are taken by the next run,
exactly once. A test-only trigger (tests/faults.py, ``sleep``) holds a run open."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import psycopg
import pytest

from tests import faults
from tests.pipeline_harness import REPO, Pipeline
from tests.reference_model import (
    T0,
    Figures,
    History,
    check_baselines,
    check_change_log,
    orders_rules,
)
from tests.strategies_pipeline import deployed_database, postgres_rendering, reset

ORDERS = REPO / "mappings" / "orders.yml"
HOLD = 1.5


@pytest.fixture
def orders(pg_admin_dsn: str):
    with deployed_database(pg_admin_dsn, postgres_rendering(ORDERS)) as p:
        faults.install(p)
        reset(p)
        yield p


def _uri(p: Pipeline) -> str:
    params = p.conn.info.get_parameters()
    host = params.get("host", "")
    return f"postgresql://{params.get('user', 'postgres')}@/{params['dbname']}?host={host}&port={params.get('port', 5432)}"


def _call(dsn: str, proc: str, results: dict[str, object], name: str, barrier: threading.Barrier) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            barrier.wait()
            conn.execute(f"CALL {proc}()")
            results[name] = "ok"
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        results[name] = exc


def _seed(h: History) -> None:
    h.snapshot["countries"] = {("FR",): {"code": "FR", "name": "France", "created_at": T0, "updated_at": T0}}
    h.snapshot["products"] = {(1,): {"id": 1, "sku": "S1", "created_at": T0, "updated_at": T0}}
    for i in (1, 2):
        h.stage("customers", {"id": i, "email": f"c{i}@x.io", "created_at": T0, "updated_at": T0})
        h.stage("orders", {"id": i, "customer_id": i, "order_number": f"O{i}", "status": "placed", "op": "I",
                           "subtotal": Decimal("5.00"), "created_at": T0, "updated_at": T0})
        h.stage("order_items", {"order_id": i, "line_number": 1, "product_id": 1, "quantity": 1,
                                "unit_price": Decimal("5.00"), "created_at": T0, "updated_at": T0, "_loaded_at": T0})


def test_two_simultaneous_runs_are_serialised(orders: Pipeline) -> None:
    h = History(orders, orders_rules(orders))
    _seed(h)
    for source, rows in h.snapshot.items():
        for row in rows.values():
            h.stage(source, row)
    expected = {n: m.apply(h.staging[n]) for n, m in h.models.items()}
    # every write to change_log sleeps: the first run holds the lock while the second waits
    faults.hold(orders.conn, "cdc.change_log", "INSERT", HOLD / 4)
    dsn = _uri(orders)
    proc = orders.manifest["procedures"]["run"]
    results: dict[str, object] = {}
    barrier = threading.Barrier(3)
    threads = [threading.Thread(target=_call, args=(dsn, proc, results, n, barrier)) for n in ("a", "b")]
    for t in threads:
        t.start()
    barrier.wait()
    waiting = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not waiting:
        waiting = orders.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'cdc.run_log'::regclass"
        ).fetchone()[0]
        time.sleep(0.02)
    for t in threads:
        t.join(60)
    faults.clear(orders.conn)
    assert results == {"a": "ok", "b": "ok"}, results
    assert waiting == 1, "the second run did not wait for the first one's lock"
    runs = orders.conn.execute("SELECT run_id, status FROM cdc.run_log ORDER BY run_id").fetchall()
    assert runs == [(1, "succeeded"), (2, "succeeded")]
    # one run applied everything, the other found nothing left to do
    changed = [len(orders.change_log(r)) for r, _ in runs]
    assert sorted(changed) == [0, sum(len(e.ops) for e in expected.values())], changed
    check_baselines(orders, h.models)
    check_change_log(orders)  # LSNs 1..N, no duplicate, replay = baseline
    assert all(v == (0, 0, 0) for v in orders.verify().values())


def test_staging_committed_during_a_run_is_taken_by_the_next_run_once(orders: Pipeline) -> None:
    fig = Figures()
    h = History(orders, orders_rules(orders))
    _seed(h)
    h.cycle(fig, clear_window=False)
    t1 = T0 + dt.timedelta(hours=1)
    h.stage("customers", {"id": 1, "email": "during@x.io", "created_at": T0, "updated_at": t1})
    batch = {n: list(rows) for n, rows in h.staging.items()}
    expected_first = {n: m.apply(batch[n], commit=False) for n, m in h.models.items()}

    # run 1 sleeps at its first change_log write: every staged copy has been taken by then
    faults.hold(orders.conn, "cdc.change_log", "INSERT", HOLD)
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)
    runner = threading.Thread(target=_call, args=(_uri(orders), orders.manifest["procedures"]["run"],
                                                  results, "run", barrier))
    runner.start()
    barrier.wait()
    time.sleep(HOLD / 3)
    late = T0 + dt.timedelta(hours=2)
    with psycopg.connect(_uri(orders), autocommit=True) as etl:  # a third connection: the ETL
        etl.execute("INSERT INTO staging.customers (id, email, created_at, updated_at) VALUES (2, 'late@x.io', %s, %s)",
                    [T0, late])
        etl.execute("INSERT INTO staging.order_items (order_id, line_number, product_id, quantity, unit_price, "
                    "created_at, updated_at, _loaded_at) VALUES (1, 2, 1, 3, 1.00, %s, %s, %s)", [late, late, late])
    runner.join(60)
    faults.clear(orders.conn)
    assert results == {"run": "ok"}, results
    first = orders.last_run()["run_id"]
    # run 1 saw only what was committed before it started
    assert {r["key_text"] for r in orders.change_log(first)} == {"1"}
    for n, m in h.models.items():
        m.apply(batch[n])
    check_baselines(orders, h.models)
    assert sum(len(e.ops) for e in expected_first.values()) == 1
    # mirror the ETL's rows, then the next run takes them, exactly once
    h.staging["customers"].append({c: None for c in h.rules["customers"].staging_columns}
                                  | {"id": 2, "email": "late@x.io", "created_at": T0, "updated_at": late})
    h.staging["order_items"].append({c: None for c in h.rules["order_items"].staging_columns}
                                    | {"order_id": 1, "line_number": 2, "product_id": 1, "quantity": 3,
                                       "unit_price": Decimal("1.00"), "created_at": late, "updated_at": late,
                                       "_loaded_at": late})
    from tests.reference_model import run_and_check

    second = run_and_check(orders, h.models, h.staging, fig)  # includes a third, empty run
    assert {(r["source"], r["key_text"]) for r in orders.change_log(second)} == {("customers", "2"),
                                                                                ("order_items", "1|2")}

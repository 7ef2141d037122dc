"""Point-in-time lookups (issue 11 item 1): mappings/orders.yml ``fact_order_customer``
takes ``dim_customer`` (SCD2) as of ``orders.placed_at``: the version with
``valid_from <= placed_at < valid_to``; a NULL ``placed_at``, or one before the
customer's first version, matches nothing.

Scenarios on a real PostgreSQL, one fresh database per test: a version change before,
inside and after an order's time, NULL as-of times, late-arriving orders, changes of the
as-of column and key, and a deleted customer under each ``on_delete`` rule. Each run
asserts the exact fact rows, the exact fact_change_log keys (only the orders whose time
falls in a changed validity range are recomputed and logged), and a clean ``verify``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_harness import REPO, Pipeline, ts
from tests.strategies_pipeline import deployed_database, postgres_rendering, render_postgres_only

ORDERS_SPEC = REPO / "mappings" / "orders.yml"
FACT = "analytics.fact_order_customer"
COLUMNS = (
    "order_id",
    "customer_id",
    "placed_at",
    "customer_sk",
    "customer_email",
    "customer_segment",
    "customer_plan",
    "customer_deleted",
)
FUTURE = dt.datetime(2099, 1, 1)  # after any run's timestamp


def customer(
    id_: int, segment: str, updated: dt.datetime, *, email: str | None = None, deleted: bool = False
) -> dict[str, Any]:
    return {
        "id": id_,
        "email": email or f"c{id_}@x.io",
        "segment": segment,
        "plan": "free",
        "created_at": ts(1),
        "updated_at": updated,
        "deleted_at": updated if deleted else None,
    }


def order(
    id_: int,
    customer_id: int | None,
    placed: dt.datetime | None,
    updated: dt.datetime,
    op: str = "I",
) -> dict[str, Any]:
    return {
        "id": id_,
        "customer_id": customer_id,
        "order_number": f"A-{id_}",
        "status": "paid",
        "placed_at": placed,
        "created_at": ts(1),
        "updated_at": updated,
        "op": op,
    }


def fact(p: Pipeline) -> dict[int, tuple[Any, ...]]:
    """order_id -> (customer_sk, email, segment, deleted)."""
    return {
        r["order_id"]: (
            r["customer_sk"],
            r["customer_email"],
            r["customer_segment"],
            r["customer_deleted"],
        )
        for r in p.rows(FACT, COLUMNS, order_by="order_id")
    }


def logged(p: Pipeline, run_id: int) -> set[int]:
    return {int(r["key_text"]) for r in p.fact_changes(run_id, "fact_order_customer")}


def affected(p: Pipeline) -> set[int]:
    """The keys the last run recomputed (its session temp table outlives the call)."""
    rows = p.conn.execute("SELECT order_id FROM orders__fact_order_customer__keys").fetchall()
    return {r[0] for r in rows}


def versions(p: Pipeline) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in p.rows(
            "analytics.dim_customer",
            ["dim_customer_sk", "customer_id", "segment", "valid_from", "valid_to", "is_deleted"],
            order_by="dim_customer_sk",
        )
    ]


def assert_clean(p: Pipeline) -> None:
    assert set(p.verify().values()) == {(0, 0, 0)}
    found = {k: v for k, v in p.checks().items() if v[0]}
    assert not found, found


def cycle(p: Pipeline, **staged: list[dict[str, Any]]) -> int:
    p.clear_staging()
    for source, rows in staged.items():
        p.stage(source, *rows)
    run_id = p.run()
    assert p.last_run()["status"] == "succeeded"
    assert_clean(p)
    return run_id


def variant(rule: str, tmp_path: Path) -> dict[str, str]:
    if rule == "new_version":
        return postgres_rendering(ORDERS_SPEC)
    spec = tmp_path / "orders.yml"
    text = ORDERS_SPEC.read_text()
    assert "    on_delete: new_version\n" in text
    spec.write_text(text.replace("    on_delete: new_version\n", f"    on_delete: {rule}\n"))
    return render_postgres_only(spec)


@pytest.fixture
def orders(pg_admin_dsn: str) -> Iterator[Pipeline]:
    with deployed_database(pg_admin_dsn, postgres_rendering(ORDERS_SPEC)) as p:
        yield p


def test_versions_before_inside_and_after_an_orders_time(orders: Pipeline) -> None:
    p = orders
    first = cycle(
        p,
        customers=[customer(1, "smb", ts(1, 12))],
        orders=[
            order(10, 1, ts(5), ts(2)),  # inside version 1
            order(12, 1, ts(1, 6), ts(2)),  # before the customer's first version
            order(13, 1, ts(1, 12), ts(2)),  # exactly at valid_from: inclusive
            order(14, 1, ts(8), ts(2)),  # after the coming change
            order(15, 1, ts(7), ts(2)),  # exactly at the coming change
            order(16, 2, ts(5), ts(2)),  # a customer with no version at all
        ],
    )
    assert fact(p) == {
        10: (1, "c1@x.io", "smb", False),
        12: (None, None, None, None),
        13: (1, "c1@x.io", "smb", False),
        14: (1, "c1@x.io", "smb", False),
        15: (1, "c1@x.io", "smb", False),
        16: (None, None, None, None),
    }
    assert logged(p, first) == {10, 12, 13, 14, 15, 16}

    # A move to another segment at ts(7): version 1 closes at ts(7) (valid_to exclusive),
    # version 2 opens there. Orders before keep version 1; orders at or after move.
    moved = cycle(p, customers=[customer(1, "enterprise", ts(7))])
    assert versions(p)[-1][:4] == (2, 1, "enterprise", ts(7))
    assert fact(p) == {
        10: (1, "c1@x.io", "smb", False),
        12: (None, None, None, None),
        13: (1, "c1@x.io", "smb", False),
        14: (2, "c1@x.io", "enterprise", False),
        15: (2, "c1@x.io", "enterprise", False),
        16: (None, None, None, None),
    }
    assert logged(p, moved) == {14, 15}
    assert affected(p) == {14, 15}  # exactly the orders at or after the change

    # A type-1 correction (email) overwrites the current version in place: the orders inside
    # its validity see it, the orders of the closed version keep the old email.
    corrected = cycle(p, customers=[customer(1, "enterprise", ts(9), email="new@x.io")])
    assert fact(p)[14] == (2, "new@x.io", "enterprise", False)
    assert fact(p)[10] == (1, "c1@x.io", "smb", False)
    assert logged(p, corrected) == {14, 15}
    assert affected(p) == {14, 15}  # the current version, from its valid_from

    # Customer 2 arrives: its first version starts at its updated_at (ts(3)), so order 16
    # (ts(5)) now matches; nothing else is touched.
    arrived = cycle(p, customers=[customer(2, "consumer", ts(3))])
    assert fact(p)[16] == (3, "c2@x.io", "consumer", False)
    assert logged(p, arrived) == {16}
    assert affected(p) == {16}

    # A rerun over the same staging changes nothing.
    again = p.run()
    assert logged(p, again) == set() and p.counts(again) == {}


def test_null_as_of_time_and_changes_of_the_as_of_column(orders: Pipeline) -> None:
    p = orders
    cycle(p, customers=[customer(1, "smb", ts(1))], orders=[order(11, 1, None, ts(2))])
    assert fact(p) == {11: (None, None, None, None)}
    # a dimension change never reaches an order without a time
    moved = cycle(p, customers=[customer(1, "enterprise", ts(4))])
    assert fact(p) == {11: (None, None, None, None)} and logged(p, moved) == set()
    # the order gets a time: its own change recomputes it, in the version of that time
    timed = cycle(p, orders=[order(11, 1, ts(3), ts(5), "U")])
    assert fact(p) == {11: (1, "c1@x.io", "smb", False)} and logged(p, timed) == {11}
    # moved past the change
    later = cycle(p, orders=[order(11, 1, ts(6), ts(6), "U")])
    assert fact(p) == {11: (2, "c1@x.io", "enterprise", False)} and logged(p, later) == {11}
    # the as-of key changes: another customer, as of the same time
    cycle(p, customers=[customer(2, "consumer", ts(2))])
    other = cycle(p, orders=[order(11, 2, ts(6), ts(7), "U")])
    assert fact(p) == {11: (3, "c2@x.io", "consumer", False)} and logged(p, other) == {11}
    # back to no time
    cleared = cycle(p, orders=[order(11, 2, None, ts(8), "U")])
    assert fact(p) == {11: (None, None, None, None)} and logged(p, cleared) == {11}


def test_late_arriving_order_takes_the_version_of_its_time(orders: Pipeline) -> None:
    p = orders
    cycle(p, customers=[customer(1, "smb", ts(1))])
    cycle(p, customers=[customer(1, "enterprise", ts(7))])
    cycle(p, customers=[customer(1, "consumer", ts(9))])
    # orders placed long ago arrive only now: each takes the version of its own time
    late = cycle(
        p,
        orders=[
            order(20, 1, ts(5), ts(10)),
            order(21, 1, ts(8), ts(10)),
            order(22, 1, ts(9, 1), ts(10)),
        ],
    )
    assert fact(p) == {
        20: (1, "c1@x.io", "smb", False),
        21: (2, "c1@x.io", "enterprise", False),
        22: (3, "c1@x.io", "consumer", False),
    }
    assert logged(p, late) == {20, 21, 22}
    # a late (stale) customer row does not rewrite history
    stale = cycle(p, customers=[customer(1, "smb", ts(2))])
    assert logged(p, stale) == set()


@pytest.mark.parametrize("rule", ["new_version", "invalidate", "ignore"])
def test_deleted_customer_under_each_on_delete_rule(
    rule: str, pg_admin_dsn: str, tmp_path: Path
) -> None:
    with deployed_database(pg_admin_dsn, variant(rule, tmp_path)) as p:
        cycle(
            p,
            customers=[customer(1, "smb", ts(1))],
            orders=[order(30, 1, ts(5), ts(2)), order(31, 1, FUTURE, ts(2))],
        )
        before = {30: (1, "c1@x.io", "smb", False), 31: (1, "c1@x.io", "smb", False)}
        assert fact(p) == before
        deleted = cycle(p, customers=[customer(1, "smb", ts(6), deleted=True)])
        # The delete closes the version at the run's time (today): order 30 (2024) stays in
        # version 1 under every rule. Order 31 lies after the close: under new_version it
        # takes the 'deleted' version (last known values), under invalidate no version,
        # under ignore version 1 stays open.
        after = {
            "new_version": {30: before[30], 31: (2, "c1@x.io", "smb", True)},
            "invalidate": {30: before[30], 31: (None, None, None, None)},
            "ignore": before,
        }[rule]
        assert fact(p) == after
        assert logged(p, deleted) == ({31} if rule != "ignore" else set())
        # the customer comes back
        back = cycle(p, customers=[customer(1, "consumer", ts(8))])
        assert fact(p)[30] == before[30]
        if rule == "ignore":
            # still open: a history change at ts(8) before FUTURE moves order 31
            assert fact(p)[31] == (2, "c1@x.io", "consumer", False)
            assert logged(p, back) == {31}
        else:
            # a key coming back opens no earlier than its last close (the run's time of the
            # delete), so order 31 (2099) takes the new version
            assert fact(p)[31] == (3 if rule == "new_version" else 2, "c1@x.io", "consumer", False)
            assert logged(p, back) == {31}


def test_rebuilding_the_dimension_rebuilds_the_fact(orders: Pipeline) -> None:
    p = orders
    cycle(p, customers=[customer(1, "smb", ts(1))], orders=[order(40, 1, ts(5), ts(2))])
    # Break the fact by hand: verify sees it; rebuilding the dimension rebuilds its
    # point-in-time facts too.
    p.conn.execute(f"UPDATE {FACT} SET customer_segment = 'x'")
    assert p.verify()["fact_order_customer"] == (0, 0, 1)
    p.rebuild("dim_customer")
    assert fact(p) == {40: (1, "c1@x.io", "smb", False)}
    assert_clean(p)


def test_impact_follows_point_in_time_lookups() -> None:
    from cdcgen.impact import impact_for
    from cdcgen.spec.loader import load_spec

    spec = load_spec(ORDERS_SPEC).spec
    every = list(spec.facts["fact_order_customer"].columns)
    # the as-of time and key pick the version: every column
    assert impact_for(spec, "orders.placed_at")["fact_order_customer"] == every
    assert impact_for(spec, "orders.customer_id")["fact_order_customer"] == every
    # a history column of the dimension: its column and the version's bookkeeping
    assert impact_for(spec, "customers.segment")["fact_order_customer"] == [
        "customer_sk",
        "customer_segment",
        "customer_deleted",
    ]
    # a type-1 column: only what reads it
    assert impact_for(spec, "customers.email")["fact_order_customer"] == ["customer_email"]
    assert "fact_order_customer" not in impact_for(spec, "customers.first_name")


def test_a_date_as_of_column_is_its_midnight(pg_admin_dsn: str) -> None:
    """tests/specs/valid/as_of_date.yml: invoices.issued_on (DATE) on a composite key."""
    spec = REPO / "tests" / "specs" / "valid" / "as_of_date.yml"
    with deployed_database(pg_admin_dsn, render_postgres_only(spec)) as p:

        def account(tier: str, updated: dt.datetime) -> dict[str, Any]:
            return {"tenant_id": 7, "id": 1, "tier": tier, "updated_at": updated}

        def invoice(id_: int, day: int) -> dict[str, Any]:
            return {
                "id": id_,
                "tenant_id": 7,
                "account_id": 1,
                "issued_on": dt.date(2024, 1, day),
                "amount": 1,
                "updated_at": ts(1),
            }

        p.stage("accounts", account("basic", ts(1)))
        p.stage("invoices", invoice(1, 2), invoice(2, 3), invoice(3, 4))
        p.run()
        p.clear_staging()
        p.stage("accounts", account("gold", ts(3, 12)))  # mid-day: the 3rd began as basic
        run_id = p.run()
        rows = p.rows(
            "analytics.fact_invoice",
            ["invoice_id", "account_sk", "tier_then", "tier_since"],
            order_by="invoice_id",
        )
        assert [tuple(r.values()) for r in rows] == [
            (1, 1, "basic", ts(1)),
            (2, 1, "basic", ts(1)),
            (3, 2, "gold", ts(3, 12)),
        ]
        assert {int(r["key_text"]) for r in p.fact_changes(run_id, "fact_invoice")} == {3}
        assert set(p.verify().values()) == {(0, 0, 0)}

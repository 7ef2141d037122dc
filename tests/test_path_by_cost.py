"""The path by cost (issue 9 item 3, docs/performance.md): when a run's affected keys are
``WHOLE_PATH_PCT`` % of a fact or more, the fact is recomputed whole (its definition
beside the whole target) instead of by key. The path is a cost choice only: the target,
``fact_change_log``, ``run_counts`` and the dead letters must be exactly what the keyed
path writes for the same batch.

On a real PostgreSQL: the same history of batches runs on two databases of
mappings/orders.yml, one built with the shipped threshold (``WHOLE_PATH_PCT``; counting the
target from the first key, where the shipped build waits for ``WHOLE_PATH_MIN_KEYS`` keys,
more than these histories reach) and one that never takes the whole path;
after every run both hold the same rows, and ``run_counts.path`` says which path ran."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from cdcgen.sql.facts import WHOLE_PATH_MIN_KEYS, WHOLE_PATH_PCT
from tests.pipeline_harness import REPO, Pipeline, ts
from tests.strategies_pipeline import deployed_database, postgres_rendering, with_whole_path_pct

ORDERS_SPEC = REPO / "mappings" / "orders.yml"
FACTS = ("fact_order", "fact_order_item", "fact_order_customer")


def customer(id_: int, segment: str, updated: dt.datetime, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": id_, "email": f"c{id_}@x.io", "first_name": f"F{id_}", "last_name": "L",
        "segment": segment, "plan": "free", "created_at": ts(1), "updated_at": updated,
        "deleted_at": updated if deleted else None,
    }


def order(id_: int, customer_id: int, status: str, updated: dt.datetime, op: str = "I",
          subtotal: float = 10.0) -> dict[str, Any]:
    return {
        "id": id_, "customer_id": customer_id, "order_number": f"A-{id_}", "status": status,
        "subtotal": subtotal, "placed_at": ts(2, id_ % 24), "created_at": ts(1),
        "updated_at": updated, "op": op,
    }


def item(order_id: int, loaded: dt.datetime, quantity: int = 1) -> dict[str, Any]:
    return {
        "order_id": order_id, "line_number": 1, "product_id": 1, "quantity": quantity,
        "unit_price": 2.5, "created_at": ts(1), "updated_at": loaded, "_loaded_at": loaded,
    }


def state(p: Pipeline) -> dict[str, Any]:
    """Everything a run writes that the path could change (timestamps of the run aside)."""
    q = p.conn.execute
    out: dict[str, Any] = {}
    for fact in FACTS:
        out[fact] = q(f"SELECT f::text FROM analytics.{fact} f ORDER BY 1").fetchall()
    out["fact_change_log"] = q(
        "SELECT run_id, target, op, key_text, changed_columns, before_row::text, after_row::text "
        "FROM cdc.fact_change_log ORDER BY 1, 2, 4, 3"
    ).fetchall()
    out["run_counts"] = q(
        "SELECT run_id, object_kind, object_name, inserted, updated, deleted, stale, dead_lettered, "
        "read_rows, applied, superseded, rejected FROM cdc.run_counts ORDER BY 1, 2, 3"
    ).fetchall()
    out["dead_letter"] = q(
        "SELECT run_id, source, reason, row_hash, resolved_run_id FROM cdc.dead_letter ORDER BY 1, 2, 4"
    ).fetchall()
    return out


def paths(p: Pipeline, run_id: int) -> dict[str, str | None]:
    rows = p.conn.execute(
        "SELECT object_name, path FROM cdc.run_counts WHERE run_id = %s AND object_kind = 'fact'",
        [run_id],
    ).fetchall()
    return dict(rows)


@pytest.fixture
def pair(pg_admin_dsn: str) -> Iterator[tuple[Pipeline, Pipeline]]:
    shipped = postgres_rendering(ORDERS_SPEC)
    threshold = with_whole_path_pct(shipped, WHOLE_PATH_PCT)  # the shipped share, any key count
    keyed = with_whole_path_pct(shipped, 1_000_000)  # never the whole path
    with deployed_database(pg_admin_dsn, threshold) as a, deployed_database(pg_admin_dsn, keyed) as b:
        yield a, b


def test_the_apply_procedures_render_the_shipped_threshold() -> None:
    text = postgres_rendering(ORDERS_SPEC)["060_procedure__cdc.sp_orders_apply_fact_order.sql"]
    assert f"IF v_keys * 100 >= {WHOLE_PATH_PCT} * v_target_count THEN" in text
    # a run of a few keys never counts the target (a read of all of it)
    assert f"IF NOT p_full AND v_target_rows > 0 AND v_keys >= {WHOLE_PATH_MIN_KEYS} THEN" in text


def test_a_large_change_takes_the_whole_path_and_writes_what_the_keyed_path_writes(
    pair: tuple[Pipeline, Pipeline],
) -> None:
    def cycle(**staged: list[dict[str, Any]]) -> list[dict[str, str | None]]:
        taken = []
        for p in pair:
            p.clear_staging()
            for source, rows in staged.items():
                p.stage(source, *rows)
            run_id = p.run()
            assert p.last_run()["status"] == "succeeded"
            assert set(p.verify().values()) == {(0, 0, 0)}
            taken.append(paths(p, run_id))
        assert state(pair[0]) == state(pair[1])
        return taken

    n = 40
    customers = [customer(c, "smb", ts(1, 1)) for c in range(1, 11)]
    orders = [order(o, 1 + o % 10, "paid", ts(1, 2)) for o in range(1, n + 1)]
    first, _ = cycle(customers=customers, orders=orders, order_items=[item(o, ts(3)) for o in range(1, n + 1)])
    # the first load reaches every key of an empty target: the keyed (all-keys) path
    assert first == dict.fromkeys(FACTS, "keys")

    # one order of 40 (2.5 %): by key
    small, keyed = cycle(orders=[order(7, 8, "shipped", ts(4))])
    assert small["fact_order"] == "keys" and keyed["fact_order"] == "keys"
    assert small["fact_order_item"] == "keys"

    # a customer reaching 4 orders, 22 orders moved to another customer and status, 2
    # deleted, 2 new (one without a line: not in fact_order), a line changed: over half
    # of every fact
    assert WHOLE_PATH_PCT <= 60
    big, keyed = cycle(
        customers=[customer(3, "enterprise", ts(5))],
        orders=[
            *(order(o, 1 + (o + 1) % 10, "delivered", ts(5)) for o in range(11, 35) if o not in (21, 22)),
            order(21, 2, "paid", ts(5), op="D"),
            order(22, 3, "paid", ts(5), op="D"),
            order(41, 4, "paid", ts(5)),
            order(42, 5, "paid", ts(5)),
        ],
        order_items=[item(41, ts(6)), item(30, ts(6), quantity=3)],
    )
    assert big == dict.fromkeys(FACTS, "full")
    assert keyed == dict.fromkeys(FACTS, "keys")

    # a draft leaves fact_order (a delete on the whole path), a customer leaves
    _, _ = cycle(
        customers=[customer(2, "smb", ts(7), deleted=True)],
        orders=[order(o, 1 + o % 10, "draft", ts(7)) for o in range(1, 9)],
    )
    # a rerun over the same staging changes nothing on either path
    for p in pair:
        again = p.run()
        assert p.counts(again) == {}
    assert state(pair[0]) == state(pair[1])

"""``cdcgen verify`` shows, per target, the counts and up to 10 example keys per kind of
difference (missing, extra, different), in the text form and under ``examples`` with
``--json``. The keys are read in Python with bounded EXCEPT queries against the target
and its ``__full`` view. Real PostgreSQL, hand-corrupted targets."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from tests.pipeline_harness import REPO, Pipeline, ts

ORDERS_BUILD = REPO / "generated" / "orders"


@pytest.fixture
def cdcgen(pg_dsn: str, secret_password: str):
    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, [*args, "--dsn", pg_dsn], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.stdout

    return invoke


def sql(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def test_fact_examples_are_keys_capped_at_ten(cdcgen, pg_dsn: str, mini_build: Path) -> None:
    build = str(mini_build)
    cdcgen("deploy", "--with-staging", build)
    sql(pg_dsn, "INSERT INTO staging.items SELECT i, 'item ' || i, clock_timestamp() "
                "FROM generate_series(1, 20) AS i")
    cdcgen("bootstrap", build)
    clean = json.loads(cdcgen("verify", "--json", build))
    assert clean["targets"][0]["examples"] == {"missing": [], "extra": [], "different": []}

    sql(pg_dsn, "DELETE FROM mart.fact_item WHERE item_id BETWEEN 5 AND 15")  # 11 missing
    sql(pg_dsn, "INSERT INTO mart.fact_item VALUES (101, 'stray'), (102, NULL)")
    sql(pg_dsn, "UPDATE mart.fact_item SET item_name = NULL WHERE item_id IN (2, 19)")
    text = cdcgen("verify", build, code=1)
    assert "fact_item: DIFFERS (missing 11, extra 2, different 2)" in text
    assert "  missing   item_id=5, item_id=6, item_id=7, item_id=8, item_id=9, item_id=10, " \
           "item_id=11, item_id=12, item_id=13, item_id=14 (+1 more)" in text
    assert "  extra     item_id=101, item_id=102\n" in text
    assert "  different item_id=2, item_id=19\n" in text
    assert text.rstrip().splitlines()[-1].startswith("1 target(s) differ")

    failed = json.loads(cdcgen("verify", "--json", build, code=1))
    target = failed["targets"][0]
    assert (target["missing_rows"], target["extra_rows"], target["different_rows"]) == (11, 2, 2)
    assert target["examples"] == {
        "missing": [{"item_id": i} for i in range(5, 15)],
        "extra": [{"item_id": 101}, {"item_id": 102}],
        "different": [{"item_id": 2}, {"item_id": 19}],
    }
    assert failed["error"].startswith("1 target(s) differ")


def customer(id_: int, segment: str, updated: int) -> dict:
    return {"id": id_, "email": f"c{id_}@x.io", "segment": segment, "default_address_id": id_,
            "created_at": ts(1), "updated_at": ts(updated), "deleted_at": None}


def test_dimension_and_composite_key_examples(cdcgen, pg_dsn: str) -> None:
    """An SCD2 dimension is compared on its current, live versions; a two-column key
    shows as a tuple in the text and as an object with both columns in JSON."""
    build = str(ORDERS_BUILD)
    cdcgen("deploy", "--with-staging", build)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        p = Pipeline(conn, json.loads((ORDERS_BUILD / "postgres" / "manifest.json").read_text()))
        p.stage("addresses", *({"id": i, "customer_id": i, "country_code": "FR",
                                "updated_at": ts(1)} for i in (1, 2, 3)))
        p.stage("customers", customer(1, "smb", 1), customer(2, "smb", 1), customer(3, "smb", 1))
        p.stage("orders", {"id": 10, "customer_id": 1, "order_number": "A-1", "status": "paid",
                           "created_at": ts(1), "updated_at": ts(1), "op": "I"})
        p.stage("order_items", *({"order_id": 10, "line_number": n, "quantity": 1,
                                  "unit_price": 2, "created_at": ts(1), "updated_at": ts(1),
                                  "_loaded_at": ts(1)} for n in (1, 2)))
        p.run()
        p.clear_staging()
        p.stage("customers", customer(1, "enterprise", 2))  # a second version of 1
        p.run()
    assert json.loads(cdcgen("verify", "--json", build))["ok"] is True

    # customer 1's old version is not compared: corrupting it changes nothing
    sql(pg_dsn, "UPDATE analytics.dim_customer SET segment = 'x' "
                "WHERE customer_id = 1 AND NOT is_current")
    assert json.loads(cdcgen("verify", "--json", build))["ok"] is True
    sql(pg_dsn, "UPDATE analytics.dim_customer SET segment = 'x' "
                "WHERE customer_id = 1 AND is_current")
    sql(pg_dsn, "UPDATE analytics.dim_customer SET is_deleted = TRUE WHERE customer_id = 3")
    sql(pg_dsn, "INSERT INTO analytics.dim_customer (dim_customer_sk, customer_id, is_current, "
                "is_deleted) VALUES (900, 77, TRUE, FALSE)")
    sql(pg_dsn, "UPDATE analytics.fact_order_item SET quantity = 5 WHERE line_number = 2")
    text = cdcgen("verify", build, code=1)
    assert "dim_customer: DIFFERS (missing 1, extra 1, different 1)" in text
    assert "  missing   customer_id=3\n  extra     customer_id=77\n" \
           "  different customer_id=1\n" in text
    assert "fact_order_item: DIFFERS (missing 0, extra 0, different 1)\n" \
           "  different (order_id=10, line_number=2)\n" in text
    targets = {t["target"]: t for t in json.loads(cdcgen("verify", "--json", build, code=1))["targets"]}
    assert targets["dim_customer"]["examples"] == {
        "missing": [{"customer_id": 3}], "extra": [{"customer_id": 77}],
        "different": [{"customer_id": 1}]}
    assert targets["fact_order_item"]["examples"]["different"] == [
        {"order_id": 10, "line_number": 2}]
    assert targets["fact_order"]["examples"] == {"missing": [], "extra": [], "different": []}

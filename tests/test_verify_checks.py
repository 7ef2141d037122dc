"""``sp_<p>_verify()`` checks the audit trail, not only the targets (issue 11 item 2).

On mappings/orders.yml (dim_customer: SCD2, on_delete new_version; freshness error_after
90m) a short history leaves every check at 0 findings; then each test breaks the one
thing a check covers by hand-editing a table and sees it reported, with an example —
through the procedure (``cdc.verify_log``) and through ``cdcgen verify`` (text, --json,
exit 1). Real PostgreSQL, one fresh database per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from tests.pipeline_harness import REPO, Pipeline, spec_with, ts
from tests.strategies_pipeline import deployed_database, postgres_rendering

ORDERS_SPEC = REPO / "mappings" / "orders.yml"
ORDERS_BUILD = REPO / "generated" / "orders"


def customer(id_: int, segment: str, updated: int, deleted: bool = False) -> dict:
    return {"id": id_, "email": f"c{id_}@x.io", "segment": segment, "default_address_id": id_,
            "created_at": ts(1), "updated_at": ts(updated), "deleted_at": ts(updated) if deleted else None}


def _history(p: Pipeline) -> None:
    p.stage("addresses", *({"id": i, "customer_id": i, "country_code": "FR", "updated_at": ts(1)}
                            for i in (1, 2, 3)))
    p.stage("customers", customer(1, "smb", 1), customer(2, "smb", 1), customer(3, "consumer", 1))
    p.stage("orders", {"id": 10, "customer_id": 1, "order_number": "A-1", "status": "paid",
                       "created_at": ts(1), "updated_at": ts(1), "op": "I"})
    p.stage("order_items", {"order_id": 10, "line_number": 1, "quantity": 1, "unit_price": 2,
                            "created_at": ts(1), "updated_at": ts(1), "_loaded_at": ts(1)})
    p.run()
    p.clear_staging()
    p.stage("customers", customer(1, "enterprise", 2), customer(2, "smb", 2, deleted=True))
    p.stage("customers", {"id": None, "email": "nokey@x.io", "updated_at": ts(2)})
    p.run()
    p.run()


@pytest.fixture
def orders(pg_admin_dsn: str) -> Iterator[Pipeline]:
    """Three runs: customers 1-3 arrive; 1 moves segment (a new version) and 2 is deleted
    (a 'deleted' version); a row with a NULL key is dead-lettered."""
    with deployed_database(pg_admin_dsn, postgres_rendering(ORDERS_SPEC)) as p:
        _history(p)
        yield p


@pytest.fixture(params=["full", "changed"])
def replayable(
    pg_admin_dsn: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Pipeline]:
    """The history of ``orders`` logged with whole images or (``audit: changed``) an
    update's changed columns only, which the replay must put together again."""
    spec = ORDERS_SPEC
    if request.param != "full":
        spec = spec_with(ORDERS_SPEC, tmp_path, "audit", request.param)
    with deployed_database(pg_admin_dsn, postgres_rendering(spec)) as p:
        _history(p)
        yield p


def findings(p: Pipeline) -> dict[tuple[str, str], int]:
    return {k: n for k, (n, _) in p.checks().items() if n}


def test_a_sound_history_has_no_findings(orders: Pipeline) -> None:
    checks = orders.checks()
    assert set(checks) == {
        ("lsn", "change_log"), ("run_counts", "run_counts"), ("validity", "dim_customer"),
        ("dead_letter_age", "dead_letter"),
        *(("payload", s["name"]) for s in orders.manifest["sources"]),
    }
    assert all(n == 0 for n, _ in checks.values()), checks
    assert all(v == (0, 0, 0) for v in orders.verify().values())
    # the history has what the checks look at
    assert orders.conn.execute("SELECT count(*) FROM cdc.change_log").fetchone()[0] >= 7
    assert orders.conn.execute("SELECT count(*) FROM analytics.dim_customer").fetchone()[0] == 5
    assert orders.conn.execute("SELECT count(*) FROM cdc.dead_letter").fetchone()[0] == 1


def test_a_rollback_keeps_the_checks_clean(orders: Pipeline) -> None:
    """Compensating rows get new LSNs and the rollback's own run id (a run that writes
    no run_counts): nothing to report."""
    orders.stage("orders", {"id": 10, "customer_id": 3, "order_number": "A-1", "status": "shipped",
                            "created_at": ts(1), "updated_at": ts(3), "op": "U"})
    run_id = orders.run()
    assert orders.counts(run_id)["orders"] == (0, 1, 0)
    orders.conn.execute(f"CALL {orders.manifest['procedures']['rollback']}(%s)", [run_id])
    assert orders.conn.execute("SELECT status FROM cdc.run_log WHERE run_id = %s", [run_id]).fetchone() == (
        "rolled_back",)
    assert findings(orders) == {}


def test_a_rebuild_keeps_the_checks_clean(orders: Pipeline) -> None:
    """A rebuild logs what it changed and counts it under its own run id."""
    orders.conn.execute("UPDATE analytics.fact_order SET order_status = 'tampered'")
    orders.conn.execute("DELETE FROM analytics.dim_customer WHERE customer_id = 3")
    orders.rebuild("fact_order")
    orders.rebuild("dim_customer")
    rebuilt = orders.conn.execute("SELECT run_id FROM cdc.run_log WHERE kind = 'rebuild'").fetchall()
    assert len(rebuilt) == 2
    logged = orders.conn.execute("SELECT target, op FROM cdc.fact_change_log WHERE run_id IN (%s, %s) "
                                 "ORDER BY target", [r for (r,) in rebuilt]).fetchall()
    assert logged == [("dim_customer", "I"), ("fact_order", "U")]
    assert findings(orders) == {}


# --- change_log LSNs -------------------------------------------------------------------

def test_an_lsn_gap_is_reported(orders: Pipeline) -> None:
    last = orders.conn.execute("SELECT MAX(lsn) FROM cdc.change_log").fetchone()[0]
    orders.conn.execute("UPDATE cdc.change_log SET lsn = lsn + 5 WHERE lsn = %s", [last])
    assert orders.checks()[("lsn", "change_log")] == (1, f"{last - 1}->{last + 5}")


def test_a_missing_first_lsn_is_reported(orders: Pipeline) -> None:
    orders.conn.execute("DELETE FROM cdc.change_log WHERE lsn = 1")
    assert orders.checks()[("lsn", "change_log")] == (1, "0->2")


def test_a_duplicate_lsn_is_reported(orders: Pipeline) -> None:
    # PostgreSQL enforces the primary key, Redshift does not: drop it, as Redshift would have
    orders.conn.execute("ALTER TABLE cdc.change_log DROP CONSTRAINT change_log_pkey")
    orders.conn.execute("INSERT INTO cdc.change_log SELECT * FROM cdc.change_log WHERE lsn = 3")
    assert orders.checks()[("lsn", "change_log")] == (1, "3->3")


# --- payloads ----------------------------------------------------------------------------

def _first(p: Pipeline, source: str, op: str) -> int:
    return p.conn.execute("SELECT MIN(lsn) FROM cdc.change_log WHERE source = %s AND op = %s",
                          [source, op]).fetchone()[0]


def test_a_payload_without_its_key_is_reported(orders: Pipeline) -> None:
    lsn = _first(orders, "customers", "I")
    orders.conn.execute("UPDATE cdc.change_log SET after_row = after_row - 'id' WHERE lsn = %s", [lsn])
    assert orders.checks()[("payload", "customers")] == (1, f"lsn {lsn}")
    orders.conn.execute(
        "UPDATE cdc.change_log SET after_row = jsonb_set(after_row, '{id}', 'null') WHERE lsn = %s", [lsn])
    assert orders.checks()[("payload", "customers")] == (1, f"lsn {lsn}")


def test_a_payload_that_is_not_a_parsed_object_is_reported(orders: Pipeline) -> None:
    """JSON text stored as a string scalar (what a SUPER column holds when JSON_PARSE was
    forgotten), and a before-image missing from an update."""
    ins, upd = _first(orders, "customers", "I"), _first(orders, "customers", "U")
    orders.conn.execute("UPDATE cdc.change_log SET after_row = to_jsonb(after_row::text) WHERE lsn = %s", [ins])
    orders.conn.execute("UPDATE cdc.change_log SET before_row = NULL WHERE lsn = %s", [upd])
    assert orders.checks()[("payload", "customers")] == (2, ", ".join(sorted([f"lsn {ins}", f"lsn {upd}"])))
    assert findings(orders) == {("payload", "customers"): 2}


# --- run_counts against the logs ---------------------------------------------------------

def test_run_counts_that_disagree_with_the_change_log_are_reported(orders: Pipeline) -> None:
    orders.conn.execute("UPDATE cdc.run_counts SET inserted = inserted + 1 "
                        "WHERE run_id = 1 AND object_name = 'customers'")
    assert orders.checks()[("run_counts", "run_counts")] == (1, "run 1 customers")


def test_a_fact_log_row_lost_is_reported(orders: Pipeline) -> None:
    orders.conn.execute("DELETE FROM cdc.fact_change_log WHERE run_id = 2 AND target = 'dim_customer' "
                        "AND key_text = '2'")
    assert findings(orders) == {("run_counts", "run_counts"): 1}
    assert orders.checks()[("run_counts", "run_counts")][1] == "run 2 dim_customer"


# --- SCD2 validity -------------------------------------------------------------------------

def _versions(p: Pipeline, key: int) -> list[tuple]:
    return p.conn.execute("SELECT dim_customer_sk, valid_from, valid_to, is_current, is_deleted "
                          "FROM analytics.dim_customer WHERE customer_id = %s ORDER BY dim_customer_sk",
                          [key]).fetchall()


def test_overlapping_versions_are_reported(orders: Pipeline) -> None:
    (old, _new) = _versions(orders, 1)
    orders.conn.execute("UPDATE analytics.dim_customer SET valid_to = valid_to + interval '1 hour' "
                        "WHERE dim_customer_sk = %s", [old[0]])
    assert orders.checks()[("validity", "dim_customer")] == (1, f"1 sk {old[0]}")


def test_a_gap_between_versions_is_reported(orders: Pipeline) -> None:
    """on_delete: new_version leaves no gap: a key always has a version."""
    (old, _deleted) = _versions(orders, 2)
    orders.conn.execute("UPDATE analytics.dim_customer SET valid_to = valid_to - interval '1 hour' "
                        "WHERE dim_customer_sk = %s", [old[0]])
    assert orders.checks()[("validity", "dim_customer")] == (1, f"2 sk {old[0]}")


def test_two_current_versions_are_reported(orders: Pipeline) -> None:
    (old, new) = _versions(orders, 1)
    orders.conn.execute("UPDATE analytics.dim_customer SET is_current = TRUE, valid_to = NULL "
                        "WHERE dim_customer_sk = %s", [old[0]])
    n, examples = orders.checks()[("validity", "dim_customer")]
    # both versions are current (the old one also open under the new one): key 1 has two
    # live versions
    assert n == 3
    assert set(examples.split(", ")) == {"1 live 2", f"1 sk {new[0]}", f"1 sk {old[0]}"}


def test_a_live_key_without_a_current_version_is_reported(orders: Pipeline) -> None:
    (_old, new) = _versions(orders, 1)
    orders.conn.execute("DELETE FROM analytics.dim_customer WHERE dim_customer_sk = %s", [new[0]])
    n, examples = orders.checks()[("validity", "dim_customer")]
    assert (n, examples) == (1, "1 live 0")
    assert orders.verify()["dim_customer"][0] == 1  # the definition comparison sees it too


def test_is_current_disagreeing_with_valid_to_is_reported(orders: Pipeline) -> None:
    (sk, *_), = _versions(orders, 3)
    orders.conn.execute("UPDATE analytics.dim_customer SET valid_to = valid_from + interval '1 day' "
                        "WHERE dim_customer_sk = %s", [sk])
    assert orders.checks()[("validity", "dim_customer")] == (1, f"3 sk {sk}")


# --- dead letters --------------------------------------------------------------------------

def test_a_dead_letter_older_than_error_after_is_reported(orders: Pipeline) -> None:
    orders.conn.execute("UPDATE cdc.dead_letter SET dead_lettered_at = dead_lettered_at - interval '89 minutes'")
    assert orders.checks()[("dead_letter_age", "dead_letter")][0] == 0  # error_after is 90m
    orders.conn.execute("UPDATE cdc.dead_letter SET dead_lettered_at = dead_lettered_at - interval '2 minutes'")
    n, examples = orders.checks()[("dead_letter_age", "dead_letter")]
    assert n == 1 and examples.startswith("customers run 2: NULL key")
    # resolved: the row is fixed upstream and its dead letter deleted
    orders.conn.execute("DELETE FROM cdc.dead_letter")
    assert findings(orders) == {}


def test_a_resolved_dead_letter_is_not_reported(orders: Pipeline) -> None:
    """An order failing its check is dead-lettered; once its fixed version is applied the
    dead letter is resolved, and however old, dead_letter_age no longer counts it."""
    orders.clear_staging()
    bad = {"id": 10, "customer_id": 1, "order_number": "A-1", "status": "paid", "subtotal": -1,
           "created_at": ts(1), "updated_at": ts(5), "op": "U"}
    orders.stage("orders", bad)
    orders.run()
    aged = "UPDATE cdc.dead_letter SET dead_lettered_at = dead_lettered_at - interval '1 day' WHERE source = 'orders'"
    orders.conn.execute(aged)
    n, examples = orders.checks()[("dead_letter_age", "dead_letter")]
    assert n == 1 and "orders run" in examples and "check failed: non_negative_subtotal" in examples
    orders.clear_staging()
    orders.stage("orders", {**bad, "subtotal": 1, "updated_at": ts(6)})
    fixed = orders.run()
    (letter,) = [r for r in orders.dead_letters() if r["source"] == "orders"]
    assert letter["resolved_run_id"] == fixed and letter["resolved_at"] is not None
    assert orders.checks()[("dead_letter_age", "dead_letter")][0] == 0
    # undoing the run that resolved it opens it again
    orders.conn.execute(f"CALL {orders.manifest['procedures']['rollback']}(%s)", [fixed])
    (letter,) = [r for r in orders.dead_letters() if r["source"] == "orders"]
    assert letter["resolved_run_id"] is None
    assert orders.checks()[("dead_letter_age", "dead_letter")][0] == 1


# --- verify --deep: change_log replayed against the baseline ---------------------------

def test_deep_verification_replays_the_log(replayable: Pipeline) -> None:
    deep = replayable.checks(deep=True)
    assert {t for c, t in deep if c == "replay"} == {s["name"] for s in replayable.manifest["sources"]}
    assert all(n == 0 for n, _ in deep.values()), deep
    assert ("replay", "customers") not in replayable.checks()  # only with --deep


def test_deep_verification_finds_a_baseline_edited_behind_the_log(replayable: Pipeline) -> None:
    replayable.conn.execute("UPDATE public.customers SET email = 'edited@x.io' WHERE id = 3")
    replayable.conn.execute("DELETE FROM public.addresses WHERE id = 2")
    replayable.conn.execute("INSERT INTO public.countries (code, name) VALUES ('ZZ', 'Nowhere')")
    found = {k: v for k, v in replayable.checks(deep=True).items() if v[0]}
    assert found == {("replay", "customers"): (1, "3 differs"),
                     ("replay", "addresses"): (1, "2 not in the baseline"),
                     ("replay", "countries"): (1, "ZZ not replayed")}


def test_deep_verification_finds_a_lost_log_row(replayable: Pipeline) -> None:
    """Customer 1's history change is gone from the log: the replay ends at its insert."""
    replayable.conn.execute("DELETE FROM cdc.change_log WHERE source = 'customers' AND op = 'U' "
                        "AND key_text = '1'")
    found = {k: v for k, v in replayable.checks(deep=True).items() if v[0]}
    assert found[("replay", "customers")] == (1, "1 differs")
    assert set(found) == {("replay", "customers"), ("lsn", "change_log"), ("run_counts", "run_counts")}


# --- the CLI -------------------------------------------------------------------------------

def test_cdcgen_verify_reports_each_check(pg_dsn: str) -> None:
    def cdcgen(*args: str, code: int) -> str:
        result = CliRunner().invoke(app, [*args, str(ORDERS_BUILD), "--dsn", pg_dsn],
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    cdcgen("deploy", "--with-staging", code=0)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        p = Pipeline(conn, json.loads((ORDERS_BUILD / "postgres" / "manifest.json").read_text()))
        p.stage("customers", customer(1, "smb", 1), customer(2, "smb", 1))
        p.run()
        clean = cdcgen("verify", code=0)
        assert "check lsn change_log: ok" in clean and "check validity dim_customer: ok" in clean
        assert json.loads(cdcgen("verify", "--json", code=0))["ok"] is True
        deep = cdcgen("verify", "--deep", code=0)
        assert "check replay customers: ok" in deep and "check replay customers" not in clean

        conn.execute("DELETE FROM cdc.change_log WHERE lsn = 1")
        text = cdcgen("verify", code=1)
        assert "check lsn change_log: FOUND 1 e.g. 0->2" in text
        # the log no longer has customer 1's insert: run_counts disagree with it too
        assert "check run_counts run_counts: FOUND 1 e.g. run 1 customers" in text
        assert "2 audit-trail check(s) found problems (lsn:change_log run_counts:run_counts)" in text
        failed = json.loads(cdcgen("verify", "--json", code=1))
        assert failed["exit_code"] == 1 and "audit-trail" in failed["error"]
        found = [c for c in failed["checks"] if c["findings"]]
        assert [(c["check_name"], c["target"], c["findings"], c["examples"]) for c in found] == [
            ("lsn", "change_log", 1, "0->2"), ("run_counts", "run_counts", 1, "run 1 customers")]
        assert all(t["missing_rows"] == 0 for t in failed["targets"])
        # the replay no longer has customer 1: the deep verification says so too
        assert "check replay customers: FOUND 1 e.g. 1 not replayed" in cdcgen("verify", "--deep", code=1)


def test_payload_check_reads_the_nested_parts_of_wide_images() -> None:
    """Images wider than 50 columns are nested (nodes.payload_parts): the check navigates
    into the part holding each key, as every other reader does."""
    from cdcgen.sql import nodes

    names = [f"c{i}" for i in range(120)]
    kind = nodes.payload_kind(nodes.exp.column("after_row"), "c75", names)
    from cdcgen.render import postgres, redshift

    assert postgres.sql(kind) == "JSONB_TYPEOF(after_row -> 'cdc__2' -> 'c75')"
    assert redshift.sql(kind) == 'JSON_TYPEOF(after_row."cdc__2"."c75")'
    assert Path(ORDERS_BUILD / "redshift" / "060_procedure__cdc.sp_orders_verify.sql").read_text().count(
        "JSON_TYPEOF(") > 0

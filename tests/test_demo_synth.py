"""cdcgen demo SPEC: data generated from any spec (cdcgen/demo/synth.py).

- the generated data honours the spec: types and widths, unique keys, references that
  mostly hit, filters that pass about half the time, checks, delete rules and modes;
- the same seed gives the same data and changes;
- end to end on the session's PostgreSQL, through the CLI (text and --json) and the
  library: every cycle verifies, and a damaged target makes the demo fail;
- property: for random valid specs (tests/strategies.py), the demo with 3 cycles
  verifies clean after every run.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import Phase, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.demo import DemoOptions, SilentObserver, run_demo
from cdcgen.demo import predicates as pred
from cdcgen.demo.data import column_type
from cdcgen.demo.runner import CycleReport
from cdcgen.demo.synth import SynthWorld, generate
from cdcgen.deploy.connect import connect
from cdcgen.deploy.manifest import Manifest
from cdcgen.errors import CdcgenError
from cdcgen.validate import validate_file
from tests.pipeline_harness import REPO
from tests.strategies import render_yaml, spec_documents
from tests.strategies_pipeline import budget, bump, create_database, drop_database, pipelines

ORDERS = REPO / "mappings" / "orders.yml"
VENDOR = REPO / "mappings" / "vendor.yml"


@pytest.fixture(scope="module")
def orders_spec():
    return validate_file(ORDERS)


def world(vspec: Any, seed: int = 1, scale: float = 0.5) -> SynthWorld:
    return generate(vspec, scale=scale, rng=random.Random(seed))


# --------------------------------------------------------------------------- the data


@pytest.mark.parametrize("spec", [ORDERS, VENDOR], ids=["orders", "vendor"])
def test_values_fit_their_columns_and_keys_are_unique(spec: Path) -> None:
    vspec = validate_file(spec)
    w = world(vspec)
    for name, rows in w.rows.items():
        types = vspec.source_columns[name]
        assert rows, name
        for key, row in rows.items():
            assert list(row) == list(types), name
            assert tuple(row[k] for k in vspec.spec.sources[name].key) == key
            assert None not in key
            for column, value in row.items():
                kind = column_type(types[column])
                if isinstance(value, str) and kind.length:
                    assert len(value) <= kind.length, (name, column, value)
                if isinstance(value, Decimal) and kind.base == "numeric":
                    assert value.as_tuple().exponent == -kind.scale, (name, column, value)
                    assert abs(value) < Decimal(10) ** (kind.length - kind.scale)
                if kind.base == "smallint" and value is not None:
                    assert abs(value) <= 32767
        # the same holds for what each cycle stages (untidy rows included)
    for number in (1, 2):
        for name, staged in w.cycle(number).staged.rows.items():
            for row in staged:
                assert list(row) == list(vspec.source_columns[name])


def test_references_follow_the_joins_and_mostly_hit(orders_spec) -> None:
    w = world(orders_spec)
    rows = w.rows
    customers, addresses, orders = rows["customers"], rows["addresses"], rows["orders"]
    countries, products = rows["countries"], rows["products"]

    def share(children: Any, column: str, parents: dict[Any, Any]) -> float:
        values = [r[column] for r in children.values()]
        return sum((v,) in parents for v in values) / len(values)

    assert share(orders, "customer_id", customers) > 0.8
    assert share(orders, "shipping_address_id", addresses) > 0.8
    assert share(addresses, "country_code", countries) > 0.8
    assert share(customers, "default_address_id", addresses) > 0.8
    assert share(rows["order_items"], "product_id", products) > 0.8
    # a few dangle or are NULL: lookups that miss are part of the story
    assert share(orders, "customer_id", customers) < 1 or share(orders, "shipping_address_id", addresses) < 1
    # order_items is keyed through its order: every line belongs to an order, numbered
    lines = Counter(k[0] for k in rows["order_items"])
    assert all((order_id,) in orders for order_id in lines)
    assert all(
        sorted(k[1] for k in rows["order_items"] if k[0] == o) == list(range(1, n + 1))
        for o, n in lines.items()
    )
    # countries is keyed by a char(2) code
    assert all(len(k[0]) == 2 for k in countries)


def test_filters_pass_about_half_the_time_and_checks_hold(orders_spec) -> None:
    w = world(orders_spec, scale=2)
    orders = list(w.rows["orders"].values())
    placed = sum(r["status"] is not None and r["status"] != "draft" for r in orders) / len(orders)
    assert 0.25 < placed < 0.9, placed  # where: orders.status <> 'draft'
    assert all(r["subtotal"] is None or r["subtotal"] >= 0 for r in orders)  # check
    items = list(w.rows["order_items"].values())
    assert all(r["quantity"] is None or r["quantity"] > 0 for r in items)  # check
    # live rows are not soft-deleted
    assert all(r["deleted_at"] is None for r in w.rows["customers"].values())


def test_enum_filters_and_exists_literals_are_hit() -> None:
    vspec = validate_file(VENDOR)
    w = world(vspec, scale=1)
    companies = list(w.rows["companies"].values())
    qualifying = sum(r["status"] == 1 and r["category"] in (1, 2, 4) for r in companies)
    assert qualifying / len(companies) > 0.1  # fact_vendor's where, from its literals
    mappings = list(w.rows["buyer_seller_company_mappings"].values())
    assert any(r["client_company_id"] == 12855 for r in mappings)  # its exists literal


def test_cycles_stage_what_each_rule_and_mode_expects(orders_spec) -> None:
    w = world(orders_spec)
    initial = w.initial_staging()
    assert initial.total == sum(w.counts().values())
    first_load = {r["_loaded_at"] for r in initial.rows["order_items"]}
    assert len(first_load) == 1
    seen_ops: set[str] = set()
    history = Counter[str]()
    for number in range(1, 5):
        changes = w.cycle(number)
        staged = changes.staged
        assert "order_items" not in staged.cleared  # append: staging accumulates
        assert {"customers", "orders", "countries"} <= set(staged.cleared)
        loads = {r["_loaded_at"] for r in staged.rows["order_items"]}
        assert len(loads) == 1 and loads.pop() > max(first_load)
        first_load = {r["_loaded_at"] for r in staged.rows["order_items"]}
        # snapshot sources: the whole current table, never empty
        for source in ("countries", "products"):
            assert len(staged.rows[source]) == len(w.rows[source]) > 0
        seen_ops |= {r["op"] for r in staged.rows["orders"]}
        assert any(r["deleted_at"] is not None for r in staged.rows["customers"])  # soft delete
        text = " ".join(changes.mutations)
        for word in ("history change", "dead letter", "stale", "two versions"):
            history[word] += word in text
    assert seen_ops >= {"I", "U", "D"}
    assert all(history.values()), history


def test_the_same_seed_gives_the_same_data_and_changes(orders_spec) -> None:
    def story(seed: int) -> tuple[object, ...]:
        w = world(orders_spec, seed=seed, scale=0.3)
        cycles = [w.cycle(n) for n in range(1, 4)]
        return (w.rows, [c.mutations for c in cycles], [c.staged.rows for c in cycles])

    assert story(7) == story(7)
    assert story(7) != story(8)


def test_predicates_are_made_true_and_false() -> None:
    rng = random.Random(0)

    def draw(column: str, avoid: tuple[Any, ...]) -> Any:
        return next(v for v in (5, 6, 7, "x", "y") if v not in avoid)

    for text in (
        "status IN (0, 1, 2, 3)",
        "deleted_at IS NOT NULL",
        "credit_limit IS NULL OR credit_limit >= 0",
        "NOT (a = 'x') AND b > 3",
        "is_deleted",
        "s.a BETWEEN 1 AND 4",
    ):
        node = pred.parse(text)
        for want in (True, False):
            row = {"status": 9, "deleted_at": None, "credit_limit": -1, "a": "x", "b": 0,
                   "is_deleted": None}
            assert pred.make(node, want, row, draw, rng), (text, want)
            assert pred.evaluate(node, row) is want


# --------------------------------------------------------------------------- end to end


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["demo", *args], catch_exceptions=False)
    return result.exit_code, result.output


def targets_equal_their_definition(dsn: str, manifest: Manifest) -> dict[str, int]:
    """Independently of the verify procedure: fact rows not in the fact's __full view
    and the other way round."""
    differences = {}
    with psycopg.connect(dsn) as conn:
        for target in manifest.targets:
            if target.kind != "fact":
                continue
            view = f"{manifest.cdc_schema}.{target.name}__full"
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema || '.' || table_name = %s ORDER BY ordinal_position",
                    [view],
                )
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            (count,) = conn.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {listed} FROM {target.table} "
                f"EXCEPT SELECT {listed} FROM {view}) a) + (SELECT count(*) FROM "
                f"(SELECT {listed} FROM {view} EXCEPT SELECT {listed} FROM {target.table}) b)"
            ).fetchone()
            differences[target.name] = count
    return differences


def test_orders_demo_verifies_every_cycle(pg_dsn: str) -> None:
    code, output = invoke(str(ORDERS), "--dsn", pg_dsn, "--cycles", "3", "--scale", "0.3")
    assert code == 0, output
    text = " ".join(output.split())
    for title in ("bootstrap", "cycle 1", "cycle 2", "cycle 3"):
        assert f" {title} " in f" {output} ", title
    assert text.count("verify: 0 differences") == 4
    assert len(re.findall(r"Run \d+ succeeded", text)) == 4
    assert "every run verified with 0 differences" in text
    assert "history change" in text and "dead letter" in text and " → " in text
    with psycopg.connect(pg_dsn) as conn:
        (facts,) = conn.execute("SELECT count(*) FROM analytics.fact_order_item").fetchone()
        (dead,) = conn.execute("SELECT count(*) FROM cdc.dead_letter").fetchone()
        (stale,) = conn.execute("SELECT COALESCE(sum(stale), 0) FROM cdc.run_counts").fetchone()
        (versions,) = conn.execute(
            "SELECT count(*) FROM analytics.dim_customer WHERE NOT is_current"
        ).fetchone()
    assert facts > 0 and dead >= 3 and stale >= 1 and versions >= 1


def test_orders_demo_json(pg_dsn: str) -> None:
    code, output = invoke(str(ORDERS), "--dsn", pg_dsn, "--cycles", "2", "--scale", "0.2", "--json")
    assert code == 0, output
    data = json.loads(output)  # nothing but JSON
    assert data["pipeline"] == "orders" and data["ok"] is True
    assert [c["cycle"] for c in data["cycles"]] == [0, 1, 2]
    assert all(c["differences"] == 0 and c["status"] == "succeeded" for c in data["cycles"])
    assert data["cycles"][1]["counts"]["orders"]["updated"] > 0
    assert set(data["cycles"][0]["verify"]) == {"fact_order", "fact_order_item", "fact_order_customer", "dim_customer"}


def test_demo_failures_are_json_too(tmp_path: Path) -> None:
    code, output = invoke(str(tmp_path / "missing.yml"), "--dsn", "postgresql://x@/y", "--json")
    data = json.loads(output)
    assert code == data["exit_code"] != 0 and "missing.yml" in data["error"]
    bad = tmp_path / "bad.yml"
    bad.write_text("pipeline: x\nsources: {}\n", encoding="utf-8")
    code, output = invoke(str(bad), "--dsn", "postgresql://x@/y", "--json")
    data = json.loads(output)
    assert code == 1 and data["exit_code"] == 1


class DamagingObserver(SilentObserver):
    """After cycle 1 is verified, deletes half of a fact behind the pipeline's back (not
    all of it: a run into an empty target reloads it in full)."""

    def __init__(self, dsn: str, table: str):
        self.dsn, self.table = dsn, table

    def cycle(self, report: CycleReport) -> None:
        if report.number == 1:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(
                    f"DELETE FROM {self.table} WHERE ctid IN "
                    f"(SELECT ctid FROM {self.table} LIMIT (SELECT COUNT(*) / 2 FROM {self.table}))"
                )


def test_a_difference_fails_the_demo(pg_dsn: str) -> None:
    options = DemoOptions(spec=ORDERS, synthetic=True, cycles=2, scale=0.2, seed=3)
    with connect(pg_dsn) as db:
        result = run_demo(db, options, DamagingObserver(pg_dsn, "analytics.fact_order_item"))
    assert [c.verify.ok for c in result.cycles] == [True, True, False]
    assert not result.ok and result.cycles[2].differences > 0


def test_demo_runs_from_any_directory(pg_dsn: str, tmp_path: Path) -> None:
    """No mappings/ in the working directory: the packaged vendor example is used."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, output = invoke("--dsn", pg_dsn, "--scale", "0.05", "--cycles", "1", "--json")
    finally:
        os.chdir(cwd)
    assert code == 0, output
    assert json.loads(output)["pipeline"] == "vendor"


# --------------------------------------------------------------------------- property

_databases = itertools.count(1)


#: Random valid specs from both generators of the suite: tests/strategies.py (every
#: type, timestamptz and integer versions, SCD2) and tests/strategies_pipeline.py
#: (text equality and NOT NULL filters, exists with extra predicates).
random_specs = st.one_of(spec_documents(), pipelines().map(lambda p: p.spec()))


# No shrinking: an example takes seconds, and the failure message carries the spec.
@given(doc=random_specs, seed=st.integers(0, 2**16))
@budget(12, 200, phases=(Phase.explicit, Phase.reuse, Phase.generate))
def test_random_specs_demo_verifies_clean(pg_admin_dsn: str, doc: dict[str, Any], seed: int) -> None:
    name = f"cdcgen_demo_p{os.getpid()}_{next(_databases)}"
    dsn = create_database(pg_admin_dsn, name)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "random.yml"
            path.write_text(render_yaml(doc), encoding="utf-8")
            options = DemoOptions(spec=path, synthetic=True, cycles=3, scale=0.05, seed=seed)
            with connect(dsn) as db:
                try:
                    result = run_demo(db, options)
                except CdcgenError as exc:
                    raise AssertionError(f"{exc}\nspec:\n{render_yaml(doc)}") from None
        differing = {
            c.number: [dict(r) for r in c.verify.differing] for c in result.cycles if not c.verify.ok
        }
        assert result.ok, f"verify differences per cycle: {differing}\n{render_yaml(doc)}"
        assert all(c.run.run["status"] == "succeeded" for c in result.cycles)
        assert sum(result.cycles[0].staged.values()) > 0
        assert set(targets_equal_their_definition(dsn, result.manifest).values()) <= {0}
        bump("demo.random_specs")
        bump("demo.rows_changed", sum(int(c.run.run.get("rows_changed") or 0) for c in result.cycles))
    finally:
        drop_database(pg_admin_dsn, name)


def test_column_types_can_come_from_a_catalog(tmp_path: Path) -> None:
    """A spec whose columns live in catalog.yml (what `cdcgen introspect` writes)."""
    (tmp_path / "catalog.yml").write_text(
        "schema: staging\ntables:\n"
        "  items:\n    id: bigint\n    code: char(3)\n    price: numeric(6,2)\n"
        "    kind_id: integer\n    updated_at: timestamptz\n"
        "  kinds:\n    id: integer\n    label: varchar(8)\n    updated_at: date\n",
        encoding="utf-8",
    )
    spec = tmp_path / "p.yml"
    spec.write_text(
        "pipeline: p\ncatalog: catalog.yml\nsources:\n"
        "  items: {key: [id], updated_at: updated_at, checks: {cheap: 'price < 100'}}\n"
        "  kinds: {key: [id], updated_at: updated_at, deletes: {snapshot: full}}\n"
        "facts:\n  f:\n    key: [id]\n    from: items\n"
        "    join: [{source: kinds, on: 'kinds.id = items.kind_id'}]\n"
        "    columns: {id: items.id, label: kinds.label, price: items.price}\n",
        encoding="utf-8",
    )
    w = world(validate_file(spec), scale=0.5)
    items = list(w.rows["items"].values())
    assert all(len(r["code"]) == 3 for r in items if r["code"] is not None)
    assert all(r["price"] is None or r["price"] < 100 for r in items)
    assert all(r["updated_at"].tzinfo is not None for r in items)
    hits = sum((r["kind_id"],) in w.rows["kinds"] for r in items)
    assert hits / len(items) > 0.8
    assert all(len(r["label"] or "") <= 8 for r in w.rows["kinds"].values())

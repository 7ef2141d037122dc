"""Random small pipelines (tests/strategies_pipeline.py) with random data histories,
rendered, deployed and run on a real PostgreSQL; after each cycle the invariant is
checked (tests/reference_model.py) and each fact is compared with an independent
Python evaluation of its spec. Also: random histories on mappings/orders.yml."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.pipeline_harness import REPO, Pipeline, widen_staging
from tests.reference_model import (
    T0,
    DimensionModel,
    Figures,
    History,
    check_dimension,
    orders_rules,
    pipeline_dimension_rows,
    pipeline_fact_rows,
    rules_of,
    table_rows,
)
from tests.strategies_pipeline import (
    ORDER_FIELDS,
    PipelineDef,
    SourceDef,
    budget,
    bump,
    create_database,
    deploy_files,
    deployed_database,
    drop_database,
    pipelines,
    postgres_rendering,
    render_postgres_only,
    reset,
    soak_variant,
    value_strategy,
)

RANDOM = Figures()
ORDERS = Figures()


# ---------------------------------------------------------------------------
# random pipelines

@st.composite
def source_row(draw: st.DrawFn, pdef: PipelineDef, s: SourceDef, h: History,
               ids: tuple[Any, ...] = (1, 2, 3, 4, 4, 0, None)) -> dict[str, Any]:
    row: dict[str, Any] = {"id": draw(st.sampled_from(ids), label="id")}
    if "part" in s.key:
        row["part"] = draw(st.sampled_from([1, 2]), label="part")
    for c, t in s.attributes:
        row[c] = draw(value_strategy(t), label=c)
    for later, fk in s.fks.items():
        ids = draw(st.sampled_from([1, 2, 3, None]), label=f"{later} id")
        for c in fk:
            row[c] = ids if c.endswith("_id") else draw(st.sampled_from([1, 2]))
    kind = draw(st.sampled_from(["new", "new", "new", "stale", "tie", "late", "future"]),
                label="version")
    current = h.models[s.name].rows.get(tuple(row.get(k) for k in s.key))
    if kind == "stale" and current is not None:
        row["updated_at"] = current["updated_at"] - dt.timedelta(seconds=30)
    elif kind == "tie" and current is not None:
        row["updated_at"] = current["updated_at"]
    elif kind == "late":
        # out of order: newer than the key's version, older than what other keys applied
        base = current["updated_at"] if current is not None else T0
        row["updated_at"] = base + dt.timedelta(seconds=1)
    elif kind == "future" and draw(st.integers(0, 2), label="future?") == 0:
        # a source clock ahead of the warehouse: later than any run's own timestamp
        row["updated_at"] = h.tick().replace(year=2099)
    else:
        row["updated_at"] = h.tick()
    if s.deletes == "when":
        row["deleted_at"] = h.clock if draw(st.integers(0, 4), label="delete?") == 0 else None
    if s.deletes == "op_column":
        row["op"] = draw(st.sampled_from(["I", "U", "U", "D"]), label="op")
    if s.loaded_at:
        # now and then an ETL loads a row without a load time, at any run, not only the first
        no_load_time = draw(st.integers(0, 15), label="NULL load time?") == 0
        row[s.loaded_at] = None if no_load_time else h.tick()
    if draw(st.integers(0, 12)) == 0:
        row["updated_at"] = None  # dead letter
    return row


def _models_facts(pdef: PipelineDef, h: History) -> None:
    for f in pdef.facts.values():
        expected = pipeline_fact_rows(pdef, f, h.models)
        got = table_rows(h.p.conn, f"mart.{f.name}", list(f.columns), f.key)
        if got != expected:
            diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)
                    if got.get(k) != expected.get(k)}
            raise AssertionError(f"{f.name} != Python evaluation of its spec (db, model): {diff}")


@pytest.fixture(scope="module")
def scratch_dsn(pg_admin_dsn: str):
    name = "cdcgen_random_pipelines"
    dsn = create_database(pg_admin_dsn, name)
    yield dsn
    drop_database(pg_admin_dsn, name)


def _random_pipeline(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject,
                     cycles: tuple[int, int] = (1, 3), rows: tuple[int, int] = (0, 4),
                     ids: tuple[Any, ...] = (1, 2, 3, 4, 4, 0, None)) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.yml"
        path.write_text(pdef.yaml(), encoding="utf-8")
        files = render_postgres_only(path)
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS staging, public, mart, cdc CASCADE")
        import json

        deploy_files(conn, files)
        p = Pipeline(conn, json.loads(files["manifest.json"]))
        h = History(p, {n: rules_of(s) for n, s in pdef.sources.items()})
        dims = {d.name: DimensionModel(tuple(d.key), tuple(d.columns), frozenset(d.history), d.on_delete)
                for d in pdef.dimensions.values()}
        bump("random.examples")
        # SCD2 histories need more runs to stop, come back and change through lookups
        cycles = data.draw(st.integers(*cycles), label="cycles")
        for cycle in range(cycles):
            for name, s in pdef.sources.items():
                if s.deletes == "snapshot":
                    for _ in range(data.draw(st.integers(0, 3), label=f"{name} snapshot edits")):
                        row = data.draw(source_row(pdef, s, h, ids))
                        key = tuple(row.get(k) for k in s.key)
                        if data.draw(st.integers(0, 3)) == 0:
                            h.snapshot[name].pop(key, None)
                        else:
                            h.snapshot[name][key] = row
                    continue
                for _ in range(data.draw(st.integers(*rows), label=f"{name} rows")):
                    h.stage(name, data.draw(source_row(pdef, s, h, ids)))
            lost = {n for n in h.snapshot if data.draw(st.integers(0, 5), label="lost") == 0}
            # the idempotent second run is checked after the last cycle
            rerun = cycle == cycles - 1
            run_id = h.cycle(RANDOM, clear_window=data.draw(st.booleans(), label="clear"), lost=lost,
                             rerun=rerun)
            _models_facts(pdef, h)
            for d in pdef.dimensions.values():
                ops = check_dimension(p, d.name, dims[d.name], pipeline_dimension_rows(pdef, d, h.models),
                                      run_id)
                bump(f"random.dim.{d.on_delete}.runs")
                bump("random.dim.version changes", len(ops))
        for name, model in dims.items():
            for path, n in model.paths.items():
                bump(f"random.dim.{model.on_delete}: {path}", n)
            bump(f"random.dim.{model.on_delete}.versions", sum(len(v) for v in model.versions.values()))


@given(pdef=pipelines(), data=st.data())
@budget(52, 1500)
def test_random_pipelines_keep_the_invariant(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject) -> None:
    _random_pipeline(scratch_dsn, pdef, data)


@soak_variant
@given(pdef=pipelines(), data=st.data())
@budget(52, 1500)
def test_random_pipelines_soak(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject) -> None:
    _random_pipeline(scratch_dsn, pdef, data)


#: few keys, a row per source and run at least: keys change, stop and come back
DIMENSION_HISTORIES: dict[str, Any] = {"cycles": (3, 6), "rows": (1, 4), "ids": (1, 2, 3, 1, 2, 3, None)}


@given(pdef=pipelines(dimension=True), data=st.data())
@budget(30, 800)
def test_random_dimensions_keep_history(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject) -> None:
    """SCD2: every version (columns, validity, flags, surrogate key) equals the reference
    model after every run, under the three on_delete rules; validity never overlaps. Longer
    histories, so keys stop and start qualifying and change through lookups."""
    _random_pipeline(scratch_dsn, pdef, data, **DIMENSION_HISTORIES)


@soak_variant
@given(pdef=pipelines(dimension=True), data=st.data())
@budget(30, 800)
def test_random_dimensions_soak(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject) -> None:
    _random_pipeline(scratch_dsn, pdef, data, **DIMENSION_HISTORIES)


def test_random_pipelines_report() -> None:
    from tests.strategies_pipeline import STATS

    print(f"\nrandom pipelines: {RANDOM}")
    for name, n in sorted(STATS.items()):
        if name.startswith("random.dim"):
            print(f"  {name}: {n}")


# ---------------------------------------------------------------------------
# orders.yml histories

ORDERS_SPEC = REPO / "mappings" / "orders.yml"
#: Staging landed wider than the spec declares (an ETL may), and values that only the
#: wide staging column can hold: each poisons its row, which must be dead-lettered while
#: the rest of the run applies. Values exactly at the limit must still go through.
WIDENED = {("customers", "email"): "varchar(1000)", ("products", "name"): "varchar(1000)",
           ("orders", "subtotal"): "numeric(30,4)", ("order_items", "quantity"): "bigint"}
POISON: dict[str, tuple[str, list[Any]]] = {
    "customers": ("email", ["e" * 256, "é" * 255, "x" * 255, "ü" * 300]),
    "products": ("name", ["P" * 256, "P" * 255]),
    "orders": ("subtotal", [Decimal("9999999999.995"), Decimal("9999999999.994"),
                            Decimal("-10000000000"), Decimal("12.345")]),
    "order_items": ("quantity", [2147483648, 2147483647, -2147483649]),
}


@pytest.fixture(scope="module")
def orders_pipeline(pg_admin_dsn: str):
    with deployed_database(pg_admin_dsn, postgres_rendering(ORDERS_SPEC)) as p:
        for (source, column), type_ in WIDENED.items():
            widen_staging(p.conn, source, column, type_)
        yield p


def _orders_history(p: Pipeline, data: st.DataObject) -> None:
    reset(p)
    h = History(p, orders_rules(p))
    bump("orders.examples")
    cycles = data.draw(st.integers(1, 3), label="cycles")
    for cycle in range(cycles):
        for source, fields in ORDER_FIELDS.items():
            r = h.rules[source]
            for _ in range(data.draw(st.integers(0, 3), label=f"{source} rows")):
                values = data.draw(fields)
                if source == "countries":
                    key = {"code": data.draw(st.sampled_from(["FR", "NO"]))}
                elif source == "order_items":
                    key = {"order_id": data.draw(st.sampled_from([1, 2, None])),
                           "line_number": data.draw(st.sampled_from([1, 2]))}
                else:
                    key = {"id": data.draw(st.sampled_from([1, 2, 3, None]))}
                current = h.models[source].rows.get(tuple(key.get(k) for k in r.key))
                stale = current is not None and data.draw(st.integers(0, 5)) == 0
                row = {**key, **values, "created_at": T0,
                       "updated_at": current["updated_at"] - dt.timedelta(seconds=1) if stale else h.tick()}
                if "deleted_at" in r.staging_columns and data.draw(st.integers(0, 4)) == 0:
                    row["deleted_at"] = h.clock
                if r.loaded_at:
                    no_load_time = data.draw(st.integers(0, 15), label="NULL load time?") == 0
                    row[r.loaded_at] = None if no_load_time else h.tick()
                if source in POISON and data.draw(st.integers(0, 7), label="poison?") == 0:
                    column, values = POISON[source]
                    row[column] = data.draw(st.sampled_from(values), label=f"{source}.{column}")
                if r.deletes == "snapshot":
                    if None in key.values():
                        continue
                    k = tuple(key[c] for c in r.key)
                    if data.draw(st.integers(0, 3)) == 0:
                        h.snapshot[source].pop(k, None)
                    else:
                        h.snapshot[source][k] = row
                else:
                    h.stage(source, row)
        lost = {n for n in h.snapshot if data.draw(st.integers(0, 6), label="lost") == 0}
        rerun = cycle == cycles - 1
        h.cycle(ORDERS, clear_window=data.draw(st.booleans(), label="clear"), lost=lost, rerun=rerun)


@given(data=st.data())
@budget(200, 2500)
def test_orders_histories_keep_the_invariant(orders_pipeline: Pipeline, data: st.DataObject) -> None:
    _orders_history(orders_pipeline, data)


@soak_variant
@given(data=st.data())
@budget(140, 2500)
def test_orders_histories_soak(orders_pipeline: Pipeline, data: st.DataObject) -> None:
    _orders_history(orders_pipeline, data)


def test_orders_report() -> None:
    print(f"\norders histories: {ORDERS}")

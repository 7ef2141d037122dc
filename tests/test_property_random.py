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
    check_point_in_time,
    fits,
    orders_dim_customer,
    orders_dimension_model,
    orders_rules,
    pipeline_dimension_rows,
    pipeline_fact_rows,
    rules_of,
    table_rows,
)
from tests.strategies_pipeline import (
    ORDER_FIELDS,
    DimDef,
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
    with_whole_path_pct,
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
    # half the examples take the whole path (path by cost) whenever a fact key is affected
    if data.draw(st.booleans(), label="whole path"):
        files = with_whole_path_pct(files, 0, required=False)
        bump("random.whole path")
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
        # the audit-trail checks of sp_verify find nothing in a sound history
        found = {k: v for k, v in p.checks(deep=True).items() if v[0]}
        assert not found, f"verify checks report a sound history: {found}"
        for model in dims.values():
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
DIMENSION_HISTORIES: dict[str, Any] = {"cycles": (4, 7), "rows": (1, 4), "ids": (1, 2, 1, 2, 3)}


def _dimension_histories(on_delete: str, examples: int, soak_examples: int) -> Any:
    @given(pdef=pipelines(dimension=True, on_delete=on_delete), data=st.data())
    @budget(examples, soak_examples)
    def check(scratch_dsn: str, pdef: PipelineDef, data: st.DataObject) -> None:
        _random_pipeline(scratch_dsn, pdef, data, **DIMENSION_HISTORIES)

    return check


@pytest.mark.parametrize("on_delete", ["ignore", "invalidate", "new_version"])
def test_random_dimensions_keep_history(scratch_dsn: str, on_delete: str) -> None:
    """SCD2: every version (columns, validity, flags, surrogate key) equals the reference
    model after every run, for each on_delete rule; validity never overlaps. Longer
    histories, so keys stop and start qualifying and change through lookups."""
    _dimension_histories(on_delete, 10, 270)(scratch_dsn)


@soak_variant
@pytest.mark.parametrize("on_delete", ["ignore", "invalidate", "new_version"])
def test_random_dimensions_soak(scratch_dsn: str, on_delete: str) -> None:
    _dimension_histories(on_delete, 10, 270)(scratch_dsn)


def _scripted_dimension(on_delete: str) -> PipelineDef:
    s0 = SourceDef("s0", ["id"], {"id": "bigint", "a0": "varchar(20)", "a1": "varchar(20)",
                                  "s1_id": "bigint", "updated_at": "timestamp",
                                  "deleted_at": "timestamp"}, "when", "window", None, None,
                   {"s1": ["s1_id"]})
    s1 = SourceDef("s1", ["id"], {"id": "bigint", "a0": "varchar(20)", "updated_at": "timestamp"},
                   "none", "window", None, None)
    dim = DimDef("dim_0", "s0", ["k_id"], [("s1", "s0")], ("not_null", ("ref", "s1", "a0")), None,
                 {"k_id": ("ref", "s0", "id"), "s0_a0": ("ref", "s0", "a0"),
                  "s0_a1": ("ref", "s0", "a1"), "s1_a0": ("ref", "s1", "a0")},
                 ["s0_a0", "s1_a0"], on_delete)
    return PipelineDef({"s0": s0, "s1": s1}, {}, {"dim_0": dim})


@pytest.mark.parametrize("on_delete", ["ignore", "invalidate", "new_version"])
def test_scripted_dimension_paths(scratch_dsn: str, on_delete: str) -> None:
    """Every path of the SCD2 model, on purpose, under each on_delete rule: the random
    histories reach them only by chance. After each run every version equals the model."""
    pdef = _scripted_dimension(on_delete)
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
        (d,) = pdef.dimensions.values()
        model = DimensionModel(tuple(d.key), tuple(d.columns), frozenset(d.history), on_delete)

        def run(**rows: list[dict[str, Any]]) -> dict[tuple, str]:
            for source, staged in rows.items():
                h.stage(source, *staged)
            run_id = h.cycle(RANDOM, clear_window=True, rerun=False)
            return check_dimension(p, "dim_0", model, pipeline_dimension_rows(pdef, d, h.models), run_id)

        def grain(id_: int, a0: str, *, at: dt.datetime | None = None, deleted: bool = False,
                  a1: str = "t") -> dict[str, Any]:
            when = at or h.tick()
            return {"id": id_, "a0": a0, "a1": a1, "s1_id": 1, "updated_at": when,
                    "deleted_at": when if deleted else None}

        def lookup(a0: str | None) -> dict[str, Any]:
            return {"id": 1, "a0": a0, "updated_at": h.tick()}

        assert run(s1=[lookup("x")], s0=[grain(1, "a"), grain(2, "b"), grain(3, "c")]) == {
            (1,): "I", (2,): "I", (3,): "I"}
        # a history change reached through the lookup: the grain's time did not move
        assert run(s1=[lookup("y")]) == {(1,): "H", (2,): "H", (3,): "H"}
        # key 1 stops qualifying (deleted), then comes back with a source time earlier
        # than the run that closed it
        gone = "X" if on_delete != "ignore" else None  # ignore keeps the version open
        stopped = run(s0=[grain(1, "a", deleted=True)])
        assert stopped == ({(1,): gone} if gone else {})
        back = run(s0=[grain(1, "a2")])
        assert back == {(1,): "I" if on_delete == "invalidate" else "H"}
        # every key stops qualifying through the lookup, and comes back through it
        assert run(s1=[lookup(None)]) == ({k: gone for k in [(1,), (2,), (3,)]} if gone else {})
        # a key that is gone changes again while still gone: nothing to record (under
        # new_version no second 'deleted' version)
        assert run(s0=[grain(1, "a3")]) == {}
        assert run(s1=[lookup("z")]) == {
            k: ("I" if on_delete == "invalidate" else "H") for k in [(1,), (2,), (3,)]}
        # a source clock ahead of the warehouse, then a lookup change: never before valid_from
        assert run(s0=[grain(2, "b2", at=dt.datetime(2099, 1, 1))]) == {(2,): "H"}
        assert run(s1=[lookup("w")]) == {(1,): "H", (2,): "H", (3,): "H"}
        # a late timestamp: newer than key 3's source row, older than its current version
        assert run(s0=[grain(3, "c3")]) == {(3,): "H"}
        # a type-1 change overwrites in place
        assert run(s0=[grain(3, "c3", a1="u")]) == {(3,): "U"}
        paths = set(model.paths)
        assert "history change at the run's time" in paths
        if on_delete == "invalidate":
            assert {"reopened before its close", "requalified"} <= paths
        if on_delete == "new_version":
            assert "requalified after a deleted version" in paths
        found = {k: v for k, v in p.checks(deep=True).items() if v[0]}
        assert not found, found


def test_random_pipelines_report() -> None:
    from tests.strategies_pipeline import STATS

    print(f"\nrandom pipelines: {RANDOM}")
    for name, n in sorted(STATS.items()):
        if name.startswith(("random.dim", "orders.dim")):
            print(f"  {name}: {n}")


# ---------------------------------------------------------------------------
# orders.yml histories

ORDERS_SPEC = REPO / "mappings" / "orders.yml"
#: Staging landed wider than the spec declares (an ETL may), or as text, and values that
#: only the wide staging column can hold: each poisons its row, which must be
#: dead-lettered while the rest of the run applies. Values exactly at the limit, and
#: text that does cast, must still go through.
WIDENED = {("customers", "email"): "varchar(1000)", ("products", "name"): "varchar(1000)",
           ("orders", "subtotal"): "numeric(30,4)", ("order_items", "quantity"): "bigint",
           ("orders", "placed_at"): "varchar(64)", ("orders", "discount_total"): "varchar(64)"}
#: columns the ETL lands as text: every value staged there is text
AS_TEXT = {(s, c) for (s, c), t in WIDENED.items() if t.startswith("varchar") and (s, c) in {
    ("orders", "placed_at"), ("orders", "discount_total")}}
POISON: dict[str, list[tuple[str, list[Any]]]] = {
    "customers": [("email", ["e" * 256, "é" * 255, "x" * 255, "ü" * 300])],
    "products": [("name", ["P" * 256, "P" * 255])],
    "orders": [
        ("subtotal", [Decimal("9999999999.995"), Decimal("9999999999.994"),
                      Decimal("-10000000000"), Decimal("12.345")]),
        # bad: month 13, Feb 30, Feb 29 of a common year, hour 24, no day, not a date,
        # ISO 'T'; good: Feb 29 of a leap year, minutes only, microseconds
        ("placed_at", ["2024-13-45", "2023-02-30", "2023-02-29 10:00:00", "2024-01-02 24:00:00",
                       "2024-01", "yesterday", "2024-01-02T10:00:00", "2024-02-29 23:59:59",
                       "2024-01-02 23:30", "2024-01-03 01:02:03.456789"]),
        # bad: not a number, exponent, overflow once rounded; good: a sign, zeros, rounding
        ("discount_total", ["abc", "1e5", "1.2.3", "", "9999999999.995", "-0012.345",
                            "0.005", "9999999999.994"]),
    ],
    "order_items": [("quantity", [2147483648, 2147483647, -2147483649])],
}


def as_staged_text(source: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row as the ETL lands it when some of its columns are text."""
    out = dict(row)
    for (s, column) in AS_TEXT:
        value = out.get(column)
        if s == source and value is not None and not isinstance(value, str):
            out[column] = str(value)
    return out


@pytest.fixture(scope="module", params=["shipped", "whole_path"])
def orders_pipeline(pg_admin_dsn: str, request: pytest.FixtureRequest):
    """As shipped, and built to take the whole path (path by cost) whenever a key is affected."""
    files = postgres_rendering(ORDERS_SPEC)
    if request.param == "whole_path":
        files = with_whole_path_pct(files, 0)
    with deployed_database(pg_admin_dsn, files) as p:
        for (source, column), type_ in WIDENED.items():
            widen_staging(p.conn, source, column, type_, files)
        yield p


def _orders_history(p: Pipeline, data: st.DataObject) -> None:
    reset(p)
    h = History(p, orders_rules(p))
    dim = orders_dimension_model()
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
                if source == "orders":
                    # fact_order_customer looks dim_customer up as of placed_at: times around
                    # the versions this history opens (customers are staged first in a cycle,
                    # the clock ticks a minute a row), and one after every run's time (a run
                    # closes a deleted customer's version at its own time)
                    row["customer_id"] = data.draw(st.sampled_from([1, 2, 3, None]), label="customer")
                    row["placed_at"] = data.draw(st.sampled_from(
                        [None, h.clock - dt.timedelta(minutes=12), h.clock - dt.timedelta(minutes=4),
                         h.clock, dt.datetime(2099, 1, 1)]), label="placed_at")
                if "deleted_at" in r.staging_columns and data.draw(st.integers(0, 4)) == 0:
                    row["deleted_at"] = h.clock
                if r.loaded_at:
                    no_load_time = data.draw(st.integers(0, 15), label="NULL load time?") == 0
                    row[r.loaded_at] = None if no_load_time else h.tick()
                # each poisonable column independently (one in 8 rows; one in 10 per column
                # where a source has several), so every column is poisoned often enough
                odds = 7 if len(POISON.get(source, [])) == 1 else 9
                for column, values in POISON.get(source, []):
                    if data.draw(st.integers(0, odds), label=f"poison {column}?") != 0:
                        continue
                    row[column] = data.draw(st.sampled_from(values), label=f"{source}.{column}")
                    if (source, column) in AS_TEXT:
                        castable = fits(row[column], r.types[column])
                        bump(f"orders.text {column} {'applies' if castable else 'dead-lettered'}")
                row = as_staged_text(source, row)
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
        run_id = h.cycle(ORDERS, clear_window=data.draw(st.booleans(), label="clear"), lost=lost,
                         rerun=rerun)
        ops = check_dimension(p, "dim_customer", dim, orders_dim_customer(h.models), run_id)
        bump("orders.dim_customer version changes", len(ops))
        for path, n in check_point_in_time(p, h.models, dim).items():
            bump(f"orders.fact_order_customer: {path}", n)
    for path, n in dim.paths.items():
        bump(f"orders.dim_customer: {path}", n)
    found = {k: v for k, v in p.checks(deep=True).items() if v[0]}
    assert not found, f"verify checks report a sound history: {found}"


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
    from tests.strategies_pipeline import STATS

    print(f"\norders histories: {ORDERS}")
    for name, n in sorted(STATS.items()):
        if name.startswith(("orders.dim", "orders.fact_order_customer", "orders.text")):
            print(f"  {name}: {n}")

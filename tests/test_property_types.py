"""Declared types hold where values are computed (issue 8, item 3), on a real PostgreSQL.

Random small specs whose target columns declare types narrower than their expressions:
numeric(p,s) from divisions and products (rounding at the declared scale), integer from
a numeric product, date from timestamps and timestamp from date arithmetic, varchar(n)
and char(n) from concatenations and functions. Random data aims at the edges: cents,
products and quotients landing on x.xx5, negative halves, times near midnight, strings
filling their column, multibyte text, trailing blanks. Each spec has a fact and an SCD2
dimension over a grain source and a lookup (so rows are also recomputed through the
lookup). After every run (tests/reference_model.py ``run_and_check``): baselines, change
log, fact == its ``__full`` view, fact change log, counts; a second run writes nothing
(facts *and* the dimension); ``verify`` is clean; and every stored value equals the
Python evaluation of its expression with the declared type applied the way storing
applies it (numeric: round half away from zero to the scale; integer: round; date:
drop the time of day; text: unchanged, char(n) blank-padded).

Widths: Redshift counts VARCHAR/CHAR lengths in bytes, PostgreSQL in characters. The
test measures in bytes: source text values fit their column in UTF-8 bytes, and each
declared text width is the expression's inferred width, itself a sum of byte widths. A
UTF-8 string has at most as many characters as bytes, so a value that fits in bytes
fits in characters too: the same data is valid on both engines, and no declared text
width can be exceeded (the case the engines differ on, and that a later issue
dead-letters, is left out on purpose). char(n) values are ASCII: Redshift CHAR holds
single-byte characters only.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.pipeline_harness import Pipeline
from tests.reference_model import Figures, History, Row, rules_of, table_rows
from tests.strategies import render_yaml
from tests.strategies_pipeline import (
    SourceDef,
    budget,
    bump,
    create_database,
    deploy_files,
    drop_database,
    render_postgres_only,
    soak_variant,
)

FIGURES = Figures()
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

GRAIN = SourceDef(
    "s0", ["id"],
    {"id": "bigint", "s1_id": "bigint", "amount": "numeric(12,2)", "qty": "numeric(12,3)",
     "label": "varchar(6)", "code": "varchar(2)", "day": "date", "at": "timestamp",
     "updated_at": "timestamp", "deleted_at": "timestamp"},
    deletes="when", mode="window", loaded_at=None, check=None)
LOOKUP = SourceDef(
    "s1", ["id"],
    {"id": "bigint", "name": "varchar(4)", "rate": "numeric(6,3)", "updated_at": "timestamp",
     "deleted_at": "timestamp"},
    deletes="when", mode="window", loaded_at=None, check=None)

# Source values: text fits its column in UTF-8 bytes (see the module docstring).
AMOUNTS = [Decimal(v) for v in ("0.01", "0.05", "-0.05", "0.15", "1.25", "2.67", "-2.50",
                                "99999.99", "1234567.89", "0.00")]
QTYS = [Decimal(v) for v in ("0.500", "1.500", "0.125", "-0.125", "2.005", "0.001")]
RATES = [Decimal(v) for v in ("0.500", "0.125", "1.005", "0.333", "-1.500")]
LABELS = ["", "a", "abcdef", "ééé", "zé", "ab ", "日本", "x y", " pad "]
NAMES = ["", "Rome", "ñu", "ab ", "é"]
CODES = ["A", "A ", "AB", "z"]
DAYS = [dt.date(2024, 1, 31), dt.date(2024, 2, 28), dt.date(2024, 12, 31)]
TIMES = [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 31, 21, 30),
         dt.datetime(2024, 2, 29, 19, 0, 0, 500000), dt.datetime(2024, 12, 31, 23, 59, 59, 999999)]


def _exact(fn: Callable[[], Any]) -> Any:
    with localcontext() as ctx:
        ctx.prec = 60
        return fn()


def _nn(*values: Any) -> bool:
    return all(v is not None for v in values)


@dataclass(frozen=True)
class Col:
    """A target column: its SQL, the declared type, and a Python twin of the expression."""

    sql: str
    type: str
    value: Callable[[Row, Row | None], Any]


def _g(row: Row | None, column: str) -> Any:
    return None if row is None else row.get(column)


def _concat(*parts: Any) -> str | None:
    return None if any(p is None for p in parts) else "".join(parts)


def _catalogue(k: int, scale: int) -> dict[str, Col]:
    numeric = f"numeric({12 + scale},{scale})"
    return {
        "div": Col(f"s0.amount / {k}", numeric,
                   lambda a, b: None if a["amount"] is None else _exact(lambda: a["amount"] / k)),
        "product": Col("s0.amount * s0.qty", "numeric(12,2)",
                       lambda a, b: a["amount"] * a["qty"] if _nn(a["amount"], a["qty"]) else None),
        "via_lookup": Col("s0.amount * s1.rate", "numeric(12,2)",
                          lambda a, b: a["amount"] * _g(b, "rate")
                          if _nn(a["amount"], _g(b, "rate")) else None),
        "musd": Col("s0.amount / 1000000", "numeric(18,6)",
                    lambda a, b: None if a["amount"] is None
                    else _exact(lambda: a["amount"] / 1000000)),
        "whole": Col("s0.amount * 3", "integer",
                     lambda a, b: None if a["amount"] is None else a["amount"] * 3),
        "next_day": Col("DATEADD(day, 1, s0.day)", "timestamp",
                        lambda a, b: None if a["day"] is None
                        else dt.datetime.combine(a["day"] + dt.timedelta(days=1), dt.time())),
        "later_day": Col("DATEADD(hour, 5, s0.at)", "date",
                         lambda a, b: None if a["at"] is None else a["at"] + dt.timedelta(hours=5)),
        "at_day": Col("s0.at", "date", lambda a, b: a["at"]),
        "month": Col("DATE_TRUNC('month', s0.at)", "date",
                     lambda a, b: None if a["at"] is None else a["at"].replace(day=1)),
        "tag": Col("s0.label || '-' || COALESCE(s1.name, '?')", "varchar(11)",
                   lambda a, b: _concat(a["label"], "-", _g(b, "name") if _g(b, "name") is not None
                                        else "?")),
        "shout": Col("UPPER(s0.label)", "varchar(6)",
                     lambda a, b: None if a["label"] is None else a["label"].translate(_UPPER)),
        "initials": Col("COALESCE(s0.code, 'Z')", "char(2)",
                        lambda a, b: a["code"] if a["code"] is not None else "Z"),
        "both": Col("TRIM(COALESCE(s0.label, '') || ' ' || COALESCE(s1.name, ''))", "varchar(11)",
                    lambda a, b: ((a["label"] or "") + " " + (_g(b, "name") or "")).strip(" ")),
    }


def as_stored(value: Any, type_: str) -> Any:
    """``value`` stored in a ``type_`` column, the way both engines store it."""
    if value is None:
        return None
    if type_.startswith("numeric("):
        scale = int(type_[:-1].split(",")[1])
        return value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if type_ == "integer":
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if type_ == "date":
        return value.date() if isinstance(value, dt.datetime) else value
    if type_.startswith("char("):
        return value.ljust(int(type_[5:-1]))
    return value


@dataclass
class TypedSpec:
    columns: dict[str, Col]
    dim_columns: list[str]
    history: list[str]

    def _target(self, key: str, names: list[str]) -> dict[str, Any]:
        cols: dict[str, Any] = {key: "s0.id"}
        cols.update({n: {"expr": self.columns[n].sql, "type": self.columns[n].type} for n in names})
        return {"key": [key], "from": "s0",
                "join": [{"source": "s1", "on": "s1.id = s0.s1_id"}], "columns": cols}

    def yaml(self) -> str:
        dim = self._target("d_id", self.dim_columns)
        dim["history"] = self.history
        doc = {
            "pipeline": "typed",
            "schemas": {"staging": "staging", "baseline": "public", "target": "mart", "cdc": "cdc"},
            "sources": {"s0": GRAIN.spec(), "s1": LOOKUP.spec()},
            "facts": {"fact_t": self._target("k_id", list(self.columns))},
            "dimensions": {"dim_t": dim},
        }
        return render_yaml(doc)

    def expected(self, names: list[str], h: History) -> dict[tuple[Any, ...], Row]:
        out = {}
        for (key,), a in h.models["s0"].rows.items():
            b = h.models["s1"].rows.get((a["s1_id"],)) if a["s1_id"] is not None else None
            out[(key,)] = {n: as_stored(self.columns[n].value(a, b), self.columns[n].type)
                           for n in names}
        return out


@st.composite
def typed_specs(draw: st.DrawFn) -> TypedSpec:
    catalogue = _catalogue(draw(st.sampled_from([2, 3, 8, 40, 1000000])),
                           draw(st.sampled_from([0, 2, 6])))
    names = draw(st.lists(st.sampled_from(sorted(catalogue)), min_size=3, max_size=8, unique=True))
    dim_columns = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    history = draw(st.lists(st.sampled_from(dim_columns), max_size=2, unique=True))
    return TypedSpec({n: catalogue[n] for n in names}, dim_columns, history)


def _maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from(values))


@st.composite
def grain_row(draw: st.DrawFn, h: History) -> Row:
    return {"id": draw(st.sampled_from([1, 2, 3])), "s1_id": draw(_maybe([1, 2])),
            "amount": draw(_maybe(AMOUNTS)), "qty": draw(_maybe(QTYS)),
            "label": draw(_maybe(LABELS)), "code": draw(_maybe(CODES)),
            "day": draw(_maybe(DAYS)), "at": draw(_maybe(TIMES)), "updated_at": h.tick(),
            "deleted_at": h.clock if draw(st.integers(0, 6)) == 0 else None}


@st.composite
def lookup_row(draw: st.DrawFn, h: History) -> Row:
    return {"id": draw(st.sampled_from([1, 2])), "name": draw(_maybe(NAMES)),
            "rate": draw(_maybe(RATES)), "updated_at": h.tick(),
            "deleted_at": h.clock if draw(st.integers(0, 8)) == 0 else None}


_RENDERED: dict[str, dict[str, str]] = {}


def _render(text: str) -> dict[str, str]:
    if text not in _RENDERED:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "typed.yml"
            path.write_text(text, encoding="utf-8")
            _RENDERED[text] = render_postgres_only(path)
    return _RENDERED[text]


def _current_versions(p: Pipeline, names: list[str]) -> dict[tuple[Any, ...], Row]:
    rows = p.conn.execute(
        "SELECT d_id, " + ", ".join(f'"{n}"' for n in names)
        + " FROM mart.dim_t WHERE is_current AND NOT is_deleted").fetchall()
    return {(r[0],): dict(zip(names, r[1:], strict=True)) for r in rows}


def _check_stored_values(spec: TypedSpec, h: History) -> None:
    assert all(diff == (0, 0, 0) for diff in h.p.verify().values()), h.p.verify()
    names = list(spec.columns)
    got = table_rows(h.p.conn, "mart.fact_t", ["k_id", *names], ["k_id"])
    got = {k: {n: v for n, v in row.items() if n != "k_id"} for k, row in got.items()}
    assert got == spec.expected(names, h), "fact_t != the spec's values with declared types applied"
    dim = _current_versions(h.p, spec.dim_columns)
    assert dim == spec.expected(spec.dim_columns, h), "dim_t current versions != declared values"


@pytest.fixture(scope="module")
def typed_dsn(pg_admin_dsn: str):
    name = "cdcgen_typed_pipelines"
    dsn = create_database(pg_admin_dsn, name)  # C collation and ctype, UTF8
    yield dsn
    drop_database(pg_admin_dsn, name)


def _typed_pipeline(dsn: str, spec: TypedSpec, data: st.DataObject) -> None:
    files = _render(spec.yaml())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS staging, public, mart, cdc CASCADE")
        deploy_files(conn, files)
        p = Pipeline(conn, json.loads(files["manifest.json"]))
        h = History(p, {"s0": rules_of(GRAIN), "s1": rules_of(LOOKUP)})
        bump("typed.examples")
        for _ in range(data.draw(st.integers(1, 3), label="cycles")):
            for _ in range(data.draw(st.integers(0, 3), label="lookup rows")):
                h.stage("s1", data.draw(lookup_row(h)))
            for _ in range(data.draw(st.integers(1, 4), label="grain rows")):
                h.stage("s0", data.draw(grain_row(h)))
            h.cycle(FIGURES, clear_window=data.draw(st.booleans(), label="clear"), rerun=True)
            _check_stored_values(spec, h)


@given(spec=typed_specs(), data=st.data())
@budget(30, 600)
def test_declared_types_hold_where_values_are_computed(
    typed_dsn: str, spec: TypedSpec, data: st.DataObject
) -> None:
    _typed_pipeline(typed_dsn, spec, data)


@soak_variant
@given(spec=typed_specs(), data=st.data())
@budget(30, 600)
def test_declared_types_soak(typed_dsn: str, spec: TypedSpec, data: st.DataObject) -> None:
    _typed_pipeline(typed_dsn, spec, data)


def test_declared_types_report() -> None:
    print(f"\ndeclared types: {FIGURES}")

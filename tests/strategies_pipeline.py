"""Shared helpers of the property suite (issue 5, "prove the invariant").

- hypothesis profiles ``ci`` (the default budget: derandomized, reproducible) and
  ``soak`` (``nox -s soak`` passes ``--hypothesis-profile=soak``); each property
  test asks :func:`budget` for its settings, so the profile scales every test;
- databases: one template database per deployed pipeline and session, cloned per
  test (``CREATE DATABASE x TEMPLATE t``), reset per example by TRUNCATE;
- the PostgreSQL rendering of a spec (the committed ``generated/`` files when they
  are fresh — ``cdcgen build --check`` guarantees it in CI — else rendered), and a
  generic deploy in manifest order;
- a strategy for random small pipelines (specs with a Python twin of every
  expression, so facts can be evaluated independently) and their data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.pipeline_harness import REPO, Pipeline

# ---------------------------------------------------------------------------
# hypothesis profiles
_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
}
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile("soak", derandomize=False, print_blob=True, **_COMMON)

#: figures printed at the end of the session (see tests/test_property_*.py)
STATS: dict[str, int] = {}


def bump(name: str, by: int = 1) -> None:
    STATS[name] = STATS.get(name, 0) + by


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def soak() -> bool:
    return settings.get_current_profile_name() == "soak" or os.environ.get("CDCGEN_SOAK") == "1"


def budget(ci: int, soak_examples: int, **extra: Any) -> settings:
    """Settings for one property test: ``ci`` examples by default, more under soak.

    ``CDCGEN_SOAK_FRACTION`` (e.g. 0.2) scales the soak budget for a time-boxed soak."""
    if soak():
        fraction = float(os.environ.get("CDCGEN_SOAK_FRACTION", "1"))
        examples = max(ci, round(soak_examples * fraction))
        return settings(settings.get_profile("soak"), max_examples=examples, **extra)
    return settings(settings.get_profile("ci"), max_examples=ci, **extra)


# ---------------------------------------------------------------------------
# databases
_names = itertools.count(1)
_TEMPLATES: dict[str, str] = {}


def with_database(uri: str, dbname: str) -> str:
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{dbname}" + (f"?{query}" if query else "")


def create_database(admin_dsn: str, name: str, template: str = "template0") -> str:
    # C collation: ORDER BY on text (the de-duplication tie-break) is code-point order,
    # which the Python reference model reproduces.
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        extra = " ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" if template == "template0" else ""
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{extra}')
    return with_database(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def template_for(admin_dsn: str, files: dict[str, str]) -> str:
    """A template database with the pipeline deployed (once per session and rendering)."""
    digest = hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()[:12]
    if digest not in _TEMPLATES:
        name = f"cdcgen_tmpl_{digest}"
        dsn = create_database(admin_dsn, name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            deploy_files(conn, files)
        _TEMPLATES[digest] = name
    return _TEMPLATES[digest]


@contextmanager
def deployed_database(admin_dsn: str, files: dict[str, str]) -> Iterator[Pipeline]:
    """A fresh database cloned from the pipeline's template; dropped afterwards."""
    template = template_for(admin_dsn, files)
    name = f"cdcgen_p{os.getpid()}_{next(_names)}"
    dsn = create_database(admin_dsn, name, template)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            yield Pipeline(conn, json.loads(files["manifest.json"]))
    finally:
        drop_database(admin_dsn, name)


def reset(p: Pipeline) -> None:
    """Back to the freshly deployed state: every table the pipeline owns emptied."""
    tables = [o["name"] for o in p.manifest["objects"]
              if o["kind"] in ("state_table", "staging_table", "baseline_table", "target_table")]
    tables = [t for t in tables if t not in (f"{p.schemas['cdc']}.deployments",
                                             f"{p.schemas['cdc']}.deployed_objects")]
    p.conn.execute("TRUNCATE " + ", ".join(tables))


# ---------------------------------------------------------------------------
# renderings
_FILES: dict[str, dict[str, str]] = {}


def postgres_rendering(spec_path: str | Path) -> dict[str, str]:
    """The PostgreSQL files of a spec. The committed ``generated/`` output is used when its
    manifest names this spec's hash (rendering vendor.yml takes ~40 s); else it is rendered."""
    path = Path(spec_path).resolve()
    key = str(path)
    if key not in _FILES:
        from cdcgen.render.build import render_pipeline
        from cdcgen.validate import validate_file

        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        files: dict[str, str] | None = None
        for out in (REPO / "generated").glob("*/postgres/manifest.json"):
            manifest = json.loads(out.read_text())
            if manifest.get("spec_sha256") == sha:
                files = {p.name: p.read_text(encoding="utf-8") for p in out.parent.iterdir()}
                break
        if files is None:
            files = render_pipeline(validate_file(path), dialects=("postgres",))["postgres"]
        _FILES[key] = files
    return _FILES[key]


def render_postgres_only(spec_path: str | Path) -> dict[str, str]:
    """``render_pipeline(...)["postgres"]`` without the Redshift half (half the time)."""
    from cdcgen.render.build import render_pipeline
    from cdcgen.validate import validate_file

    return render_pipeline(validate_file(spec_path), dialects=("postgres",))["postgres"]


def deploy_files(conn: psycopg.Connection, files: dict[str, str]) -> dict[str, Any]:
    """Apply every object in manifest order (what ``pipeline_harness.deploy`` does)."""
    manifest = json.loads(files["manifest.json"])
    for obj in manifest["objects"]:
        conn.execute(files[obj["file"]])
    return manifest


# ---------------------------------------------------------------------------
# random pipelines
#
# An expression is a small tree with a SQL rendering and a Python evaluation:
#   ("ref", alias, column) | ("lit", value) | ("coalesce", e, e) | ("concat", e, e)
#   | ("add", e, int) | ("mul", e, int) | ("case_null", e, then, else) | ("upper", e)
# A predicate: ("gt", e, int) | ("not_null", e) | ("eq_text", e, str)

TEXT_TYPES = ("varchar(20)", "char(2)")
NUM_TYPES = ("integer", "numeric(12,2)")
ATTR_TYPES = (*TEXT_TYPES, *NUM_TYPES, "boolean", "date")


def sql_of(e: tuple) -> str:
    tag = e[0]
    if tag == "ref":
        return f"{e[1]}.{e[2]}"
    if tag == "lit":
        return f"'{e[1]}'" if isinstance(e[1], str) else str(e[1])
    if tag == "coalesce":
        return f"COALESCE({sql_of(e[1])}, {sql_of(e[2])})"
    if tag == "concat":
        return f"{sql_of(e[1])} || ' / ' || {sql_of(e[2])}"
    if tag == "add":
        return f"{sql_of(e[1])} + {e[2]}"
    if tag == "mul":
        return f"{sql_of(e[1])} * {e[2]}"
    if tag == "case_null":
        return f"CASE WHEN {sql_of(e[1])} IS NULL THEN {sql_of(e[2])} ELSE {sql_of(e[3])} END"
    if tag == "upper":
        return f"UPPER({sql_of(e[1])})"
    if tag == "gt":
        return f"{sql_of(e[1])} > {e[2]}"
    if tag == "not_null":
        return f"{sql_of(e[1])} IS NOT NULL"
    if tag == "eq_text":
        return f"{sql_of(e[1])} = '{e[2]}'"
    raise ValueError(tag)


def eval_expr(e: tuple, env: dict[str, dict[str, Any] | None]) -> Any:
    """SQL semantics in Python: NULL propagates, char(n) is compared padded."""
    tag = e[0]
    if tag == "ref":
        row = env.get(e[1])
        return None if row is None else row.get(e[2])
    if tag == "lit":
        return e[1]
    if tag == "coalesce":
        v = eval_expr(e[1], env)
        return v if v is not None else eval_expr(e[2], env)
    if tag == "concat":
        a, b = eval_expr(e[1], env), eval_expr(e[2], env)
        if a is None or b is None:
            return None
        return f"{str(a).rstrip(' ')} / {str(b).rstrip(' ')}"
    if tag in ("add", "mul"):
        v = eval_expr(e[1], env)
        if v is None:
            return None
        return v + e[2] if tag == "add" else v * e[2]
    if tag == "case_null":
        return eval_expr(e[2] if eval_expr(e[1], env) is None else e[3], env)
    if tag == "upper":
        v = eval_expr(e[1], env)
        # the test databases use C ctype, where PostgreSQL's UPPER maps ASCII letters only
        return None if v is None else v.translate(_ASCII_UPPER)
    if tag == "gt":
        v = eval_expr(e[1], env)
        return None if v is None else v > e[2]
    if tag == "not_null":
        return eval_expr(e[1], env) is not None
    if tag == "eq_text":
        v = eval_expr(e[1], env)
        return None if v is None else v.rstrip(" ") == e[2]
    raise ValueError(tag)


@dataclass
class SourceDef:
    name: str
    key: list[str]
    columns: dict[str, str]  # staging columns, in order
    deletes: str  # none | when | op_column | snapshot
    mode: str  # window | append
    loaded_at: str | None
    check: tuple | None  # predicate over the source alias, or None
    fks: dict[str, list[str]] = field(default_factory=dict)  # later source -> fk columns

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "updated_at": "updated_at"}
        if self.deletes == "when":
            out["deletes"] = {"when": "deleted_at IS NOT NULL"}
        elif self.deletes == "op_column":
            out["deletes"] = {"op_column": "op"}
        elif self.deletes == "snapshot":
            out["deletes"] = {"snapshot": "full"}
        if self.mode == "append":
            out["mode"] = "append"
        if self.loaded_at:
            out["loaded_at"] = self.loaded_at
        if self.check is not None:
            out["checks"] = {"valid_row": sql_of(self.check).replace(f"{self.name}.", "")}
        out["columns"] = dict(self.columns)
        return out

    @property
    def attributes(self) -> list[tuple[str, str]]:
        return [(c, t) for c, t in self.columns.items() if c.startswith("a")]


@dataclass
class FactDef:
    name: str
    grain: str
    key: list[str]
    joins: list[tuple[str, str]]  # (joined source, via alias)
    where: tuple | None
    exists: tuple[str, tuple] | None  # (source, extra predicate on it)
    columns: dict[str, tuple]


@dataclass
class DimDef(FactDef):
    """An SCD2 dimension: a fact-like definition plus ``history`` and ``on_delete``."""

    history: list[str] = field(default_factory=list)
    on_delete: str = "invalidate"


@dataclass
class PipelineDef:
    sources: dict[str, SourceDef]
    facts: dict[str, FactDef]
    dimensions: dict[str, DimDef] = field(default_factory=dict)

    def join_on(self, target: str, via: str) -> str:
        return " AND ".join(f"{target}.{k} = {via}.{target}_{k}" for k in self.sources[target].key)

    def spec(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        for f in self.facts.values():
            body: dict[str, Any] = {"key": f.key, "from": f.grain}
            if f.where is not None:
                body["where"] = sql_of(f.where)
            if f.exists is not None:
                other, pred = f.exists
                body["exists"] = [{"source": other,
                                   "on": f"{self.join_on(other, f.grain)} AND {sql_of(pred)}"}]
            if f.joins:
                body["join"] = [{"source": t, "on": self.join_on(t, via)} for t, via in f.joins]
            body["columns"] = {c: sql_of(e) for c, e in f.columns.items()}
            facts[f.name] = body
        out = {
            "pipeline": "prop",
            "schemas": {"staging": "staging", "baseline": "public", "target": "mart", "cdc": "cdc"},
            "sources": {n: s.spec() for n, s in self.sources.items()},
            "facts": facts,
        }
        dims: dict[str, Any] = {}
        for d in self.dimensions.values():
            body = {"key": d.key, "from": d.grain}
            if d.where is not None:
                body["where"] = sql_of(d.where)
            if d.joins:
                body["join"] = [{"source": t, "on": self.join_on(t, via)} for t, via in d.joins]
            body["columns"] = {c: sql_of(e) for c, e in d.columns.items()}
            body["history"] = list(d.history)
            body["on_delete"] = d.on_delete
            dims[d.name] = body
        if dims:
            out["dimensions"] = dims
        return out

    def yaml(self) -> str:
        from tests.strategies import render_yaml

        return render_yaml(self.spec())


def _text_value(type_: str) -> st.SearchStrategy[Any]:
    if type_ == "char(2)":
        return st.sampled_from(["AA", "AB", "ZZ", "ab"])
    return st.sampled_from(["x", "y", "Zed", "é", "a b", ""])


def value_strategy(type_: str) -> st.SearchStrategy[Any]:
    """Values already in their PostgreSQL canonical form (so Python equality is SQL's)."""
    base: st.SearchStrategy[Any]
    if type_ in TEXT_TYPES:
        base = _text_value(type_)
    elif type_ == "integer":
        base = st.integers(-3, 5)
    elif type_ == "numeric(12,2)":
        base = st.sampled_from([Decimal("0.00"), Decimal("1.50"), Decimal("-2.25"), Decimal("10.00")])
    elif type_ == "boolean":
        base = st.booleans()
    elif type_ == "date":
        base = st.sampled_from([dt.date(2024, 1, 1), dt.date(2024, 2, 29)])
    else:
        raise ValueError(type_)
    return st.one_of(st.none(), base)


def _expr_for(draw: st.DrawFn, alias: str, col: str, type_: str) -> tuple:
    ref = ("ref", alias, col)
    if type_ in TEXT_TYPES:
        return draw(st.sampled_from([
            ("concat", ref, ("coalesce", ref, ("lit", "?"))),
            ("upper", ref),
            ("case_null", ref, ("lit", "none"), ref),
            ("coalesce", ref, ("lit", "-")),
        ]))
    if type_ in NUM_TYPES:
        return draw(st.sampled_from([
            ("add", ("coalesce", ref, ("lit", 0)), 1),
            ("mul", ref, 3),
            ("case_null", ref, ("lit", 0), ("add", ref, 2)),
        ]))
    return ref


@st.composite
def pipelines(draw: st.DrawFn, dimension: bool | None = None, on_delete: str | None = None) -> PipelineDef:
    """``dimension``: True always adds an SCD2 dimension, None now and then; ``on_delete``
    fixes its rule (else drawn)."""
    count = draw(st.integers(2, 4))
    sources: dict[str, SourceDef] = {}
    for i in range(count):
        name = f"s{i}"
        composite = draw(st.booleans()) and i > 0
        columns: dict[str, str] = {"id": "bigint"}
        if composite:
            columns["part"] = "integer"
        for n in range(draw(st.integers(1, 3))):
            columns[f"a{n}"] = draw(st.sampled_from(ATTR_TYPES))
        columns["updated_at"] = "timestamp"
        mode = draw(st.sampled_from(["window", "append"]))
        deletes = draw(st.sampled_from(
            ["none", "when", "op_column"] + (["snapshot"] if mode == "window" else [])))
        if deletes == "when":
            columns["deleted_at"] = "timestamp"
        elif deletes == "op_column":
            columns["op"] = "char(1)"
        loaded_at = None
        if mode == "append" and draw(st.booleans()):
            columns["loaded_at"] = "timestamp"
            loaded_at = "loaded_at"
        check = None
        if draw(st.booleans()):
            check = ("gt", ("ref", name, "id"), 0)
        sources[name] = SourceDef(name, ["id", "part"] if composite else ["id"], columns,
                                  deletes, mode, loaded_at, check)
    names = list(sources)
    # foreign keys to every later source, inserted before updated_at for readability
    for i, name in enumerate(names):
        s = sources[name]
        cols = {c: t for c, t in s.columns.items() if c == "id" or c == "part" or c.startswith("a")}
        for later in names[i + 1:]:
            fk = [f"{later}_{k}" for k in sources[later].key]
            s.fks[later] = fk
            for c, k in zip(fk, sources[later].key, strict=True):
                cols[c] = sources[later].columns[k]
        rest = {c: t for c, t in s.columns.items() if c not in cols}
        s.columns = {**cols, **rest}
    facts: dict[str, FactDef] = {}
    for n in range(draw(st.integers(1, 2))):
        grain = draw(st.sampled_from(names[:-1]))
        later = names[names.index(grain) + 1:]
        joined = sorted(draw(st.lists(st.sampled_from(later), unique=True, max_size=len(later))),
                        key=names.index)
        aliases = [grain]
        joins = []
        for t in joined:
            via = draw(st.sampled_from(aliases))
            joins.append((t, via))
            aliases.append(t)
        gs = sources[grain]
        columns: dict[str, tuple] = {f"k_{k}": ("ref", grain, k) for k in gs.key}
        for alias in aliases:
            for c, t in sources[alias].attributes:
                pick = draw(st.sampled_from(["skip", "ref", "expr", "both"]))
                if pick in ("ref", "both"):
                    columns[f"{alias}_{c}"] = ("ref", alias, c)
                if pick in ("expr", "both") and (t in TEXT_TYPES or t in NUM_TYPES):
                    columns[f"{alias}_{c}_x"] = _expr_for(draw, alias, c, t)
            if alias != grain and draw(st.booleans()):
                columns[f"{alias}_found"] = ("case_null", ("ref", alias, "id"), ("lit", "no"),
                                             ("lit", "yes"))
        where = None
        if draw(st.booleans()):
            options: list[tuple] = [("gt", ("ref", grain, "id"), 2)]
            for c, t in gs.attributes:
                if t in NUM_TYPES:
                    options.append(("gt", ("ref", grain, c), 0))
                elif t in TEXT_TYPES:
                    options.append(("not_null", ("ref", grain, c)))
            where = draw(st.sampled_from(options))
        exists = None
        not_joined = [t for t in later if t not in joined]
        if not_joined and draw(st.booleans()):
            other = draw(st.sampled_from(not_joined))
            preds: list[tuple] = [("gt", ("ref", other, "id"), 1)]
            preds += [("not_null", ("ref", other, c)) for c, _ in sources[other].attributes]
            exists = (other, draw(st.sampled_from(preds)))
        facts[f"fact_{n}"] = FactDef(f"fact_{n}", grain, [f"k_{k}" for k in gs.key], joins,
                                     where, exists, columns)
    dimensions: dict[str, DimDef] = {}
    if dimension or (dimension is None and draw(st.integers(0, 3)) > 0):
        dimensions["dim_0"] = draw(dimension_defs(sources, on_delete))
    return PipelineDef(sources, facts, dimensions)


@st.composite
def dimension_defs(draw: st.DrawFn, sources: dict[str, SourceDef], on_delete: str | None = None) -> DimDef:
    """An SCD2 dimension over a random grain, usually with lookups whose columns are
    history columns (a history change reached through a lookup) and a ``where`` that
    rows leave and re-enter (keys that stop and start qualifying)."""
    names = list(sources)
    grain = draw(st.sampled_from(names[:-1]), label="dim grain")
    later = names[names.index(grain) + 1:]
    joined = sorted(draw(st.lists(st.sampled_from(later), unique=True, min_size=1,
                                  max_size=len(later)), label="dim joins"), key=names.index)
    aliases = [grain]
    joins = []
    for t in joined:
        joins.append((t, draw(st.sampled_from(aliases))))
        aliases.append(t)
    gs = sources[grain]
    columns: dict[str, tuple] = {f"k_{k}": ("ref", grain, k) for k in gs.key}
    for alias in aliases:
        for c, t in sources[alias].attributes:
            pick = draw(st.sampled_from(["ref", "ref", "expr", "skip"]))
            if pick == "ref":
                columns[f"{alias}_{c}"] = ("ref", alias, c)
            elif pick == "expr" and (t in TEXT_TYPES or t in NUM_TYPES):
                columns[f"{alias}_{c}_x"] = _expr_for(draw, alias, c, t)
        if alias != grain:
            columns[f"{alias}_found"] = ("case_null", ("ref", alias, "id"), ("lit", "no"),
                                         ("lit", "yes"))
    if len(columns) == len(gs.key):
        c, _ = gs.attributes[0]
        columns[f"{grain}_{c}"] = ("ref", grain, c)
    non_key = [c for c in columns if not c.startswith("k_")]
    history = draw(st.lists(st.sampled_from(non_key), unique=True, min_size=1,
                            max_size=len(non_key)), label="history")
    where = None
    if draw(st.integers(0, 3)) > 0:
        options: list[tuple] = [("gt", ("ref", grain, "id"), 1)]
        for alias in aliases:
            for c, t in sources[alias].attributes:
                if t in NUM_TYPES:
                    options.append(("gt", ("ref", alias, c), 0))
                elif t in TEXT_TYPES:
                    options.append(("not_null", ("ref", alias, c)))
            if alias != grain:  # qualifying through a lookup
                options.append(("not_null", ("ref", alias, "id")))
        where = draw(st.sampled_from(options), label="dim where")
    if on_delete is None:
        on_delete = draw(st.sampled_from(["ignore", "invalidate", "new_version"]), label="on_delete")
    return DimDef("dim_0", grain, [f"k_{k}" for k in gs.key], joins, where, None, columns,
                  history, on_delete)


def soak_variant(test: Any) -> Any:
    """Mark a soak-budget copy of a property test: ``slow`` (``nox -s soak`` selects it) and
    skipped unless the soak profile is loaded (plain ``pytest`` does not deselect ``slow``)."""
    import pytest

    return pytest.mark.slow(
        pytest.mark.skipif(not soak(), reason="soak profile only (--hypothesis-profile=soak)")(test))


# orders.yml: per-source field strategies for random histories
maybe = lambda s: st.none() | s  # noqa: E731
ORDER_FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "customers": st.fixed_dictionaries({
        "email": maybe(st.sampled_from(["a@x.io", "b@x.io"])), "first_name": maybe(st.just("Ann")),
        "last_name": maybe(st.sampled_from(["Lee", "Roe"])), "segment": maybe(st.sampled_from(["smb", "consumer"])),
        "default_address_id": maybe(st.integers(1, 3))}),
    "addresses": st.fixed_dictionaries({
        "customer_id": maybe(st.integers(1, 3)), "city": maybe(st.sampled_from(["Paris", "Oslo"])),
        "postal_code": maybe(st.just("75001")), "country_code": maybe(st.sampled_from(["FR", "NO", "XX"]))}),
    "orders": st.fixed_dictionaries({
        "customer_id": maybe(st.integers(1, 3)), "order_number": st.sampled_from(["A-1", "B-2"]),
        "status": maybe(st.sampled_from(["draft", "placed", "paid"])),
        "subtotal": maybe(st.sampled_from([Decimal("10.00"), Decimal("0.00"), Decimal("-1.00")])),
        "discount_total": maybe(st.just(Decimal("1.50"))), "shipping_address_id": maybe(st.integers(1, 3)),
        "placed_at": maybe(st.just(dt.datetime(2024, 1, 2, 23, 30))),
        "op": st.sampled_from(["I", "U", "D"])}),
    "order_items": st.fixed_dictionaries({
        "product_id": maybe(st.integers(1, 3)), "quantity": maybe(st.sampled_from([1, 2, 0])),
        "unit_price": maybe(st.sampled_from([Decimal("2.50"), Decimal("3.00")])),
        "discount_amount": maybe(st.just(Decimal("0.50")))}),
    "countries": st.fixed_dictionaries({
        "name": maybe(st.sampled_from(["France", "Norge"])), "region": maybe(st.just("Europe"))}),
    "products": st.fixed_dictionaries({
        "sku": maybe(st.just("SKU")), "name": maybe(st.sampled_from(["Pen", "Ink"])),
        "unit_cost": maybe(st.just(Decimal("1.25")))}),
}


#: how the apply procedures render the path-by-cost threshold (cdcgen.sql.facts.WHOLE_PATH_PCT)
_WHOLE_PATH_TEST = "IF v_keys * 100 >= {} * v_target_count THEN"
_WHOLE_PATH_GATE = "AND v_keys >= {} THEN"


def with_whole_path_pct(files: dict[str, str], pct: int, *, required: bool = True) -> dict[str, str]:
    """The rendering with another path-by-cost threshold in every fact's apply procedure:
    0 takes the whole path whenever a key is affected (the property tests run it both
    ways), a huge value never takes it."""
    from cdcgen.sql.facts import WHOLE_PATH_MIN_KEYS, WHOLE_PATH_PCT

    shipped = _WHOLE_PATH_TEST.format(WHOLE_PATH_PCT)
    # any number of keys may take the whole path (the shipped build needs 1,000 to count)
    gate = _WHOLE_PATH_GATE.format(WHOLE_PATH_MIN_KEYS)
    out = dict(files)
    changed = 0
    for name, text in files.items():
        if "_apply_" in name and shipped in text:
            assert gate in text, f"{name}: no minimum of keys to count the target"
            text = text.replace(gate, _WHOLE_PATH_GATE.format(1))
            out[name] = text.replace(shipped, _WHOLE_PATH_TEST.format(pct))
            changed += 1
    assert changed or not required, "no apply procedure renders the path-by-cost threshold"
    return out

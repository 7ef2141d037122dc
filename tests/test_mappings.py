"""The example specs in mappings/: they load, they validate, and vendor.yml is the seeds' pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from cdcgen.spec.loader import load_spec
from cdcgen.spec.model import Dimension, Fact, Spec, column_expr

REPO = Path(__file__).resolve().parent.parent
MAPPINGS = sorted((REPO / "mappings").glob("*.yml"))

# Redshift reserved words a mapping author is most likely to reach for
# (docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html).
RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "backup",
        "both",
        "case",
        "cast",
        "check",
        "column",
        "datetime",
        "default",
        "delta",
        "desc",
        "disable",
        "enable",
        "end",
        "freeze",
        "grant",
        "group",
        "identity",
        "language",
        "leading",
        "new",
        "offset",
        "off",
        "old",
        "only",
        "open",
        "order",
        "parallel",
        "partition",
        "percent",
        "permissions",
        "primary",
        "raw",
        "references",
        "restore",
        "snapshot",
        "some",
        "system",
        "table",
        "tag",
        "timestamp",
        "top",
        "trailing",
        "unique",
        "user",
        "verbose",
        "wallet",
    ]
)
# the one deliberate reserved word, so the generated SQL's quoting is exercised
DELIBERATE_RESERVED = {("vendor", "teams", "open")}


def _load(name: str) -> Spec:
    return load_spec(REPO / "mappings" / name).spec


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="redshift")


def _conjuncts(sql: str) -> set[str]:
    """The AND-ed predicates of an expression, each rendered canonically."""
    tree = _parse(sql)
    parts = tree.flatten() if isinstance(tree, exp.And) else [tree]
    return {p.sql(dialect="redshift") for p in parts}


def _canon(sql: str) -> str:
    return _parse(sql).sql(dialect="redshift")


@pytest.fixture(scope="module")
def vendor() -> Spec:
    return _load("vendor.yml")


# --- every example -------------------------------------------------------------


def test_there_are_examples() -> None:
    names = {p.name for p in MAPPINGS}
    assert {"vendor.yml", "orders.yml"} <= names


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_loads(path: Path) -> None:
    spec = load_spec(path).spec
    assert spec.pipeline == path.stem


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_validates(path: Path) -> None:
    from cdcgen.validate import validate_file

    try:
        validated = validate_file(path)
    except NotImplementedError:
        pytest.skip("cdcgen.validate is not implemented yet")
    spec = validated.spec
    for name, target in spec.targets().items():
        assert list(validated.target_columns[name]) == list(target.columns)
    for name, source in spec.sources.items():
        assert source.columns is not None
        assert set(source.columns) <= set(validated.source_columns[name])


def _targets(spec: Spec) -> dict[str, Fact | Dimension]:
    return spec.targets()


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_every_expression_parses_as_one_scalar(path: Path) -> None:
    spec = load_spec(path).spec
    exprs: list[str] = []
    for source in spec.sources.values():
        exprs += list(source.checks.values())
        if source.deletes and source.deletes.when:
            exprs.append(source.deletes.when)
    for target in _targets(spec).values():
        exprs += [column_expr(v) for v in target.columns.values()]
        exprs += [j.on for j in target.join]
        exprs += [e.on for e in getattr(target, "exists", ())]
        if target.where:
            exprs.append(target.where)
    for sql in exprs:
        statements = sqlglot.parse(sql, read="redshift")
        assert len(statements) == 1, sql
        assert not list(statements[0].find_all(exp.Subquery, exp.Select)), sql


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_target_expressions_use_qualified_known_columns(path: Path) -> None:
    spec = load_spec(path).spec
    for name, target in _targets(spec).items():
        aliases = {target.from_: target.from_}
        aliases.update({j.alias: j.source for j in target.join})
        aliases.update({e.alias: e.source for e in getattr(target, "exists", ())})
        exprs = [column_expr(v) for v in target.columns.values()] + [j.on for j in target.join]
        exprs += [e.on for e in getattr(target, "exists", ())]
        if target.where:
            exprs.append(target.where)
        # point-in-time lookups: the dimension's columns and bookkeeping, as of a time
        looked_up = {a.alias: a.dimension for a in getattr(target, "as_of", ())}
        exprs += [e for a in getattr(target, "as_of", ()) for e in (a.on, a.at)]
        for sql in exprs:
            for col in _parse(sql).find_all(exp.Column):
                assert col.table, f"{name}: unqualified column {col.sql()} in {sql!r}"
                if col.table in looked_up:
                    dim = looked_up[col.table]
                    known = {*spec.dimensions[dim].columns, f"{dim}_sk", "valid_from", "is_deleted"}
                    assert col.name in known, f"{name}: {col.table}.{col.name} not a column"
                    continue
                assert col.table in aliases, f"{name}: unknown alias {col.table!r}"
                columns = spec.sources[aliases[col.table]].columns or {}
                assert col.name in columns, f"{name}: {col.table}.{col.name} not a column"


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_joins_equate_the_whole_key(path: Path) -> None:
    spec = load_spec(path).spec
    for name, target in _targets(spec).items():
        for join in target.join:
            key = spec.sources[join.source].key
            equated = set()
            for eq in _parse(join.on).find_all(exp.EQ):
                for side in (eq.left, eq.right):
                    if isinstance(side, exp.Column) and side.table == join.alias:
                        equated.add(side.name)
            assert equated == set(key), f"{name}: join {join.alias} does not equate {key}"


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_sources_declare_change_semantics(path: Path) -> None:
    spec = load_spec(path).spec
    kinds = set()
    for name, source in spec.sources.items():
        columns = source.columns or {}
        assert set(source.key) <= set(columns), name
        assert source.updated_at in columns, name
        assert source.created_at in columns, name
        assert source.deletes is not None, name
        if source.deletes.op_column:
            kinds.add("op_column")
            assert columns[source.deletes.op_column] == "char(1)", name
        elif source.deletes.snapshot:
            kinds.add("snapshot")
        else:
            kinds.add("when")
        if source.mode == "append":
            assert source.loaded_at in columns, name
    assert kinds == {"when", "op_column", "snapshot"}
    assert any(s.mode == "append" and s.loaded_at == "_loaded_at" for s in spec.sources.values())
    assert any(s.checks for s in spec.sources.values())


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_no_reserved_words_by_accident(path: Path) -> None:
    spec = load_spec(path).spec
    for source_name, source in spec.sources.items():
        for column in source.columns or {}:
            if column in RESERVED:
                assert (spec.pipeline, source_name, column) in DELIBERATE_RESERVED
    for target_name, target in _targets(spec).items():
        assert target_name not in RESERVED
        assert not set(target.columns) & RESERVED, target_name


# --- vendor.yml: the seeds' pipeline ---------------------------------------------


def test_vendor_schemas_and_schedule(vendor: Spec) -> None:
    schemas = vendor.schemas
    got = (schemas.staging, schemas.baseline, schemas.target, schemas.cdc)
    assert got == ("staging", "public", "staging_public", "cdc")
    assert vendor.schedule is not None and vendor.schedule.cron == "cron(0/30 * * * ? *)"
    assert vendor.freshness is not None
    assert (vendor.freshness.warn_after, vendor.freshness.error_after) == ("45m", "2h")


def test_vendor_has_the_seeds_twelve_sources(vendor: Spec) -> None:
    assert set(vendor.sources) == set(
        [
            "companies",
            "buyer_seller_company_mappings",
            "users",
            "teams",
            "team_members",
            "cities",
            "countries",
            "product_categories",
            "user_company_mappings",
            "taggings",
            "tags",
            "preferred_vendor_item_mappings",
        ]
    )
    widths = {name: len(s.columns or {}) for name, s in vendor.sources.items()}
    assert widths["companies"] == 45
    assert widths["buyer_seller_company_mappings"] == 14
    assert widths["users"] == 42
    assert 330 <= sum(widths.values()) <= 390


def test_vendor_delete_rules_and_modes(vendor: Spec) -> None:
    src = vendor.sources
    assert src["companies"].deletes is not None
    assert src["companies"].deletes.when == "deleted_at IS NOT NULL"
    assert src["taggings"].deletes is not None and src["taggings"].deletes.op_column == "op"
    assert src["countries"].deletes is not None and src["countries"].deletes.snapshot == "full"
    assert src["team_members"].mode == "append"
    assert src["team_members"].loaded_at == "_loaded_at"
    assert _canon(src["companies"].checks["valid_status"]) == _canon("status IN (0, 1, 2, 3)")


def test_fact_vendor_shape(vendor: Spec) -> None:
    fact = vendor.facts["fact_vendor"]
    assert 70 <= len(fact.columns) <= 80
    assert fact.from_ == "companies"
    assert fact.key == ("vendor_id",)
    assert fact.columns["vendor_id"] == "companies.id"
    assert fact.redshift is not None
    assert fact.redshift.distkey == "vendor_id"
    assert fact.redshift.sortkey == ("vendor_id",)
    joins = {j.alias: (j.source, _canon(j.on)) for j in fact.join}
    assert joins["cities"] == ("cities", _canon("cities.id = companies.city_id"))
    assert joins["countries"] == ("countries", _canon("countries.id = cities.country_id"))
    assert joins["poc_user"][0] == "users"
    assert joins["created_by_user"][0] == "users"
    assert joins["product_categories"][0] == "product_categories"


def test_fact_vendor_qualification_rules(vendor: Spec) -> None:
    fact = vendor.facts["fact_vendor"]
    assert fact.where is not None
    assert _conjuncts(fact.where) == _conjuncts(
        "companies.status = 1 AND companies.category IN (1, 2, 4)"
    )
    (link,) = fact.exists
    assert link.source == "buyer_seller_company_mappings"
    b = link.alias
    assert _conjuncts(link.on) == _conjuncts(
        f"{b}.dealing_with_company_id = companies.id AND {b}.client_company_id = 12855"
        f" AND {b}.status IN (1, 2, 7) AND {b}.source IN (0, 1) AND {b}.invited_by IS NOT NULL"
    )


def test_vendor_other_facts(vendor: Spec) -> None:
    assert {"fact_vendor", "fact_company_profile", "fact_geography"} <= set(vendor.facts)
    profile = vendor.facts["fact_company_profile"]
    assert profile.from_ == "companies"
    # seed 000's dictionary example: companies.name and .email feed both facts
    assert profile.columns["company_name"] == "companies.name"
    assert profile.columns["contact_email"] == "companies.email"
    assert vendor.facts["fact_vendor"].columns["vendor_name"] == "companies.name"
    assert vendor.facts["fact_vendor"].columns["vendor_email"] == "companies.email"
    geography = vendor.facts["fact_geography"]
    assert geography.from_ == "cities"
    assert [j.source for j in geography.join] == ["countries"]


def test_dim_company_is_scd2(vendor: Spec) -> None:
    dim = vendor.dimensions["dim_company"]
    assert dim.from_ == "companies"
    assert set(dim.columns) == {"company_id", "name", "segment", "email", "status", "city_id"}
    assert dim.columns["segment"] == "companies.category"
    assert dim.history == ("name", "segment", "status")
    assert dim.on_delete == "invalidate"


# --- orders.yml: small enough for property tests ------------------------------------


def test_orders_is_small_and_varied() -> None:
    spec = _load("orders.yml")
    assert 5 <= len(spec.sources) <= 6
    assert sum(len(s.columns or {}) for s in spec.sources.values()) <= 80
    assert any(len(s.key) > 1 for s in spec.sources.values())  # a composite key
    fact = spec.facts["fact_order"]
    assert fact.where and fact.exists
    dim = spec.dimensions["dim_customer"]
    assert set(dim.history) == {"segment", "plan"}

"""Unit tests of the validation building blocks: types, expressions, inference, catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from cdcgen.errors import SpecError
from cdcgen.spec.catalog import dump_catalog, load_catalog
from cdcgen.validate.expressions import ExprProblem, parse_scalar
from cdcgen.validate.inference import InferenceProblem, infer_type
from cdcgen.validate.pipeline import schedule_problem
from cdcgen.validate.types import TypeProblem, canonical_type


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("BIGINT", "bigint"),
        ("int8", "bigint"),
        ("int", "integer"),
        ("int2", "smallint"),
        ("character varying(20)", "varchar(20)"),
        ("varchar(MAX)", "varchar(65535)"),
        ("char", "char(1)"),
        ("numeric", "numeric(18,0)"),
        ("decimal(12, 2)", "numeric(12,2)"),
        ("bool", "boolean"),
        ("timestamp with time zone", "timestamptz"),
        ("timestamp without time zone", "timestamp"),
        ("float8", "double precision"),
        ("float4", "real"),
        ("super", "super"),
    ],
)
def test_types_are_canonical(written: str, canonical: str) -> None:
    assert canonical_type(written) == canonical


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("json", "super"),
        ("jsonb", "super"),
        ("uuid", "char(36)"),
        ("serial", "integer"),
        ("bigserial", "bigint"),
        ("integer[]", "super"),
        ("interval", "seconds"),
        ("bytea", "varchar"),
        ("money", "numeric"),
        ("xml", "varchar"),
        ("varchar", "varchar(n) or varchar(max)"),
        ("text", "varchar(n) or varchar(max)"),
        ("numeric(39,2)", "precision"),
        ("no such type", "Redshift knows"),
    ],
)
def test_types_redshift_lacks_are_refused_with_a_hint(written: str, hint: str) -> None:
    with pytest.raises(TypeProblem, match=hint.replace("(", r"\(").replace(")", r"\)")):
        canonical_type(written)


@pytest.mark.parametrize(
    "text",
    [
        "1=1; DROP TABLE x",
        "a.b = 1 -- hidden",
        "a.b /* hidden */ = 1",
        "a.b IN (SELECT 1)",
        "EXISTS (SELECT 1 FROM t)",
        "SELECT 1",
        "DROP TABLE x",
        "DELETE FROM x",
        "GRANT ALL ON x TO y",
        "VACUUM",
        "*",
        "a.*",
        "COUNT(*)",
        "SUM(a.b)",
        "ROW_NUMBER() OVER (ORDER BY a.b)",
        "a.b AS c",
        "a.b =",
        "",
    ],
)
def test_only_single_scalar_expressions_pass(text: str) -> None:
    with pytest.raises(ExprProblem):
        parse_scalar(text)


def test_statement_smuggling_says_why() -> None:
    with pytest.raises(ExprProblem, match="';' ends a statement") as info:
        parse_scalar("1=1; DROP TABLE x")
    assert info.value.offset == 3


TYPES = {
    "c": {
        "id": "bigint",
        "name": "varchar(255)",
        "amt": "numeric(12,2)",
        "ts": "timestamp",
        "code": "char(2)",
    },
    "t": {"name": "varchar(100)"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("c.id", "bigint"),
        ("c.name || ' / ' || COALESCE(t.name, '?')", "varchar(358)"),
        ("CASE WHEN c.id = 1 THEN 'active' ELSE 'inactive' END", "varchar(8)"),
        ("COALESCE(c.code, c.name)", "varchar(255)"),
        ("c.amt * 2", "numeric(22,2)"),
        ("c.id + 1", "bigint"),
        ("1.50", "numeric(3,2)"),
        ("c.id = 1", "boolean"),
        ("CAST(c.id AS varchar(20))", "varchar(20)"),
        ("UPPER(c.name)", "varchar(255)"),
        ("SUBSTRING(c.name, 1, 10)", "varchar(10)"),
        ("DATE_TRUNC('day', c.ts)", "timestamp"),
        ("GETDATE()", "timestamp"),
        ("c.code || c.id", "varchar(22)"),
        ("repeat(c.name, 1000)", None),
        ("NULL", None),
        ("CAST(c.id AS varchar)", None),
        ("COALESCE(c.id, c.name)", None),
    ],
)
def test_inferred_types(text: str, expected: str | None) -> None:
    tree = sqlglot.parse_one(text, read="redshift")
    if expected is None:
        with pytest.raises(InferenceProblem):
            infer_type(tree, TYPES)
    else:
        assert infer_type(tree, TYPES) == expected


def test_long_concatenations_are_capped_at_varchar_max() -> None:
    types = {"c": {"a": "varchar(65535)", "b": "varchar(10)"}}
    assert infer_type(sqlglot.parse_one("c.a || c.b", read="redshift"), types) == "varchar(65535)"


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("cron(0/30 * * * ? *)", True),
        ("cron(0 2 ? * MON-FRI *)", True),
        ("rate(1 hour)", True),
        ("rate(15 minutes)", True),
        ("cron(*/5 * * * *)", False),
        ("cron(0 2 * * * *)", False),
        ("rate(1 hours)", False),
        ("rate(fast)", False),
    ],
)
def test_schedule_expressions(expression: str, ok: bool) -> None:
    assert (schedule_problem(expression) is None) is ok


names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
type_texts = st.sampled_from(
    ["bigint", "varchar(255)", "numeric(12,2)", "timestamp", "char(1)", "boolean"]
)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(names, st.dictionaries(names, type_texts, min_size=1), min_size=1))
def test_catalog_round_trips_in_order(tables: dict[str, dict[str, str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yml"
        path.write_text(dump_catalog("staging", tables), encoding="utf-8")
        loaded = load_catalog(path)
    assert loaded == tables
    assert [list(cols) for cols in loaded.values()] == [list(cols) for cols in tables.values()]


def test_malformed_catalog_is_located(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yml"
    path.write_text("schema: staging\ntables:\n  companies:\n    id: 5\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_catalog(path)
    assert [(d.line, d.col) for d in info.value.diagnostics] == [(4, 9)]


def test_catalog_header_names_the_schema_it_describes() -> None:
    text = dump_catalog("landing", {"t": {"id": "bigint"}})
    assert text.splitlines()[0] == "# Written by cdcgen introspect: column types of schema landing."

"""The dialects write data types and identifiers through shortcuts
(cdcgen.render.shortcuts) that skip work sqlglot repeats on every call. They must write
exactly what sqlglot's own PostgreSQL and Redshift generators write, and leave the tree
as those do (Redshift rewrites TEXT to VARCHAR(MAX) in place)."""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp, parse_one
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.redshift import Redshift
from sqlglot.generator import Generator

from cdcgen.render import dollar, postgres, redshift, shortcuts
from cdcgen.sql import builders

DIALECTS = [
    (postgres.CdcPostgres, Postgres.Generator),
    (redshift.CdcRedshift, Redshift.Generator),
]

SPELLINGS = [
    "text",
    "text(20)",
    "varchar",
    "varchar(12)",
    "char(3)",
    "decimal(18, 4)",
    "numeric",
    "double precision",
    "float",
    "float(10)",
    "real",
    "int[]",
    "timestamp",
    "timestamptz",
    "boolean",
    "super",
    "my_type",
]


def _types() -> list[exp.DataType]:
    built = [exp.DataType.build(s, dialect="redshift", udt=True) for s in SPELLINGS]
    built += [exp.DataType.build(s, dialect="postgres", udt=True) for s in SPELLINGS]
    built += [exp.DataType(this=t) for t in exp.DType]
    built.append(exp.DataType(this=exp.DType.DOUBLE, expressions=[exp.Literal.number(10)]))
    built.append(exp.DataType(this=exp.DType.ENUM, expressions=[exp.Literal.string("a")]))
    return built


@pytest.mark.parametrize(("ours", "theirs"), DIALECTS, ids=["postgres", "redshift"])
def test_types_are_written_as_sqlglot_writes_them(ours: type, theirs: type) -> None:
    for _ in range(2):  # the second round is answered from the shortcut's memory
        for pretty in (False, True):
            mine, reference = ours().generator(pretty=pretty), ours().generator(pretty=pretty)
            for dtype in _types():
                a, b = dtype.copy(), dtype.copy()
                assert mine.datatype_sql(a) == theirs.datatype_sql(reference, b), repr(dtype)
                assert a == b, repr(dtype)  # the same in-place rewrite, or none
                assert mine.unsupported_messages == reference.unsupported_messages


def test_plain_type_questions_are_answered_as_is_type_answers_them() -> None:
    for dtype in _types():
        for asked in (exp.DType.SUPER, exp.DType.JSON, exp.DType.TEXT, exp.DType.VARCHAR):
            assert shortcuts.is_plain_type(dtype, asked) == dtype.is_type(asked), (dtype, asked)


def test_redshift_casts_are_written_as_sqlglot_writes_them() -> None:
    for pretty in (False, True):
        mine = redshift.CdcRedshift().generator(pretty=pretty)
        reference = redshift.CdcRedshift().generator(pretty=pretty)
        for dtype in [*_types(), exp.DataType.build("json")]:
            cast = exp.Cast(this=exp.column("x"), to=dtype)
            expected = Redshift.Generator.cast_sql(reference, cast.copy())
            assert mine.cast_sql(cast) == expected, repr(dtype)


LITERALS = [
    exp.Literal.string(s) for s in ["", "a", "it's", "a$$b", "$$", "a\nb", "line\nbreak", "\\"]
] + [exp.Literal.number(n) for n in ["0", "1", "-2", "3.25", "1e5"]]


@pytest.mark.parametrize(("ours", "theirs"), DIALECTS, ids=["postgres", "redshift"])
def test_literals_are_written_as_sqlglot_writes_them(ours: type, theirs: type) -> None:
    """The literal shortcut remembers what sqlglot's writer (behind render.dollar's $$
    rule) wrote for each text."""
    for _ in range(2):  # the second round is answered from the shortcut's memory
        for pretty in (False, True):
            mine, reference = ours().generator(pretty=pretty), ours().generator(pretty=pretty)
            for literal in LITERALS:
                expected = dollar.literal_sql(literal, partial(theirs.literal_sql, reference))
                assert mine.literal_sql(literal) == expected, (repr(literal), pretty)


NAMES = ["vendor_id", "VendorId", "user", "order", "timestamp", "open", "1st", 'a"b', "a\nb", ""]


@pytest.mark.parametrize(("ours", "theirs"), DIALECTS, ids=["postgres", "redshift"])
def test_identifiers_are_written_as_sqlglot_writes_them(ours: type, theirs: type) -> None:
    settings = [
        {"pretty": p, "identify": i, "normalize": n}
        for p in (False, True) for i in (False, True) for n in (False, True)
    ]
    for _ in range(2):  # the second round is answered from the shortcut's memory
        for kwargs in settings:
            mine, reference = ours().generator(**kwargs), ours().generator(**kwargs)
            for name in NAMES:
                for quoted in (False, True):
                    ident = exp.Identifier(this=name, quoted=quoted)
                    expected = theirs.identifier_sql(reference, ident)
                    assert mine.identifier_sql(ident) == expected, (name, quoted, kwargs)


lines = st.lists(st.text(alphabet=" ab\t", max_size=4), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    text=lines.map("\n".join),
    level=st.integers(0, 3),
    pad=st.one_of(st.none(), st.integers(0, 3)),
    skip_first=st.booleans(),
    skip_last=st.booleans(),
    pretty=st.booleans(),
)
def test_indent_is_sqlglots(
    text: str, level: int, pad: int | None, skip_first: bool, skip_last: bool, pretty: bool
) -> None:
    for ours, theirs in DIALECTS:
        gen = ours().generator(pretty=pretty)
        expected = theirs.indent(gen, text, level, pad, skip_first, skip_last)
        assert gen.indent(text, level, pad, skip_first, skip_last) == expected


def _columns() -> list[exp.Column]:
    made: list[exp.Column] = []
    for name in ["id", "user", "Mixed", "1st", 'q"t']:
        for table in [None, "s", "order", "T x"]:
            made.append(exp.column(name, table))
            made.append(exp.column(name, table, quoted=True))
    made.append(exp.column("id", "t", db="d", catalog="c"))
    made.append(exp.Column(this=exp.Star(), table=exp.to_identifier("t")))
    made.append(exp.Column(this=exp.to_identifier("id"), join_mark=True))
    for parts in (("this",), ("table",), ("this", "table")):
        commented = exp.column("id", "t")
        for part in parts:
            commented.args[part].add_comments([f"on {part}"])
        made.append(commented)
    return made


@pytest.mark.parametrize(("ours", "theirs"), DIALECTS, ids=["postgres", "redshift"])
def test_columns_are_written_as_sqlglot_writes_them(ours: type, theirs: type) -> None:
    for _ in range(2):  # the second round is answered from the shortcut's memory
        for pretty in (False, True):
            for comments in (False, True):
                mine = ours().generator(pretty=pretty, comments=comments)
                reference = ours().generator(pretty=pretty, comments=comments)
                for column in _columns():
                    expected = theirs.column_sql(reference, column)
                    assert mine.column_sql(column) == expected, repr(column)


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=6), table=st.one_of(st.none(), st.text(max_size=6)))
def test_columns_are_built_as_sqlglot_builds_them(name: str, table: str | None) -> None:
    """builders.col decides each name's quoting once; the node is exp.column's."""
    ours, theirs = builders.col(name, table), exp.column(name, table)
    assert repr(ours) == repr(theirs)
    assert ours.args.keys() == theirs.args.keys()


@pytest.mark.parametrize("how", ["left", "full", "inner", "cross"])
def test_joins_are_built_as_sqlglot_builds_them(how: str) -> None:
    """builders.joined makes the Join node Select.join(join_type=...) parses."""
    on = None if how == "cross" else exp.condition("a.x = b.x")

    def query() -> exp.Select:
        return exp.select("*").from_("a")

    ours = query().join(
        builders.joined(exp.to_table("b"), how), on=on and on.copy(), copy=False
    )
    theirs = query().join(exp.to_table("b"), on=on and on.copy(), join_type=how, copy=False)
    mine, reference = ours.args["joins"][0], theirs.args["joins"][0]
    assert {k: v for k, v in mine.args.items() if v is not None} == {
        k: v for k, v in reference.args.items() if v is not None
    }
    for dialect in (postgres.CdcPostgres, redshift.CdcRedshift):
        assert ours.sql(dialect=dialect) == theirs.sql(dialect=dialect)


STATEMENTS = [
    "SELECT a /* first */, b AS c -- trailing\nFROM s.t AS x /* table */ WHERE x.a = 1 AND NOT b IS NULL",
    "SELECT CASE WHEN a > 1 THEN 'x' ELSE NULL END, CAST(b AS DECIMAL(12, 2)), COALESCE(c, 0) FROM t",
    "INSERT INTO t (a, b) SELECT a, MAX(b) FROM u LEFT JOIN v ON u.a = v.a GROUP BY a",
    "CREATE TABLE s.t (a BIGINT NOT NULL, b VARCHAR(10)) DISTKEY(a) SORTKEY(a)",
    "UPDATE t SET a = a + 1 /* bump */ WHERE b IN (1, 2, 3)",
    "SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) FROM t UNION ALL SELECT 1 FROM u",
]


@pytest.mark.parametrize(("ours", "theirs"), DIALECTS, ids=["postgres", "redshift"])
def test_statements_are_written_as_sqlglots_sql_writes_them(ours: type, theirs: type) -> None:
    """The sql() shortcut (every node goes through it) writes what sqlglot's does."""

    class Reference(ours.Generator):  # type: ignore[name-defined,misc]
        sql = Generator.sql

    for text in STATEMENTS:
        tree = parse_one(text, read="redshift")
        for pretty in (False, True):
            for comments in (False, True):
                options = {"pretty": pretty, "comments": comments}
                expected = Reference(dialect=ours(), **options).generate(tree.copy())
                assert ours().generator(**options).generate(tree.copy()) == expected, text

"""The dialects write data types through a fast path (cdcgen.render.postgres.datatype_sql
and CdcRedshift's datatype_sql) that skips sqlglot's per-call ``is_type`` work. It must
write every type exactly as sqlglot's own PostgreSQL and Redshift rules would, and
leave the tree as they would (Redshift rewrites TEXT to VARCHAR(MAX) in place)."""

from __future__ import annotations

import pytest
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.redshift import Redshift

from cdcgen.render import postgres, redshift

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


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (postgres.CdcPostgres, Postgres.Generator.datatype_sql),
        (redshift.CdcRedshift, Redshift.Generator.datatype_sql),
    ],
    ids=["postgres", "redshift"],
)
def test_types_are_written_as_sqlglot_writes_them(ours: type, theirs: object) -> None:
    for pretty in (False, True):
        mine, reference = ours().generator(pretty=pretty), ours().generator(pretty=pretty)
        for dtype in _types():
            a, b = dtype.copy(), dtype.copy()
            assert mine.datatype_sql(a) == theirs(reference, b), repr(dtype)  # type: ignore[operator]
            assert a == b, repr(dtype)  # the same in-place rewrite, or none
            assert mine.unsupported_messages == reference.unsupported_messages

"""Shortcuts both dialect generators take through sqlglot's generic generator: the
same text as sqlglot's own methods, without work that is repeated tens of thousands
of times a build (tests/test_render_shortcuts.py holds each equal to sqlglot's)."""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.generator import Generator

#: The types sqlglot's PostgreSQL datatype_sql writes its own way; it asks `is_type(...)`
#: of each (building a DataType per question), and every other type falls through to
#: the generic writer.
_POSTGRES_OWN_TYPES = frozenset(
    {exp.DType.ARRAY, exp.DType.ENUM, exp.DType.DOUBLE, exp.DType.FLOAT}
)


def datatype_sql(gen: Any, expression: exp.DataType) -> str:
    """sqlglot's PostgreSQL datatype_sql, without its per-call DataType building (the
    generators write some 10,000 types in a vendor build). For a type without
    parameters ``is_type(T)`` means ``this == T``."""
    if expression.this in _POSTGRES_OWN_TYPES:
        return Postgres.Generator.datatype_sql(gen, expression)  # type: ignore[no-any-return]
    return Generator.datatype_sql(gen, expression)


#: (generator class, pretty, name, quoted) -> the identifier as written
_IDENTIFIERS: dict[tuple[type, bool, str, bool], str] = {}


def identifier_sql(gen: Any, expression: exp.Identifier) -> str:
    """sqlglot's identifier_sql, remembered: without ``identify`` or ``normalize`` the
    text depends only on the generator's class (its quote characters and reserved
    words), ``pretty`` (a line break in a quoted name), the name and whether it is
    quoted, and a vendor build writes 100,000 identifiers of a few hundred names."""
    name = expression.this
    if gen.identify or gen.normalize or not isinstance(name, str):
        return Generator.identifier_sql(gen, expression)
    key = (type(gen), bool(gen.pretty), name, bool(expression.args.get("quoted")))
    text = _IDENTIFIERS.get(key)
    if text is None:
        text = _IDENTIFIERS[key] = Generator.identifier_sql(gen, expression)
    return text


def indent(
    gen: Any,
    sql: str,
    level: int = 0,
    pad: int | None = None,
    skip_first: bool = False,
    skip_last: bool = False,
) -> str:
    """sqlglot's pretty-printing indent (every line but a skipped first or last one gets
    the same run of spaces) as two string replacements instead of a split, a generator
    and a join: each level of nesting re-indents all the text below it, 270,000 lines
    a vendor build."""
    if not gen.pretty or not sql:
        return sql
    prefix = " " * (level * gen._indent + (gen.pad if pad is None else pad))
    if not prefix:
        return sql
    text = sql.replace("\n", "\n" + prefix)
    if not skip_first:
        text = prefix + text
    if skip_last:
        last = text.rfind("\n")
        if last >= 0:
            text = text[: last + 1] + text[last + 1 + len(prefix) :]
        elif not skip_first:  # one line, both first and last
            text = text[len(prefix) :]
    return text


def column_sql(gen: Any, expression: exp.Column) -> str:
    """sqlglot's column_sql for the shape cdcgen builds, ``[table.]name`` of identifiers
    without comments (50,000 of them a vendor build), from the remembered identifiers;
    any other column (db, catalog, a star, comments, join marks) goes to sqlglot."""
    args = expression.args
    this = args.get("this")
    table = args.get("table")
    if (
        type(this) is exp.Identifier
        and not this.comments
        and (table is None or (type(table) is exp.Identifier and not table.comments))
        and not args.get("db")
        and not args.get("catalog")
        and not args.get("join_mark")
        and not args.get("shadow")
    ):
        name = identifier_sql(gen, this)
        return f"{identifier_sql(gen, table)}.{name}" if table is not None else name
    return Generator.column_sql(gen, expression)

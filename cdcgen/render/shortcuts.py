"""Shortcuts both dialect generators take through sqlglot's generic generator: the
same text as sqlglot's own methods, without work that is repeated tens of thousands
of times a build (tests/test_render_shortcuts.py holds each equal to sqlglot's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.generator import Generator

from cdcgen.render import dollar

#: The types sqlglot's PostgreSQL datatype_sql writes its own way; it asks `is_type(...)`
#: of each (building a DataType per question), and every other type falls through to
#: the generic writer.
_POSTGRES_OWN_TYPES = frozenset(
    {exp.DType.ARRAY, exp.DType.ENUM, exp.DType.DOUBLE, exp.DType.FLOAT}
)


def datatype_sql(gen: Any, expression: exp.DataType) -> str:
    """sqlglot's PostgreSQL datatype_sql, without its per-call DataType building (the
    generators write some 10,000 types in a vendor build). For a type without
    parameters ``is_type(T)`` means ``this == T``. A plain type (see :func:`_type_key`)
    is written once per generator class and remembered."""
    key = _type_key(gen, expression)
    if key is not None:
        text = _TYPES.get(key)
        if text is None:
            text = _TYPES[key] = _datatype_sql(gen, expression)
        return text
    return _datatype_sql(gen, expression)


def is_plain_type(expression: exp.DataType, dtype: exp.DType) -> bool:
    """``expression.is_type(dtype)`` for a ``dtype`` without parameters (and not
    USER-DEFINED), as sqlglot decides it: ``this == dtype`` (a user-defined type, compared
    whole, never equals such a type), without building a DataType of ``dtype`` for every
    question."""
    return expression.this == dtype  # type: ignore[no-any-return]


def _datatype_sql(gen: Any, expression: exp.DataType) -> str:
    if expression.this in _POSTGRES_OWN_TYPES:
        return Postgres.Generator.datatype_sql(gen, expression)  # type: ignore[no-any-return]
    return Generator.datatype_sql(gen, expression)


#: _type_key -> the type as written
_TYPES: dict[tuple[object, ...], str] = {}


def _type_key(gen: Any, expression: exp.DataType) -> tuple[object, ...] | None:
    """What a plain type's text depends on: the generator's class, ``pretty`` (a line
    break in a string parameter), the type and its literal parameters (``varchar(64)``,
    ``decimal(12, 2)``, ``bigint``): the shape every spec type has. None for anything else (nested types, comments, other arguments),
    and for types whose writing may report a problem (sqlglot's parameter bounds,
    unsupported types): those are written every time, as sqlglot writes them."""
    args = expression.args
    this = args.get("this")
    if (
        type(expression) is not exp.DataType
        or not isinstance(this, exp.DType)
        or args.get("nested")
        or expression.comments
        or any(v is not None and k not in _PLAIN_TYPE_ARGS for k, v in args.items())
        or this in gen.TYPE_PARAM_SETTINGS
        or this in gen.UNSUPPORTED_TYPES
    ):
        return None
    params: list[tuple[str, bool]] = []
    for param in args.get("expressions") or ():
        value = param.args.get("this") if type(param) is exp.DataTypeParam else None
        if (
            param.comments
            or any(v is not None for k, v in param.args.items() if k != "this")
            or type(value) is not exp.Literal
            or value.comments
            or not isinstance(value.this, str)
        ):
            return None
        params.append((value.this, bool(value.args.get("is_string"))))
    return (type(gen), bool(gen.pretty), this, tuple(params))


_PLAIN_TYPE_ARGS = frozenset({"this", "expressions", "nested"})


#: (generator class, pretty, text, is a string) -> the literal as written
_LITERALS: dict[tuple[type, bool, str, bool], str] = {}


def literal_sql(
    gen: Any, expression: exp.Literal, write: Callable[[Any, exp.Literal], str]
) -> str:
    """``write(gen, expression)`` (the dialect's literal writer), remembered: a literal's text
    depends only on the generator's class (quotes, escapes), ``pretty`` (line breaks in a
    string), its text and whether it is a string, and a vendor build writes 40,000
    literals of a few hundred values."""
    args = expression.args
    this = args.get("this")
    if not isinstance(this, str) or len(args) > 2:
        return write(gen, expression)
    key = (type(gen), bool(gen.pretty), this, bool(args.get("is_string")))
    text = _LITERALS.get(key)
    if text is None:
        text = _LITERALS[key] = write(gen, expression)
    return text


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
        if gen.identify or gen.normalize:
            name = identifier_sql(gen, this)
            return f"{identifier_sql(gen, table)}.{name}" if table is not None else name
        key = (
            type(gen),
            bool(gen.pretty),
            this.this,
            bool(this.args.get("quoted")),
            None if table is None else table.this,
            table is not None and bool(table.args.get("quoted")),
        )
        text = _COLUMNS.get(key)
        if text is None:
            name = identifier_sql(gen, this)
            text = f"{identifier_sql(gen, table)}.{name}" if table is not None else name
            _COLUMNS[key] = text
        return text
    return Generator.column_sql(gen, expression)


#: (generator class, pretty, name, quoted, table name, quoted) -> the column as written
#: (without ``identify`` or ``normalize``: see identifier_sql)
_COLUMNS: dict[tuple[object, ...], str] = {}


#: sqlglot's generators dispatch through a per-class table of writers (``_dispatch``);
#: a sqlglot without it gets sqlglot's own ``sql`` (see :func:`sql`).
DISPATCHES = "_dispatch" in getattr(Generator, "__slots__", ())


def sql(gen: Any, expression: Any, key: str | None = None, comment: bool = True) -> str:
    """sqlglot's ``Generator.sql`` (every node written goes through it, 300,000 a
    dialect in a vendor build), minus a nested call for each ``sql(node, "arg")`` (the
    argument is written here, as sqlglot's second call writes it, comments included)
    and the call to ``maybe_comment`` for a node without comments (it returns the text
    unchanged)."""
    if not DISPATCHES:
        return Generator.sql(gen, expression, key, comment)  # type: ignore[no-any-return]
    if not expression:
        return ""
    if isinstance(expression, str):
        return expression
    if key:
        expression = expression.args.get(key)
        if not expression:
            return ""
        if isinstance(expression, str):
            return expression
        comment = True
    handler = gen._dispatch.get(expression.__class__)
    if handler:
        text = handler(gen, expression)
    elif isinstance(expression, exp.Func):
        text = gen.function_fallback_sql(expression)
    elif isinstance(expression, exp.Property):
        text = gen.property_sql(expression)
    else:
        raise ValueError(f"Unsupported expression type {expression.__class__.__name__}")
    if comment and gen.comments and expression.comments:
        return gen.maybe_comment(text, expression)  # type: ignore[no-any-return]
    return text  # type: ignore[no-any-return]


class GeneratorShortcuts:
    """The shortcut methods of both dialects' generators, first among their bases:
    ``class Generator(GeneratorShortcuts, Postgres.Generator)``."""

    # each shortcut takes the generator first: the function is the method itself
    sql = sql
    identifier_sql = identifier_sql
    column_sql = column_sql
    indent = indent

    def literal_sql(self, expression: exp.Literal) -> str:
        # remembered per text; see _write_literal
        return literal_sql(self, expression, _write_literal)


def _write_literal(gen: Any, expression: exp.Literal) -> str:
    # Procedure bodies are $$-quoted: never write $$ inside one (render.dollar). The
    # writer is the dialect's own, next after the shortcuts in the generator's bases.
    return dollar.literal_sql(expression, super(GeneratorShortcuts, gen).literal_sql)

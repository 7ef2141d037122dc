"""The typed conformance pass: annotate the type of every expression of every generated
Redshift statement (procedure bodies included) and check casts, implicit coercions,
assignments and function calls against Redshift's documented rules
(:mod:`cdcgen.check.redshift_types`).

Types come from the DDL in the same output (tables and views, i.e. the plan's source,
baseline, target and state tables as rendered; ``tests/test_types.py`` checks they equal
the plan's), the temporary tables the procedures create (in statement order, shared by a
pipeline's procedures, which run in one session), and each procedure's parameters and
declared variables. Reading the output rather than the plan keeps the pass usable on any
``.sql`` directory, hand-written fixtures included. sqlglot's
``annotate_types`` types the rest. An expression left untyped is not a finding; the share
of typed expressions is reported as ``coverage`` so that it cannot silently collapse.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import TypeAnnotator, annotate_types
from sqlglot.optimizer.scope import Scope, traverse_scope

from cdcgen.check import redshift_types as rt
from cdcgen.check.statements import (
    Finding,
    SplitError,
    Statement,
    parse_redshift,
    split_statements,
)

Columns = dict[str, exp.DataType]
Hit = tuple[str, str, exp.Expr]  # (message, doc page, the offending expression)


# --------------------------------------------------------------------------- catalog


@dataclass
class Catalog:
    """Column types of every table and view, keyed ``schema.table`` (temp tables: name)."""

    tables: dict[str, Columns] = field(default_factory=dict)

    def get(self, table: exp.Table) -> Columns | None:
        return self.tables.get(_table_key(table))

    def overlay(self) -> Catalog:
        """A copy a procedure can add its temporary tables to."""
        return Catalog(dict(self.tables))


def _table_key(table: exp.Table) -> str:
    return ".".join(p.name.lower() for p in table.parts)


def catalog_from_sql(texts: Iterable[str]) -> Catalog:
    """Tables and views created by the top-level statements of ``texts``, in order (so a
    view can read the tables and views before it), then the temporary tables the
    procedures create: one procedure reads those another created earlier in the same
    session (``sp_<p>_run`` calls detect, then sync, then apply), so they are shared."""
    catalog = Catalog()
    procedures: list[Statement] = []
    for text in texts:
        try:
            statements = split_statements(text)
        except SplitError:
            continue
        for stmt in statements:
            tree = _tree(stmt)
            if stmt.body:
                procedures.append(stmt)
            elif isinstance(tree, exp.Create):
                _record_created(tree, catalog, Context(catalog))
    # Twice: a procedure may read a temporary table of one that sorts after it.
    for _ in range(2):
        for proc in procedures:
            _record_temporary_tables(proc, catalog)
    return catalog


def _record_temporary_tables(proc: Statement, catalog: Catalog) -> None:
    ctx = Context(catalog, _procedure_variables(proc))
    for stmt in proc.body:
        if stmt.kind == "DECLARE":
            ctx.variables.update(_declared(stmt.sql))
        elif stmt.kind == "CREATE" and isinstance(tree := _tree(stmt), exp.Create):
            _record_created(tree, catalog, ctx)


def catalog_from_directory(directory: str | Path) -> Catalog:
    return catalog_from_sql(
        p.read_text(encoding="utf-8") for p in sorted(Path(directory).glob("*.sql"))
    )


def _record_created(tree: exp.Create, catalog: Catalog, ctx: Context) -> None:
    """Add the columns of a CREATE TABLE / TABLE AS / TABLE (LIKE) / VIEW to ``catalog``."""
    kind = (tree.args.get("kind") or "").upper()
    if kind not in ("TABLE", "VIEW"):
        return
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(table, exp.Table):
        return
    columns: Columns = {}
    if isinstance(target, exp.Schema):
        for item in target.expressions:
            if isinstance(item, exp.ColumnDef) and isinstance(item.args.get("kind"), exp.DataType):
                columns[item.name.lower()] = item.args["kind"]
            elif isinstance(item, exp.LikeProperty) and isinstance(item.this, exp.Table):
                columns.update(catalog.get(item.this) or {})
    query = tree.expression
    if isinstance(query, exp.Query):
        _annotate(query, ctx)
        for select in query.selects:
            if isinstance(select.type, exp.DataType) and _category(select) is not None:
                columns[select.alias_or_name.lower()] = select.type
    if columns:
        catalog.tables[_table_key(table)] = columns


# --------------------------------------------------------------------------- annotation


@dataclass
class Context:
    """What names mean while a statement is typed: tables, and PL/pgSQL variables."""

    catalog: Catalog
    variables: Columns = field(default_factory=dict)


def _tree(stmt: Statement) -> exp.Expr | None:
    if not stmt.is_sql:
        return None
    tree = parse_redshift(stmt.sql).tree
    # The parse is cached and shared with the other checks: type a copy.
    return tree.copy() if tree is not None else None


def _annotate(tree: exp.Expr, ctx: Context) -> None:
    """Type ``tree`` in place: columns from the catalog and variables, the rest by sqlglot."""
    _type_columns(tree, ctx)
    # An expression sqlglot cannot type stays untyped, which is not a finding.
    with contextlib.suppress(SqlglotError, KeyError, ValueError, TypeError, AttributeError):
        annotate_types(
            tree, dialect="redshift", expression_metadata=_METADATA, overwrite_types=False
        )


def _annotate_sub(annotator: TypeAnnotator, node: exp.Sub) -> exp.Sub:
    """``date - date`` is a number of days (INTEGER), not a DATE as sqlglot types it."""
    annotator._annotate_binary(node)
    if node.this.is_type(exp.DType.DATE) and node.expression.is_type(exp.DType.DATE):
        annotator._set_type(node, exp.DType.INT)
    return node


def _annotate_documented_call(annotator: TypeAnnotator, node: exp.Anonymous) -> exp.Anonymous:
    """Functions sqlglot does not know (OBJECT, JSON_SERIALIZE) return their documented type."""
    returns = rt.RETURNS.get(node.name.upper())
    typed = exp.DataType.build(returns, dialect="redshift") if returns else exp.DType.UNKNOWN
    annotator._set_type(node, typed)
    return node


_METADATA = {
    **Dialect.get_or_raise("redshift").EXPRESSION_METADATA,
    exp.Sub: {"annotator": _annotate_sub},
    exp.Anonymous: {"annotator": _annotate_documented_call},
    exp.TsOrDsDiff: {"returns": exp.DType.BIGINT},  # DATEDIFF [r_DATEDIFF_function]
}


def _type_columns(tree: exp.Expr, ctx: Context) -> None:
    try:
        scopes = traverse_scope(tree)
    except (SqlglotError, KeyError, ValueError, TypeError, AttributeError):
        scopes = []
    for scope in scopes:
        for column in scope.columns:
            _type_column(column, _scope_tables(scope), ctx)
    _type_targets(tree, ctx)
    fallback = _statement_tables(tree)
    for column in tree.find_all(exp.Column):
        if column.type is None:
            _type_column(column, fallback, ctx)


def _type_targets(tree: exp.Expr, ctx: Context) -> None:
    """Type the target column names of SET items and MERGE INSERT lists."""
    declared: Columns = {}
    for name, _, table in _assignments(tree):
        if (found := (ctx.catalog.get(table) or {}).get(name.lower())) is not None:
            declared[name] = found
    if not declared:
        return
    for item in tree.find_all(exp.EQ, exp.Tuple, exp.Schema):
        targets = [item.this] if isinstance(item, exp.EQ) else item.expressions
        for target in targets:
            if isinstance(target, exp.Column) and not target.table and target.name in declared:
                target.type = declared[target.name]


def _scope_tables(scope: Scope) -> dict[str, exp.Table | None]:
    """Alias -> physical table of one scope (None for derived tables and CTEs)."""
    return {
        alias: source if isinstance(source, exp.Table) else None
        for alias, source in scope.sources.items()
    }


def _statement_tables(tree: exp.Expr) -> dict[str, exp.Table | None]:
    """Alias -> table over the whole statement (MERGE/UPDATE targets are in no scope);
    an alias naming two different tables is ambiguous and left out."""
    tables: dict[str, exp.Table | None] = {}
    for table in tree.find_all(exp.Table):
        alias = table.alias_or_name.lower()
        if alias in tables and tables[alias] is not None and tables[alias] != table:
            tables[alias] = None
        else:
            tables.setdefault(alias, table)
    return tables


def _type_column(column: exp.Column, tables: dict[str, exp.Table | None], ctx: Context) -> None:
    qualifier = column.table.lower()
    if column.args.get("db") is not None:
        # alias.super_column."key": navigation into a SUPER value yields SUPER
        base = _lookup(tables.get(column.text("db").lower()), qualifier, ctx)
        if base is not None and _category_of_type(base) == rt.SUPER:
            column.type = exp.DataType.build("SUPER", dialect="redshift")
        return
    if qualifier:
        found = _lookup(tables.get(qualifier), column.name.lower(), ctx)
    else:
        found = ctx.variables.get(column.name.lower())
        physical = [t for t in tables.values() if t is not None]
        if found is None and len(tables) == 1 and len(physical) == 1:
            found = _lookup(physical[0], column.name.lower(), ctx)
    if found is not None:
        column.type = found


def _lookup(table: exp.Table | None, name: str, ctx: Context) -> exp.DataType | None:
    if table is None:
        return None
    columns = ctx.catalog.get(table)
    return columns.get(name) if columns else None


# --------------------------------------------------------------------------- categories

_LITERAL = "literal"  # a quoted literal: Redshift converts it to the type it meets


def _category_of_type(data_type: exp.DataType | None) -> str | None:
    if not isinstance(data_type, exp.DataType):
        return None
    return rt.CATEGORY_OF.get(data_type.this)


def _category(node: exp.Expr) -> str | None:
    """The Redshift category of an expression's type, None when unknown."""
    node = _unwrap(node)
    if isinstance(node, exp.Null):
        return rt.NULL
    if isinstance(node, exp.Literal) and node.is_string:
        return _LITERAL
    return _category_of_type(node.type)


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, (exp.Paren, exp.Alias)):
        node = node.this
    return node


def _is_typed(node: exp.Expr) -> bool:
    return _category(node) is not None


def _meet(a: str | None, b: str | None) -> bool:
    """False only when both categories are known and Redshift cannot reconcile them."""
    if a is None or b is None or _LITERAL in (a, b) or rt.NULL in (a, b):
        return True
    return rt.comparable(a, b)


def _assignable(value: str | None, column: str | None) -> bool:
    if value is None or column is None or value in (_LITERAL, rt.NULL):
        return True
    return rt.converts_implicitly(value, column) or (value in rt.NUMERICS and column in rt.NUMERICS)


# --------------------------------------------------------------------------- rules


def _up(category: str | None) -> str:
    """A category as messages spell it."""
    return (category or "unknown").upper()


class Nodes:
    """Every node of one statement tree, walked once and shared by the rules."""

    def __init__(self, root: exp.Expr):
        self.root = root
        self.nodes = list(root.walk())

    def find_all(self, *kinds: type[exp.Expr]) -> Iterator[Any]:
        return (n for n in self.nodes if isinstance(n, kinds))


Checker = Callable[[Nodes, Context], Iterator[Hit]]
_MATRIX = "c_Supported_data_types#r_Type_conversion"


def cast_conversion(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """Every CAST is a conversion in Redshift's matrix (no BOOLEAN to a character type)."""
    for cast in tree.find_all(exp.Cast):
        source, target = _category(cast.this), _category_of_type(cast.to)
        if source in (None, _LITERAL) or target is None or rt.casts(source, target):
            continue
        doc = "r_CAST_function" if source != rt.BOOLEAN else _MATRIX
        yield (
            f"CAST of {_up(source)} to {_up(target)} is not a Redshift conversion: {_sql(cast)}",
            doc,
            cast,
        )


def super_through_varchar(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """A SUPER value read through VARCHAR into another type: cast errors on SUPER become
    NULL, so the detour can turn a bad value into a silent NULL; cast straight to the type."""
    for outer in tree.find_all(exp.Cast):
        inner = _unwrap(outer.this)
        if not isinstance(inner, exp.Cast):
            continue
        if (
            _category(inner.this) == rt.SUPER
            and _category_of_type(inner.to) in rt.STRINGS
            and _category_of_type(outer.to) not in (*rt.STRINGS, None)
        ):
            yield (
                f"SUPER read through VARCHAR into {_up(_category_of_type(outer.to))}: {_sql(outer)}",
                "limitations-super",
                outer,
            )


_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)


def comparison_types(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """Both sides of a comparison (and IN lists) convert to one type."""
    for node in tree.find_all(*_COMPARISONS):
        left, right = _category(node.this), _category(node.expression)
        if not _meet(left, right):
            yield f"compares {_up(left)} with {_up(right)}: {_sql(node)}", _MATRIX, node
    for node in tree.find_all(exp.In):
        left = _category(node.this)
        for item in node.expressions:
            if not _meet(left, _category(item)):
                yield (
                    f"IN compares {_up(left)} with {_up(_category(item))}: {_sql(node)}",
                    _MATRIX,
                    node,
                )


def case_branches(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """The results of a CASE convert to one type."""
    for case in tree.find_all(exp.Case):
        results = [w.args.get("true") for w in case.args.get("ifs") or []]
        results.append(case.args.get("default"))
        yield from _one_type([r for r in results if r is not None], "CASE branches", case)


def coalesce_arguments(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """The arguments of COALESCE (NVL) convert to one type."""
    for node in tree.find_all(exp.Coalesce):
        yield from _one_type([node.this, *node.expressions], "COALESCE arguments", node)


def _one_type(values: list[exp.Expr], what: str, node: exp.Expr) -> Iterator[Hit]:
    categories = [c for c in map(_category, values) if c not in (None, _LITERAL, rt.NULL)]
    for other in categories[1:]:
        if not rt.comparable(categories[0], other):
            message = f"{what} mix {_up(categories[0])} and {_up(other)}: {_sql(node)}"
            yield message, _MATRIX, node
            return


def union_columns(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """Column i of every branch of a UNION/EXCEPT/INTERSECT converts to one type."""
    for setop in tree.find_all(exp.SetOperation):
        left, right = setop.left, setop.right
        if not isinstance(left, exp.Query) or not isinstance(right, exp.Query):
            continue
        for i, (a, b) in enumerate(zip(left.selects, right.selects, strict=False), start=1):
            ca, cb = _category(a), _category(b)
            if not _meet(ca, cb):
                yield f"UNION column {i} mixes {_up(ca)} and {_up(cb)}", _MATRIX, a


def assignment_types(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """Values inserted or assigned (INSERT, UPDATE SET, MERGE) convert implicitly to the
    declared column type."""
    for column, value, table in _assignments(tree.root):
        declared = (ctx.catalog.get(table) or {}).get(column.lower())
        target, source = _category_of_type(declared), _category(value)
        if not _assignable(source, target):
            yield (
                f"{_up(source)} value assigned to {_table_key(table)}.{column} "
                f"({_up(target)}): {_sql(value)}",
                _MATRIX,
                value,
            )


def _assignments(tree: exp.Expr) -> Iterator[tuple[str, exp.Expr, exp.Table]]:
    """(column, value, table) of INSERT ... SELECT/VALUES, UPDATE SET and MERGE actions."""
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        table, names = tree.this.this, [c.name for c in tree.this.expressions]
        for row in _inserted_rows(tree.expression):
            yield from ((n, v, table) for n, v in zip(names, row, strict=False))
    if isinstance(tree, exp.Update) and isinstance(tree.this, exp.Table):
        yield from _set_items(tree.args.get("expressions") or [], tree.this)
    if isinstance(tree, exp.Merge) and isinstance(tree.this, exp.Table):
        yield from _merge_assignments(tree)


def _inserted_rows(source: exp.Expr | None) -> Iterator[list[exp.Expr]]:
    if isinstance(source, exp.Values):
        for row in source.expressions:
            yield list(row.expressions) if isinstance(row, exp.Tuple) else [row]
    elif isinstance(source, exp.Query) and not isinstance(source, exp.SetOperation):
        yield list(source.selects)


def _set_items(
    items: list[exp.Expr], table: exp.Table
) -> Iterator[tuple[str, exp.Expr, exp.Table]]:
    for item in items:
        if isinstance(item, exp.EQ) and isinstance(item.this, exp.Column):
            yield item.this.name, item.expression, table


def _merge_assignments(merge: exp.Merge) -> Iterator[tuple[str, exp.Expr, exp.Table]]:
    table = merge.this
    whens = merge.args.get("whens")
    for when in whens.expressions if whens is not None else []:
        action = when.args.get("then")
        if isinstance(action, exp.Update):
            yield from _set_items(action.args.get("expressions") or [], table)
        elif isinstance(action, exp.Insert) and isinstance(action.this, exp.Tuple):
            names = [c.name for c in action.this.expressions]
            values = action.expression
            row = values.expressions if isinstance(values, exp.Tuple) else []
            yield from ((n, v, table) for n, v in zip(names, row, strict=False))


def function_signatures(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """MD5 takes a character string; DATEDIFF a documented date part and two date/time
    values; JSON_SERIALIZE and JSON_PARSE their documented argument types."""
    for node in tree.find_all(exp.MD5, exp.TsOrDsDiff, exp.DateDiff, exp.ParseJSON, exp.Anonymous):
        name = _function_name(node)
        signature = rt.SIGNATURES.get(name)
        if signature is None:
            continue
        args = _call_args(node)
        if name == "DATEDIFF":
            part = node.text("unit").lower()
            if part and part not in rt.DATEPARTS:
                yield f"DATEDIFF date part {part!r} is not documented", signature.doc, node
        for arg, accepted in zip(args, signature.args, strict=False):
            category = _category(arg)
            if accepted and not any(_assignable(category, a) for a in accepted):
                takes = "/".join(sorted(_up(a) for a in accepted))
                message = f"{name} argument of type {_up(category)} (takes {takes}): {_sql(node)}"
                yield message, signature.doc, node


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    if isinstance(node, (exp.TsOrDsDiff, exp.DateDiff)):
        return "DATEDIFF"
    if isinstance(node, exp.ParseJSON):
        return "JSON_PARSE"
    return node.key.upper()


def _call_args(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if isinstance(node, (exp.TsOrDsDiff, exp.DateDiff)):
        # DATEDIFF(part, start, end) parses as diff(this=end, expression=start)
        return [exp.Null(), node.expression, node.this]
    return [node.this]


def object_arguments(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """OBJECT('k', v, ...): keys are string literals, values are no date/time type."""
    for node in tree.find_all(exp.Anonymous):
        if node.name.upper() != "OBJECT":
            continue
        args = list(node.expressions)
        for key, value in zip(args[::2], args[1::2], strict=False):
            if not (isinstance(key, exp.Literal) and key.is_string):
                yield f"OBJECT key is not a string literal: {_sql(key)}", rt.OBJECT_DOC, key
            category = _category(value)
            if category in rt.OBJECT_REJECTED_VALUES:
                message = f"OBJECT value of type {_up(category)} (cast date/time to VARCHAR first)"
                yield f"{message}: {_sql(value)}", rt.OBJECT_DOC, value


def json_serialize_as_text(tree: Nodes, ctx: Context) -> Iterator[Hit]:
    """JSON_SERIALIZE returns VARCHAR and fails beyond 65,535 bytes: spliced into more text
    (``||``, CONCAT, also through SUBSTRING/LEN) or stored in a column, it caps a whole
    row image at 64 KB although SUPER holds 16 MB."""
    cap = f"VARCHAR, at most {rt.JSON_SERIALIZE_MAX_BYTES:,} bytes"
    for node in tree.find_all(exp.Anonymous):
        if node.name.upper() == "JSON_SERIALIZE" and (splice := _splice_of(node)) is not None:
            yield (
                f"JSON_SERIALIZE result spliced into text ({cap}): {_sql(splice)}",
                "JSON_SERIALIZE",
                node,
            )
    for column, value, table in _assignments(tree.root):
        inner = _unwrap(value)
        if isinstance(inner, exp.Anonymous) and inner.name.upper() == "JSON_SERIALIZE":
            where = f"{_table_key(table)}.{column}"
            yield (
                f"JSON_SERIALIZE result stored as text in {where} ({cap})",
                "JSON_SERIALIZE",
                value,
            )


def _splice_of(node: exp.Expr) -> exp.Expr | None:
    """The ``||``/CONCAT that ``node``'s value flows into, within its expression."""
    ancestor = node.parent
    while ancestor is not None and not isinstance(ancestor, (exp.Query, exp.Subquery)):
        if isinstance(ancestor, (exp.DPipe, exp.Concat, exp.ConcatWs)):
            return ancestor
        ancestor = ancestor.parent
    return None


@dataclass(frozen=True)
class TypeRule:
    id: str
    check: Checker
    doc: str  # the page the rule comes from; each hit may name a more precise one


TYPE_RULES: tuple[TypeRule, ...] = (
    TypeRule("type-cast", cast_conversion, _MATRIX),
    TypeRule("type-super-through-varchar", super_through_varchar, "limitations-super"),
    TypeRule("type-comparison", comparison_types, _MATRIX),
    TypeRule("type-case-branches", case_branches, _MATRIX),
    TypeRule("type-coalesce", coalesce_arguments, _MATRIX),
    TypeRule("type-union", union_columns, _MATRIX),
    TypeRule("type-assignment", assignment_types, _MATRIX),
    TypeRule("type-function", function_signatures, "r_MD5"),
    TypeRule("type-object", object_arguments, rt.OBJECT_DOC),
    TypeRule("type-json-serialize-text", json_serialize_as_text, "JSON_SERIALIZE"),
)
TYPE_RULES_BY_ID = {r.id: r for r in TYPE_RULES}


def _sql(node: exp.Expr, width: int = 100) -> str:
    text = " ".join(node.sql(dialect="redshift").split())
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- statements


@dataclass
class TypeReport:
    """Findings of the typed pass, and how many value expressions it could type."""

    findings: list[Finding] = field(default_factory=list)
    typed: int = 0
    total: int = 0

    @property
    def coverage(self) -> float:
        return self.typed / self.total if self.total else 1.0

    def add(self, other: TypeReport) -> None:
        self.findings += other.findings
        self.typed += other.typed
        self.total += other.total


_VALUE_NODES = (exp.Column, exp.Func, exp.Binary, exp.Unary, exp.Literal, exp.Cast)


def _count(tree: Nodes, report: TypeReport) -> None:
    for node in tree.find_all(*_VALUE_NODES):
        if isinstance(node, (exp.Connector, exp.Star)) or isinstance(
            node.parent, (exp.DataType, exp.DataTypeParam)
        ):
            continue  # AND/OR chains, *, and the 255 of VARCHAR(255) are not values
        report.total += 1
        report.typed += _is_typed(node)


def check_types(
    sql_text: str, file: str = "<string>", catalog: Catalog | None = None
) -> TypeReport:
    """The typed pass over one file's text, procedure bodies included. ``catalog`` holds
    the tables and views of the whole output; tables created in the text are added."""
    report = TypeReport()
    try:
        statements = split_statements(sql_text, file)
    except SplitError:
        return report  # the conformance splitter already reports it
    base = (catalog or Catalog()).overlay()
    for stmt in statements:
        ctx = Context(base)
        if stmt.body:
            ctx = Context(base.overlay(), _procedure_variables(stmt))
        for inner in stmt.walk():
            report.add(_check_statement(inner, ctx))
    return report


def _check_statement(stmt: Statement, ctx: Context) -> TypeReport:
    report = TypeReport()
    if stmt.kind == "DECLARE":
        ctx.variables.update(_declared(stmt.sql))
        return report
    tree = _tree(stmt)
    if tree is None or (stmt.body and isinstance(tree, exp.Create) and tree.kind == "PROCEDURE"):
        return report
    _annotate(tree, ctx)
    if isinstance(tree, exp.Create):
        _record_created(tree, ctx.catalog, ctx)
    nodes = Nodes(tree)
    _count(nodes, report)
    for rule in TYPE_RULES:
        for message, doc, node in rule.check(nodes, ctx):
            finding = Finding(rule.id, f"{message} [{doc}]", stmt, _line_of_node(stmt, node))
            report.findings.append(finding)
    return report


def _line_of_node(stmt: Statement, node: exp.Expr) -> int:
    """File line of ``node``: sqlglot keeps the line of each identifier and literal token."""
    for part in node.walk():
        line = part.meta.get("line") if part.meta else None
        if isinstance(line, int):
            return stmt.line + line - 1
    return stmt.line


_PARAMS = re.compile(r"PROCEDURE\s+[\w.\"]+\s*\((?P<params>[^)]*(?:\([^)]*\)[^)]*)*)\)", re.I)
_DECLARATION = re.compile(
    r"^\s*(?P<name>\w+)\s+(?:CONSTANT\s+)?(?P<type>.+?)\s*(?:(?::=|=|DEFAULT)\s*.*)?$",
    re.I | re.S,
)


def _procedure_variables(stmt: Statement) -> Columns:
    """``name TYPE`` parameters of a CREATE PROCEDURE (IN/OUT/INOUT modes ignored)."""
    match = _PARAMS.search(stmt.sql.split("$", 1)[0])
    variables: Columns = {}
    for param in _split_top(match.group("params")) if match else []:
        words = re.sub(r"^\s*(INOUT|IN|OUT)\s+", "", param, flags=re.I)
        variables.update(_declared(words))
    return variables


def _declared(text: str) -> Columns:
    match = _DECLARATION.match(text)
    if not match:
        return {}
    try:
        return {match["name"].lower(): exp.DataType.build(match["type"], dialect="redshift")}
    except (SqlglotError, ValueError):
        return {}


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def check_types_files(files: dict[str, str]) -> TypeReport:
    """The typed pass over one rendered output, ``{file name: SQL}``: the catalog is built
    from all of its files (in name order, as they are deployed), then each file is typed."""
    names = sorted(n for n in files if n.endswith(".sql"))
    catalog = catalog_from_sql(files[n] for n in names)
    report = TypeReport()
    for name in names:
        report.add(check_types(files[name], name, catalog))
    return report


def check_types_directory(directory: str | Path) -> TypeReport:
    """The typed pass over every ``*.sql`` file of one rendered output directory."""
    paths = sorted(Path(directory).glob("*.sql"))
    return check_types_files({str(p): p.read_text(encoding="utf-8") for p in paths})

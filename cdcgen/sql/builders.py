"""Small constructors for sqlglot trees, so statement modules read like SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import TypeVar

from sqlglot import exp

from cdcgen.plan.model import Table

# Generated columns carry a double underscore, which spec names may not use.
OP = "cdc__op"
RANK = "cdc__rank"

E = TypeVar("E", bound=exp.Expression)


def old(name: str) -> str:
    return f"old__{name}"


def chg(name: str) -> str:
    return f"chg__{name}"


@cache
def _quoted(name: str) -> bool:
    """Whether sqlglot's ``to_identifier`` quotes ``name`` (not a plain identifier)."""
    return exp.to_identifier(name).args["quoted"]  # type: ignore[union-attr,no-any-return]


def col(name: str, table: str | None = None) -> exp.Column:
    """``exp.column(name, table)``, with each name's quoting decided once (a vendor build
    makes 25,000 columns of a few hundred names)."""
    if type(name) is not str or (table is not None and type(table) is not str):
        return exp.column(name, table)
    return exp.Column(
        this=exp.Identifier(this=name, quoted=_quoted(name)),
        table=None if table is None else exp.Identifier(this=table, quoted=_quoted(table)),
        db=None,
        catalog=None,
    )


def lit(value: str | int | bool | None) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def var(name: str) -> exp.Column:
    """A PL/pgSQL variable or parameter reference (``p_run_id``)."""
    return exp.column(name)


def _unplaced(tree: E) -> E:
    """``tree`` without the parser's source positions (``meta``: line, column, offsets).
    Rendering never reads them, and a node holding them is copied with a deep copy of
    that dict: a tenth of a build went to copying the positions of cached types."""
    for node in tree.walk():
        node._meta = None
    return tree


@cache
def _parsed_table(name: str) -> exp.Table:
    return _unplaced(exp.to_table(name))


def table(t: Table | str, alias: str | None = None) -> exp.Table:
    """A table reference; each name is parsed once (a build names tables ~1,000 times)."""
    node = _parsed_table(str(t)).copy()
    if alias:
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return node


@cache
def _parsed_type(type_: str) -> exp.DataType:
    return _unplaced(exp.DataType.build(type_, dialect="redshift"))


def data_type(type_: str) -> exp.DataType:
    """A spec type (Redshift spelling) as a tree; each type string is parsed once."""
    return _parsed_type(type_).copy()


def cast(e: exp.Expression, type_: str) -> exp.Cast:
    return exp.Cast(this=e, to=data_type(type_))


def as_text(e: exp.Expression, type_: str, length: int) -> exp.Expression:
    """A value as VARCHAR text. Redshift converts only numeric and date/time values to
    character strings (c_Supported_data_types, type compatibility and conversion):
    CAST(boolean AS VARCHAR) fails at planning. Booleans are spelled out as 'true' /
    'false', which is also what PostgreSQL's cast gives, so both dialects agree."""
    if type_.lower().startswith("bool"):
        return case([(e, lit("true")), (exp.Not(this=e.copy()), lit("false"))])
    return cast(e, f"varchar({length})")


def eq(a: exp.Expression, b: exp.Expression) -> exp.EQ:
    return exp.EQ(this=a, expression=b)


def and_all(conditions: Iterable[exp.Expression]) -> exp.Expression:
    conds = list(conditions)
    if not conds:
        return exp.true()
    return exp.and_(*conds, copy=False) if len(conds) > 1 else conds[0]  # type: ignore[return-value]


def or_all(conditions: Iterable[exp.Expression]) -> exp.Expression:
    conds = list(conditions)
    if not conds:
        return exp.false()
    return exp.or_(*conds, copy=False) if len(conds) > 1 else conds[0]  # type: ignore[return-value]


def paren(e: exp.Expression) -> exp.Paren:
    return exp.Paren(this=e)


def is_null(e: exp.Expression) -> exp.Is:
    return exp.Is(this=e, expression=exp.null())


def not_null(e: exp.Expression) -> exp.Not:
    return exp.Not(this=is_null(e))


def keys_equal(
    keys: Sequence[str], left: str, right: str, right_prefix: str = ""
) -> exp.Expression:
    return and_all(eq(col(k, left), col(right_prefix + k, right)) for k in keys)


def differs(a: exp.Expression, b: exp.Expression) -> exp.Case:
    """Null-safe inequality, spelled out: Redshift has no IS DISTINCT FROM."""
    both_null = exp.and_(is_null(a.copy()), is_null(b.copy()), copy=False)
    same = exp.or_(eq(a, b), paren(both_null), copy=False)  # type: ignore[arg-type]
    return exp.Case(ifs=[exp.If(this=same, true=exp.false())], default=exp.true())


def case(
    branches: Sequence[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None
) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in branches], default=default)


def next_in_sequence(
    t: Table | str, column: str, order: Sequence[exp.Ordered]
) -> exp.Add:
    """max(column) + ROW_NUMBER(): gapless and ordered because the run holds its lock
    (Redshift IDENTITY is neither)."""
    last = exp.Subquery(
        this=exp.select(exp.Coalesce(this=exp.Max(this=col(column)), expressions=[lit(0)])).from_(
            table(t), copy=False
        )
    )
    return exp.Add(
        this=last, expression=exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=list(order)))
    )


def count_if(condition: exp.Expression) -> exp.Expression:
    """COALESCE(SUM(CASE WHEN cond THEN 1 ELSE 0 END), 0): portable and never NULL."""
    summed = exp.Sum(this=case([(condition, lit(1))], lit(0)))
    return exp.Coalesce(this=summed, expressions=[lit(0)])


def op_in(alias: str | None, *ops: str) -> exp.Expression:
    column = col(OP, alias)
    if len(ops) == 1:
        return eq(column, lit(ops[0]))
    return exp.In(this=column, expressions=[lit(o) for o in ops])


def rebind(
    expression: exp.Expression, mapping: dict[str, tuple[str | None, str]]
) -> exp.Expression:
    """Point column references of some aliases elsewhere.

    ``mapping``: alias -> (new table alias or None, column name prefix). Used to
    evaluate a join condition against a change's old or new image.
    """

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.table in mapping:
            new_table, prefix = mapping[node.table]
            return col(prefix + node.name, new_table)
        return node

    return expression.copy().transform(visit)


def qualify_all(expression: exp.Expression, alias: str | None, prefix: str = "") -> exp.Expression:
    """Make every column reference ``alias.<prefix><name>`` (source-level expressions)."""

    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return col(prefix + node.name, alias)
        return node

    return expression.copy().transform(visit)


def concat(parts: Sequence[exp.Expression]) -> exp.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True)
    return out


#: A join type as sqlglot's ``Select.join(join_type=...)`` parses it into the Join node.
_JOIN_TYPES: dict[str, dict[str, str]] = {
    "left": {"side": "LEFT"},
    "full": {"side": "FULL"},
    "inner": {"kind": "INNER"},
    "cross": {"kind": "CROSS"},
}


def position_in_list(listed: exp.Expression, name: str) -> exp.StrPosition:
    """Where ``name`` sits in a comma list such as ``changed_columns`` ('email,status'),
    0 when absent: ``POSITION(',name,' IN ',' || listed || ',')`` (r_POSITION), so a
    name is never found inside a longer one."""
    return exp.StrPosition(this=concat([lit(","), listed, lit(",")]), substr=lit(f",{name},"))


def joined(source: exp.Expression, how: str) -> exp.Join:
    """``source`` as a LEFT / FULL / INNER / CROSS join, for ``query.join(joined(source,
    "left"), on=...)``: the node ``join(source, join_type="left")`` makes, without
    sqlglot parsing the text ``FROM _ left JOIN _`` on every join (400 a vendor build)."""
    return exp.Join(this=source, **_JOIN_TYPES[how])


def create_temp_as(name: str, query: exp.Query) -> exp.Create:
    return exp.Create(
        this=table(name),
        kind="TABLE",
        expression=query,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def derived(query: exp.Expression | exp.Query, alias: str) -> exp.Subquery:
    """``(query) AS alias``: a derived table."""
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def insert(into: Table | str, columns: Sequence[str], query: exp.Query) -> exp.Insert:
    target = exp.Schema(this=table(into), expressions=[exp.to_identifier(c) for c in columns])
    return exp.Insert(this=target, expression=query)


def delete_using(target: Table, using: str, where: exp.Expression) -> exp.Delete:
    return exp.Delete(this=table(target), using=[table(using)], where=exp.Where(this=where))


def delete_changed(target: Table, changes: str, key: Sequence[str], *ops: str) -> exp.Delete:
    """``DELETE FROM target USING changes`` the rows whose key is a change's old image
    (``old__<key>``), for changes of ``ops`` (a delta or a diff)."""
    matched = [eq(col(k, target.name), col(old(k), changes)) for k in key]
    return delete_using(target, changes, and_all([*matched, op_in(changes, *ops)]))


def changed_rows(changes: str, columns: Sequence[str], *ops: str) -> exp.Select:
    """``SELECT columns FROM changes WHERE cdc__op IN (ops)``: the new images to insert."""
    return (
        exp.select(*[col(c) for c in columns])
        .from_(table(changes), copy=False)
        .where(op_in(None, *ops), copy=False)
    )


def update_from(
    target: Table, source: str, key: Sequence[str], columns: Sequence[str], where: exp.Expression
) -> exp.Update:
    """``UPDATE target SET c = source.c, … FROM source WHERE`` the keys match and ``where``
    holds: a plain-table source, as Redshift's UPDATE takes it, and only ``columns`` are
    written (a fact's unmapped columns keep their values)."""
    return exp.Update(
        this=table(target),
        expressions=[eq(col(c), col(c, source)) for c in columns],
        from_=exp.From(this=table(source)),
        where=exp.Where(
            this=and_all([*(eq(col(k, target.name), col(k, source)) for k in key), where])
        ),
    )


class DropTemp(exp.Expression):
    """DROP TABLE IF EXISTS for session temp tables, several in one statement
    (PostgreSQL pins each to pg_temp)."""

    arg_types = {"expressions": True}


def drop_temp(*names: str) -> DropTemp:
    """One statement for every temp table a procedure makes: a dropped table per
    statement cost a statement each (on Redshift, each is compiled and queued)."""
    return DropTemp(expressions=[exp.to_identifier(n) for n in names])


def rows_of(query: exp.Query, alias: str) -> exp.Subquery:
    """``(SELECT COUNT(*) FROM (query) AS alias)``: with a ``LIMIT 1`` query, 1 if it finds
    a row, else 0, reading one row at most (the run's probes)."""
    return exp.Subquery(
        this=exp.select(exp.Count(this=exp.Star())).from_(derived(query, alias), copy=False)
    )


class OnlyIf(exp.Expression):
    """Statements their procedure runs only while ``condition`` holds: PL/pgSQL over the
    procedure's variables, such as ``p_open_letters > 0``. The renderer wraps them in an
    ``IF`` with its own count of executed statements."""

    arg_types = {"expressions": True, "condition": True}


def only_if(condition: str, *statements: exp.Expression) -> OnlyIf:
    return OnlyIf(expressions=list(statements), condition=exp.Literal.string(condition))


class AnalyzeTemp(exp.Expression):
    """Statistics for a freshly filled temp table, so the next joins are planned for its
    real size. PostgreSQL: ``ANALYZE`` (a temp table has no statistics until then, and
    the planner guesses thousands of rows: whole-table joins). Redshift: nothing, as
    ``CREATE TEMP TABLE AS`` analyzes the table itself (r_ANALYZE, usage notes), unless
    the table was filled by INSERTs after it was made (``filled``): then both dialects
    analyze it."""

    arg_types = {"this": True, "expressions": False, "filled": False}


def analyze_temp(
    name: str, columns: Sequence[str] | None = None, *, filled: bool = False
) -> AnalyzeTemp:
    """``columns``: the ones later statements join or filter on (the row count is
    what matters most; statistics on every column of a wide table cost more than
    the plans they fix). ``filled``: rows came by INSERT, not by the CREATE AS."""
    cols = [exp.to_identifier(c) for c in columns] if columns else None
    return AnalyzeTemp(this=exp.to_identifier(name), expressions=cols, filled=filled or None)


def temp_table(
    name: str, query: exp.Query, analyze: Sequence[str] | None = None, *, drop: bool = True
) -> list[exp.Expression]:
    """Temp tables outlive a procedure call within a session: drop before creating
    (``drop=False``: the procedure dropped it already, with its others, see
    :func:`drop_temp`); analyze once filled (``analyze``: which columns; all when not
    given)."""
    first: list[exp.Expression] = [drop_temp(name)] if drop else []
    return [*first, create_temp_as(name, query), analyze_temp(name, analyze)]

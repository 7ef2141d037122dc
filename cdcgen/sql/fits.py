"""Does a staged value fit the baseline column it lands in?

An ETL may land staging wider than the spec declares (``varchar(1000)`` for a
``varchar(255)`` column, ``numeric(38,10)`` for ``numeric(12,2)``, ``bigint`` for
``smallint``). Storing such a value fails the whole run on both engines ("value too
long", "numeric field overflow"), naming no key, so one bad row would stop the
pipeline until someone edits it by hand. Detect tests every value first and sends the
row to the dead-letter table instead; the rest of the run goes through.

Widths are compared in the unit each engine declares VARCHAR in (Redshift: bytes,
PostgreSQL: characters), see :class:`cdcgen.sql.nodes.TextWidth`.
"""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

from cdcgen.sql import nodes
from cdcgen.sql.builders import data_type

#: inclusive integer ranges (r_Numeric_types201). BIGINT is left out: a staging column
#: wider than BIGINT would be a DECIMAL(38) key, which no ETL lands in practice, and the
#: test would cost a numeric comparison on every row of every bigint column.
_INTEGER_RANGES = {
    exp.DataType.Type.SMALLINT: (-32768, 32767),
    exp.DataType.Type.INT: (-2147483648, 2147483647),
}
#: DECIMAL's maximum precision on Redshift: nothing staged can be wider
_MAX_PRECISION = 38
_TEXT = {exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NVARCHAR,
         exp.DataType.Type.NCHAR}
_DECIMAL = {exp.DataType.Type.DECIMAL}


def _params(t: exp.DataType) -> list[int]:
    return [int(p.this.name) if isinstance(p.this, exp.Literal) else int(p.name)
            for p in t.expressions]


def _number(value: int | Decimal) -> exp.Expression:
    literal = exp.Literal.number(str(value).lstrip("-"))
    return exp.Neg(this=literal) if value < 0 else literal


def misfit(value: exp.Expression, type_: str, where: str) -> tuple[exp.Expression, exp.Expression] | None:
    """(condition, reason) for a value that cannot be stored as ``type_``; None when any
    value of a matching staging column fits (dates, timestamps, booleans, floats). The
    condition is never NULL: a NULL value fits (and a NULL test would make a whole row
    "not valid" inside NOT (...)).

    >>> misfit(exp.column("name", "n"), "varchar(255)", "companies.name")[0].sql()
    'COALESCE((TEXT_WIDTH(n.name) > 255), FALSE)'
    """
    test = _misfit(value, type_, where)
    if test is None:
        return None
    condition, reason = test
    return exp.Coalesce(this=exp.Paren(this=condition), expressions=[exp.false()]), reason


def _misfit(value: exp.Expression, type_: str, where: str) -> tuple[exp.Expression, exp.Expression] | None:
    t = data_type(type_)
    if t.this in _TEXT and t.expressions:
        (width,) = _params(t)[:1]
        measured = nodes.TextWidth(this=value.copy())
        reason: exp.Expression = exp.DPipe(
            this=exp.DPipe(
                this=exp.Literal.string(f"value too long for {where} ("),
                expression=exp.Cast(this=measured.copy(), to=data_type("varchar(20)")),
            ),
            expression=exp.Literal.string(f" > {width})"),
        )
        return exp.GT(this=measured, expression=exp.Literal.number(width)), reason
    if t.this in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[t.this]
        # a fraction rounds half away from zero when stored: x.5 past a limit overflows
        below = exp.LTE(this=value.copy(), expression=_number(low - Decimal("0.5")))
        above = exp.GTE(this=value.copy(), expression=_number(high + Decimal("0.5")))
        reason = exp.Literal.string(f"value out of range for {where} ({t.sql('redshift').lower()})")
        outside = exp.Or(this=below, expression=above)
        return outside, reason
    if t.this in _DECIMAL and t.expressions:
        precision, scale = [*_params(t), 0][:2]
        if precision >= _MAX_PRECISION:
            return None
        # the smallest magnitude that rounds (half away from zero) to 10^(p-s): too wide
        limit = Decimal(10) ** (precision - scale) - Decimal(5) * Decimal(10) ** (-scale - 1)
        too_big = exp.GTE(this=exp.Abs(this=value.copy()), expression=_number(limit))
        reason = exp.Literal.string(f"numeric overflow for {where} (numeric({precision},{scale}))")
        return too_big, reason
    return None

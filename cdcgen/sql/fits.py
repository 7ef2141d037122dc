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
from sqlglot.expressions.datatypes import DType

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
_TEXT = {
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.NCHAR,
}
DECIMAL_TYPES = {exp.DataType.Type.DECIMAL}


def _params(t: exp.DataType) -> list[int]:
    return [
        int(p.this.name) if isinstance(p.this, exp.Literal) else int(p.name) for p in t.expressions
    ]


def _number(value: int | Decimal) -> exp.Expression:
    literal = exp.Literal.number(str(value).lstrip("-"))
    return exp.Neg(this=literal) if value < 0 else literal


def misfit(
    value: exp.Expression, type_: str, where: str
) -> tuple[exp.Expression, exp.Expression] | None:
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


def _misfit(
    value: exp.Expression, type_: str, where: str
) -> tuple[exp.Expression, exp.Expression] | None:
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
    if t.this in DECIMAL_TYPES and t.expressions:
        precision, scale = [*_params(t), 0][:2]
        if precision >= _MAX_PRECISION:
            return None
        # the smallest magnitude that rounds (half away from zero) to 10^(p-s): too wide
        limit = Decimal(10) ** (precision - scale) - Decimal(5) * Decimal(10) ** (-scale - 1)
        too_big = exp.GTE(this=exp.Abs(this=value.copy()), expression=_number(limit))
        reason = exp.Literal.string(f"numeric overflow for {where} (numeric({precision},{scale}))")
        return too_big, reason
    return None


# ---------------------------------------------------------------------------
# Castability: staging typed as text (or any type) for a typed baseline column.
#
# An ETL may land a timestamp or number column as VARCHAR. CAST('2024-13-45' AS
# TIMESTAMP) fails the whole statement on both engines, and Redshift procedures have
# no handler that could continue after it. Redshift's TRY_CAST is no way out: it is
# not in PostgreSQL, and its documented source/target pairs leave out DECIMAL to
# DECIMAL and TIMESTAMP to TIMESTAMP (r_TRY_CAST), while the build does not know
# whether staging holds text or the real type. So the value's text form,
# CAST(value AS VARCHAR), is matched against a pattern both engines' casts accept
# (POSIX ``~``, pattern-matching-conditions-posix), whatever type staging has; every
# cast of the value is guarded (CASE WHEN ok THEN CAST(...) END), so a rejected row
# never reaches a cast that would fail. docs/staging.md lists what is accepted.
#
# Patterns use no backslash (``[.]`` for a dot, ``[0-9]`` for a digit): a Redshift
# string literal would need it doubled, a PostgreSQL one not.

_YEAR = "([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([13579][26]|[2468][048]|0[48])00)"
_MONTH_DAY = "((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
_TIME = "( ([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?)?"
#: YYYY-MM-DD[ HH:MI[:SS[.ffffff]]], a real calendar day (Feb 29 in leap years only)
DATETIME_PATTERN = f"^({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}$"
#: the cast-checked type kinds (:func:`checks_castability`)
DATETIME_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP}
WHOLE_TYPES = {exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT}
_BIGINT = (-9223372036854775808, 9223372036854775807)
_TEXT_WIDTH = "varchar(65535)"


def integer_range(kind: DType) -> tuple[int, int]:
    """The inclusive range of an integer type kind (BIGINT's for BIGINT).

    >>> integer_range(exp.DataType.Type.SMALLINT)
    (-32768, 32767)
    """
    return _INTEGER_RANGES.get(kind, _BIGINT)


#: how much of a rejected value its reason quotes
QUOTED = 80


def checks_castability(type_: str) -> bool:
    """Is a value cast to ``type_`` checked for castability first? Dates, timestamps,
    integers and decimals. Not BOOLEAN: Redshift casts neither VARCHAR to BOOLEAN nor
    BOOLEAN to VARCHAR, so a boolean column must be staged as BOOLEAN; not REAL/DOUBLE
    PRECISION, TIMESTAMPTZ, SUPER or text types (docs/staging.md)."""
    t = data_type(type_)
    return t.this in DATETIME_TYPES or t.this in WHOLE_TYPES or t.this in DECIMAL_TYPES


def number_pattern(type_: str) -> str:
    """Plain decimal notation (an optional minus, digits, an optional fraction) that
    DECIMAL(38, s) holds once rounded to the column's scale s: at most 37 - s integer
    digits besides leading zeros (a carry from rounding still fits), at most 38 fraction
    digits. Whether the column's own precision holds it is :func:`misfit`'s test (its
    reason names the overflow)."""
    whole = whole_digits(type_)
    integer = f"0*[0-9]{{1,{whole}}}" if whole > 0 else "0+"
    return f"^-?{integer}([.][0-9]{{1,38}})?$"


#: any plain decimal notation: what :func:`number_pattern` accepts, without its digit
#: counts (bounded repetitions make a pattern several times costlier to match)
PLAIN_NUMBER_PATTERN = "^-?[0-9]+([.][0-9]+)?$"


def whole_digits(type_: str) -> int:
    """How many integer digits (besides leading zeros) :func:`number_pattern` allows."""
    t = data_type(type_)
    scale = ([*_params(t), 0][1] if t.expressions else 0) if t.this in DECIMAL_TYPES else 0
    return 37 - scale


def _shape(type_: str) -> str:
    return DATETIME_PATTERN if data_type(type_).this in DATETIME_TYPES else number_pattern(type_)


def as_text(value: exp.Expression) -> exp.Expression:
    """The value's text form (never a boolean here: see :func:`checks_castability`)."""
    return exp.Cast(this=value.copy(), to=data_type(_TEXT_WIDTH))


def _matches(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))


def castable(value: exp.Expression, type_: str) -> exp.Expression:
    """Does the value's text form have a shape CAST(... AS ``type_``) accepts on both
    engines? TRUE for NULL (COALESCE): a NULL casts to NULL.

    A number's text of at most W characters (W: the integer digits the column's pattern
    allows) is matched against :data:`PLAIN_NUMBER_PATTERN`, which accepts exactly the
    same such texts: it cannot hold more than W integer or fraction digits. Only a longer
    text meets the bounded pattern itself. Staged numbers are short, and the bounded
    pattern cost most of the staged copy of a first load (every row of every source)."""
    text = as_text(value)
    if data_type(type_).this in DATETIME_TYPES or whole_digits(type_) <= 0:
        return exp.Coalesce(this=_matches(text, _shape(type_)), expressions=[exp.true()])
    short = exp.LTE(
        this=exp.Length(this=text.copy()), expression=exp.Literal.number(whole_digits(type_))
    )
    matches = exp.Case(
        ifs=[exp.If(this=short, true=_matches(text.copy(), PLAIN_NUMBER_PATTERN))],
        default=_matches(text, number_pattern(type_)),
    )
    return exp.Coalesce(this=matches, expressions=[exp.true()])


def _wide_type(type_: str) -> str:
    t = data_type(type_)
    if t.this in DECIMAL_TYPES:
        precision_scale = [*_params(t), 18, 0][:2] if not t.expressions else [*_params(t), 0][:2]
        return f"decimal(38,{precision_scale[1]})"
    return "decimal(38,0)"


def readable(value: exp.Expression, type_: str) -> exp.Expression:
    """The value as a number or date/time that holds any castable value, NULL when it is
    not castable: ``CASE WHEN castable THEN CAST(value AS wide) END``. Integers and
    decimals read as DECIMAL(38, scale), rounded half away from zero as storing does."""
    wide = _wide_type(type_) if data_type(type_).this not in DATETIME_TYPES else type_
    return exp.Case(
        ifs=[
            exp.If(
                this=castable(value, type_), true=exp.Cast(this=value.copy(), to=data_type(wide))
            )
        ]
    )


def not_castable(
    value: exp.Expression, type_: str, where: str
) -> tuple[exp.Expression, exp.Expression]:
    """(condition, reason) for a value whose text cannot be cast to ``type_``; the reason
    quotes the first :data:`QUOTED` characters of the value."""
    quoted = exp.Substring(
        this=as_text(value), start=exp.Literal.number(1), length=exp.Literal.number(QUOTED)
    )
    # double quotes: a single quote in a literal is written \' by sqlglot for Redshift
    reason = exp.DPipe(
        this=exp.DPipe(
            this=exp.Literal.string(f'value not castable to {type_} for {where} ("'),
            expression=quoted,
        ),
        expression=exp.Literal.string('")'),
    )
    return exp.Not(this=castable(value, type_)), reason


def typed_misfit(
    value: exp.Expression, type_: str, where: str
) -> tuple[exp.Expression, exp.Expression] | None:
    """:func:`misfit` for a castability-checked column, tested on :func:`readable` (so on
    text too). Integers (BIGINT too: text can exceed it) are tested once rounded, with
    one BETWEEN: the castability test inside :func:`readable` runs once per value."""
    t = data_type(type_)
    if t.this not in WHOLE_TYPES:
        test = misfit(readable(value, type_), type_, where)
        return None if test is None else (_unless_short(value, type_, test[0]), test[1])
    low, high = integer_range(t.this)
    inside = exp.Between(this=readable(value, type_), low=_number(low), high=_number(high))
    reason = exp.Literal.string(f"value out of range for {where} ({t.sql('redshift').lower()})")
    outside = exp.Not(this=exp.Paren(this=inside))
    return _unless_short(value, type_, exp.Coalesce(this=outside, expressions=[exp.false()])), reason


def _safe_length(type_: str) -> int:
    """Characters of a castable number's text that always fit ``type_``: 4 for SMALLINT
    (9999), 18 for BIGINT, p - s for DECIMAL(p, s). A text that short holds at most that
    many integer digits, fewer with a sign or a fraction (so a carry from rounding fits)."""
    t = data_type(type_)
    if t.this in WHOLE_TYPES:
        return len(str(integer_range(t.this)[1])) - 1
    if t.this in DECIMAL_TYPES and t.expressions:
        precision, scale = [*_params(t), 0][:2]
        return max(precision - scale, 0)
    return 0


def _unless_short(value: exp.Expression, type_: str, condition: exp.Expression) -> exp.Expression:
    """``condition`` (a range test, never NULL) only for texts longer than
    :func:`_safe_length`: ``CASE WHEN LENGTH(text) <= n THEN FALSE ELSE condition END``.
    Staged numbers are short, and the range test matches the castability pattern again
    and casts: a third of a first load's staged copy (every row of every source)."""
    safe = _safe_length(type_)
    if safe <= 0:
        return condition
    short = exp.LTE(this=exp.Length(this=as_text(value)), expression=exp.Literal.number(safe))
    return exp.Case(ifs=[exp.If(this=short, true=exp.false())], default=condition)


def stored(value: exp.Expression, type_: str, ok: exp.Expression | None = None) -> exp.Expression:
    """The value as its baseline column holds it. A castability-checked type is cast only
    when ``ok`` holds (default: the value is castable), ``CASE WHEN ok THEN CAST(...)
    END``, so no row reaches a cast that fails. An integer
    is read through DECIMAL(38,0): CAST('12.5' AS INT) fails on both engines, a DECIMAL
    rounds half away from zero, as CAST(12.5 AS INT) does."""
    target = exp.Cast(this=value.copy(), to=data_type(type_))
    if not checks_castability(type_):
        return target
    if data_type(type_).this in WHOLE_TYPES:
        target = exp.Cast(
            this=exp.Cast(this=value.copy(), to=data_type("decimal(38,0)")), to=data_type(type_)
        )
    guard = castable(value, type_) if ok is None else ok
    return exp.Case(ifs=[exp.If(this=guard, true=target)])

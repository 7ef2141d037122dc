"""Single-row SQL predicates of a spec, read well enough to generate data for them.

The synthetic demo data (:mod:`cdcgen.demo.synth`) must make ``where`` filters and
``checks`` pass about half the time, soft-delete rows through a ``deletes.when``
predicate and keep it false on live rows. This module gives it three things over a
predicate parsed with sqlglot (the validator's parser, Redshift syntax):

- :func:`literal_hints`: the literals each column is compared with (``status IN (0, 1)``
  gives ``status`` the values 0 and 1), so generated values hit the filters;
- :func:`evaluate`: SQL three-valued evaluation over one row (``None`` is NULL);
- :func:`make`: change a row so that a predicate becomes true (or false).

Only the usual shapes are understood: comparisons of a column with a literal,
``IN``, ``BETWEEN``, ``IS [NOT] NULL``, ``LIKE 'x%'``, a boolean column, ``AND``,
``OR``, ``NOT``. Anything else raises :class:`Unsupported` from :func:`evaluate` and
makes :func:`make` return ``False``; the generator then leaves the row as drawn.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

Row = dict[str, Any]
#: ``(column, value_after_change)``: how :func:`make` draws a value of a column's type
#: that differs from the given ones (``None``: any value).
Draw = Callable[[str, tuple[Any, ...]], Any]


class Unsupported(ValueError):
    """A predicate shape this module cannot evaluate."""


@lru_cache(maxsize=1024)
def parse(text: str) -> exp.Expr:
    return sqlglot.parse_one(text, read="redshift")


def columns_of(node: exp.Expr) -> Iterator[exp.Column]:
    yield from node.find_all(exp.Column)


def conjuncts(node: exp.Expr) -> Iterator[exp.Expr]:
    """The parts of ``a AND b AND (c AND d)``."""
    node = _unparen(node)
    if isinstance(node, exp.And):
        yield from conjuncts(node.this)
        yield from conjuncts(node.expression)
    else:
        yield node


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


# --------------------------------------------------------------------------- literals


def literal(node: exp.Expr) -> Any:
    """The Python value of a literal node; raises :class:`Unsupported` otherwise."""
    node = _unparen(node)
    if isinstance(node, exp.Neg):
        value = literal(node.this)
        if isinstance(value, int | Decimal):
            return -value
        raise Unsupported(node.sql())
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return str(node.this)
        text = str(node.this)
        return Decimal(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(node, exp.Cast):
        return literal(node.this)
    raise Unsupported(node.sql())


_FLIP: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.LT: exp.GT,
    exp.GTE: exp.LTE,
    exp.LTE: exp.GTE,
}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _column_and_literal(node: exp.Binary) -> tuple[exp.Column, type[exp.Expr], Any] | None:
    """``col OP lit`` (or ``lit OP col``, flipped) as (column, op, value)."""
    left, right = _unparen(node.this), _unparen(node.expression)
    op: type[exp.Expr] = type(node)
    if not isinstance(left, exp.Column) and isinstance(right, exp.Column):
        left, right = right, left
        op = _FLIP.get(op, op)
    if not isinstance(left, exp.Column):
        return None
    try:
        return left, op, literal(right)
    except Unsupported:
        return None


def literal_hints(node: exp.Expr) -> list[tuple[exp.Column, list[Any]]]:
    """Per column compared with literals anywhere in ``node``: values that make each
    comparison true and false (``x > 5`` gives 6, 10 and 5)."""
    hints: list[tuple[exp.Column, list[Any]]] = []
    for part in node.walk():
        if isinstance(part, _COMPARISONS):
            found = _column_and_literal(part)
            if found is None or found[2] is None:
                continue
            column, op, value = found
            hints.append((column, _around(op, value)))
        elif isinstance(part, exp.In) and isinstance(_unparen(part.this), exp.Column):
            try:
                values = [literal(v) for v in part.expressions]
            except Unsupported:
                continue
            hints.append((_unparen(part.this), [v for v in values if v is not None]))  # type: ignore[arg-type]
        elif isinstance(part, exp.Between) and isinstance(_unparen(part.this), exp.Column):
            try:
                low, high = literal(part.args["low"]), literal(part.args["high"])
            except Unsupported:
                continue
            hints.append((_unparen(part.this), [low, high]))  # type: ignore[arg-type]
        elif isinstance(part, exp.Like) and isinstance(_unparen(part.this), exp.Column):
            try:
                pattern = literal(part.expression)
            except Unsupported:
                continue
            if isinstance(pattern, str):
                hints.append((_unparen(part.this), [_like_example(pattern)]))  # type: ignore[arg-type]
    return hints


def _around(op: type[exp.Expr], value: Any) -> list[Any]:
    if not isinstance(value, int | Decimal) or isinstance(value, bool):
        return [value]
    step = 1
    if op in (exp.GT, exp.GTE):
        return [value, value + step, value + 10 * step]
    if op in (exp.LT, exp.LTE):
        return [value, value - step, value - 10 * step]
    return [value]


def _like_example(pattern: str) -> str:
    return pattern.replace("%", "").replace("_", "x")


# --------------------------------------------------------------------------- evaluation


def evaluate(node: exp.Expr, row: Row) -> bool | None:
    """SQL three-valued truth of a predicate over one row (column qualifiers ignored)."""
    value = _value(node, row)
    if value is None or isinstance(value, bool):
        return value
    raise Unsupported(node.sql())


def _value(node: exp.Expr, row: Row) -> Any:
    node = _unparen(node)
    if isinstance(node, exp.Column):
        if node.name not in row:
            raise Unsupported(node.sql())
        value = row[node.name]
        return value.rstrip(" ") if isinstance(value, str) else value
    if isinstance(node, exp.And):
        a, b = _truth(node.this, row), _truth(node.expression, row)
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if isinstance(node, exp.Or):
        a, b = _truth(node.this, row), _truth(node.expression, row)
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if isinstance(node, exp.Not):
        inner = _truth(node.this, row)
        return None if inner is None else not inner
    if isinstance(node, exp.Is):
        value = _value(node.this, row)
        target = _unparen(node.expression)
        if isinstance(target, exp.Null):
            return value is None
        if isinstance(target, exp.Boolean):
            return value is bool(target.this)
        raise Unsupported(node.sql())
    if isinstance(node, _COMPARISONS):
        a, b = _value(node.this, row), _value(node.expression, row)
        if a is None or b is None:
            return None
        return _compare(type(node), a, b)
    if isinstance(node, exp.In):
        value = _value(node.this, row)
        if value is None:
            return None
        options = [_value(v, row) for v in node.expressions]
        if any(_compare(exp.EQ, value, o) for o in options if o is not None):
            return True
        return None if None in options else False
    if isinstance(node, exp.Between):
        value = _value(node.this, row)
        low, high = _value(node.args["low"], row), _value(node.args["high"], row)
        if value is None or low is None or high is None:
            return None
        return _compare(exp.GTE, value, low) and _compare(exp.LTE, value, high)
    if isinstance(node, exp.Like):
        value, pattern = _value(node.this, row), _value(node.expression, row)
        if value is None or pattern is None:
            return None
        return _like(str(value), str(pattern))
    try:
        return literal(node)
    except Unsupported:
        raise Unsupported(node.sql()) from None


def _truth(node: exp.Expr, row: Row) -> bool | None:
    value = _value(node, row)
    if value is None or isinstance(value, bool):
        return value
    raise Unsupported(node.sql())


def _compare(op: type[exp.Expr], a: Any, b: Any) -> bool:
    a, b = _comparable(a, b)
    try:
        if op is exp.EQ:
            return bool(a == b)
        if op is exp.NEQ:
            return bool(a != b)
        if op is exp.GT:
            return bool(a > b)
        if op is exp.GTE:
            return bool(a >= b)
        if op is exp.LT:
            return bool(a < b)
        if op is exp.LTE:
            return bool(a <= b)
    except TypeError:
        raise Unsupported(f"{a!r} vs {b!r}") from None
    raise Unsupported(str(op))


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """Dates and timestamps compared with string literals, as SQL casts them."""
    for x, y in ((a, b), (b, a)):
        if isinstance(x, dt.datetime | dt.date) and isinstance(y, str):
            parsed: Any = (
                dt.datetime.fromisoformat(y)
                if isinstance(x, dt.datetime)
                else dt.date.fromisoformat(y[:10])
            )
            if isinstance(x, dt.datetime) and x.tzinfo and not parsed.tzinfo:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return (x, parsed) if x is a else (parsed, x)
    if isinstance(a, str) and isinstance(b, str):
        return a.rstrip(" "), b.rstrip(" ")
    if isinstance(a, bool) != isinstance(b, bool):
        raise Unsupported(f"{a!r} vs {b!r}")
    return a, b


def _like(value: str, pattern: str) -> bool:
    import re

    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


# --------------------------------------------------------------------------- making it so


def make(node: exp.Expr, want: bool, row: Row, draw: Draw, rng: random.Random) -> bool:
    """Change columns of ``row`` so that ``node`` evaluates to ``want``; ``True`` when it
    then does (checked with :func:`evaluate`)."""
    try:
        _make(node, want, row, draw, rng)
        return evaluate(node, row) is want
    except Unsupported:
        return False


def _make(node: exp.Expr, want: bool, row: Row, draw: Draw, rng: random.Random) -> None:
    node = _unparen(node)
    if _holds(node, want, row):
        return
    if isinstance(node, exp.Not):
        _make(node.this, not want, row, draw, rng)
    elif isinstance(node, exp.And | exp.Or):
        parts = [node.this, node.expression]
        all_of = isinstance(node, exp.And) == want  # AND true / OR false: every part
        if all_of:
            for part in parts:
                _make(part, want, row, draw, rng)
        else:
            rng.shuffle(parts)
            for part in parts:
                _make(part, want, row, draw, rng)
                if _holds(part, want, row):
                    break
    elif isinstance(node, exp.Column):
        row[node.name] = want
    elif isinstance(node, exp.Is) and isinstance(_unparen(node.this), exp.Column):
        name = _unparen(node.this).name
        target = _unparen(node.expression)
        if isinstance(target, exp.Null):
            row[name] = None if want else draw(name, (None,))
        elif isinstance(target, exp.Boolean):
            row[name] = bool(target.this) if want else (not bool(target.this))
        else:
            raise Unsupported(node.sql())
    elif isinstance(node, _COMPARISONS):
        found = _column_and_literal(node)
        if found is None or found[2] is None:
            raise Unsupported(node.sql())
        column, op, value = found
        row[column.name] = _satisfying(op, value, want, column.name, draw)
    elif isinstance(node, exp.In) and isinstance(_unparen(node.this), exp.Column):
        name = _unparen(node.this).name
        values = [literal(v) for v in node.expressions]
        options = [v for v in values if v is not None]
        row[name] = rng.choice(options) if want and options else draw(name, tuple(values))
    elif isinstance(node, exp.Between) and isinstance(_unparen(node.this), exp.Column):
        name = _unparen(node.this).name
        low = literal(node.args["low"])
        if want:
            row[name] = low
        elif isinstance(low, int | Decimal):
            row[name] = low - 1
        else:
            raise Unsupported(node.sql())
    elif isinstance(node, exp.Like) and isinstance(_unparen(node.this), exp.Column):
        pattern = literal(node.expression)
        name = _unparen(node.this).name
        row[name] = _like_example(str(pattern)) if want else "~" + _like_example(str(pattern))
    else:
        raise Unsupported(node.sql())


def _holds(node: exp.Expr, want: bool, row: Row) -> bool:
    try:
        return evaluate(node, row) is want
    except Unsupported:
        return False


def _satisfying(op: type[exp.Expr], value: Any, want: bool, column: str, draw: Draw) -> Any:
    if not want:
        op = {
            exp.EQ: exp.NEQ,
            exp.NEQ: exp.EQ,
            exp.GT: exp.LTE,
            exp.GTE: exp.LT,
            exp.LT: exp.GTE,
            exp.LTE: exp.GT,
        }[op]  # type: ignore[index]
    if op in (exp.EQ, exp.GTE, exp.LTE):
        return value
    if op is exp.NEQ:
        return draw(column, (value,))
    numeric = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if numeric:
        return value + 1 if op is exp.GT else value - 1
    if isinstance(value, dt.datetime | dt.date):
        delta = dt.timedelta(days=1)
        return value + delta if op is exp.GT else value - delta
    raise Unsupported(f"{op.__name__} {value!r}")

"""A target column's declared type, applied where its value is computed.

A fact column declared ``numeric(18,6)`` but computed as ``annual_revenue / 1000000``
(``numeric(29,13)`` on Redshift, unbounded on PostgreSQL) is *stored* rounded. If the
definition (the ``__full`` view, the recompute of affected keys, hence the diff and the
before/after images) kept the unrounded value, stored and recomputed rows would never
compare equal: ``verify`` would report the row, and every run reaching it would log
the column as changed. So the definition casts, per column, to what storing does:

- numbers (integers, ``numeric(p,s)``, ``real``, ``double precision``) and dates and
  times (``date``, ``timestamp``, ``timestamptz``): cast every computed value, and a
  plain column whose type differs from the declared one. Storing is the same
  conversion as the cast on each engine: ``numeric`` rounds half away from zero to the
  declared scale (Redshift [r_Examples_with_numeric_types201], with
  ``enable_numeric_rounding`` on, the default; PostgreSQL), a fraction stored in an
  integer column rounds, ``double precision`` stored in ``real`` loses digits, a
  timestamp stored in a ``date`` drops the time of day, ``timestamptz`` <->
  ``timestamp`` converts through the session's time zone (Redshift: UTC); overflow
  fails either way. "Computed", not "inferred type differs": the inferred type follows
  Redshift's rules, and PostgreSQL's can differ for the same expression (numeric
  division keeps more digits, EXTRACT yields numeric), so only a plain column or a
  CAST to the declared type is known to arrive already as stored on both engines.
  An expression whose type cannot be inferred (a function such as DATEADD; the reason
  the spec declares a type) is cast too: a value storing converts implicitly, CAST
  converts explicitly.
- text (``char``/``varchar``): never a cast that could truncate. An explicit cast to
  ``varchar(n)`` or ``char(n)`` truncates silently on both engines, where storing an
  over-long value fails loudly (validation rejects expressions wider than their
  column). A varchar value that fits is stored unchanged: no cast. Between ``char``
  and ``varchar`` (or ``char`` of another length) storing pads or strips trailing
  blanks; the values still compare equal (blanks are insignificant there), but the
  change log's images would show the unpadded value, so cast - only when the
  expression's widest value (inferred, in bytes: at least its characters) fits the
  declared length, so the cast cannot truncate on either engine.
- anything else (``boolean``, ``super``), or a pair across families (a date declared
  ``integer``: Redshift rejects that cast, and the inference may be what is wrong:
  ``date - date`` is an integer): no cast.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import TargetColumn
from cdcgen.sql.builders import cast
from cdcgen.sql.fits import misfit
from cdcgen.validate.types import is_integer, string_length, text_width

_FLOATS = ("real", "double precision")
_TIMES = ("date", "timestamp", "timestamptz")


def _family(type_: str) -> str | None:
    """Types whose values convert into each other the way storing converts them."""
    if is_integer(type_) or type_.startswith("numeric(") or type_ in _FLOATS:
        return "number"
    if type_ in _TIMES:
        return "time"
    return None


def _arrives_as_stored(expr: exp.Expression, declared: str, inferred: str) -> bool:
    """A plain column or a CAST of the declared type: the same value on both engines."""
    return inferred == declared and isinstance(expr, exp.Column | exp.Cast)


def _pads_without_truncating(declared: str, inferred: str | None) -> bool:
    """A text cast that only pads or strips blanks: to or from char, and the widest value
    of the expression fits (so the cast can never cut it)."""
    length = string_length(declared)
    if length is None or inferred is None or string_length(inferred) is None:
        return False
    if inferred == declared or not (declared.startswith("char(") or inferred.startswith("char(")):
        return False  # varchar -> varchar: stored unchanged
    width = text_width(inferred)
    return width is not None and width <= length


def needs_cast(expr: exp.Expression, declared: str, inferred: str | None) -> bool:
    """Whether the definition must cast ``expr`` to ``declared`` to get the stored value."""
    if string_length(declared) is not None:
        return _pads_without_truncating(declared, inferred)
    family = _family(declared)
    if family is None:
        return False  # boolean, super
    if inferred is None:
        # a function the inference does not know (why the spec declares a type, e.g.
        # DATEADD): whatever storing converts implicitly, CAST converts explicitly
        return True
    if _arrives_as_stored(expr, declared, inferred):
        return False
    return family == _family(inferred)


def stored_value(column: TargetColumn) -> exp.Expression:
    """The column's expression as the target stores it (see the module docstring).

    A computed number the declared type cannot hold (``numeric(10,2)`` from a product
    that reaches 10^8) would make the cast fail, and with it every run that reaches the
    row: it becomes NULL instead, and the apply step dead-letters it with the target,
    column and key (:func:`unstorable`), so the run goes through and ``__full`` still
    equals what is stored."""
    if not needs_cast(column.expr, column.type, column.inferred):
        return column.expr.copy()
    stored = cast(column.expr.copy(), column.type)
    test = unstorable(column, column.name)
    if test is None:
        return stored
    return exp.Case(ifs=[exp.If(this=test[0], true=exp.null())], default=stored)


def unstorable(column: TargetColumn, where: str) -> tuple[exp.Expression, exp.Expression] | None:
    """(condition, reason) for a computed number its declared type cannot hold, or None
    when no value can overflow it (floats, dates, text, a column arriving as stored)."""
    if not needs_cast(column.expr, column.type, column.inferred) or _family(column.type) != "number":
        return None
    return misfit(column.expr.copy(), column.type, where)

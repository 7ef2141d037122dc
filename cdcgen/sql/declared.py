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
- text (``char``/``varchar``): never cast. An explicit cast to ``varchar(n)`` or
  ``char(n)`` truncates silently on both engines, where storing an over-long value
  fails; a value that fits is stored unchanged, and blank padding is insignificant
  when ``char`` and ``varchar`` compare (Redshift, and PostgreSQL's bpchar rules).
- anything else (``boolean``, ``super``), a pair across families (a date declared
  ``integer``: Redshift rejects that cast, and the inference may be what is wrong:
  ``date - date`` is an integer), or an expression of unknown type: no cast.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import TargetColumn
from cdcgen.sql.builders import cast
from cdcgen.validate.types import is_integer

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


def needs_cast(expr: exp.Expression, declared: str, inferred: str | None) -> bool:
    """Whether the definition must cast ``expr`` to ``declared`` to get the stored value."""
    if inferred is None or _arrives_as_stored(expr, declared, inferred):
        return False
    family = _family(declared)
    return family is not None and family == _family(inferred)


def stored_value(column: TargetColumn) -> exp.Expression:
    """The column's expression as the target stores it (see the module docstring)."""
    if needs_cast(column.expr, column.type, column.inferred):
        return cast(column.expr.copy(), column.type)
    return column.expr.copy()

"""Staging that already holds a column's type needs no castability pattern.

The castability patterns (:func:`cdcgen.sql.fits.castable`) exist for staging that lands
numbers and dates as text, and they were most of a first load's staged copy. Staging
created from ``cdcgen staging-ddl`` (or any typed ``COPY`` target) holds BIGINT,
NUMERIC and TIMESTAMP columns, whose values' text always passes them. So each run asks
the catalog, in one statement for all changed sources, whether every cast-checked column
of each staging table has such a type, and then makes the staged copy without the patterns (the
``staging_types: declared`` copy: widths, integer ranges and numeric precision are
still tested). Any other answer (a text column, an unconstrained NUMERIC, a column or
table the catalog does not show) keeps the patterns: the check can only skip work, never
a test that could fail.

>>> accepts("bigint").sql()
"data_type IN ('smallint', 'integer', 'bigint')"
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from cdcgen.plan.model import SourcePlan
from cdcgen.sql import nodes
from cdcgen.sql.builders import and_all, col, count_if, data_type, eq, lit, or_all
from cdcgen.sql.fits import DECIMAL_TYPES, WHOLE_TYPES, integer_range, whole_digits

_KIND = exp.DataType.Type
#: integer types by catalog name, with the most digits their values' text has
_INTEGERS = {
    name: len(str(integer_range(kind)[1]))
    for name, kind in (("smallint", _KIND.SMALLINT), ("integer", _KIND.INT), ("bigint", _KIND.BIGINT))
}
_DATE = "date"
_TIMESTAMP = "timestamp without time zone"
#: at most 38 fraction digits pass the number pattern (fits.number_pattern)
_MAX_FRACTION = 38


def accepts(type_: str) -> exp.Expression:
    """Which catalog column types (``data_type``, ``numeric_precision``,
    ``numeric_scale``) hold only values whose text passes the castability test of
    declared ``type_``: every integer type for an integer; integers and NUMERIC(p, s)
    with no more integer digits than the pattern allows for DECIMAL; DATE for DATE;
    DATE and TIMESTAMP for TIMESTAMP. Ranges and precision are tested either way."""
    t = data_type(type_)
    if t.this == _KIND.DATE:
        return _named(_DATE)
    if t.this == _KIND.TIMESTAMP:
        return _named(_DATE, _TIMESTAMP)
    if t.this in WHOLE_TYPES:
        return _named(*_INTEGERS)
    assert t.this in DECIMAL_TYPES, type_
    whole = whole_digits(type_)
    integers = [name for name, digits in _INTEGERS.items() if digits <= whole]
    precision, scale = col("numeric_precision"), col("numeric_scale")
    numeric = and_all(
        [
            eq(col("data_type"), lit("numeric")),
            exp.LTE(this=exp.Sub(this=precision, expression=scale), expression=lit(whole)),
            exp.LTE(this=scale.copy(), expression=lit(_MAX_FRACTION)),
        ]
    )
    return or_all([_named(*integers), numeric]) if integers else numeric


def _named(*names: str) -> exp.Expression:
    return exp.In(this=col("data_type"), expressions=[lit(n) for n in names])


def _typed_columns(s: SourcePlan, checked: Sequence[str]) -> exp.Expression:
    """A catalog row of ``s``'s staging table for one of ``checked`` with a type
    :func:`accepts`."""
    matches = [and_all([eq(col("column_name"), lit(c)), accepts(s.type_of(c))]) for c in checked]
    return and_all([_of_table(s), exp.Paren(this=or_all(matches))])


def _of_table(s: SourcePlan) -> exp.Expression:
    return and_all(
        [eq(col("table_schema"), lit(s.staging.schema)), eq(col("table_name"), lit(s.staging.name))]
    )


def typed_columns_counts(checked: Sequence[tuple[str, SourcePlan, Sequence[str]]]) -> exp.Select:
    """One catalog read for every ``(name, source, checked columns)``: column ``name``
    counts the source's checked staging columns of a type :func:`accepts` (all of them:
    its staged copy may skip the patterns). The detect dispatcher makes it once for all
    changed sources, where each source's detection made its own.

    Example: ``SELECT COALESCE(SUM(CASE WHEN table_schema = 'staging' AND table_name =
    'orders' AND (…) THEN 1 ELSE 0 END), 0) AS typed_1 FROM (catalog) WHERE …``."""
    counts = [
        exp.alias_(count_if(_typed_columns(s, columns)), name, copy=False)
        for name, s, columns in checked
    ]
    tables = or_all([_of_table(s) for _, s, _ in checked])
    return (
        exp.select(*counts)
        .from_(nodes.ColumnCatalog(), copy=False)
        .where(exp.Paren(this=tables), copy=False)
    )

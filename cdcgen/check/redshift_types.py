"""Redshift's type rules as data, each row citing the AWS Database Developer Guide page it
comes from (``https://docs.aws.amazon.com/redshift/latest/dg/<page>.html``); the typed pass
(:mod:`cdcgen.check.types`) reads these tables and nothing else about Redshift.

Types are reduced to categories: Redshift's conversion rules are stated per type family
(numeric, character, datetime ...), and the checks never need a length or a precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlglot import exp

T = exp.DType

# --------------------------------------------------------------------------- categories

SMALLINT, INTEGER, BIGINT = "smallint", "integer", "bigint"
DECIMAL, REAL, DOUBLE = "decimal", "real", "double"
CHAR, VARCHAR = "char", "varchar"
DATE, TIME, TIMETZ, TIMESTAMP, TIMESTAMPTZ = "date", "time", "timetz", "timestamp", "timestamptz"
INTERVAL, BOOLEAN, SUPER, VARBYTE = "interval", "boolean", "super", "varbyte"
NULL = "null"  # an untyped NULL literal: converts to anything

INTEGERS: Final = frozenset({SMALLINT, INTEGER, BIGINT})
NUMERICS: Final = INTEGERS | {DECIMAL, REAL, DOUBLE}
STRINGS: Final = frozenset({CHAR, VARCHAR})
DATETIMES: Final = frozenset({DATE, TIME, TIMETZ, TIMESTAMP, TIMESTAMPTZ})

#: sqlglot type -> Redshift category [c_Supported_data_types: the data types and aliases]
CATEGORY_OF: Final[dict[exp.DType, str]] = {
    T.SMALLINT: SMALLINT, T.TINYINT: SMALLINT,
    T.INT: INTEGER,
    T.BIGINT: BIGINT,
    T.DECIMAL: DECIMAL, T.BIGDECIMAL: DECIMAL,
    T.FLOAT: REAL,
    T.DOUBLE: DOUBLE,
    T.CHAR: CHAR, T.NCHAR: CHAR,
    T.VARCHAR: VARCHAR, T.NVARCHAR: VARCHAR, T.TEXT: VARCHAR,
    T.DATE: DATE,
    T.TIME: TIME, T.TIMETZ: TIMETZ,
    T.TIMESTAMP: TIMESTAMP, T.DATETIME: TIMESTAMP, T.TIMESTAMPNTZ: TIMESTAMP,
    T.TIMESTAMPTZ: TIMESTAMPTZ, T.TIMESTAMPLTZ: TIMESTAMPTZ,
    T.INTERVAL: INTERVAL,
    T.BOOLEAN: BOOLEAN,
    T.SUPER: SUPER, T.JSON: SUPER,
    T.VARBINARY: VARBYTE, T.BINARY: VARBYTE,
    T.NULL: NULL,
}  # fmt: skip


# --------------------------------------------------------------------------- conversions


@dataclass(frozen=True)
class Conversion:
    """Values of category ``source`` may become ``targets`` (implicitly, or by CAST)."""

    source: str
    targets: frozenset[str]
    doc: str


def _row(source: str, targets: frozenset[str] | set[str], doc: str) -> Conversion:
    return Conversion(source, frozenset(targets), doc)


_MATRIX = "c_Supported_data_types#r_Type_conversion"

#: Implicit conversions: the "Implicit conversion types" table of the type compatibility
#: page. Redshift applies them in assignments (INSERT, UPDATE SET, MERGE) and expressions.
IMPLICIT: Final[tuple[Conversion, ...]] = (
    _row(BIGINT, {BOOLEAN, CHAR, DECIMAL, DOUBLE, INTEGER, REAL, SMALLINT, VARCHAR}, _MATRIX),
    _row(CHAR, {VARCHAR}, _MATRIX),
    # "Character types are compatible with each other" (same page, Compatibility): a
    # VARCHAR value is stored into a CHAR column, padded.
    _row(VARCHAR, {CHAR}, f"{_MATRIX} (compatibility)"),
    _row(DATE, {CHAR, VARCHAR, TIMESTAMP, TIMESTAMPTZ}, _MATRIX),
    _row(DECIMAL, {BIGINT, CHAR, DOUBLE, INTEGER, REAL, SMALLINT, VARCHAR}, _MATRIX),
    _row(DOUBLE, {BIGINT, CHAR, DECIMAL, INTEGER, REAL, SMALLINT, VARCHAR}, _MATRIX),
    _row(INTEGER, {BIGINT, BOOLEAN, CHAR, DECIMAL, DOUBLE, REAL, SMALLINT, VARCHAR}, _MATRIX),
    _row(REAL, {BIGINT, CHAR, DECIMAL, INTEGER, SMALLINT, VARCHAR}, _MATRIX),
    _row(SMALLINT, {BIGINT, BOOLEAN, CHAR, DECIMAL, DOUBLE, INTEGER, REAL, VARCHAR}, _MATRIX),
    _row(TIMESTAMP, {CHAR, DATE, VARCHAR, TIMESTAMPTZ, TIME}, _MATRIX),
    _row(TIMESTAMPTZ, {CHAR, DATE, VARCHAR, TIMESTAMP, TIMETZ}, _MATRIX),
    _row(TIME, {VARCHAR, TIMETZ, INTERVAL}, _MATRIX),
    _row(TIMETZ, {VARCHAR, TIME}, _MATRIX),
    # Numbers, strings and booleans become SUPER scalars [r_SUPER_type]; date and time
    # types do not: "Amazon Redshift doesn't cast date and time types to SUPER"
    # [limitations-super], hence OBJECT's rule below.
    *(_row(c, {SUPER}, "r_SUPER_type") for c in sorted(NUMERICS | STRINGS | {BOOLEAN})),
)

#: Explicit CASTs beyond the implicit ones [r_CAST_function]: character strings convert to
#: numbers, dates and times (the text must parse); to BOOLEAN only from integers
#: (``5::bool`` is true, ``5::decimal::bool`` fails: "cannot cast type numeric to boolean"
#: [limitations-super]); SUPER to any scalar, SUPER-related errors becoming NULL
#: [limitations-super]. BOOLEAN converts to no character type: only date/time/timestamp
#: and numeric values convert to character strings [c_Supported_data_types#r_Type_conversion].
EXPLICIT: Final[tuple[Conversion, ...]] = (
    _row(CHAR, NUMERICS | DATETIMES | {BOOLEAN}, "r_CAST_function"),
    _row(VARCHAR, NUMERICS | DATETIMES | {BOOLEAN, CHAR}, "r_CAST_function"),
    _row(BOOLEAN, INTEGERS, "r_CAST_function"),
    _row(SUPER, NUMERICS | STRINGS | DATETIMES | {BOOLEAN}, "limitations-super"),
)


def _index(rows: tuple[Conversion, ...]) -> dict[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = {}
    for row in rows:
        table[row.source] = table.get(row.source, frozenset()) | row.targets
    return table


_IMPLICIT = _index(IMPLICIT)
_EXPLICIT = _index(IMPLICIT + EXPLICIT)


def converts_implicitly(source: str, target: str) -> bool:
    """Redshift converts ``source`` to ``target`` without a CAST (same category included)."""
    return source in (target, NULL) or target in _IMPLICIT.get(source, frozenset())


def casts(source: str, target: str) -> bool:
    """``CAST(<source> AS <target>)`` is a documented conversion."""
    return source in (target, NULL) or target in _EXPLICIT.get(source, frozenset())


def comparable(a: str, b: str) -> bool:
    """Two values may meet in a comparison, CASE, COALESCE or UNION: one converts to the
    other, or both are numbers [c_Supported_data_types#r_Type_conversion]; SUPER compares
    with any scalar dynamically [r_SUPER_type]."""
    if SUPER in (a, b) or (a in NUMERICS and b in NUMERICS):
        return True
    return converts_implicitly(a, b) or converts_implicitly(b, a)


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Signature:
    """A function's documented arguments: ``args[i]`` is the set of categories argument
    ``i`` accepts (after implicit conversion); ``datepart`` marks a DATEPART argument."""

    name: str
    args: tuple[frozenset[str], ...]
    returns: str
    doc: str
    datepart_at: int | None = None


# a quoted literal also converts to a date or timestamp (the typed pass exempts literals)
_ANY_DATETIME = DATETIMES

SIGNATURES: Final[dict[str, Signature]] = {
    s.name: s
    for s in (
        Signature("MD5", (STRINGS,), VARCHAR, "r_MD5"),
        Signature(
            "DATEDIFF", (frozenset(), _ANY_DATETIME, _ANY_DATETIME), BIGINT,
            "r_DATEDIFF_function", datepart_at=0,
        ),
        Signature("JSON_SERIALIZE", (frozenset({SUPER}),), VARCHAR, "JSON_SERIALIZE"),
        Signature("JSON_PARSE", (STRINGS | {VARBYTE},), SUPER, "JSON_PARSE"),
        Signature("JSON_TYPEOF", (frozenset({SUPER}),), VARCHAR, "r_json_typeof"),
    )
}  # fmt: skip

#: Return types of the documented functions, OBJECT included [r_object_function: SUPER].
RETURNS: Final[dict[str, str]] = {
    **{s.name: s.returns for s in SIGNATURES.values()},
    "OBJECT": "SUPER",
}

#: Date parts DATEDIFF accepts [r_Dateparts_for_datetime_functions], abbreviations included.
DATEPARTS: Final = frozenset(
    {
        "millennium", "millennia", "mil", "mils",
        "century", "centuries", "c", "cent", "cents",
        "decade", "decades", "dec", "decs",
        "epoch",
        "year", "years", "y", "yr", "yrs",
        "quarter", "quarters", "qtr", "qtrs",
        "month", "months", "mon", "mons",
        "week", "weeks", "w",
        "day", "days", "d",
        "hour", "hours", "h", "hr", "hrs",
        "minute", "minutes", "m", "min", "mins",
        "second", "seconds", "s", "sec", "secs",
        "millisecond", "milliseconds", "ms", "msec", "msecs", "msecond", "mseconds",
        "millisec", "millisecs", "millisecon",
        "microsecond", "microseconds", "microsec", "microsecs", "usecond",
        "useconds", "us", "usec", "usecs",
    }
)  # fmt: skip

#: OBJECT('k', v, ...): keys are string literals; values are SUPER-compatible scalars, but
#: no date/time type: cast those to VARCHAR first [r_object_function].
OBJECT_DOC: Final = "r_object_function"
OBJECT_REJECTED_VALUES: Final = DATETIMES

#: JSON_SERIALIZE returns VARCHAR and fails beyond 65,535 bytes [JSON_SERIALIZE]: text
#: spliced from serialised objects is capped at 64 KB per row.
JSON_SERIALIZE_MAX_BYTES: Final = 65_535

"""Redshift column types: parse what a spec or catalog says, reduce it to one canonical text.

Canonical types are lowercase Redshift spellings with every length explicit
(``bigint``, ``varchar(255)``, ``char(1)``, ``numeric(12,2)``, ``timestamptz``,
``double precision``, ``super``...), so later stages compare and render them
without knowing about aliases such as ``int8`` or ``character varying``.
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.expressions import DataType

DType = DataType.Type
TypeKind = object  # sqlglot's DataType.Type members, used as dict keys

#: The largest VARCHAR Redshift stores, in bytes [r_Character_types].
VARCHAR_MAX = 65535
#: The largest CHAR Redshift stores, in bytes [r_Character_types].
CHAR_MAX = 4096
#: DECIMAL precision limit [r_Numeric_types201].
NUMERIC_MAX_PRECISION = 38

#: Types that need no length or precision, by sqlglot kind.
_PLAIN: dict[TypeKind, str] = {
    DType.BIGINT: "bigint",
    DType.INT: "integer",
    DType.SMALLINT: "smallint",
    DType.BOOLEAN: "boolean",
    DType.DATE: "date",
    DType.TIMESTAMP: "timestamp",
    DType.TIMESTAMPTZ: "timestamptz",
    DType.TIME: "time",
    DType.TIMETZ: "timetz",
    DType.DOUBLE: "double precision",
    DType.FLOAT: "real",
    DType.SUPER: "super",
}

#: Types PostgreSQL users reach for that Redshift lacks, with what to write instead
#: [c_unsupported-postgresql-datatypes].
_UNSUPPORTED: dict[TypeKind, str] = {
    DType.JSON: "json is not a Redshift type; use super (or varchar(n) holding JSON text)",
    DType.JSONB: "jsonb is not a Redshift type; use super (or varchar(n) holding JSON text)",
    DType.UUID: "uuid is not a Redshift type; use char(36)",
    DType.SERIAL: "serial is not a Redshift type (no sequences); use integer",
    DType.BIGSERIAL: "bigserial is not a Redshift type (no sequences); use bigint",
    DType.SMALLSERIAL: "smallserial is not a Redshift type (no sequences); use smallint",
    DType.ARRAY: "array types do not exist in Redshift; use super",
    DType.INTERVAL: "interval is not a Redshift column type; store a number of seconds (bigint)",
    DType.MONEY: "money is not a Redshift type; use numeric(19,4)",
    DType.XML: "xml is not a Redshift type; use varchar(n)",
    DType.VARBINARY: "binary types are not supported by cdcgen; store hex text in varchar(n)",
    DType.BINARY: "binary types are not supported by cdcgen; store hex text in varchar(n)",
}

_ORDERED_INTEGERS = ("smallint", "integer", "bigint")


#: Stands for a column whose declared type was rejected: the column exists (so
#: references to it are not reported again), but nothing is inferred from it.
UNRESOLVED = "unresolved"


class TypeProblem(ValueError):
    """A column type cannot be used; the message says what to write instead."""


# Cached: a spec repeats a few types thousands of times and sqlglot parses each one
# in ~0.2 ms (a 5 MB spec spent 20 s here). Arguments are str (pydantic and the
# catalog loader guarantee it); a TypeProblem is not cached, only re-raised.
@lru_cache(maxsize=4096)
def canonical_type(text: str) -> str:
    """Canonical Redshift text of a type written in a spec or catalog.

    >>> canonical_type("character varying(20)"), canonical_type("VARCHAR(MAX)"), canonical_type("int8")
    ('varchar(20)', 'varchar(65535)', 'bigint')
    """
    if not isinstance(text, str) or not text.strip():
        raise TypeProblem("a column type must be a non-empty string such as bigint or varchar(255)")
    try:
        datatype = exp.DataType.build(text.strip(), dialect="redshift")
    except (ParseError, ValueError, TypeError):
        raise TypeProblem(f"'{text}' is not a type Redshift knows") from None
    # sqlglot reads "text"/"string" as TEXT, which Redshift stores as VARCHAR(256):
    # a length nobody chose. Demand one, like for a bare varchar.
    return canonical_datatype(datatype, written=text.strip())


def canonical_datatype(datatype: exp.DataType, *, written: str | None = None) -> str:
    """Canonical text of a parsed type; raises ``TypeProblem`` for types Redshift lacks."""
    shown = written or datatype.sql("redshift").lower()
    kind = datatype.this
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind in _UNSUPPORTED:
        raise TypeProblem(f"'{shown}': {_UNSUPPORTED[kind]}")
    if kind in (DType.VARCHAR, DType.NVARCHAR, DType.TEXT):
        return f"varchar({_string_length(datatype, shown, limit=VARCHAR_MAX)})"
    if kind in (DType.CHAR, DType.NCHAR):
        length = _string_length(datatype, shown, limit=CHAR_MAX, default=1)
        return f"char({length})"
    if kind == DType.BPCHAR:
        # Redshift documents BPCHAR as CHAR(256) [r_Character_types].
        return "char(256)"
    if kind in (DType.DECIMAL, DType.BIGDECIMAL):
        return _numeric(datatype, shown)
    raise TypeProblem(
        f"'{shown}' is not supported; use one of bigint, integer, smallint, numeric(p,s), "
        "real, double precision, boolean, char(n), varchar(n), date, timestamp, timestamptz, super"
    )


def _params(datatype: exp.DataType) -> list[str]:
    return [p.name if isinstance(p, exp.DataTypeParam) else p.sql() for p in datatype.expressions]


def _string_length(
    datatype: exp.DataType, shown: str, *, limit: int, default: int | None = None
) -> int:
    params = _params(datatype)
    if not params:
        if default is not None:
            return default
        raise TypeProblem(
            f"'{shown}' has no length (Redshift would silently use 256); "
            "always give a length: varchar(n) or varchar(max)"
        )
    raw = params[0].lower()
    if raw == "max":
        return limit
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise TypeProblem(f"'{shown}': length must be between 1 and {limit} (or max)")
    return int(raw)


def _numeric(datatype: exp.DataType, shown: str) -> str:
    params = _params(datatype)
    if not all(p.isdigit() for p in params) or len(params) > 2:
        raise TypeProblem(f"'{shown}': write numeric(precision, scale), e.g. numeric(12,2)")
    # Redshift's defaults for a bare DECIMAL are precision 18, scale 0.
    precision = int(params[0]) if params else 18
    scale = int(params[1]) if len(params) > 1 else 0
    if not 1 <= precision <= NUMERIC_MAX_PRECISION or scale > precision:
        raise TypeProblem(
            f"'{shown}': precision must be 1..{NUMERIC_MAX_PRECISION} and scale at most the precision"
        )
    return f"numeric({precision},{scale})"


def string_length(canonical: str) -> int | None:
    """Declared length of a char/varchar type, else ``None``."""
    if canonical.startswith(("varchar(", "char(")):
        return int(canonical[canonical.index("(") + 1 : -1])
    return None


def numeric_precision_scale(canonical: str) -> tuple[int, int] | None:
    """(precision, scale) of a numeric type; integers count as numeric(p,0)."""
    if canonical.startswith("numeric("):
        p, s = canonical[len("numeric(") : -1].split(",")
        return int(p), int(s)
    return {"smallint": (5, 0), "integer": (10, 0), "bigint": (19, 0)}.get(canonical)


def is_integer(canonical: str) -> bool:
    return canonical in _ORDERED_INTEGERS


def is_string(canonical: str) -> bool:
    return canonical == UNRESOLVED or string_length(canonical) is not None


def is_orderable_sequence(canonical: str) -> bool:
    """Whether a column can act as a version/watermark: a point in time or a counter."""
    return (
        canonical in (UNRESOLVED,)
        or canonical
        in (
            "date",
            "timestamp",
            "timestamptz",
            *_ORDERED_INTEGERS,
        )
        or canonical.startswith("numeric(")
    )


def wider_integer(a: str, b: str) -> str:
    return max(a, b, key=_ORDERED_INTEGERS.index)


#: Characters a value of each type takes when cast to text, for concatenation lengths.
_TEXT_WIDTH = {
    "smallint": 6,
    "integer": 11,
    "bigint": 20,
    "boolean": 5,
    "date": 10,
    "timestamp": 26,
    "timestamptz": 32,
    "time": 15,
    "timetz": 21,
    "real": 15,
    "double precision": 25,
}


def text_width(canonical: str) -> int | None:
    """Bytes a value of this type needs when concatenated as text; ``None`` if unbounded."""
    length = string_length(canonical)
    if length is not None:
        return length
    numeric = numeric_precision_scale(canonical)
    if canonical.startswith("numeric(") and numeric is not None:
        return numeric[0] + 2  # sign and decimal point
    return _TEXT_WIDTH.get(canonical)


def category(canonical: str) -> str:
    """The family a type belongs to, for assignment and argument checks."""
    if is_string(canonical):
        return "text"
    if numeric_precision_scale(canonical) is not None or canonical in ("real", "double precision"):
        return "number"
    if canonical in ("date", "timestamp", "timestamptz"):
        return "datetime"
    if canonical in ("time", "timetz"):
        return "time"
    return canonical  # boolean, super


#: (value family, column family) pairs Redshift converts implicitly on INSERT/UPDATE
#: [c_Supported_data_types, "Implicit conversion types"]; text into a number or a
#: date is left out on purpose: it converts, but fails at run time on the first
#: value that does not parse, which a spec should say with an explicit CAST.
_STORABLE = {
    ("text", "text"),
    ("number", "number"),
    ("number", "text"),
    ("datetime", "datetime"),
    ("datetime", "text"),
    ("time", "time"),
    ("time", "text"),
    ("boolean", "boolean"),
    ("super", "super"),
    ("text", "super"),
    ("number", "super"),
    ("boolean", "super"),
}


def storage_problem(value: str, column: str) -> str | None:
    """Why a value of type ``value`` cannot be stored in a ``column`` column, or ``None``.

    Widths are compared in the engine's declared unit (bytes on Redshift,
    characters on PostgreSQL): source widths are declared in the same unit.
    """
    if UNRESOLVED in (value, column) or value == column:
        return None
    if (category(value), category(column)) not in _STORABLE:
        if category(value) == "boolean" and category(column) == "text":
            return (
                f"a boolean cannot be stored in {column}: Redshift has no boolean to text "
                "conversion; write CASE WHEN ... THEN 'true' ELSE 'false' END"
            )
        if cast_problem(value, column) is not None:
            return (
                f"a {value} value cannot be stored in {column}, and Redshift cannot cast it either"
            )
        return (
            f"a {value} value cannot be stored in {column}; convert it with CAST(... AS {column})"
        )
    width, length = text_width(value), string_length(column)
    if length is not None and (width is None or width > length):
        reach = "has no bounded width" if width is None else f"can reach {width}"
        return (
            f"the expression {reach} (bytes on Redshift, characters on PostgreSQL) "
            f"but the column is {column}; declare at least {column.split('(')[0]}({width})"
            if width is not None and width <= VARCHAR_MAX
            else f"the expression {reach} but the column is {column}"
        )
    return None


#: Casts Redshift refuses whatever the values [r_CAST_function, c_Supported_data_types].
_NO_CAST = {
    ("boolean", "text"),
    ("datetime", "number"),
    ("number", "datetime"),
    ("boolean", "datetime"),
    ("datetime", "boolean"),
    ("time", "number"),
}


def cast_problem(value: str, target: str) -> str | None:
    """Why Redshift rejects ``CAST(<value> AS target)`` at planning time, or ``None``."""
    if UNRESOLVED in (value, target) or (category(value), category(target)) not in _NO_CAST:
        return None
    if category(value) == "boolean":
        return f"Redshift cannot cast boolean to {target}; write CASE WHEN ... THEN 'true' ELSE 'false' END"
    return f"Redshift cannot cast {value} to {target}"

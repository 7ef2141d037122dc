"""The Redshift scalar functions a spec expression may call, as data.

A spec expression runs on Redshift (what users deploy) and on PostgreSQL (what
the tests execute). PostgreSQL accepts many functions Redshift lacks or runs
only on the leader node (``now()``, ``pg_read_file()``, ``set_config()``), so
a syntax check cannot keep a spec inside Redshift: only a list can. Each entry
names its AWS page (docs.aws.amazon.com/redshift/latest/dg/<doc>.html), the
documented signatures, what its result type is (``returns``, applied by
``inference``) and where the PostgreSQL rendering differs from sqlglot's
(``cdcgen.render.postgres``). ``tests/test_functions_postgres.py`` runs each
entry's documented examples on PostgreSQL and compares with the AWS page.

String widths are in the declared unit of the engine: bytes on Redshift,
characters on PostgreSQL. Source widths are declared in that same unit, so
summing or keeping declared widths is sound on both. One exception:
UPPER/LOWER can lengthen some multibyte characters in bytes; Redshift types
their result as the input's type (r_UPPER), so cdcgen keeps the input width.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

#: What an argument must be, checked against its inferred type.
Kind = Literal["text", "number", "datetime", "any"]

#: How the result type derives (the rule lives in ``inference``):
#: ``first`` the first argument's type; ``widest`` the widest value argument;
#: ``concat`` the sum of the parts' text widths; ``substring``/``prefix`` a
#: literal length, else the argument's width; ``replace`` the argument's width
#: grown by the literal replacement; ``moment`` timestamp (timestamptz stays);
#: ``sqlglot`` what sqlglot's annotator says; a type name is that type.
Result = Literal[
    "first",
    "widest",
    "concat",
    "substring",
    "prefix",
    "replace",
    "moment",
    "cast",
    "sqlglot",
    "integer",
    "bigint",
    "date",
]


@dataclass(frozen=True)
class Function:
    """One supported function: what a spec may write and what Redshift documents."""

    name: str
    doc: str
    signatures: tuple[str, ...]
    returns: Result
    nodes: tuple[type[exp.Expr], ...]
    #: other spellings Redshift documents as synonyms
    synonyms: tuple[str, ...] = ()
    #: (sqlglot argument, kind) pairs checked against inferred types
    arguments: tuple[tuple[str, Kind], ...] = ()
    #: how the PostgreSQL rendering differs from sqlglot's, if it does
    postgres: str = ""
    #: what to write instead when an argument is refused
    hint: str = ""

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)


_TEXT: tuple[tuple[str, Kind], ...] = (("this", "text"),)
_NUMBER: tuple[tuple[str, Kind], ...] = (("this", "number"),)

FUNCTIONS: tuple[Function, ...] = (
    Function(
        "COALESCE",
        "r_NVL_function",
        ("COALESCE(expression, expression [, expression ...])", "NVL(expression, expression)"),
        "widest",
        (exp.Coalesce,),
        synonyms=("NVL",),
    ),
    Function(
        "NULLIF",
        "r_NULLIF_function",
        ("NULLIF(expression1, expression2)",),
        "widest",
        (exp.Nullif,),
    ),
    Function(
        "CASE",
        "r_CASE_function",
        (
            "CASE WHEN condition THEN result [...] [ELSE result] END",
            "CASE expression WHEN value THEN result [...] END",
        ),
        "widest",
        (exp.Case, exp.If),
    ),
    Function(
        "CAST",
        "r_CAST_function",
        ("CAST(expression AS type)", "expression :: type"),
        "cast",
        (exp.Cast,),
    ),
    Function("UPPER", "r_UPPER", ("UPPER(string)",), "first", (exp.Upper,), arguments=_TEXT),
    Function("LOWER", "r_LOWER", ("LOWER(string)",), "first", (exp.Lower,), arguments=_TEXT),
    Function(
        "TRIM",
        "r_TRIM",
        ("TRIM([BOTH] ['characters' FROM] string)",),
        "first",
        (exp.Trim,),
        arguments=_TEXT,
    ),
    Function(
        "BTRIM", "r_BTRIM", ("BTRIM(string [, trim_chars])",), "first", (exp.Trim,), arguments=_TEXT
    ),
    Function(
        "LTRIM", "r_LTRIM", ("LTRIM(string [, trim_chars])",), "first", (exp.Trim,), arguments=_TEXT
    ),
    Function(
        "RTRIM", "r_RTRIM", ("RTRIM(string [, trim_chars])",), "first", (exp.Trim,), arguments=_TEXT
    ),
    Function(
        "SUBSTRING",
        "r_SUBSTRING",
        (
            "SUBSTRING(string, start_position [, number_characters])",
            "SUBSTRING(string FROM start_position [FOR number_characters])",
        ),
        "substring",
        (exp.Substring,),
        synonyms=("SUBSTR",),
        arguments=_TEXT,
    ),
    Function("LEFT", "r_LEFT", ("LEFT(string, integer)",), "prefix", (exp.Left,), arguments=_TEXT),
    Function(
        "RIGHT", "r_LEFT", ("RIGHT(string, integer)",), "prefix", (exp.Right,), arguments=_TEXT
    ),
    Function(
        "LEN",
        "r_LEN",
        ("LEN(expression)",),
        "integer",
        (exp.Length,),
        synonyms=("LENGTH", "CHAR_LENGTH", "CHARACTER_LENGTH", "TEXTLEN"),
        arguments=_TEXT,
    ),
    Function(
        "OCTET_LENGTH",
        "r_OCTET_LENGTH",
        ("OCTET_LENGTH(expression)",),
        "integer",
        (exp.Anonymous,),
        arguments=_TEXT,
    ),
    Function(
        "REPLACE",
        "r_REPLACE",
        ("REPLACE(string, old_chars, new_chars)",),
        "replace",
        (exp.Replace,),
        arguments=_TEXT,
    ),
    Function(
        "CONCAT",
        "r_CONCAT",
        ("CONCAT(expression1, expression2)",),
        "concat",
        (exp.Concat,),
        # sqlglot renders CONCAT for PostgreSQL, whose concat() skips NULLs; Redshift's
        # CONCAT is NULL when either side is, like ||.
        postgres="rendered as ||",
    ),
    Function(
        "ROUND", "r_ROUND", ("ROUND(number [, integer])",), "first", (exp.Round,), arguments=_NUMBER
    ),
    Function("ABS", "r_ABS", ("ABS(number)",), "first", (exp.Abs,), arguments=_NUMBER),
    Function(
        "CEIL",
        "r_CEILING_FLOOR",
        ("CEIL(number)", "CEILING(number)"),
        "first",
        (exp.Ceil,),
        synonyms=("CEILING",),
        arguments=_NUMBER,
    ),
    Function("FLOOR", "r_FLOOR", ("FLOOR(number)",), "first", (exp.Floor,), arguments=_NUMBER),
    Function(
        "TRUNC",
        "r_TRUNC",
        # TRUNC(timestamp) -> date (r_TRUNC_date) has no PostgreSQL counterpart:
        # cdcgen accepts the numeric form only; CAST(x AS DATE) is the same value.
        ("TRUNC(number [, integer])",),
        "first",
        (exp.Trunc,),
        arguments=_NUMBER,
        hint="for the date of a timestamp write CAST(... AS DATE) (r_TRUNC_date)",
    ),
    Function(
        "DATE_TRUNC",
        "r_DATE_TRUNC",
        ("DATE_TRUNC('datepart', timestamp)",),
        "moment",
        (exp.TimestampTrunc, exp.DateTrunc),
        arguments=(("this", "datetime"),),
    ),
    Function(
        "DATEDIFF",
        "r_DATEDIFF_function",
        ("DATEDIFF(datepart, date_or_timestamp, date_or_timestamp)",),
        "bigint",
        (exp.TsOrDsDiff, exp.DateDiff),
        arguments=(("this", "datetime"), ("expression", "datetime")),
        postgres="counts unit boundaries crossed, not elapsed time",
    ),
    Function(
        "DATEADD",
        "r_DATEADD_function",
        ("DATEADD(datepart, interval, date_or_timestamp)",),
        "moment",
        (exp.TsOrDsAdd, exp.DateAdd),
        arguments=(("this", "datetime"), ("expression", "number")),
    ),
    Function(
        "EXTRACT",
        "r_EXTRACT_function",
        ("EXTRACT(datepart FROM date_or_timestamp)",),
        "sqlglot",
        (exp.Extract,),
        arguments=(("expression", "datetime"),),
    ),
    Function(
        "DATE_PART",
        "r_DATE_PART_function",
        ("DATE_PART('datepart', date_or_timestamp)",),
        "sqlglot",
        (exp.Extract,),
        arguments=(("expression", "datetime"),),
    ),
    Function(
        "GREATEST",
        "r_GREATEST_LEAST",
        ("GREATEST(value [, ...])",),
        "widest",
        (exp.Greatest,),
    ),
    Function("LEAST", "r_GREATEST_LEAST", ("LEAST(value [, ...])",), "widest", (exp.Least,)),
)

BY_SPELLING: dict[str, Function] = {s: f for f in FUNCTIONS for s in f.spellings}

#: The entry of each parsed node: sqlglot normalizes spellings (NVL -> Coalesce, LEN ->
#: Length), so the written name is checked on tokens and the node decides the rules.
_NODE_TO_FUNCTION: dict[type[exp.Expr], Function] = {}
for _f in FUNCTIONS:
    for _node in _f.nodes:
        _NODE_TO_FUNCTION.setdefault(_node, _f)
_NODE_TO_FUNCTION[exp.TryCast] = _NODE_TO_FUNCTION[exp.Cast]

#: Words that stand before "(" without calling a function.
_SYNTAX_WORDS = frozenset(
    {
        "IN",
        "AND",
        "OR",
        "NOT",
        "WHEN",
        "THEN",
        "ELSE",
        "CASE",
        "BETWEEN",
        "LIKE",
        "ILIKE",
        "IS",
        "AS",
        "FROM",
        "FOR",
        "ANY",
        "ALL",
        "SOME",
        "EXISTS",
        "ON",
        "SIMILAR",
        "TO",
        "ESCAPE",
        "DISTINCT",
        "END",
        "NULL",
        "BOTH",
        "LEADING",
        "TRAILING",
    }
)


_OPERATORS = (exp.Binary, exp.Unary, exp.Predicate, exp.Connector)


def function_of(node: exp.Expr) -> Function | None:
    """The entry a parsed call belongs to, or ``None`` for an unsupported one."""
    if isinstance(node, exp.Anonymous):
        return BY_SPELLING.get(node.name.upper())
    return _NODE_TO_FUNCTION.get(type(node))


def nearest(name: str) -> str:
    """The supported function whose spelling is closest to ``name`` (difflib)."""
    spellings = sorted(BY_SPELLING)
    return max(spellings, key=lambda s: difflib.SequenceMatcher(None, name.upper(), s).ratio())


def unsupported_message(name: str, *, called: bool = True) -> str:
    shown = f"{name.upper()}()" if called else name.upper()
    return (
        f"{shown} is not a supported function: spec expressions may call only the Redshift "
        f"scalar functions cdcgen checks and renders for PostgreSQL (did you mean {nearest(name)}?)"
    )


def written_calls(tokens: list[object]) -> list[tuple[str, int]]:
    """``(name, offset)`` of every word written directly before ``(``."""
    calls = []
    texts = [str(token.text) for token in tokens]  # type: ignore[attr-defined]
    for i, text in enumerate(texts[:-1]):
        if texts[i + 1] != "(" or not text or not (text[0].isalpha() or text[0] == "_"):
            continue
        if text.upper() in _SYNTAX_WORDS or (i and texts[i - 1].upper() in ("AS", "::")):
            continue  # syntax, or a type such as varchar(40) in a cast
        token = tokens[i]
        calls.append((text, int(token.start)))  # type: ignore[attr-defined]
    return calls


def unsupported_node(tree: exp.Expr) -> exp.Func | None:
    """A call the name scan cannot see (``SYSDATE``, ``CURRENT_DATE``) and no entry covers."""
    for node in tree.walk():
        if isinstance(node, _OPERATORS) or not isinstance(node, exp.Func):
            continue  # sqlglot models AND, NOT, IN... as functions too
        if function_of(node) is None:
            return node
    return None

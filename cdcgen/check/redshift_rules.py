"""cdcgen's own Redshift rules (REDSHIFT.md): the PostgreSQL habits that sqlglot and
sqlfluff let through for Redshift.

The module is a table, :data:`RULES`: rule id -> checker, with the AWS page the rule comes
from (``docs.aws.amazon.com/redshift/latest/dg/<page>.html``). Each checker is a small
function of one :class:`~cdcgen.check.statements.Statement` that yields
``(message, offset)`` hits, offset into ``stmt.sql``.

Checks read the statement's code tokens (comments and string literals cannot produce false
hits, and constructs sqlglot rewrites on parse, like ``NOW()`` -> ``GETDATE()`` or a
dropped ``::json``, stay visible); the sqlglot AST is used where it is the better judge
(identifiers, the tables a view reads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Final, NamedTuple

from sqlglot import exp

from cdcgen.check.reserved import QUOTE_AS_ALIAS, RESERVED_WORDS
from cdcgen.check.statements import Finding, Statement, Token, parse_redshift

Hit = tuple[str, int]
Checker = Callable[[Statement], Iterator[Hit]]


class Rule(NamedTuple):
    id: str
    check: Checker
    doc: str  # AWS Database Developer Guide page


# --------------------------------------------------------------------------- token helpers


def _depths(toks: Sequence[Token]) -> list[int]:
    """Parenthesis depth of each token (an opening parenthesis has the outer depth)."""
    depths, depth = [], 0
    for t in toks:
        if t.is_op(")"):
            depth -= 1
        depths.append(depth)
        if t.is_op("("):
            depth += 1
    return depths


def _at(toks: Sequence[Token], i: int, *pattern: str) -> bool:
    """Tokens from ``i`` spell ``pattern`` (upper-case words, or operators)."""
    if i < 0 or i + len(pattern) > len(toks):
        return False
    for t, p in zip(toks[i : i + len(pattern)], pattern, strict=True):
        if t.kind == "word":
            if t.upper != p:
                return False
        elif t.text != p:
            return False
    return True


def _find(toks: Sequence[Token], *pattern: str, depth: int | None = None) -> Iterator[int]:
    """Indices where ``pattern`` starts (at parenthesis ``depth`` if given)."""
    first = pattern[0]
    starts = [i for i, t in enumerate(toks) if (t.upper if t.kind == "word" else t.text) == first]
    if not starts:
        return
    depths = _depths(toks) if depth is not None else None
    for i in starts:
        if _at(toks, i, *pattern) and (depths is None or depths[i] == depth):
            yield i


def _name_end(toks: Sequence[Token], i: int) -> int:
    """Index after a possibly qualified name (``a``, ``s.t``, ``"s"."t"``) starting at i."""
    if i >= len(toks) or toks[i].kind not in ("word", "qident"):
        return i
    i += 1
    while i + 1 < len(toks) and toks[i].is_op(".") and toks[i + 1].kind in ("word", "qident"):
        i += 2
    return i


def _close(toks: Sequence[Token], open_at: int) -> int:
    """Index of the parenthesis closing the one at ``open_at`` (or len(toks))."""
    depth = 0
    for j in range(open_at, len(toks)):
        if toks[j].is_op("("):
            depth += 1
        elif toks[j].is_op(")"):
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


def _args(toks: Sequence[Token], open_at: int) -> list[list[Token]]:
    """Comma-separated arguments of the parenthesised list opening at ``open_at``."""
    close = _close(toks, open_at)
    args: list[list[Token]] = [[]]
    depth = 0
    for t in toks[open_at + 1 : close]:
        if t.is_op("(", "["):
            depth += 1
        elif t.is_op(")", "]"):
            depth -= 1
        if depth == 0 and t.is_op(","):
            args.append([])
        else:
            args[-1].append(t)
    return [] if args == [[]] else args


def _calls(toks: Sequence[Token], *names: str) -> Iterator[int]:
    """Indices of calls ``name(`` of the given functions."""
    for i, t in enumerate(toks[:-1]):
        if t.kind == "word" and t.upper in names and toks[i + 1].is_op("("):
            yield i


def _head(stmt: Statement, *words: str) -> bool:
    return _at(stmt.tokens, 0, *words)


def _is_create(stmt: Statement, *obj: str) -> bool:
    """CREATE [OR REPLACE] [TEMP|TEMPORARY|LOCAL ...] <obj...>."""
    toks = stmt.tokens
    i = 1 if _head(stmt, "CREATE") else len(toks)
    if _at(toks, i, "OR", "REPLACE"):
        i += 2
    while i < len(toks) and toks[i].upper in ("TEMP", "TEMPORARY", "LOCAL", "UNIQUE", "CONSTRAINT"):
        i += 1
    return _at(toks, i, *obj)


def _type_positions(stmt: Statement) -> Iterator[int]:
    """Indices of tokens that start a data type: ``x::T``, ``CAST(x AS T)``, column
    definitions (CREATE TABLE, ALTER TABLE ADD COLUMN), procedure arguments and
    PL/pgSQL declarations."""
    toks = stmt.tokens
    for i, t in enumerate(toks[:-1]):
        if t.is_op("::"):
            yield i + 1
    for i in _calls(toks, "CAST", "CONVERT", "TRY_CAST"):
        close = _close(toks, i + 1)
        for j in _find(toks[i + 2 : close], "AS", depth=0):
            yield i + 2 + j + 1
    if stmt.kind == "DECLARE":
        i = 1 + int(_at(toks, 1, "CONSTANT"))
        if i < len(toks) and not _at(toks, i, "CURSOR") and not _at(toks, i, "ALIAS"):
            yield i
    open_at = _definition_list(stmt)
    if open_at is not None:
        for arg in _args(toks, open_at):
            yield from _column_type(toks, arg)
    if _head(stmt, "ALTER", "TABLE"):
        for i in _find(toks, "ADD"):
            j = i + 1 + int(_at(toks, i + 1, "COLUMN"))
            if (
                j + 1 < len(toks)
                and toks[j].kind in ("word", "qident")
                and not _at(toks, j, "CONSTRAINT")
                and not _at(toks, j, "PRIMARY")
                and not _at(toks, j, "UNIQUE")
            ):
                yield j + 1


def _definition_list(stmt: Statement) -> int | None:
    """Index of the ``(`` opening the column list of CREATE TABLE or the argument list of
    CREATE PROCEDURE, if the statement has one."""
    toks = stmt.tokens
    if not (_is_create(stmt, "TABLE") or _is_create(stmt, "PROCEDURE")):
        return None
    i = next(k for k, t in enumerate(toks) if t.is_word("TABLE", "PROCEDURE")) + 1
    if _at(toks, i, "IF", "NOT", "EXISTS"):
        i += 3
    i = _name_end(toks, i)
    return i if _at(toks, i, "(") else None


_NOT_COLUMNS = frozenset(
    {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "LIKE", "DISTKEY", "SORTKEY"}
)


def _column_type(toks: Sequence[Token], item: list[Token]) -> Iterator[int]:
    if len(item) < 2 or item[0].upper in _NOT_COLUMNS:
        return
    k = 1 + int(item[1].upper in ("IN", "OUT", "INOUT"))  # procedure argument modes
    if k < len(item):
        yield toks.index(item[k])


def _type_name(toks: Sequence[Token], i: int) -> str:
    """Upper-case type name at ``i``, two words for CHARACTER VARYING / DOUBLE PRECISION."""
    if _at(toks, i, "CHARACTER", "VARYING") or _at(toks, i, "CHAR", "VARYING"):
        return "CHARACTER VARYING"
    return toks[i].upper if i < len(toks) and toks[i].kind == "word" else ""


# --------------------------------------------------------------------------- sqlglot AST


def _ast(sql: str) -> exp.Expr | None:
    """The sqlglot Redshift tree of a statement, or None when it does not parse cleanly
    (check_sqlglot reports that)."""
    return parse_redshift(sql).tree


# --------------------------------------------------------------------------- rules


def is_distinct_from(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _find(toks, "IS"):
        j = i + 1 + int(_at(toks, i + 1, "NOT"))
        if _at(toks, j, "DISTINCT", "FROM"):
            yield (
                "IS [NOT] DISTINCT FROM is not supported; write "
                "(a = b OR (a IS NULL AND b IS NULL)) or its negation",
                toks[i].start,
            )


def _merge_at(stmt: Statement) -> int | None:
    return next(iter(_find(stmt.tokens, "MERGE", "INTO", depth=0)), None)


def merge_when_clauses(stmt: Statement) -> Iterator[Hit]:
    if _merge_at(stmt) is None:
        return
    toks = stmt.tokens
    matched = [i for i in _find(toks, "WHEN", "MATCHED", depth=0)]
    not_matched = [i for i in _find(toks, "WHEN", "NOT", "MATCHED", depth=0)]
    for name, found in (("WHEN MATCHED", matched), ("WHEN NOT MATCHED", not_matched)):
        if len(found) > 1:
            yield f"MERGE allows one {name} clause, found {len(found)}", toks[found[1]].start


def merge_conditional_when(stmt: Statement) -> Iterator[Hit]:
    if _merge_at(stmt) is None:
        return
    toks = stmt.tokens
    for i in _find(toks, "WHEN", depth=0):
        j = i + 1 + int(_at(toks, i + 1, "NOT"))
        if _at(toks, j, "MATCHED", "AND"):
            yield "MERGE does not support WHEN [NOT] MATCHED AND <condition>", toks[i].start


def merge_not_matched_by(stmt: Statement) -> Iterator[Hit]:
    if _merge_at(stmt) is None:
        return
    for i in _find(stmt.tokens, "NOT", "MATCHED", "BY", depth=0):
        yield "MERGE does not support WHEN NOT MATCHED BY SOURCE/TARGET", stmt.tokens[i].start


def merge_target_alias(stmt: Statement) -> Iterator[Hit]:
    at = _merge_at(stmt)
    if at is None:
        return
    toks = stmt.tokens
    end = _name_end(toks, at + 2)
    if end < len(toks) and not _at(toks, end, "USING"):
        yield (
            "MERGE target cannot have an alias; qualify columns with the table name",
            toks[end].start,
        )


def merge_source_table(stmt: Statement) -> Iterator[Hit]:
    at = _merge_at(stmt)
    if at is None:
        return
    toks = stmt.tokens
    using = _name_end(toks, at + 2)
    if (
        _at(toks, using, "USING")
        and using + 1 < len(toks)
        and toks[using + 1].kind not in ("word", "qident")
    ):
        yield (
            "MERGE source must be a table (stage a temp table), not a subquery or VALUES",
            toks[using + 1].start,
        )


def merge_with(stmt: Statement) -> Iterator[Hit]:
    if _head(stmt, "WITH") and any(_find(stmt.tokens, "MERGE", depth=0)):
        yield "MERGE cannot follow a WITH clause; stage the CTE in a temp table", 0


def merge_set_unqualified(stmt: Statement) -> Iterator[Hit]:
    if _merge_at(stmt) is None:
        return
    toks = stmt.tokens
    for i in _find(toks, "UPDATE", "SET", depth=0):
        depths = _depths(toks)
        j = i + 2
        while j < len(toks) and not _at(toks, j, "WHEN"):
            if (
                depths[j] == 0
                and (j == i + 2 or toks[j - 1].is_op(","))
                and _name_end(toks, j) > j + 1
            ):
                yield "MERGE ... UPDATE SET column names must be unqualified", toks[j].start
            j += 1


def on_conflict(stmt: Statement) -> Iterator[Hit]:
    for i in _find(stmt.tokens, "ON", "CONFLICT"):
        yield (
            "INSERT ... ON CONFLICT is not supported; use MERGE or DELETE + INSERT",
            stmt.tokens[i].start,
        )


def returning(stmt: Statement) -> Iterator[Hit]:
    for i in _find(stmt.tokens, "RETURNING"):
        yield "RETURNING is not supported", stmt.tokens[i].start


def sequences(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _calls(toks, "NEXTVAL", "CURRVAL", "SETVAL", "LASTVAL"):
        yield (
            f"sequences are not supported ({toks[i].text}); use IDENTITY or ROW_NUMBER()",
            toks[i].start,
        )
    if _is_create(stmt, "SEQUENCE") or _head(stmt, "ALTER", "SEQUENCE"):
        yield "sequences are not supported; use IDENTITY or ROW_NUMBER()", 0


def create_index(stmt: Statement) -> Iterator[Hit]:
    if _is_create(stmt, "INDEX"):
        yield "CREATE INDEX is not supported; use SORTKEY/DISTKEY", 0


def triggers(stmt: Statement) -> Iterator[Hit]:
    if _is_create(stmt, "TRIGGER") or _is_create(stmt, "EVENT", "TRIGGER"):
        yield "triggers are not supported", 0


def values_as_table(stmt: Statement) -> Iterator[Hit]:
    for i in _find(stmt.tokens, "(", "VALUES"):
        yield (
            "a VALUES list cannot be used as a table; use SELECT ... UNION ALL SELECT ...",
            stmt.tokens[i].start,
        )


def array_row_constructors(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _find(toks, "ARRAY", "["):
        yield (
            "ARRAY[...] constructors are not supported (SUPER arrays use ARRAY(...))",
            toks[i].start,
        )
    for i in _find(toks, "ARRAY", "(", "SELECT"):
        yield "ARRAY(SELECT ...) is not supported", toks[i].start
    for i in _calls(toks, "ROW"):
        yield "row constructors are not supported", toks[i].start
    for i in _type_positions(stmt):
        end = i + 1 + int(_type_name(toks, i) == "CHARACTER VARYING")
        if _at(toks, end, "[") or _type_name(toks, i) == "ARRAY":
            yield "array types are not supported; use SUPER", toks[i].start


_UNSUPPORTED_TYPES: Final = frozenset(
    {
        "JSON", "JSONB", "UUID", "SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4",
        "SERIAL8", "INTERVAL", "BYTEA", "XML", "MONEY", "BIT", "VARBIT", "INET", "CIDR",
        "MACADDR", "HSTORE", "TSVECTOR", "TSQUERY", "REGCLASS",
    }
)  # fmt: skip


def unsupported_types(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _type_positions(stmt):
        name = _type_name(toks, i)
        if name in _UNSUPPORTED_TYPES:
            hint = (
                "SUPER (built with OBJECT/JSON_PARSE)"
                if name.startswith("JSON")
                else "a supported type"
            )
            yield f"type {name} is not supported; use {hint}", toks[i].start


def generate_series(stmt: Statement) -> Iterator[Hit]:
    for i in _calls(stmt.tokens, "GENERATE_SERIES"):
        yield (
            "GENERATE_SERIES runs on the leader node only; it fails with table data",
            stmt.tokens[i].start,
        )


def savepoints(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    hits = set(_find(toks, "SAVEPOINT")) | set(_find(toks, "ROLLBACK", "TO"))
    for i in sorted(hits):
        yield "savepoints (SAVEPOINT, ROLLBACK TO) are not supported", toks[i].start


def truncate_in_procedure(stmt: Statement) -> Iterator[Hit]:
    if not stmt.in_procedure:
        return
    toks = stmt.tokens
    dynamic = (
        stmt.kind == "EXECUTE"
        and len(toks) > 1
        and toks[1].kind == "string"
        and (toks[1].text[1:].lstrip().upper().startswith("TRUNCATE"))
    )
    if _head(stmt, "TRUNCATE") or dynamic:
        yield "TRUNCATE commits implicitly inside a procedure; use DELETE", 0


_VARCHAR_TYPES: Final = frozenset({"VARCHAR", "CHARACTER VARYING", "NVARCHAR", "TEXT", "BPCHAR"})


def varchar_length(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _type_positions(stmt):
        name = _type_name(toks, i)
        end = i + (2 if name == "CHARACTER VARYING" else 1)
        if name in _VARCHAR_TYPES and not _at(toks, end, "("):
            yield (
                f"{name} without a length is VARCHAR(256) in Redshift; give an explicit length",
                toks[i].start,
            )


# Column names that suggest a date/time value; a heuristic, since the statement alone does
# not carry column types. Names that merely end in "date" (candidate, update) are excluded.
_DATETIME_NAME: Final = re.compile(r"(_at|_on|_ts|date|time_?stamp)$", re.IGNORECASE)
_NOT_DATETIME_NAME: Final = re.compile(r"(candidate|validate|mandate|update)$", re.IGNORECASE)
_DATETIME_FUNCTIONS: Final = frozenset(
    {
        "GETDATE", "SYSDATE", "CURRENT_DATE", "CURRENT_TIMESTAMP", "CURRENT_TIME", "NOW",
        "LOCALTIMESTAMP", "DATE_TRUNC", "DATEADD", "DATE_ADD", "ADD_MONTHS", "CONVERT_TIMEZONE",
        "TO_DATE", "TO_TIMESTAMP", "TRUNC", "LAST_DAY", "NEXT_DAY", "TIMESTAMP_CMP",
    }
)  # fmt: skip
_DATETIME_TYPES: Final = frozenset({"DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIME", "TIMETZ"})
_TEXT_TYPES: Final = frozenset(
    {"VARCHAR", "CHARACTER VARYING", "CHAR", "CHARACTER", "TEXT", "NVARCHAR"}
)


def _object_value_is_datetime(arg: list[Token]) -> bool:
    """Heuristic: the argument is (or ends as) a date/time value not cast to text."""
    if not arg:
        return False
    depths = _depths(arg)
    casts = [k for k, t in enumerate(arg) if t.is_op("::") and depths[k] == 0]
    if casts:  # x::T at the top decides
        return _type_name(arg, casts[-1] + 1) in _DATETIME_TYPES
    if _at(arg, 0, "CAST", "(") and _close(arg, 1) == len(arg) - 1:
        as_at = next(iter(_find(arg[2:-1], "AS", depth=0)), None)
        return as_at is not None and _type_name(arg, as_at + 3) in _DATETIME_TYPES
    first = arg[0]
    if (
        first.kind == "word"
        and first.upper in _DATETIME_TYPES
        and len(arg) == 2
        and arg[1].kind == "string"
    ):
        return True  # DATE '2024-01-01'
    if (
        first.kind == "word"
        and first.upper in _DATETIME_FUNCTIONS
        and (len(arg) == 1 or (arg[1].is_op("(") and _close(arg, 1) == len(arg) - 1))
    ):
        return True
    if _name_end(arg, 0) == len(arg):  # a bare (qualified) column
        name = arg[-1].text.strip('"')
        return bool(_DATETIME_NAME.search(name)) and not _NOT_DATETIME_NAME.search(name)
    return False


def object_datetime_values(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _calls(toks, "OBJECT"):
        for arg in _args(toks, i + 1):
            if _object_value_is_datetime(arg):
                text = stmt.sql[arg[0].start : arg[-1].end]
                yield (
                    f"OBJECT argument {text} looks like a date/time value; "
                    "cast it to VARCHAR first (OBJECT cannot convert date/time to SUPER)",
                    arg[0].start,
                )


# Unconfirmed for Redshift: PostgreSQL's FUNC_MAX_ARGS (100) is the conservative bound;
# AWS documents no OBJECT argument limit. Split wide payloads and join them with
# OBJECT_TRANSFORM/concatenation instead of one giant call.
MAX_FUNCTION_ARGS: Final = 100


def object_argument_count(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _calls(toks, "OBJECT"):
        n = len(_args(toks, i + 1))
        if n > MAX_FUNCTION_ARGS:
            yield (
                f"OBJECT has {n} arguments; keep function calls to {MAX_FUNCTION_ARGS} or fewer",
                toks[i].start,
            )
        elif n % 2:
            yield f"OBJECT takes key/value pairs, found {n} arguments", toks[i].start


def procedure_language(stmt: Statement) -> Iterator[Hit]:
    if not _is_create(stmt, "PROCEDURE"):
        return
    toks = stmt.tokens
    body = next((k for k, t in enumerate(toks) if t.kind == "dollar"), None)
    languages = list(_find(toks, "LANGUAGE"))
    if body is None:
        yield "CREATE PROCEDURE needs a $$ ... $$ body", 0
    elif not languages or languages[-1] < body:
        yield "write LANGUAGE plpgsql after the $$ body, as AWS documents it", toks[body].end - 1
    elif not _at(toks, languages[-1] + 1, "PLPGSQL"):
        yield "procedures must be LANGUAGE plpgsql", toks[languages[-1]].start


_RAISE_LEVELS: Final = frozenset({"NOTICE", "INFO", "LOG", "WARNING", "EXCEPTION"})


def raise_format(stmt: Statement) -> Iterator[Hit]:
    if stmt.kind != "RAISE" or len(stmt.tokens) == 1:
        return  # bare RAISE re-raises inside an exception handler
    toks = stmt.tokens
    level = toks[1]
    if level.kind != "word" or level.upper not in _RAISE_LEVELS:
        yield f"RAISE needs a level, one of {', '.join(sorted(_RAISE_LEVELS))}", level.start
    i = 2 if level.kind == "word" else 1
    if i >= len(toks) or toks[i].kind != "string":
        yield "RAISE format must be a string literal", toks[min(i, len(toks) - 1)].start
        return
    for arg in _split_commas(toks[i + 1 :]):
        if not arg or arg[0].kind != "word" or _name_end(arg, 0) != len(arg):
            text = stmt.sql[arg[0].start : arg[-1].end] if arg else ""
            yield (
                f"RAISE arguments must be simple variables, not {text!r}",
                arg[0].start if arg else 0,
            )


def get_diagnostics(stmt: Statement) -> Iterator[Hit]:
    """Redshift's one diagnostics item is the row count: ``GET DIAGNOSTICS v := ROW_COUNT``
    (AWS *c_PLpgSQL-structure*, built-in variables); no STACKED form, no other item (an
    exception handler reads SQLERRM instead)."""
    if stmt.kind != "GET":
        return
    toks = stmt.tokens
    words = [t.upper if t.kind == "word" else t.text for t in toks]
    if (
        len(toks) == 5
        and words[1] == "DIAGNOSTICS"
        and toks[2].kind == "word"
        and toks[3].is_op(":=", "=")
        and words[4] == "ROW_COUNT"
    ):
        return
    yield "Redshift supports only GET DIAGNOSTICS <variable> := ROW_COUNT", toks[0].start


def _split_commas(toks: Sequence[Token]) -> list[list[Token]]:
    if not toks:
        return []
    if not toks[0].is_op(","):
        return [list(toks)]
    parts: list[list[Token]] = []
    depth = 0
    for t in toks:
        if t.is_op("("):
            depth += 1
        elif t.is_op(")"):
            depth -= 1
        if depth == 0 and t.is_op(","):
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def update_target_alias(stmt: Statement) -> Iterator[Hit]:
    if not _head(stmt, "UPDATE"):
        return
    toks = stmt.tokens
    end = _name_end(toks, 1)
    if end < len(toks) and not _at(toks, end, "SET"):
        yield (
            "UPDATE target cannot have an alias; qualify columns with the table name",
            toks[end].start,
        )


def update_outer_join(stmt: Statement) -> Iterator[Hit]:
    if not _head(stmt, "UPDATE"):
        return
    toks = stmt.tokens
    depths = _depths(toks)
    start = next(iter(_find(toks, "FROM", depth=0)), None)
    if start is None:
        return
    stop = next((k for k in _find(toks, "WHERE", depth=0) if k > start), len(toks))
    for k in range(start, stop):
        if depths[k] == 0 and toks[k].kind == "word" and toks[k].upper in ("LEFT", "RIGHT", "FULL"):
            yield "UPDATE ... FROM cannot use an outer join", toks[k].start


def alter_add_one_column(stmt: Statement) -> Iterator[Hit]:
    if not _head(stmt, "ALTER", "TABLE"):
        return
    adds = list(_find(stmt.tokens, "ADD", depth=0))
    if len(adds) > 1:
        yield "ALTER TABLE adds one column per statement", stmt.tokens[adds[1]].start


def alter_add_column_attributes(stmt: Statement) -> Iterator[Hit]:
    if not _head(stmt, "ALTER", "TABLE"):
        return
    toks = stmt.tokens
    for i in _find(toks, "ADD", depth=0):
        for k in range(i + 1, len(toks)):
            if toks[k].is_word("IDENTITY", "DISTKEY", "SORTKEY", "GENERATED"):
                yield f"ALTER TABLE ADD COLUMN cannot add a {toks[k].upper} column", toks[k].start


_LEADER_ONLY_TIME: Final = frozenset(
    {"CURRENT_TIMESTAMP", "CURRENT_TIME", "LOCALTIMESTAMP", "LOCALTIME"}
)
_LEADER_ONLY_TIME_CALLS: Final = (
    "NOW",
    "TIMEOFDAY",
    "TRANSACTION_TIMESTAMP",
    "STATEMENT_TIMESTAMP",
    "CLOCK_TIMESTAMP",
)


def leader_node_time(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    hits = [i for i, t in enumerate(toks) if t.kind == "word" and t.upper in _LEADER_ONLY_TIME]
    hits += list(_calls(toks, *_LEADER_ONLY_TIME_CALLS))
    for i in sorted(hits):
        if i > 0 and toks[i - 1].is_op("."):
            continue  # a column named like the function
        yield (
            f"{toks[i].text} runs on the leader node only; use SYSDATE or GETDATE()",
            toks[i].start,
        )


def backslash_quote(stmt: Statement) -> Iterator[Hit]:
    for t in stmt.tokens:
        if t.kind == "string" and "\\'" in t.text:
            yield "write a quote inside a string as '' not \\'", t.start


def listagg_order(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    for i in _calls(toks, "LISTAGG"):
        close = _close(toks, i + 1)
        if not _at(toks, close + 1, "WITHIN", "GROUP"):
            yield "LISTAGG without WITHIN GROUP (ORDER BY ...) has no defined order", toks[i].start


def reserved_identifiers(stmt: Statement) -> Iterator[Hit]:
    if not stmt.is_sql:
        return
    toks = stmt.tokens
    tree = _ast(stmt.sql)
    flagged: set[int] = set()
    if tree is not None:
        positions: dict[str, list[int]] = {}
        for k, t in enumerate(toks):
            if t.kind == "word":
                positions.setdefault(t.upper, []).append(k)
        for ident in tree.find_all(exp.Identifier):
            name = ident.name.upper()
            if ident.quoted or not (
                name in RESERVED_WORDS or (name in QUOTE_AS_ALIAS and _is_table_alias(ident))
            ):
                continue
            at = next((k for k in positions.get(name, ()) if k not in flagged), None)
            if at is not None:
                flagged.add(at)
                yield (
                    f'reserved word {ident.name} used as an identifier must be quoted: "{ident.name}"',
                    toks[at].start,
                )
    # Tokens: a qualified-name part that is reserved (t.order) is never a keyword.
    for k, t in enumerate(toks):
        if k in flagged or t.kind != "word" or t.upper not in RESERVED_WORDS:
            continue
        if (k > 0 and toks[k - 1].is_op(".")) or (
            k + 2 < len(toks) and toks[k + 1].is_op(".") and toks[k + 2].kind in ("word", "qident")
        ):
            flagged.add(k)
            yield (
                f'reserved word {t.text} used as an identifier must be quoted: "{t.text}"',
                t.start,
            )


def _is_table_alias(ident: exp.Identifier) -> bool:
    return isinstance(ident.parent, exp.TableAlias)


def _view_query(stmt: Statement) -> exp.Expr | None:
    tree = _ast(stmt.sql)
    if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
        return tree.expression
    return None


def view_no_schema_binding(stmt: Statement) -> Iterator[Hit]:
    if not _is_create(stmt, "VIEW"):
        return
    toks = stmt.tokens
    if not _at(toks, len(toks) - 4, "WITH", "NO", "SCHEMA", "BINDING"):
        yield "CREATE VIEW must end WITH NO SCHEMA BINDING (late-binding view)", toks[-1].start


def view_qualified_tables(stmt: Statement) -> Iterator[Hit]:
    if not _is_create(stmt, "VIEW"):
        return
    query = _view_query(stmt)
    if query is None:
        return  # unparsable: check_sqlglot reports it
    ctes = {cte.alias_or_name.upper() for cte in query.find_all(exp.CTE)}
    for table in query.find_all(exp.Table):
        if not table.db and table.name and table.name.upper() not in ctes:
            at = next(
                (t.start for t in stmt.tokens if t.text.strip('"').upper() == table.name.upper()), 0
            )
            yield f"a late-binding view must schema-qualify every table: {table.name}", at


_NOT_IN_PROCEDURE: Final = (
    ("VACUUM",),
    ("CREATE", "DATABASE"),
    ("DROP", "DATABASE"),
    ("CREATE", "EXTERNAL", "TABLE"),
    ("PREPARE",),
    ("SET", "LOCAL"),
    ("START", "TRANSACTION"),
)


def not_in_procedure(stmt: Statement) -> Iterator[Hit]:
    if not stmt.in_procedure:
        return
    toks = stmt.tokens
    for words in _NOT_IN_PROCEDURE:
        if _at(toks, 0, *words):
            yield f"{' '.join(words)} cannot run inside a stored procedure", 0
    if _head(stmt, "ALTER", "TABLE"):
        if any(_find(toks, "APPEND")):
            yield "ALTER TABLE APPEND cannot run inside a stored procedure", 0
        for i in _find(toks, "ALTER", "COLUMN"):
            if any(_find(toks[i:], "TYPE")):
                yield "ALTER COLUMN TYPE cannot run inside a stored procedure", toks[i].start


def lock_form(stmt: Statement) -> Iterator[Hit]:
    toks = stmt.tokens
    if _head(stmt, "LOCK"):
        for i in _find(toks, "NOWAIT"):
            yield "Redshift LOCK has no NOWAIT", toks[i].start
        for i in _find(toks, "IN"):
            yield "Redshift LOCK takes no lock mode (it is always ACCESS EXCLUSIVE)", toks[i].start
    for i, t in enumerate(toks[:-1]):
        if t.kind == "word" and t.upper.startswith("PG_ADVISORY") and toks[i + 1].is_op("("):
            yield "advisory locks are not supported; LOCK the table instead", t.start


# --------------------------------------------------------------------------- the table

RULES: Final[tuple[Rule, ...]] = (
    Rule("is-distinct-from", is_distinct_from, "c_unsupported-postgresql-features"),
    # MERGE: r_MERGE (syntax, usage notes: no WITH, source is a table, not a view/subquery)
    Rule("merge-when-clauses", merge_when_clauses, "r_MERGE"),
    Rule("merge-conditional-when", merge_conditional_when, "r_MERGE"),
    Rule("merge-not-matched-by", merge_not_matched_by, "r_MERGE"),
    Rule("merge-target-alias", merge_target_alias, "r_MERGE"),
    Rule("merge-source-table", merge_source_table, "r_MERGE"),
    Rule("merge-with", merge_with, "r_MERGE"),
    Rule("merge-set-unqualified", merge_set_unqualified, "r_MERGE"),
    # c_unsupported-postgresql-features
    Rule("on-conflict", on_conflict, "c_unsupported-postgresql-features"),
    Rule("returning", returning, "c_unsupported-postgresql-features"),
    Rule("sequence", sequences, "c_unsupported-postgresql-features"),
    Rule("create-index", create_index, "c_unsupported-postgresql-features"),
    Rule("trigger", triggers, "c_unsupported-postgresql-features"),
    Rule("values-as-table", values_as_table, "c_unsupported-postgresql-features"),
    Rule("savepoint", savepoints, "c_unsupported-postgresql-features"),
    # c_unsupported-postgresql-datatypes
    Rule("array-row-constructor", array_row_constructors, "c_unsupported-postgresql-datatypes"),
    Rule("unsupported-type", unsupported_types, "c_unsupported-postgresql-datatypes"),
    # c_unsupported-postgresql-functions (leader-node only)
    Rule("generate-series", generate_series, "c_unsupported-postgresql-functions"),
    # r_Character_types: VARCHAR without a length is VARCHAR(256); TEXT is VARCHAR(256)
    Rule("varchar-length", varchar_length, "r_Character_types"),
    # r_object_function: values of datetime types cannot be converted to SUPER
    Rule("object-datetime-value", object_datetime_values, "r_object_function"),
    Rule("object-arguments", object_argument_count, "r_object_function"),
    # r_CREATE_PROCEDURE, stored-procedure-constraints, stored-procedure-transaction-management
    Rule("procedure-language", procedure_language, "r_CREATE_PROCEDURE"),
    Rule("truncate-in-procedure", truncate_in_procedure, "stored-procedure-transaction-management"),
    Rule("not-in-procedure", not_in_procedure, "stored-procedure-constraints"),
    # c_PLpgSQL-statements (RAISE)
    Rule("raise-format", raise_format, "c_PLpgSQL-statements"),
    # c_PLpgSQL-structure (built-in variables: GET DIAGNOSTICS ... ROW_COUNT only)
    Rule("get-diagnostics", get_diagnostics, "c_PLpgSQL-structure"),
    # r_UPDATE
    Rule("update-target-alias", update_target_alias, "r_UPDATE"),
    Rule("update-outer-join", update_outer_join, "r_UPDATE"),
    # r_ALTER_TABLE
    Rule("alter-add-one-column", alter_add_one_column, "r_ALTER_TABLE"),
    Rule("alter-add-column-attributes", alter_add_column_attributes, "r_ALTER_TABLE"),
    # r_GETDATE, r_SYSDATE, c_SQL_functions_leader_node_only
    Rule("leader-node-time", leader_node_time, "c_SQL_functions_leader_node_only"),
    # r_Literals / string literals: write '' (Redshift also reads \' but PostgreSQL does not)
    Rule("backslash-quote", backslash_quote, "r_character_literals"),
    # r_LISTAGG
    Rule("listagg-order", listagg_order, "r_LISTAGG"),
    # r_pg_keywords
    Rule("reserved-identifier", reserved_identifiers, "r_pg_keywords"),
    # r_CREATE_VIEW (late-binding views)
    Rule("view-no-schema-binding", view_no_schema_binding, "r_CREATE_VIEW"),
    Rule("view-qualified-tables", view_qualified_tables, "r_CREATE_VIEW"),
    # r_LOCK, c_serial_isolation
    Rule("lock-form", lock_form, "r_LOCK"),
)

RULES_BY_ID: Final = {rule.id: rule for rule in RULES}
assert len(RULES_BY_ID) == len(RULES), "duplicate rule id"


def check_redshift_rules(stmt: Statement, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """cdcgen's own Redshift rules over one statement (top level or from a procedure body)."""
    findings: list[Finding] = []
    for rule in rules:
        for message, offset in rule.check(stmt):
            findings.append(Finding(rule.id, message, stmt, stmt.line_at(offset)))
    return findings


__all__ = ["RULES", "RULES_BY_ID", "Rule", "check_redshift_rules"]

"""What every check of generated Redshift SQL shares: tokens, the statement splitter
(top-level statements and the statements inside PL/pgSQL procedure bodies), findings, and
one cached sqlglot parse per statement text.

It sits below :mod:`cdcgen.check.conformance` and the rule modules, so they import it and
not each other.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

TokenKind = Literal[
    "word", "qident", "string", "dollar", "number", "param", "op", "comment", "space"
]


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``start``/``end`` are offsets into the text given to tokenize."""

    kind: TokenKind
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and (not words or self.text.upper() in words)

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and (not ops or self.text in ops)


class SplitError(ValueError):
    """The text cannot be split: an unterminated string, comment or dollar quote."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W\d]\w*(?:\$\w*)*", re.UNICODE)
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$", re.UNICODE)
_PARAM = re.compile(r"\$\d+")
_MULTI_OPS = ("::", ":=", "<<", ">>", "<=", ">=", "<>", "!=", "||", "=>")


def tokenize(text: str, *, base: int = 0, backslash_escapes: bool = True) -> list[Token]:
    """Split SQL (or PL/pgSQL) into tokens, comments and whitespace included.

    ``backslash_escapes`` follows Redshift, where ``\\'`` inside a plain string literal is an
    escaped quote (PostgreSQL with standard_conforming_strings treats the backslash as
    text). Offsets are shifted by ``base``. Raises :class:`SplitError` on unterminated
    strings, quoted identifiers, block comments and dollar quotes.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            m = _SPACE.match(text, i)
            assert m is not None
            j, kind = m.end(), "space"
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j, kind = (n if j < 0 else j), "comment"
        elif text.startswith("/*", i):
            j, kind = _block_comment_end(text, i, base), "comment"
        elif c == "'":
            j, kind = _quoted_end(text, i, "'", backslash_escapes, base), "string"
        elif c == '"':
            j, kind = _quoted_end(text, i, '"', False, base), "qident"
        elif c == "$" and (m := _DOLLAR_TAG.match(text, i)):
            close = text.find(m.group(), m.end())
            if close < 0:
                raise SplitError(f"unterminated dollar quote {m.group()}", base + i)
            j, kind = close + len(m.group()), "dollar"
        elif c == "$" and (m := _PARAM.match(text, i)):
            j, kind = m.end(), "param"
        elif m := _WORD.match(text, i):
            j, kind = m.end(), "word"
        elif (c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit())) and (
            m := _NUMBER.match(text, i)
        ):
            j, kind = m.end(), "number"
        else:
            j = i + next((len(op) for op in _MULTI_OPS if text.startswith(op, i)), 1)
            kind = "op"
        tokens.append(Token(kind, text[i:j], base + i, base + j))  # type: ignore[arg-type]
        i = j
    return tokens


def _block_comment_end(text: str, i: int, base: int) -> int:
    depth, j = 0, i
    while j < len(text):
        if text.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    raise SplitError("unterminated block comment", base + i)


def _quoted_end(text: str, i: int, quote: str, backslash: bool, base: int) -> int:
    j = i + 1
    while j < len(text):
        c = text[j]
        if backslash and c == "\\":
            j += 2
        elif c == quote:
            if text.startswith(quote, j + 1):
                j += 2
            else:
                return j + 1
        else:
            j += 1
    what = "string literal" if quote == "'" else "quoted identifier"
    raise SplitError(f"unterminated {what}", base + i)


def code_tokens(tokens: Iterable[Token]) -> list[Token]:
    """Tokens without whitespace and comments."""
    return [t for t in tokens if t.kind not in ("space", "comment")]


# --------------------------------------------------------------------------- statements

# Kinds of procedural (non-SQL) statements found in a PL/pgSQL body. They are kept so that
# rules can inspect them (RAISE format, ROLLBACK TO SAVEPOINT), but the parsers skip them.
PROCEDURAL_KINDS = frozenset(
    {
        "ASSIGN", "CALL", "CLOSE", "COMMIT", "CONTINUE", "DECLARE", "EXECUTE", "EXIT",
        "FETCH", "GET", "MOVE", "OPEN", "RAISE", "RETURN", "ROLLBACK",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Statement:
    """One statement of a ``.sql`` file, or one statement embedded in a procedure body.

    ``sql`` is the text to check, without the terminating ``;``: for ``SELECT ... INTO v``
    the ``INTO v`` is blanked out, and PL/pgSQL conditions and assignments are checked as
    ``SELECT <expression>`` (``synthetic``). ``line`` is 1-based in ``file``; ``index`` is the
    1-based position of the top-level statement in the file, ``body_index`` the 1-based
    position inside its procedure body (None at top level).
    """

    sql: str
    file: str
    index: int
    line: int
    kind: str
    body_index: int | None = None
    synthetic: bool = False
    body: tuple[Statement, ...] = field(default=(), repr=False)

    @property
    def in_procedure(self) -> bool:
        return self.body_index is not None

    @property
    def is_sql(self) -> bool:
        """True for statements a SQL parser should accept (not RAISE, := , CALL ...)."""
        return self.kind not in PROCEDURAL_KINDS

    @property
    def location(self) -> str:
        where = f"statement {self.index}" + (
            f", body statement {self.body_index}" if self.in_procedure else ""
        )
        return f"{self.file}:{self.line} ({where})"

    def line_at(self, offset: int) -> int:
        """File line of a character offset into ``sql``."""
        return self.line + self.sql.count("\n", 0, max(offset, 0))

    def excerpt(self, width: int = 160) -> str:
        flat = " ".join(self.sql.split())
        return flat if len(flat) <= width else flat[: width - 3] + "..."

    @cached_property
    def tokens(self) -> list[Token]:
        """Code tokens (no whitespace or comments) of ``sql``; offsets are into ``sql``."""
        return code_tokens(tokenize(self.sql))

    def walk(self) -> Iterator[Statement]:
        """This statement, then the statements embedded in its body."""
        yield self
        yield from self.body


def split_statements(sql_text: str, file: str = "<string>") -> list[Statement]:
    """Split a generated ``.sql`` file into top-level statements.

    Statements end with ``;`` outside strings, quoted identifiers, comments and dollar
    quotes. A ``CREATE [OR REPLACE] PROCEDURE`` statement carries the statements of its
    PL/pgSQL body in ``body`` (see :func:`iter_statements` for a flat list).
    """
    tokens = tokenize(sql_text)
    statements: list[Statement] = []
    for chunk in _split_on_semicolons(tokens):
        code = code_tokens(chunk)
        if not code:
            continue
        start, end = code[0].start, code[-1].end
        index = len(statements) + 1
        line = line_of(sql_text, start)
        kind = code[0].upper
        body: tuple[Statement, ...] = ()
        if _is_create_procedure(code):
            body = tuple(_procedure_body(sql_text, code, file, index))
        statements.append(Statement(sql_text[start:end], file, index, line, kind, body=body))
    return statements


def iter_statements(statements: Iterable[Statement]) -> Iterator[Statement]:
    """Every statement, each procedure followed by its embedded body statements."""
    for statement in statements:
        yield from statement.walk()


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _split_on_semicolons(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    chunk: list[Token] = []
    for token in tokens:
        if token.is_op(";"):
            yield chunk
            chunk = []
        else:
            chunk.append(token)
    yield chunk


def _is_create_procedure(code: Sequence[Token]) -> bool:
    words = [t.upper for t in code[:4]]
    return words[:2] == ["CREATE", "PROCEDURE"] or words[:4] == [
        "CREATE", "OR", "REPLACE", "PROCEDURE",
    ]  # fmt: skip


# --------------------------------------------------------------------------- PL/pgSQL bodies

# Statements that begin a SQL command inside a body; anything else that is not procedural
# is also treated as SQL, so that unknown constructs reach the parsers and get reported.
_SQL_STARTS = frozenset(
    {
        "ALTER", "ANALYZE", "CREATE", "DELETE", "DROP", "GRANT", "INSERT", "LOCK", "MERGE",
        "REVOKE", "SELECT", "TRUNCATE", "UNLOAD", "UPDATE", "VACUUM", "WITH", "COPY",
    }
)  # fmt: skip
_BLOCK_ENDERS = frozenset({"IF", "LOOP", "CASE"})


def _procedure_body(text: str, code: Sequence[Token], file: str, index: int) -> Iterator[Statement]:
    dollar = next((t for t in code if t.kind == "dollar"), None)
    if dollar is None:
        return
    tag = _DOLLAR_TAG.match(dollar.text)
    assert tag is not None
    body_start = dollar.start + len(tag.group())
    body_text = text[body_start : dollar.end - len(tag.group())]
    body_tokens = tokenize(body_text, base=body_start)
    splitter = _BodySplitter(text, file, index)
    for chunk in _split_on_semicolons(body_tokens):
        splitter.feed(code_tokens(chunk))
    yield from splitter.statements


class _BodySplitter:
    """Turns the ``;``-separated chunks of a PL/pgSQL body into statements.

    Block structure (``DECLARE``, ``BEGIN``, ``EXCEPTION WHEN OTHERS THEN``, ``IF c THEN``,
    ``ELSIF``, ``ELSE``, ``LOOP``, ``WHILE c LOOP``, ``FOR r IN q LOOP``, ``<<label>>``) is
    not terminated by ``;``, so it prefixes the next statement in a chunk; it is stripped
    here, and its expressions (conditions, loop queries) are kept for checking.
    """

    def __init__(self, text: str, file: str, index: int):
        self.text = text
        self.file = file
        self.index = index
        self.declaring = False
        self.statements: list[Statement] = []

    def feed(self, chunk: list[Token]) -> None:
        rest = self._strip_block_prefixes(chunk)
        if rest:
            self._statement(rest)

    # -- block structure

    def _strip_block_prefixes(self, toks: list[Token]) -> list[Token]:
        while toks:
            head = toks[0]
            if head.is_op("<<"):
                toks = _after(toks, lambda t: t.is_op(">>"))
            elif head.is_word("DECLARE"):
                self.declaring, toks = True, toks[1:]
            elif head.is_word("BEGIN"):
                self.declaring, toks = False, toks[1:]
            elif self.declaring:
                if toks:
                    self._emit(toks, "DECLARE")
                return []
            elif head.is_word("EXCEPTION", "CONTINUE_HANDLER", "EXIT_HANDLER", "ELSE", "LOOP"):
                toks = toks[1:]
            elif head.is_word("WHEN") and (then := _find_top(toks, "THEN")) is not None:
                toks = toks[then + 1 :]
            elif (
                head.is_word("IF", "ELSIF", "ELSEIF")
                and (then := _find_top(toks, "THEN")) is not None
            ):
                self._emit_expression(toks[1:then])
                toks = toks[then + 1 :]
            elif head.is_word("WHILE") and (loop := _find_top(toks, "LOOP")) is not None:
                self._emit_expression(toks[1:loop])
                toks = toks[loop + 1 :]
            elif head.is_word("FOR") and (loop := _find_top(toks, "LOOP")) is not None:
                in_at = _find_top(toks, "IN")
                if in_at is not None:
                    source = toks[in_at + 1 : loop]
                    if source and source[0].is_word("REVERSE"):
                        source = source[1:]
                    if source and source[0].is_word("SELECT", "WITH"):
                        self._emit(source, source[0].upper)
                toks = toks[loop + 1 :]
            elif head.is_word("CASE") and (when := _find_top(toks, "WHEN")) is not None:
                toks = toks[when:]
            else:
                break
        return toks

    # -- statements

    def _statement(self, toks: list[Token]) -> None:
        head = toks[0]
        word = head.upper if head.kind == "word" else ""
        if word == "END" and (len(toks) == 1 or toks[1].upper in _BLOCK_ENDERS or len(toks) == 2):
            return  # END, END IF, END LOOP, END CASE, END label
        if word == "NULL" and len(toks) == 1:
            return
        if word == "PERFORM":
            self._emit(toks[1:], "SELECT", prefix="SELECT ")
        elif len(toks) > 1 and word and word not in _SQL_STARTS and _is_assignment(toks):
            self._emit(toks, "ASSIGN")
            op = next(i for i, t in enumerate(toks) if t.is_op(":=", "="))
            self._emit_expression(toks[op + 1 :])
        elif word in PROCEDURAL_KINDS:
            self._emit(toks, word)
        elif word in ("SELECT", "WITH"):
            self._emit(toks, word, blank=_select_into_span(toks))
        else:
            self._emit(toks, word or head.text)

    def _emit_expression(self, toks: list[Token]) -> None:
        if toks:
            self._emit(toks, "SELECT", prefix="SELECT ", synthetic=True)

    def _emit(
        self,
        toks: list[Token],
        kind: str,
        *,
        prefix: str = "",
        synthetic: bool = False,
        blank: tuple[int, int] | None = None,
    ) -> None:
        if not toks:
            return
        start, end = toks[0].start, toks[-1].end
        sql = self.text[start:end]
        if blank is not None:
            a, b = blank[0] - start, blank[1] - start
            sql = sql[:a] + re.sub(r"[^\n]", " ", sql[a:b]) + sql[b:]
        self.statements.append(
            Statement(
                sql=prefix + sql,
                file=self.file,
                index=self.index,
                line=line_of(self.text, start),
                kind=kind,
                body_index=len(self.statements) + 1,
                synthetic=synthetic,
            )
        )


def _after(toks: list[Token], stop: object) -> list[Token]:
    for i, t in enumerate(toks):
        if stop(t):  # type: ignore[operator]
            return toks[i + 1 :]
    return []


def _find_top(toks: Sequence[Token], word: str) -> int | None:
    """Index of ``word`` outside parentheses and CASE ... END, or None."""
    depth = 0
    for i, t in enumerate(toks):
        if t.is_op("("):
            depth += 1
        elif t.is_op(")"):
            depth -= 1
        elif t.kind != "word" or i == 0:
            continue
        elif t.upper == "CASE":
            depth += 1
        elif t.upper == "END" and depth > 0:
            depth -= 1
        elif depth == 0 and t.upper == word:
            return i
    return None


def _is_assignment(toks: Sequence[Token]) -> bool:
    """``name := expr`` or ``name = expr`` (also ``rec.field`` and ``arr[i]`` targets)."""
    i = 1
    while i + 1 < len(toks) and toks[i].is_op(".") and toks[i + 1].kind in ("word", "qident"):
        i += 2
    return i < len(toks) and toks[i].is_op(":=", "=")


def _select_into_span(toks: Sequence[Token]) -> tuple[int, int] | None:
    """Span of ``INTO [STRICT] target [, target ...]`` in a PL/pgSQL SELECT, if any
    (``WITH ... INSERT/UPDATE/DELETE/MERGE`` has no such INTO)."""
    depth = 0
    for i, t in enumerate(toks):
        if t.is_op("("):
            depth += 1
        elif t.is_op(")"):
            depth -= 1
        elif depth == 0 and t.is_word("INSERT", "UPDATE", "DELETE", "MERGE"):
            return None
        elif depth == 0 and t.is_word("INTO"):
            j = i + 1
            if j < len(toks) and toks[j].is_word("STRICT"):
                j += 1
            while j < len(toks) and toks[j].kind in ("word", "qident"):
                j = _name_end_at(toks, j)
                if j < len(toks) and toks[j].is_op(","):
                    j += 1
                else:
                    break
            return t.start, toks[j - 1].end
    return None


def _name_end_at(toks: Sequence[Token], j: int) -> int:
    j += 1
    while j + 1 < len(toks) and toks[j].is_op(".") and toks[j + 1].kind in ("word", "qident"):
        j += 2
    return j


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One conformance problem: which rule, what, in which statement, at which file line."""

    rule: str
    message: str
    statement: Statement
    line: int

    def __str__(self) -> str:
        return (
            f"{self.statement.file}:{self.line}: [{self.rule}] {self.message}\n"
            f"    in {self.statement.kind} (statement {self.statement.index}"
            + (
                f", body statement {self.statement.body_index}"
                if self.statement.in_procedure
                else ""
            )
            + f"): {self.statement.excerpt()}"
        )


class ConformanceError(AssertionError):
    """Generated SQL breaks Redshift rules; ``findings`` lists every problem."""

    def __init__(self, findings: Sequence[Finding], header: str = ""):
        self.findings = list(findings)
        super().__init__(format_report(self.findings, header))


def format_report(findings: Sequence[Finding], header: str = "") -> str:
    lines = [header or f"{len(findings)} Redshift conformance problem(s):"]
    lines += [str(f) for f in findings]
    return "\n".join(lines)


# --------------------------------------------------------------------------- sqlglot

_sqlglot_logger = logging.getLogger("sqlglot")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass(frozen=True)
class RedshiftParse:
    """sqlglot's reading of one statement: the trees, or the error, and logged warnings."""

    trees: tuple[exp.Expr, ...]
    warnings: tuple[str, ...]
    error: str | None = None
    error_line: int = 1  # within the statement

    @property
    def tree(self) -> exp.Expr | None:
        """The single tree of a cleanly parsed statement that is not an opaque Command."""
        if (
            self.error is None
            and len(self.trees) == 1
            and not isinstance(self.trees[0], exp.Command)
        ):
            return self.trees[0]
        return None


@functools.lru_cache(maxsize=4096)
def parse_redshift(sql: str) -> RedshiftParse:
    """Parse once per distinct statement text; shared by check_sqlglot and the own rules."""
    capture = _Capture()
    _sqlglot_logger.addHandler(capture)
    try:
        trees = tuple(
            t for t in sqlglot.parse(sql, read="redshift", error_level=ErrorLevel.RAISE) if t
        )
    except (ParseError, TokenError) as error:
        return RedshiftParse((), tuple(capture.messages), _first_line(error), _error_line(error))
    finally:
        _sqlglot_logger.removeHandler(capture)
    return RedshiftParse(trees, tuple(capture.messages))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _error_line(error: Exception) -> int:
    errors = getattr(error, "errors", None) or []
    if errors and isinstance(errors[0], dict) and errors[0].get("line"):
        return int(errors[0]["line"])
    return 1



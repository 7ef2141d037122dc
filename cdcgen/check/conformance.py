"""Conformance of generated Redshift SQL: split a ``.sql`` file into statements (including
the SQL inside PL/pgSQL procedure bodies) and run three independent checks on each:

1. ``check_sqlglot``: sqlglot's Redshift parser accepts it as the statement kind we meant.
2. ``check_sqlfluff``: sqlfluff's Redshift grammar parses it with no unparsable section.
3. ``check_redshift_rules`` (in :mod:`cdcgen.check.redshift_rules`): cdcgen's own rules
   from REDSHIFT.md, for the PostgreSQL habits both parsers let through.
4. ``check_types`` (in :mod:`cdcgen.check.types`): the typed pass, every expression's type
   against Redshift's documented conversions and function signatures; it needs the
   tables of the whole output, so files are checked with their directory's catalog.

No Redshift is reachable from the build machines, so these checks are the only guard.

The splitter, tokens, findings and the shared sqlglot parse live in
:mod:`cdcgen.check.statements`, below this module and the rule modules; they are re-exported
here for callers. The splitter is hand-written rather than borrowed: sqlglot and sqlfluff treat a procedure
body as an opaque string, and ``pglast.parse_plpgsql`` parses the inner SQL with the
PostgreSQL grammar, so it rejects Redshift-only syntax (DISTSTYLE, OBJECT keys ...).
:func:`pglast_body_statements` is the PostgreSQL cross-check for the postgres render.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from cdcgen.check.redshift_rules import check_redshift_rules
from cdcgen.check.statements import (
    ConformanceError,
    Finding,
    RedshiftParse,
    SplitError,
    Statement,
    Token,
    code_tokens,
    format_report,
    iter_statements,
    line_of,
    parse_redshift,
    split_statements,
    tokenize,
)
from cdcgen.check.types import Catalog, catalog_from_directory, catalog_from_sql, check_types

__all__ = [
    "ConformanceError",
    "Finding",
    "RedshiftParse",
    "SplitError",
    "SqlfluffOptions",
    "Statement",
    "Token",
    "assert_conformant",
    "check_directory",
    "check_file",
    "check_sql",
    "check_sqlfluff",
    "check_sqlglot",
    "code_tokens",
    "format_report",
    "iter_statements",
    "parse_redshift",
    "pglast_body_statements",
    "split_statements",
    "tokenize",
]


def pglast_body_statements(create_procedure_sql: str) -> list[tuple[int, str]]:
    """(line, SQL) of the statements PostgreSQL's PL/pgSQL parser finds in a procedure body.

    For the postgres render, and a cross-check of the hand-written splitter; it rejects
    Redshift-only SQL. Lines are 1-based in ``create_procedure_sql``; SQL is whitespace-
    normalised, with ``INTO target`` removed as PL/pgSQL does.
    """
    import pglast  # test-only dependency, imported on use

    dollar = next(t for t in tokenize(create_procedure_sql) if t.kind == "dollar")
    body_line = line_of(create_procedure_sql, dollar.start)  # pglast counts from here
    found: list[tuple[int, str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "PLpgSQL_stmt_execsql":
                    query = value["sqlstmt"]["PLpgSQL_expr"]["query"]
                    found.append((body_line + value["lineno"] - 1, " ".join(query.split())))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(pglast.parse_plpgsql(create_procedure_sql))
    return found


# --------------------------------------------------------------------------- check 1: sqlglot

# Statement kinds sqlglot 30 parses only as an opaque exp.Command; each is checked by the
# other two checks instead.
SQLGLOT_COMMAND_ALLOWED = frozenset({"LOCK", "CALL"})

def check_sqlglot(stmt: Statement) -> list[Finding]:
    """sqlglot's Redshift parser accepts the statement, as one statement, without warnings
    and without falling back to an opaque ``Command`` (LOCK and CALL excepted)."""
    if not stmt.is_sql:
        return []
    parsed = parse_redshift(stmt.sql)
    if parsed.error is not None:
        return [Finding("sqlglot", parsed.error, stmt, stmt.line + parsed.error_line - 1)]
    findings: list[Finding] = []
    if len(parsed.trees) != 1:
        findings.append(
            Finding("sqlglot", f"parsed as {len(parsed.trees)} statements", stmt, stmt.line)
        )
    for tree in parsed.trees:
        if isinstance(tree, exp.Command) and tree.name.upper() not in SQLGLOT_COMMAND_ALLOWED:
            findings.append(
                Finding(
                    "sqlglot",
                    f"not understood: parsed as an opaque {tree.name} command",
                    stmt,
                    stmt.line,
                )
            )
    for message in parsed.warnings:
        if "Falling back to parsing as a 'Command'" not in message:
            findings.append(Finding("sqlglot", f"warning: {message}", stmt, stmt.line))
    return findings


# --------------------------------------------------------------------------- check 2: sqlfluff


@functools.cache
def _sqlfluff_linter() -> object:
    from sqlfluff.core import FluffConfig, Linter  # test-only dependency, imported on use

    # The raw templater: generated SQL has no Jinja left in it, and it parses ~10% faster.
    return Linter(config=FluffConfig(overrides={"dialect": "redshift", "templater": "raw"}))


@functools.lru_cache(maxsize=4096)
def _sqlfluff_unparsable(sql: str) -> tuple[tuple[int, str], ...]:
    """(line within sql, excerpt) of each unparsable section; cached by text, since
    generated files repeat statements across pipelines."""
    parsed = _sqlfluff_linter().parse_string(sql)  # type: ignore[attr-defined]
    problems: list[tuple[int, str]] = []
    if parsed.tree is not None:
        for segment in parsed.tree.recursive_crawl("unparsable"):
            line = segment.pos_marker.line_no if segment.pos_marker else 1
            problems.append((line, " ".join(segment.raw.split())[:100]))
    if not problems:
        for violation in parsed.violations:
            problems.append((getattr(violation, "line_no", 1) or 1, violation.desc()[:200]))
    return tuple(problems)


def _sqlfluff_cached(sql: str, cache_dir: Path | None) -> tuple[tuple[int, str], ...]:
    """``_sqlfluff_unparsable`` through an on-disk cache keyed by sqlfluff version and text:
    sqlfluff parses about 5,000 characters a second, so re-runs only pay for what changed."""
    if cache_dir is None:
        return _sqlfluff_unparsable(sql)
    import sqlfluff

    key = hashlib.sha256(f"{sqlfluff.__version__}\0redshift\0{sql}".encode()).hexdigest()
    path = Path(cache_dir) / f"{key}.json"
    try:
        return tuple((int(line), str(text)) for line, text in json.loads(path.read_text()))
    except (OSError, ValueError):
        problems = _sqlfluff_unparsable(sql)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(problems))
        return problems


def check_sqlfluff(
    stmt: Statement, *, max_chars: int | None = None, cache_dir: Path | None = None
) -> list[Finding]:
    """sqlfluff's Redshift grammar parses the statement with no unparsable section.

    ``max_chars`` skips longer statements (sqlglot and the own rules still check them);
    ``cache_dir`` keeps results across runs.
    """
    if not stmt.is_sql or (max_chars is not None and len(stmt.sql) > max_chars):
        return []
    return [
        Finding(
            "sqlfluff",
            f"unparsable in sqlfluff's Redshift grammar: {excerpt!r}",
            stmt,
            stmt.line + line - 1,
        )
        for line, excerpt in _sqlfluff_cached(stmt.sql, cache_dir)
    ]


@dataclass(frozen=True)
class SqlfluffOptions:
    """How check_file/check_directory run sqlfluff: off, size budget, on-disk cache."""

    enabled: bool = True
    max_chars: int | None = None
    cache_dir: Path | None = None


# --------------------------------------------------------------------------- files


def check_sql(
    sql_text: str,
    file: str = "<string>",
    *,
    sqlfluff: SqlfluffOptions = SqlfluffOptions(),
    catalog: Catalog | None = None,
) -> list[Finding]:
    """All four checks over every statement of one file's text, bodies included; findings
    sorted by line. ``catalog`` gives the typed pass the tables of the whole output
    (default: the tables created in ``sql_text``)."""
    try:
        statements = split_statements(sql_text, file)
    except SplitError as error:
        whole = Statement(sql_text, file, 0, 1, "FILE")
        return [Finding("split", str(error), whole, line_of(sql_text, error.offset))]
    findings: list[Finding] = []
    for stmt in iter_statements(statements):
        findings += check_sqlglot(stmt)
        if sqlfluff.enabled:
            findings += check_sqlfluff(
                stmt, max_chars=sqlfluff.max_chars, cache_dir=sqlfluff.cache_dir
            )
        findings += check_redshift_rules(stmt)
    types_catalog = catalog if catalog is not None else catalog_from_sql([sql_text])
    findings += check_types(sql_text, file, types_catalog).findings
    return sorted(findings, key=lambda f: (f.line, f.statement.index, f.rule))


def check_file(
    path_or_text: str | Path, *, sqlfluff: SqlfluffOptions = SqlfluffOptions()
) -> list[Finding]:
    """Check one ``.sql`` file. A ``Path``, or a ``str`` naming an existing ``.sql`` file
    on one line, is read from disk and typed against its directory's tables; any other
    ``str`` is SQL text."""
    if isinstance(path_or_text, Path) or (
        "\n" not in path_or_text and path_or_text.endswith(".sql") and Path(path_or_text).is_file()
    ):
        path = Path(path_or_text)
        catalog = _directory_catalog(str(path.parent.resolve()))
        text = path.read_text(encoding="utf-8")
        return check_sql(text, str(path), sqlfluff=sqlfluff, catalog=catalog)
    return check_sql(path_or_text, sqlfluff=sqlfluff)


def check_directory(
    directory: str | Path, *, sqlfluff: SqlfluffOptions = SqlfluffOptions()
) -> list[Finding]:
    """Check every ``*.sql`` file under ``directory`` (recursively, in name order)."""
    findings: list[Finding] = []
    for path in sorted(Path(directory).rglob("*.sql")):
        findings += check_file(path, sqlfluff=sqlfluff)
    return findings


@functools.lru_cache(maxsize=16)
def _directory_catalog(directory: str) -> Catalog:
    """The tables and views of one output directory, for the typed pass of its files
    (cached: the per-file CI test checks each file of a directory separately)."""
    return catalog_from_directory(directory)


def assert_conformant(
    directory: str | Path, *, sqlfluff: SqlfluffOptions = SqlfluffOptions()
) -> None:
    """Raise :class:`ConformanceError` listing every finding (rule, file:line, excerpt)
    when any ``*.sql`` file under ``directory`` breaks a check, or when there is none."""
    if not any(Path(directory).rglob("*.sql")):
        raise ConformanceError([], f"no .sql files under {directory}")
    findings = check_directory(directory, sqlfluff=sqlfluff)
    if findings:
        raise ConformanceError(
            findings, f"{len(findings)} Redshift conformance problem(s) in {directory}:"
        )

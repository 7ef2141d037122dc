"""``run_log.statements`` counts what a run executes: every SQL statement of a generated
procedure is followed, in its own statement list, by a counter step that includes it.

The counter is how users see the Redshift cost driver (each statement is compiled and
queued there), so a statement a template adds without counting it is a wrong number in
the log. PostgreSQL's own PL/pgSQL parser (pglast) reads each procedure of both
renderings: Redshift procedures are PL/pgSQL blocks too (AWS, *c_PLpgSQL-structure*),
and the statements cdcgen writes into them stay within PostgreSQL's grammar (one that
did not would fail here with a parse error, not pass). On a server with
``pg_stat_statements`` the postgres counts were also compared with what it saw (equal:
docs/performance.md, "One run_log update per run"); pgserver ships no such module, and
no Redshift is reachable here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pglast
import pytest

ROOT = Path(__file__).resolve().parent.parent
PROCEDURES = sorted(ROOT.glob("generated/*/*/060_procedure__*.sql"))
STEP = re.compile(r"^v_statements := v_statements \+ (\d+)$")
#: a guarded run's (run, rebuild, rollback) own bookkeeping: counted by the counter's start
#: (``v_statements BIGINT := 3``: the lock, the id and the insert; Redshift takes the
#: start time in the same SELECT) and by the closing UPDATE's ``v_statements + 1``; a
#: failed run's UPDATE is not counted (what it counted is rolled back with it)
GUARDED = "v_statements BIGINT := 3;"
BOOKKEEPING = re.compile(
    r"^(LOCK (TABLE )?\S+\.run_log( |$)"
    r"|SELECT COALESCE\(MAX\(run_id\), 0\) \+ 1(, SYSDATE)? FROM \S+\.run_log$"
    r"|INSERT INTO \S+\.run_log |UPDATE \S+\.run_log SET status = '(succeeded|failed)')"
)


def _statement_lists(node: object, handlers: bool = True) -> Iterator[list[dict]]:
    """Every list of PL/pgSQL statements in a parse tree (bodies, branches and, unless
    ``handlers`` is false, exception handlers)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if handlers or key != "exceptions":
                yield from _statement_lists(value, handlers)
    elif isinstance(node, list):
        if node and all(
            isinstance(s, dict) and len(s) == 1 and next(iter(s)).startswith("PLpgSQL_stmt_")
            for s in node
        ):
            yield node
        for item in node:
            yield from _statement_lists(item, handlers)


def uncounted(procedure_sql: str) -> list[str]:
    """The problems of one procedure: statements no counter step covers, and counter
    steps that count another number of statements than precede them."""
    problems: list[str] = []
    guarded = GUARDED in procedure_sql
    # A guarded run's failure handler is not counted: a failed run records no count (on
    # Redshift the handler runs after the run was rolled back, and writes the failure
    # row in a transaction of its own). Any other handler's statements are counted.
    tree = pglast.parse_plpgsql(procedure_sql)
    for statements in _statement_lists(tree, handlers=not guarded):
        pending: list[str] = []
        for wrapped in statements:
            ((kind, stmt),) = wrapped.items()
            if kind == "PLpgSQL_stmt_execsql":
                sql = " ".join(stmt["sqlstmt"]["PLpgSQL_expr"]["query"].split())
                if not (guarded and BOOKKEEPING.match(sql)):
                    pending.append(f"line {stmt['lineno']}: {sql[:80]}")
            elif kind == "PLpgSQL_stmt_assign":
                step = STEP.match(" ".join(stmt["expr"]["PLpgSQL_expr"]["query"].split()))
                if step:
                    if int(step.group(1)) != len(pending):
                        problems.append(
                            f"line {stmt['lineno']} counts {step.group(1)} statements, "
                            f"{len(pending)} precede it: {pending}"
                        )
                    pending = []
        problems += [f"not counted: {p}" for p in pending]
    return problems


@pytest.mark.parametrize("path", PROCEDURES, ids=lambda p: f"{p.parts[-3]}/{p.stem[15:]}")
def test_every_statement_of_a_run_is_counted(path: Path) -> None:
    sql = path.read_text()
    if "v_statements" not in sql:  # verify, verify_deep, check_freshness: not run steps
        pytest.skip("no statement counter: not a step of a run")
    assert uncounted(sql) == []


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_an_uncounted_statement_is_found(dialect: str) -> None:
    """The check can fail: a statement added without a counter step, and a step that
    counts one statement too many."""
    sql = next(
        p
        for p in PROCEDURES
        if p.parts[-2] == dialect and p.name.endswith("sp_vendor_sync__users.sql")
    ).read_text()
    last = "  p_statements := p_statements + v_statements;"
    added = sql.replace(last, "  DELETE FROM cdc.dead_letter WHERE FALSE;\n" + last, 1)
    assert any(
        "not counted: line" in p and "DELETE FROM cdc.dead_letter" in p for p in uncounted(added)
    )
    step = re.search(r"v_statements := v_statements \+ (\d+);", sql)
    assert step is not None
    more = sql.replace(
        step.group(0), f"v_statements := v_statements + {int(step.group(1)) + 1};", 1
    )
    assert any("counts" in p for p in uncounted(more))

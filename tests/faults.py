"""Fault injection that exists only in the test database.

:func:`install` creates schema ``test_hooks`` with a control table ``faults`` and a
statement-level trigger on every persistent table a run writes (state tables,
baselines, targets). For each statement the trigger looks up ``faults``:

- ``trace``: ``RAISE NOTICE`` (table, operation) — a probe run lists every write
  step of a run, in order, even though it is rolled back;
- ``fail``: after ``skip`` matching statements, ``RAISE EXCEPTION 'injected fault at
  <table> <op> #<n>'``;
- ``sleep``: ``pg_sleep(seconds)`` — holds a run open mid-way (concurrency tests).

Nothing here touches the generated objects; the triggers are dropped with the test
database.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from tests.pipeline_harness import Pipeline

SETUP = """
CREATE SCHEMA IF NOT EXISTS test_hooks;
CREATE TABLE IF NOT EXISTS test_hooks.faults (
  kind TEXT NOT NULL,            -- trace | fail | sleep
  tbl TEXT,                      -- schema.table, NULL = any
  op TEXT,                       -- INSERT | UPDATE | DELETE, NULL = any
  skip INT NOT NULL DEFAULT 0,   -- matching statements let through before firing
  seconds FLOAT NOT NULL DEFAULT 0
);
CREATE OR REPLACE FUNCTION test_hooks.hook() RETURNS trigger AS $f$
DECLARE
  t TEXT := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
  f RECORD;
BEGIN
  FOR f IN SELECT ctid AS id, * FROM test_hooks.faults
           WHERE (tbl IS NULL OR tbl = t) AND (op IS NULL OR op = TG_OP) LOOP
    IF f.kind = 'trace' THEN
      -- a notice reaches the client even when the run is rolled back
      RAISE NOTICE 'test_hooks.trace % %', t, TG_OP;
    ELSIF f.skip > 0 THEN
      UPDATE test_hooks.faults SET skip = skip - 1 WHERE ctid = f.id;
    ELSIF f.kind = 'fail' THEN
      RAISE EXCEPTION 'injected fault at % %', t, TG_OP;
    ELSIF f.kind = 'sleep' THEN
      PERFORM pg_sleep(f.seconds);
    END IF;
  END LOOP;
  RETURN NULL;
END
$f$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION test_hooks.close_hook() RETURNS trigger AS $f$
BEGIN
  IF NEW.status = 'succeeded' AND EXISTS (SELECT 1 FROM test_hooks.faults WHERE kind = 'fail_close') THEN
    RAISE EXCEPTION 'injected fault at run close';
  END IF;
  RETURN NEW;
END
$f$ LANGUAGE plpgsql;
"""

HOOKED_KINDS = ("state_table", "baseline_table", "target_table")
#: the run_log row is how a failure is recorded: faulting it would hide the failure
NOT_FAULTED = ("cdc.run_log",)


def hooked_tables(p: Pipeline) -> list[str]:
    return [o["name"] for o in p.manifest["objects"] if o["kind"] in HOOKED_KINDS]


def install(p: Pipeline) -> None:
    p.conn.execute(SETUP)
    for t in hooked_tables(p):
        schema, name = t.split(".")
        p.conn.execute(
            f'DROP TRIGGER IF EXISTS zz_test_hook ON "{schema}"."{name}";'
            f'CREATE TRIGGER zz_test_hook BEFORE INSERT OR UPDATE OR DELETE ON "{schema}"."{name}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION test_hooks.hook()"
        )
    p.conn.execute(
        "DROP TRIGGER IF EXISTS zz_test_close ON cdc.run_log;"
        "CREATE TRIGGER zz_test_close BEFORE UPDATE ON cdc.run_log FOR EACH ROW "
        "EXECUTE FUNCTION test_hooks.close_hook()")


def clear(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM test_hooks.faults")


@dataclass(frozen=True)
class Step:
    tbl: str
    op: str
    occurrence: int  # 0 = the first statement of this (table, op) in the run

    def __str__(self) -> str:
        return f"{self.tbl} {self.op} #{self.occurrence}"


CLOSE = "run close"


def trace_run(p: Pipeline) -> list[Step]:
    """A probe run that traces every write statement, in order, and then fails at its
    very end (the 'succeeded' update of run_log): nothing of it remains."""
    clear(p.conn)
    p.conn.execute("INSERT INTO test_hooks.faults (kind) VALUES ('trace'), ('fail_close')")
    notices: list[str] = []

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary and diag.message_primary.startswith("test_hooks.trace "):
            notices.append(diag.message_primary)

    p.conn.add_notice_handler(on_notice)
    try:
        error = p.run_expecting_failure()
        assert "injected fault at run close" in error, error
    finally:
        p.conn.remove_notice_handler(on_notice)
        clear(p.conn)
    rows = [tuple(n.split(" ")[1:3]) for n in notices]
    seen: dict[tuple[str, str], int] = {}
    steps = []
    for tbl, op in rows:
        n = seen.get((tbl, op), 0)
        seen[(tbl, op)] = n + 1
        steps.append(Step(tbl, op, n))
    return steps


def arm(conn: psycopg.Connection, step: Step | str) -> None:
    clear(conn)
    if step == CLOSE:
        conn.execute("INSERT INTO test_hooks.faults (kind) VALUES ('fail_close')")
        return
    assert isinstance(step, Step)
    conn.execute("INSERT INTO test_hooks.faults (kind, tbl, op, skip) VALUES ('fail', %s, %s, %s)",
                 [step.tbl, step.op, step.occurrence])


def hold(conn: psycopg.Connection, tbl: str, op: str, seconds: float) -> None:
    """The next statement of ``op`` on ``tbl`` sleeps ``seconds`` (inside the run)."""
    clear(conn)
    conn.execute("INSERT INTO test_hooks.faults (kind, tbl, op, seconds) VALUES ('sleep', %s, %s, %s)",
                 [tbl, op, seconds])


def state(p: Pipeline) -> dict[str, list[tuple]]:
    """Every persistent table the run writes, except run_log, as sorted row lists."""
    out = {}
    for t in hooked_tables(p):
        if t in NOT_FAULTED:
            continue
        schema, name = t.split(".")
        rows = p.conn.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()
        out[t] = sorted(rows, key=repr)
    return out

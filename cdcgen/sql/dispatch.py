"""The run's dispatch: which sources and targets have work, in as few statements as
possible.

A run that changes little is mostly dispatch, and on Redshift every statement is
compiled and queued on its own: twelve probes and twelve zero-count inserts cost more
than the two statements they fold into here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan
from cdcgen.sql.builders import OnlyIf, col, derived, drop_temp, eq, lit, only_if, rows_of, var
from cdcgen.sql.ddl import into_state
from cdcgen.sql.detect import open_letters_probe, staged_probe

#: run_counts columns after the name that an idle object reports as 0: inserted, updated,
#: deleted, stale, dead-lettered; sources also read, applied, superseded, rejected.
TARGET_ZEROS = 5
SOURCE_ZEROS = 9


#: the probes' last column: whether a dead letter of an earlier run is open
#: (:func:`cdcgen.sql.detect.open_letters_probe`)
OPEN_LETTERS_COLUMN = "open_letters"


def probe_column(i: int) -> str:
    return f"staged_{i}"


def probes(p: PipelinePlan, sources: Sequence[SourcePlan]) -> exp.Select:
    """One row: per source, 1 if its probe found something to detect, else 0; then
    whether a dead letter of an earlier run is open (the sources' detections close
    letters only then).

    Example: ``SELECT (SELECT COUNT(*) FROM (probe of companies) AS cdc__probe) AS
    staged_1, …`` — every probe in one statement."""
    counts = [
        exp.alias_(rows_of(staged_probe(p, s), "cdc__probe"), probe_column(i), copy=False)
        for i, s in enumerate(sources, 1)
    ]
    opened = exp.alias_(open_letters_probe(p), OPEN_LETTERS_COLUMN, copy=False)
    return exp.select(*counts, opened)


def drop_step_temps(working: Sequence[str], names: Sequence[str]) -> OnlyIf:
    """One ``DROP TABLE IF EXISTS`` of every temp table the dispatched steps may make,
    run only when one of the ``working`` variables is above zero (a no-op run makes no
    statement). Temp tables outlive a call within a session, so a run in a session that
    ran before would find them; a drop in each step cost a statement per step.

    Example: ``IF v_staged_1 > 0 OR v_staged_2 > 0 THEN DROP TABLE IF EXISTS …``."""
    return only_if(" OR ".join(f"{v} > 0" for v in working), drop_temp(*names))


def _union_all(a: exp.Query, b: exp.Query) -> exp.Query:
    return exp.union(a, b, distinct=False)


def idle_counts(p: PipelinePlan, objects: Sequence[tuple[str, str, str]], zeros: int) -> exp.Insert:
    """The zero counts rows of every ``(kind, name, variable)`` whose variable is 0, in
    one INSERT. Redshift has no ``VALUES`` list in ``FROM``: the rows are a ``UNION
    ALL`` of one-row selects."""
    rows: list[exp.Query] = [
        exp.select(
            exp.alias_(lit(kind), "object_kind", copy=False),
            exp.alias_(lit(name), "object_name", copy=False),
            exp.alias_(var(variable), "changes", copy=False),
        )
        for kind, name, variable in objects
    ]
    listed = functools.reduce(_union_all, rows)
    query = (
        exp.select(
            var("p_run_id"),
            lit(p.name),
            col("object_kind"),
            col("object_name"),
            *[lit(0) for _ in range(zeros)],
        )
        .from_(
            derived(listed, "cdc__idle"),
            copy=False,
        )
        .where(eq(col("changes"), lit(0)), copy=False)
    )
    return into_state(p, "run_counts", query)

"""``sp_<p>_undo(rollback_run, run)``: undo the latest successful run from the logs.

``sp_<p>_rollback(run_id)`` calls it once; ``sp_<p>_rollback_to(run_id)`` calls it for
every later run, newest first, in one transaction. Facts and baselines come back from
the logs' before-images, SCD2 versions from ``<dimension>__version_log``, tombstones
from ``<source>__deleted_log`` and watermarks from ``watermark_log``.

Undo is itself logged: every undone change gets a compensating row (inverse op,
images swapped) with a new LSN, so the logs stay append-only and replaying
``change_log`` from empty still reproduces the baseline.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, Table, TargetPlan
from cdcgen.sql import ddl, nodes
from cdcgen.sql.builders import (
    OP,
    and_all,
    case,
    changed_rows,
    col,
    delete_using,
    eq,
    insert,
    is_null,
    joined,
    keys_equal,
    lit,
    next_in_sequence,
    op_in,
    position_in_list,
    table,
    temp_table,
    update_from,
    var,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.tables import (
    REMOVED_RUN_ID,
    RUN_ID,
    VERSION_ACTION,
    surrogate_key,
    tombstone_log,
    tombstones,
    version_log,
)

TARGET_RUN = "p_target_run"
NEW = "new__"


def _undo_rows(
    name: str,
    log: str,
    where: exp.Expression,
    key: tuple[str, ...],
    columns: list[tuple[str, str]],
    lean: Table | None = None,
) -> list[exp.Expression]:
    """A typed temp table of the run's logged changes: op, after-image key, before row.

    ``lean``: the table the log's ``audit: changed`` images belong to. An update's before
    image then holds only its changed columns; the others did not change in the run
    being undone (the newest), so the table's current row still holds them.
    Built empty by CTAS and filled by INSERT, so no PL/pgSQL variable sits in a CTAS."""
    types = dict(columns)
    names = [c for c, _ in columns]  # the order the images were written in (sync.image)
    l_, cur = "l", "cdc__current"

    def read(image: str, c: str) -> exp.Expression:
        return nodes.payload_get(col(image, l_), c, types[c], names)

    def before(c: str) -> exp.Expression:
        if lean is None or c in key:
            return read("before_row", c)
        named_at = position_in_list(col("changed_columns", l_), c)
        unchanged = and_all([eq(col("op", l_), lit("U")), eq(named_at, lit(0))])
        return case([(unchanged, col(c, cur))], read("before_row", c))

    select = exp.select(
        exp.alias_(col("op", l_), OP),
        *[exp.alias_(read("after_row", k), NEW + k) for k in key],
        *[exp.alias_(before(c), c) for c, _ in columns],
    ).from_(table(log, l_), copy=False)
    if lean is not None:
        on = and_all(eq(col(k, cur), read("before_row", k)) for k in key)
        select = select.join(joined(table(lean, cur), "left"), on=on, copy=False)
    empty = select.copy().where(lit(False), copy=False)
    filled = select.where(where, copy=False)
    names = [OP, *(NEW + k for k in key), *(c for c, _ in columns)]
    return [*temp_table(name, empty), insert(name, names, filled)]


def _restore(
    p: PipelinePlan, name: str, target: Table, key: tuple[str, ...], columns: list[str]
) -> list[exp.Expression]:
    """Delete what the run inserted; put back the before image of what it updated or deleted.

    What a ``MERGE`` of the before images did, written as a run writes its facts: an
    ``UPDATE … FROM`` of the keys present (only ``columns``, so a fact's unmapped
    columns keep their values), then an ``INSERT`` of the keys absent. Redshift's
    ``MERGE`` needs a plain-table source, so it cost one more temp copy, and this
    project cannot try its target naming against a cluster; so no generated statement
    is a ``MERGE``."""
    inserted = delete_using(
        target,
        name,
        and_all([*(eq(col(k, target.name), col(NEW + k, name)) for k in key), op_in(name, "I")]),
    )
    restored = [c for c in columns if c not in key]
    updated = [update_from(target, name, key, restored, op_in(name, "U", "D"))] if restored else []
    current = "cdc__current"
    present = (
        exp.select(lit(1))
        .from_(table(target, current), copy=False)
        .where(keys_equal(key, current, name), copy=False)
    )
    absent = changed_rows(name, columns, "U", "D").where(exp.Not(this=exp.Exists(this=present)), copy=False)
    return [inserted, *updated, insert(target, columns, absent)]


def _inverse_op(alias: str) -> exp.Expression:
    logged = col("op", alias)
    return case([(eq(logged, lit("I")), lit("D")), (eq(logged.copy(), lit("D")), lit("I"))], logged.copy())


def _compensate_change_log(p: PipelinePlan, s: SourcePlan) -> exp.Insert:
    log = f"{p.cdc_schema}.change_log"
    l_ = "l"
    # undo in reverse order of the original changes
    order = [exp.Ordered(this=col("lsn", l_), desc=True)]
    query = (
        exp.select(
            next_in_sequence(log, "lsn", order),
            var("p_run_id"),
            col("pipeline", l_),
            col("source", l_),
            _inverse_op(l_),
            col("key_text", l_),
            col("changed_columns", l_),
            col("after_row", l_),
            col("before_row", l_),
            col("source_updated_at", l_),
            nodes.RunTimestamp(),
        )
        .from_(table(log, l_), copy=False)
        .where(_logged_by(p, l_, "source", s.name), copy=False)
    )
    return into_state(p, "change_log", query)


def _compensate_fact_log(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    log = f"{p.cdc_schema}.fact_change_log"
    l_ = "l"
    query = (
        exp.select(
            var("p_run_id"),
            col("pipeline", l_),
            col("target", l_),
            _inverse_op(l_),
            col("key_text", l_),
            col("changed_columns", l_),
            col("after_row", l_),
            col("before_row", l_),
            nodes.RunTimestamp(),
        )
        .from_(table(log, l_), copy=False)
        .where(_logged_by(p, l_, "target", t.name), copy=False)
    )
    return into_state(p, "fact_change_log", query)


def _logged_by(p: PipelinePlan, alias: str, kind: str, name: str) -> exp.Expression:
    return and_all(
        [
            eq(col("run_id", alias), var(TARGET_RUN)),
            eq(col("pipeline", alias), lit(p.name)),
            eq(col(kind, alias), lit(name)),
        ]
    )


def fact_undo(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    name = p.temp(t.name, "undo")
    columns = [(c.name, c.type) for c in t.columns]
    where = _logged_by(p, "l", "target", t.name)
    lean = t.table if t.audit == "changed" else None
    return [
        *_undo_rows(name, f"{p.cdc_schema}.fact_change_log", where, t.key, columns, lean),
        *_restore(p, name, t.table, t.key, list(t.column_names)),
        _compensate_fact_log(p, t),
    ]


def source_undo(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    name = p.temp(s.name, "undo")
    columns = [(c.name, c.type) for c in s.columns]
    where = _logged_by(p, "l", "source", s.name)
    lean = s.baseline if s.audit == "changed" else None
    return [
        *_undo_rows(name, f"{p.cdc_schema}.change_log", where, s.key, columns, lean),
        *_restore(p, name, s.baseline, s.key, list(s.column_names)),
        _compensate_change_log(p, s),
    ]


def dimension_undo(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """Remove the versions the run opened and write back the ones it closed or
    overwrote, from the version log; the log keeps the removed surrogate keys, so the
    high-water mark stays and no key is given twice."""
    log = version_log(p, t)
    by_run = [eq(col(RUN_ID, log.name), var(TARGET_RUN))]
    sk = surrogate_key(t)
    same = eq(col(sk, t.table.name), col(sk, log.name))
    opened = delete_using(
        t.table, str(log), and_all([same, *by_run, eq(col(VERSION_ACTION, log.name), lit("O"))])
    )
    columns = [c.name for c in ddl.target_table(t).columns if c.name != sk]
    closed = exp.Update(
        this=table(t.table),
        expressions=[eq(col(c), col(c, log.name)) for c in columns],
        from_=exp.From(this=table(log)),
        where=exp.Where(
            this=and_all(
                [same.copy(), *(b.copy() for b in by_run), eq(col(VERSION_ACTION, log.name), lit("B"))]
            )
        ),
    )
    return [opened, closed, _compensate_fact_log(p, t)]


def tombstone_undo(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Forget the tombstones the run added; put back the ones it removed."""
    graves = tombstones(p, s)
    added = exp.Delete(
        this=table(graves), where=exp.Where(this=eq(col("deleted_run_id"), var(TARGET_RUN)))
    )
    columns = [*s.key, s.updated_at, "deleted_run_id"]
    removed = (
        exp.select(*[col(c) for c in columns])
        .from_(table(tombstone_log(p, s)), copy=False)
        .where(eq(col(REMOVED_RUN_ID), var(TARGET_RUN)), copy=False)
    )
    return [added, insert(graves, columns, removed)]


def watermark_undo(p: PipelinePlan) -> list[exp.Expression]:
    """Every watermark the run moved, back to its row before the run (watermark_log)."""
    mark = Table(p.cdc_schema, "watermark")
    log = Table(p.cdc_schema, "watermark_log")
    match = [
        eq(col("run_id", log.name), var(TARGET_RUN)),
        eq(col("pipeline", log.name), lit(p.name)),
        eq(col("pipeline", mark.name), col("pipeline", log.name)),
        eq(col("source", mark.name), col("source", log.name)),
    ]
    restore = exp.Update(
        this=table(mark),
        expressions=[
            eq(col("value"), col("value", log.name)),
            eq(col("updated_at"), col("updated_at", log.name)),
            eq(col("previous_value"), col("previous_value", log.name)),
            eq(col("run_id"), col("previous_run_id", log.name)),
        ],
        from_=exp.From(this=table(log)),
        where=exp.Where(
            this=and_all([*match, exp.Not(this=is_null(col("value", log.name)))])
        ),
    )
    drop_new = delete_using(
        mark,
        str(log),
        and_all([*(m.copy() for m in match), is_null(col("value", log.name))]),
    )
    return [restore, drop_new]


def state_undo(p: PipelinePlan) -> list[exp.Expression]:
    mark = f"{p.cdc_schema}.watermark"
    by_run = and_all([eq(col("pipeline"), lit(p.name)), eq(col("run_id"), var(TARGET_RUN))])
    restore_mark = exp.Update(
        this=table(mark),
        expressions=[eq(col("value"), col("previous_value")), eq(col("run_id"), exp.null())],
        where=exp.Where(this=and_all([by_run, exp.Not(this=is_null(col("previous_value")))])),
    )
    drop_first_mark = exp.Delete(
        this=table(mark),
        where=exp.Where(this=and_all([by_run.copy(), is_null(col("previous_value"))])),
    )
    # dead letters of the undone run are found again when its rows are re-read
    forget_dead = exp.Delete(
        this=table(f"{p.cdc_schema}.dead_letter"),
        where=exp.Where(
            this=and_all([eq(col("pipeline"), lit(p.name)), eq(col("run_id"), var(TARGET_RUN))])
        ),
    )
    # dead letters the undone run resolved are open again: the row it applied is undone
    reopen_dead = exp.Update(
        this=table(f"{p.cdc_schema}.dead_letter"),
        expressions=[eq(col("resolved_run_id"), exp.null()), eq(col("resolved_at"), exp.null())],
        where=exp.Where(
            this=and_all(
                [eq(col("pipeline"), lit(p.name)), eq(col("resolved_run_id"), var(TARGET_RUN))]
            )
        ),
    )
    mark_run = exp.Update(
        this=table(f"{p.cdc_schema}.run_log"),
        expressions=[eq(col("status"), lit("rolled_back"))],
        where=exp.Where(this=eq(col("run_id"), var(TARGET_RUN))),
    )
    # restore_mark and drop_first_mark serve runs from before watermark_log existed;
    # where the log has the run, watermark_undo then puts back the exact row
    return [restore_mark, drop_first_mark, *watermark_undo(p), forget_dead, reopen_dead, mark_run]


def undo_statements(p: PipelinePlan) -> list[exp.Expression]:
    """Targets first, then baselines and tombstones (reverse of the run's order), then
    state."""
    stmts: list[exp.Expression] = []
    for t in reversed(p.targets):
        stmts += fact_undo(p, t) if t.kind == "fact" else dimension_undo(p, t)
    for s in reversed(p.sources):
        stmts += source_undo(p, s) + tombstone_undo(p, s)
    return stmts + state_undo(p)

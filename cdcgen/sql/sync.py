"""Step 5 and 6 of a run, per source: apply the detected changes to the baseline,
log them with a gapless LSN, advance the watermark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, TargetPlan
from cdcgen.sql import nodes
from cdcgen.sql.builders import (
    OP,
    and_all,
    as_text,
    case,
    cast,
    changed_rows,
    chg,
    col,
    concat,
    delete_changed,
    delete_using,
    derived,
    eq,
    insert,
    is_null,
    joined,
    keys_equal,
    lit,
    next_in_sequence,
    old,
    only_if,
    op_in,
    table,
    var,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.detect import delta_name, staged_name, tombstones
from cdcgen.sql.tables import REMOVED_RUN_ID, tombstone_log


def key_text(
    keys: tuple[str, ...],
    alias: str | None,
    types: Mapping[str, str],
    *,
    fallback_prefix: str | None,
) -> exp.Expression:
    """The key as text ('12' or '12|7'), for logs a human reads. ``types``: column types."""
    parts: list[exp.Expression] = []
    for i, k in enumerate(keys):
        value: exp.Expression = col(k, alias)
        if fallback_prefix is not None:
            value = exp.Coalesce(this=value, expressions=[col(fallback_prefix + k, alias)])
        if i:
            parts.append(lit("|"))
        parts.append(as_text(value, types[k], 256))
    return concat(parts)


def changed_columns(columns: tuple[str, ...], alias: str) -> exp.Expression:
    """'name,status' for an update: the list of columns whose value changed."""
    parts = [case([(col(chg(c), alias), lit("," + c))], lit("")) for c in columns]
    listed = concat(parts)
    return exp.Substring(this=listed, start=lit(2), length=lit(65535))


def image(columns: list[tuple[str, str]], alias: str, prefix: str = "") -> nodes.RowPayload:
    return nodes.payload([(c, col(prefix + c, alias), t) for c, t in columns])


def audited(
    columns: list[tuple[str, str]], key: Sequence[str], audit: str
) -> list[tuple[str, str]]:
    """The columns a row image is laid out over: all of them, or the key only (``audit:
    keys``: building and writing wide images was most of a large run)."""
    return [(c, t) for c, t in columns if c in key] if audit == "keys" else columns


def before_image(
    columns: list[tuple[str, str]], key: Sequence[str], audit: str, alias: str
) -> exp.Case:
    """A change row's old image: none for an insert; under ``audit: changed`` an update's
    holds the key and the old values of its changed columns only."""
    whole = image(columns, alias, "old__")
    if audit != "changed":
        return case([(op_in(alias, "I"), exp.null())], whole)
    lean = changed_image(columns, key, alias, "old__")
    return case([(op_in(alias, "I"), exp.null()), (op_in(alias, "D"), whole)], lean)


def after_image(
    columns: list[tuple[str, str]], key: Sequence[str], audit: str, alias: str
) -> exp.Case:
    """A change row's new image: none for a delete; under ``audit: changed`` an update's
    holds the key and the new values of its changed columns only."""
    whole = image(columns, alias)
    if audit != "changed":
        return case([(op_in(alias, "D"), exp.null())], whole)
    lean = changed_image(columns, key, alias)
    return case([(op_in(alias, "D"), exp.null()), (op_in(alias, "I"), whole)], lean)


def changed_image(
    columns: list[tuple[str, str]], key: Sequence[str], alias: str, prefix: str = ""
) -> nodes.SparsePayload:
    """The key and the changed columns of an update (``chg__<c>`` flags), laid out like
    the whole row, so every reader finds a column at the same path.

    On a 42-column source, two such images cost about a quarter of two whole ones
    (docs/performance.md): most of an image's cost is turning values into JSON."""

    def value(c: str) -> exp.Expression:
        v = col(prefix + c, alias)
        return v if c in key else nodes.WhenChanged(this=v, flag=col(chg(c), alias))

    return nodes.SparsePayload(this=nodes.payload([(c, value(c), t) for c, t in columns]))


def baseline_statements(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Replace what changed: delete the baseline rows of deleted and updated keys, then
    insert the new rows of inserted and updated keys, straight from the delta.

    The baseline holds the source's columns and nothing else, so a replaced row loses
    nothing, and the delta holds one row per key. Redshift documents this as merge
    method 1, replacing existing rows (t_updating-inserting-using-staging-tables);
    MERGE would need a plain-table source: a temp copy of the upserts and two more
    statements per changed source and run (docs/performance.md)."""
    delta = delta_name(p, s)
    return [
        delete_changed(s.baseline, delta, s.key, "D", "U"),
        insert(s.baseline, s.column_names, changed_rows(delta, s.column_names, "I", "U")),
    ]


def logged_change(p: PipelinePlan, o: SourcePlan | TargetPlan, alias: str) -> list[exp.Expression]:
    """The columns a source's ``change_log`` row and a target's ``fact_change_log`` row
    share: run id, pipeline, object, op, key text, changed columns (an update's) and the
    two row images as ``o.audit`` lays them out."""
    typed = [(c.name, c.type) for c in o.columns]
    imaged = audited(typed, o.key, o.audit)
    return [
        var("p_run_id"),
        lit(p.name),
        lit(o.name),
        col(OP, alias),
        key_text(o.key, alias, dict(typed), fallback_prefix="old__"),
        case([(op_in(alias, "U"), changed_columns(o.column_names, alias))], exp.null()),
        before_image(imaged, o.key, o.audit, alias),
        after_image(imaged, o.key, o.audit, alias),
    ]


def change_log_insert(p: PipelinePlan, s: SourcePlan) -> exp.Insert:
    """One row per source change. LSN = max + row number, gapless and ordered because
    the run holds the lock (Redshift IDENTITY is neither)."""
    d = "d"
    log = f"{p.cdc_schema}.change_log"
    order = [
        exp.Ordered(this=exp.Coalesce(this=col(k, d), expressions=[col(old(k), d)])) for k in s.key
    ]
    lsn = next_in_sequence(log, "lsn", order)
    query = (
        exp.select(lsn, *logged_change(p, s, d), _source_time(s, d), nodes.RunTimestamp())
        .from_(table(delta_name(p, s), d), copy=False)
        .where(op_in(d, "I", "U", "D"), copy=False)
    )
    return into_state(p, "change_log", query)


def _source_time(s: SourcePlan, d: str) -> exp.Expression:
    """``source_updated_at``: the version's time. An integer version (design §2) is no
    time: NULL there, and the version stays in the row images."""
    if not nodes.is_temporal(s.type_of(s.updated_at)):
        return cast(exp.null(), "timestamp")
    return exp.Coalesce(this=col(s.updated_at, d), expressions=[col(old(s.updated_at), d)])


def watermark_statements(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Advance the append-mode watermark to the newest staged row this run saw."""
    wm = s.watermark_column
    if wm is None:
        return []
    mark = f"{p.cdc_schema}.watermark"
    newest = exp.Subquery(
        this=exp.select(cast(exp.Max(this=col(wm)), "varchar(64)")).from_(
            table(staged_name(p, s)), copy=False
        )
    )
    this_source = and_all([eq(col("pipeline"), lit(p.name)), eq(col("source"), lit(s.name))])
    update = exp.Update(
        this=table(mark),
        expressions=[
            # previous_value and run_id let sp_<p>_rollback put the watermark back
            eq(col("previous_value"), col("value")),
            eq(col("value"), newest),
            eq(col("run_id"), var("p_run_id")),
            eq(col("updated_at"), nodes.RunTimestamp()),
        ],
        where=exp.Where(this=and_all([this_source, exp.Not(this=is_null(newest.copy()))])),
    )
    first = (
        exp.select(lit(p.name), lit(s.name), col("value", "m"), var("p_run_id"), nodes.RunTimestamp())
        .from_(
            _newest_value(newest, "m"),
            copy=False,
        )
        .where(
            and_all(
                [
                    exp.Not(this=is_null(col("value", "m"))),
                    exp.Not(
                        this=exp.Exists(
                            this=exp.select(lit(1)).from_(table(mark)).where(this_source.copy())
                        )
                    ),
                ]
            ),
            copy=False,
        )
    )
    return [
        _watermark_log_insert(p, s, newest),
        update,
        insert(mark, ["pipeline", "source", "value", "run_id", "updated_at"], first),
    ]


def _newest_value(newest: exp.Subquery, alias: str) -> exp.Subquery:
    """``(SELECT MAX(<watermark column>) AS value FROM <staged copy>) AS alias``."""
    query = newest.this.copy()
    return derived(query.select(exp.alias_(query.expressions[0], "value"), append=False), alias)


def _watermark_log_insert(p: PipelinePlan, s: SourcePlan, newest: exp.Subquery) -> exp.Insert:
    """Before the watermark moves: its row as it is (all NULL when there is none yet),
    so a rollback to any earlier run restores it exactly (``cdc.watermark_log``)."""
    w = "w"
    on = and_all([eq(col("pipeline", w), lit(p.name)), eq(col("source", w), lit(s.name))])
    query = (
        exp.select(
            var("p_run_id"),
            lit(p.name),
            lit(s.name),
            col("value", w),
            col("updated_at", w),
            col("previous_value", w),
            col("run_id", w),
        )
        .from_(
            _newest_value(newest, "m"),
            copy=False,
        )
        .join(joined(table(f"{p.cdc_schema}.watermark", w), "left"), on=on, copy=False)
        .where(exp.Not(this=is_null(col("value", "m"))), copy=False)
    )
    return into_state(p, "watermark_log", query)


#: A source sync's arguments: how many inserts and deletes its detection counted
#: (``run_counts``). Only inserts and deletes touch tombstones, and most runs of most
#: sources are updates only: their three tombstone statements are skipped.
INSERTED = "p_inserted"
DELETED = "p_deleted"


def tombstone_statements(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Remember deleted keys with the deleting version; forget them when re-inserted
    (or deleted again). Snapshot sources remember none: the snapshot itself is the truth
    about existence. Each statement runs only when the run has the inserts or deletes
    it reads (:data:`INSERTED`, :data:`DELETED`)."""
    delta = delta_name(p, s)
    graves = tombstones(p, s)
    forget = delete_using(
        graves, delta,
        and_all(
            [
                *(eq(col(k, graves.name), exp.Coalesce(this=col(k, delta), expressions=[col(old(k), delta)])) for k in s.key),
                op_in(delta, "I", "D"),
            ]
        ),
    )
    # what the forget removes, kept for a rollback to put back
    g = "g"
    removed = (
        exp.select(*[col(c, g) for c in (*s.key, s.updated_at, "deleted_run_id")], var("p_run_id"))
        .from_(table(graves, g), copy=False)
        .join(
            joined(table(delta, "d"), "inner"),
            on=and_all(
                [
                    *(eq(col(k, g), exp.Coalesce(this=col(k, "d"), expressions=[col(old(k), "d")])) for k in s.key),
                    op_in("d", "I", "D"),
                ]
            ),
            copy=False,
        )
    )
    keep = insert(
        tombstone_log(p, s), [*s.key, s.updated_at, "deleted_run_id", REMOVED_RUN_ID], removed
    )
    touched = f"{INSERTED} > 0 OR {DELETED} > 0"
    kept = only_if(touched, keep, forget)
    if s.delete_kind in ("none", "snapshot"):
        return [kept]
    remember = exp.select(
        *[col(old(k)) for k in s.key], col(s.updated_at), var("p_run_id")
    ).from_(table(delta), copy=False).where(op_in(None, "D"), copy=False)
    graves_row = [*s.key, s.updated_at, "deleted_run_id"]
    return [kept, only_if(f"{DELETED} > 0", insert(graves, graves_row, remember))]


def changes_statements(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Baseline, tombstones and change log: only needed when the source has changes."""
    return [
        *baseline_statements(p, s),
        *tombstone_statements(p, s),
        change_log_insert(p, s),
    ]


__all__ = ["changes_statements", "keys_equal", "watermark_statements"]

"""SCD Type 2 dimensions (DESIGN §3.4), per dimension, after the baseline sync.

The affected keys and the recomputation are the facts' (``cdcgen.sql.facts``); what
differs is how a difference is applied to the table:

- a change to a ``history`` column closes the current version (``valid_to``,
  ``is_current = FALSE``) and opens a new one, in the same transaction;
- a change to any other column overwrites the current version in place (type 1);
- a key that no longer qualifies (deleted, filtered out) is handled by ``on_delete``:
  ``ignore`` keeps the current version open, ``invalidate`` closes it,
  ``new_version`` closes it and opens a version flagged ``is_deleted``.

Validity comes from the grain's ``updated_at`` when it moved forward, else from the
run's timestamp (a change reached through a lookup has no newer grain timestamp), and
per key it never goes back: a version opens no earlier than the current one began (a
source clock ahead of the run's) nor than the last closed one ended (a key that comes
back after ``invalidate``). So one key's versions never overlap and, except for the
time a key was gone under ``invalidate``, leave no gap.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, TargetPlan
from cdcgen.sql import ddl, nodes
from cdcgen.sql.builders import (
    OP,
    and_all,
    case,
    cast,
    chg,
    col,
    count_if,
    derived,
    differs,
    eq,
    insert,
    is_null,
    joined,
    lit,
    old,
    op_in,
    or_all,
    paren,
    table,
    temp_table,
    var,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.facts import (
    KEYS,
    diff_name,
    keys_name,
    new_name,
    recompute_query,
    unstorable_statements,
)
from cdcgen.sql.sync import changed_columns, image, key_text
from cdcgen.sql.tables import (
    IS_CURRENT,
    IS_DELETED,
    RUN_ID,
    VALID_FROM,
    VALID_TO,
    VERSION_ACTION,
    surrogate_key,
    version_log,
)

#: the grain's version timestamp, carried alongside the recomputed columns
SOURCE_TS = "cdc__source_ts"


def _source_ts(p: PipelinePlan, t: TargetPlan) -> exp.Expression:
    grain = p.source(t.grain.source)
    if grain.type_of(grain.updated_at).startswith("timestamp"):
        return col(grain.updated_at, t.grain.alias)
    if grain.type_of(grain.updated_at) == "date":
        return cast(col(grain.updated_at, t.grain.alias), "timestamp")
    return nodes.RunTimestamp()  # an integer version column says nothing about time


def new_versions_query(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    query = recompute_query(p, t)
    return query.select(exp.alias_(_source_ts(p, t), SOURCE_TS))


def current_versions(p: PipelinePlan, t: TargetPlan) -> exp.Subquery:
    o = "f"
    on = and_all(eq(col(k, o), col(k, KEYS)) for k in t.key)
    query = (
        exp.select(
            *[col(c, o) for c in (*t.column_names, VALID_FROM)],
            exp.alias_(col(IS_DELETED, o), "cdc__deleted"),
        )
        .from_(table(t.table, o), copy=False)
        .join(joined(table(keys_name(p, t), KEYS), "inner"), on=on, copy=False)
        .where(eq(col(IS_CURRENT, o), lit(True)), copy=False)
    )
    return derived(query, "o")


def last_closed(p: PipelinePlan, t: TargetPlan) -> exp.Subquery:
    """Per affected key, when its latest closed version ended."""
    f = "f"
    on = and_all(eq(col(k, f), col(k, KEYS)) for k in t.key)
    query = (
        exp.select(*[col(k, f) for k in t.key], exp.alias_(exp.Max(this=col(VALID_TO, f)), VALID_TO))
        .from_(table(t.table, f), copy=False)
        .join(joined(table(keys_name(p, t), KEYS), "inner"), on=on, copy=False)
        .where(eq(col(IS_CURRENT, f), lit(False)), copy=False)
        .group_by(*[col(k, f) for k in t.key], copy=False)
    )
    return derived(query, "c")


def diff_query(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    """One row per key whose current version must change.

    ops: I new key, H history change (close + open), U type-1 change (in place),
    X no longer qualifies (close, and for ``new_version`` open a deleted version)."""
    n, o, d = "n", "o", "d"
    first = t.key[0]
    moved_on = exp.GT(this=col(SOURCE_TS, n), expression=col(VALID_FROM, o))
    # A key that comes back after its last version was closed (on_delete: invalidate)
    # opens no earlier than that close: versions of one key never overlap, so a
    # point-in-time join matches at most one.
    reopened_early = exp.GT(this=col(VALID_TO, "c"), expression=col(SOURCE_TS, n))
    # Otherwise the run's time, but never before the current version began: a source clock
    # ahead of the warehouse's can leave valid_from later than the run, and closing there
    # would end a version before it starts and open the next one inside it.
    change_ts = case(
        [
            (and_all([is_null(col(first, o)), reopened_early]), col(VALID_TO, "c")),
            (is_null(col(first, o)), col(SOURCE_TS, n)),
            (moved_on, col(SOURCE_TS, n)),
        ],
        exp.Greatest(this=nodes.RunTimestamp(), expressions=[col(VALID_FROM, o)]),
    )
    on = and_all(eq(col(k, n), col(k, o)) for k in t.key)
    paired = (
        exp.select(
            *[exp.alias_(col(c, n), c) for c in t.column_names],
            *[exp.alias_(col(c, o), old(c)) for c in t.column_names],
            *[exp.alias_(differs(col(c, n), col(c, o)), chg(c)) for c in t.column_names],
            exp.alias_(change_ts, "cdc__change_ts"),
            exp.alias_(
                exp.Coalesce(this=col("cdc__deleted", o), expressions=[lit(False)]),
                "cdc__was_deleted",
            ),
        )
        .from_(table(new_name(p, t), n), copy=False)
        .join(joined(current_versions(p, t), "full"), on=on, copy=False)
        .join(
            joined(last_closed(p, t), "left"),
            on=and_all(eq(col(k, n), col(k, "c")) for k in t.key),
            copy=False,
        )
    )
    is_new = is_null(col(old(first), d))
    is_gone = is_null(col(first, d))
    was_deleted = col("cdc__was_deleted", d)
    history_changed = or_all(col(chg(c.name), d) for c in t.non_key_columns if c.name in t.history)
    type1_changed = or_all(
        col(chg(c.name), d) for c in t.non_key_columns if c.name not in t.history
    )
    op = case(
        [
            (is_new, lit("I")),
            (is_gone.copy(), lit("X")),
            # a key that comes back after a 'deleted' version reopens with a new version
            (was_deleted.copy(), lit("H")),
            (paren(history_changed), lit("H")),
        ],
        lit("U"),
    )
    removal = lit(t.on_delete != "ignore")
    # A key that is gone is handled by on_delete alone: its columns "changed" to NULL, but
    # a key already closed by a 'deleted' version must not get another one.
    keep = or_all(
        [
            is_new.copy(),
            and_all([is_gone.copy(), removal, exp.Not(this=was_deleted.copy())]),
            and_all(
                [
                    exp.Not(this=is_gone.copy()),
                    paren(or_all([was_deleted.copy(), history_changed.copy(), type1_changed])),
                ]
            ),
        ]
    )
    return (
        exp.select(
            exp.alias_(op, OP),
            *[col(c, d) for c in t.column_names],
            *[col(old(c), d) for c in t.column_names],
            *[col(chg(c), d) for c in t.column_names],
            col("cdc__change_ts", d),
        )
        .from_(
            derived(paired, d), copy=False
        )
        .where(keep, copy=False)
    )


def _close_current(p: PipelinePlan, t: TargetPlan, ops: tuple[str, ...]) -> exp.Update:
    diff = diff_name(p, t)
    match = [eq(col(k, t.table.name), col(old(k), diff)) for k in t.key]
    return exp.Update(
        this=table(t.table),
        expressions=[
            eq(col(VALID_TO), col("cdc__change_ts", diff)),
            eq(col(IS_CURRENT), lit(False)),
        ],
        from_=exp.From(this=table(diff)),
        where=exp.Where(
            this=and_all([*match, eq(col(IS_CURRENT, t.table.name), lit(True)), op_in(diff, *ops)])
        ),
    )


def _overwrite_in_place(p: PipelinePlan, t: TargetPlan) -> exp.Update | None:
    diff = diff_name(p, t)
    type1 = [c.name for c in t.non_key_columns if c.name not in t.history]
    if not type1:
        return None
    match = [eq(col(k, t.table.name), col(k, diff)) for k in t.key]
    return exp.Update(
        this=table(t.table),
        expressions=[eq(col(c), col(c, diff)) for c in type1],
        from_=exp.From(this=table(diff)),
        where=exp.Where(
            this=and_all([*match, eq(col(IS_CURRENT, t.table.name), lit(True)), op_in(diff, "U")])
        ),
    )


def _opens(t: TargetPlan) -> tuple[str, ...]:
    """Diff ops that open a version."""
    return ("I", "H", "X") if t.on_delete == "new_version" else ("I", "H")


def _open_versions(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    """New current versions; surrogate keys are max + row number under the run's lock."""
    d = "d"
    order = [
        exp.Ordered(this=exp.Coalesce(this=col(k, d), expressions=[col(old(k), d)])) for k in t.key
    ]
    sk = exp.Add(
        this=_surrogate_high_water(p, t),
        expression=exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=order)),
    )
    deleted = op_in(d, "X")
    # a 'deleted' version repeats the last known values
    values = [case([(deleted, col(old(c), d))], col(c, d)) for c in t.column_names]
    opens = _opens(t)
    query = (
        exp.select(sk, *values, col("cdc__change_ts", d), exp.null(), lit(True), deleted.copy())
        .from_(table(diff_name(p, t), d), copy=False)
        .where(op_in(d, *opens), copy=False)
    )
    columns = [surrogate_key(t), *t.column_names, VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED]
    return insert(t.table, columns, query)


def _surrogate_high_water(p: PipelinePlan, t: TargetPlan) -> exp.Expression:
    """The highest surrogate key ever given: in the table, or in the version log (a version
    a rollback removed keeps its key there), so a key is never reused."""
    sk = surrogate_key(t)

    def highest(source: exp.Expression) -> exp.Subquery:
        top = exp.Coalesce(this=exp.Max(this=col(sk)), expressions=[lit(0)])
        return exp.Subquery(this=exp.select(top).from_(source, copy=False))

    return exp.Greatest(
        this=highest(table(t.table)), expressions=[highest(table(version_log(p, t)))]
    )


def _log_versions(p: PipelinePlan, t: TargetPlan, action: str, ops: tuple[str, ...]) -> exp.Insert:
    """Into the version log, the current version of each key with one of ``ops``: before
    the change (``B``, matched on the old key) or the version just opened (``O``)."""
    f, d = "f", "d"
    target = ddl.target_table(t)
    names = [c.name for c in target.columns]
    if action == "B":
        match = [eq(col(k, f), col(old(k), d)) for k in t.key]
    else:
        match = [
            eq(col(k, f), exp.Coalesce(this=col(k, d), expressions=[col(old(k), d)])) for k in t.key
        ]
    query = (
        exp.select(var("p_run_id"), lit(action), *[col(c, f) for c in names])
        .from_(table(t.table, f), copy=False)
        .join(
            joined(table(diff_name(p, t), d), "inner"),
            on=and_all([*match, eq(col(IS_CURRENT, f), lit(True)), op_in(d, *ops)]),
            copy=False,
        )
    )
    return insert(version_log(p, t), [RUN_ID, VERSION_ACTION, *names], query)


def dimension_change_log_insert(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    d = "d"
    typed = [(c.name, c.type) for c in t.columns]
    logged_op = case([(op_in(d, "H"), lit("U")), (op_in(d, "X"), lit("D"))], col(OP, d))
    query = exp.select(
        var("p_run_id"),
        lit(p.name),
        lit(t.name),
        logged_op,
        key_text(t.key, d, dict(typed), fallback_prefix="old__"),
        case([(op_in(d, "U", "H"), changed_columns(t.column_names, d))], exp.null()),
        case([(op_in(d, "I"), exp.null())], image(typed, d, "old__")),
        case([(op_in(d, "X"), exp.null())], image(typed, d)),
        nodes.RunTimestamp(),
    ).from_(table(diff_name(p, t), d), copy=False)
    if t.on_delete == "ignore":
        query = query.where(exp.Not(this=op_in(d, "X")), copy=False)
    return into_state(p, "fact_change_log", query)


def dimension_counts(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    removed = count_if(op_in(None, "X")) if t.on_delete != "ignore" else lit(0)
    query = exp.select(
        var("p_run_id"),
        lit(p.name),
        lit("dimension"),
        lit(t.name),
        count_if(op_in(None, "I")),
        count_if(op_in(None, "U", "H")),
        removed,
        lit(0),
        lit(0),
    ).from_(table(diff_name(p, t)), copy=False)
    return into_state(p, "run_counts", query)


def apply_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    closes = ("H", "X") if t.on_delete != "ignore" else ("H",)
    stmts: list[exp.Expression] = []
    # no drops: the key step dropped these with its key table (facts.keys_shell)
    stmts += temp_table(new_name(p, t), new_versions_query(p, t), t.key, drop=False)
    stmts += unstorable_statements(p, t)
    stmts += temp_table(
        diff_name(p, t), diff_query(p, t), [OP, *t.key, *map(old, t.key)], drop=False
    )
    # the versions about to be closed or overwritten, for a rollback to write back
    stmts.append(_log_versions(p, t, "B", (*closes, "U")))
    stmts.append(_close_current(p, t, closes))
    in_place = _overwrite_in_place(p, t)
    if in_place is not None:
        stmts.append(in_place)
    stmts.append(_open_versions(p, t))
    stmts.append(_log_versions(p, t, "O", _opens(t)))
    stmts.append(dimension_change_log_insert(p, t))
    stmts.append(dimension_counts(p, t))
    return stmts


def verify_insert(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    """Current versions against the definition; keys the definition lacks must have
    no open version (unless on_delete is ignore)."""
    v, f = "v", "f"
    current = derived(
        exp.select(*[col(c) for c in t.column_names])
        .from_(table(t.table), copy=False)
        .where(
            and_all([eq(col(IS_CURRENT), lit(True)), eq(col(IS_DELETED), lit(False))]), copy=False
        ),
        f,
    )
    on = and_all(eq(col(k, v), col(k, f)) for k in t.key)
    first = t.key[0]
    different = and_all(
        [
            exp.Not(this=is_null(col(first, v))),
            exp.Not(this=is_null(col(first, f))),
            paren(or_all(differs(col(c.name, v), col(c.name, f)) for c in t.non_key_columns)),
        ]
    )
    extra = count_if(is_null(col(first, v))) if t.on_delete != "ignore" else lit(0)
    query = (
        exp.select(
            nodes.RunTimestamp(),
            lit(p.name),
            lit(t.name),
            count_if(is_null(col(first, f))),
            extra,
            count_if(different),
        )
        .from_(table(f"{p.cdc_schema}.{t.name}__full", v), copy=False)
        .join(joined(current, "full"), on=on, copy=False)
    )
    return into_state(p, "verify_log", query)

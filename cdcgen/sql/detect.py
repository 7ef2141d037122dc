"""Step 2 of a run, per source: stage, reject, de-duplicate, classify.

Every later statement reads the ``staged`` temp copy, never staging itself: on
PostgreSQL each statement takes a new snapshot, so rows the ETL commits mid-run
would otherwise be half-seen (applied but not watermarked, or the reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, Table
from cdcgen.sql import nodes
from cdcgen.sql.builders import (
    OP,
    RANK,
    OnlyIf,
    and_all,
    as_text,
    case,
    cast,
    chg,
    col,
    concat,
    count_if,
    derived,
    differs,
    eq,
    is_null,
    joined,
    keys_equal,
    lit,
    not_null,
    old,
    only_if,
    op_in,
    or_all,
    paren,
    qualify_all,
    rows_of,
    table,
    temp_table,
    var,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.fits import checks_castability, misfit, not_castable, stored, typed_misfit
from cdcgen.sql.tables import tombstones

NULL_MARK = "<null>"
#: a staged row's dead-letter reason (NULL: valid), computed once per row when staged
REJECT = "cdc__reject"


def staged_name(p: PipelinePlan, s: SourcePlan) -> str:
    return p.temp(s.name, "staged")


def delta_name(p: PipelinePlan, s: SourcePlan) -> str:
    return p.temp(s.name, "delta")


def watermark_value(p: PipelinePlan, s: SourcePlan) -> exp.Expression:
    """The last watermark, typed like the watermark column (NULL before the first run)."""
    assert s.watermark_column is not None
    stored = (
        exp.select(cast(exp.Max(this=col("value")), s.type_of(s.watermark_column)))
        .from_(table(f"{p.cdc_schema}.watermark"), copy=False)
        .where(
            and_all([eq(col("pipeline"), lit(p.name)), eq(col("source"), lit(s.name))]), copy=False
        )
    )
    return exp.Subquery(this=stored)


def staged_query(p: PipelinePlan, s: SourcePlan, *, reason: bool = True) -> exp.Query:
    """The staging rows this run considers: all of them (window) or those past the
    watermark; with each row's dead-letter reason (``cdc__reject``, NULL when valid)
    unless ``reason`` is False. The reason is computed here, once per staged row: every
    later statement reads the column instead of testing the row again (the castability
    patterns are the costliest tests a run makes, and the longest text it holds)."""
    columns: list[exp.Expression] = [col(c.name) for c in s.staging_columns]
    if reason:
        columns.append(exp.Alias(this=case(reject_reasons(s, None)), alias=exp.to_identifier(REJECT)))
    query = exp.select(*columns).from_(table(s.staging), copy=False)
    if s.watermark_column:
        return _past_watermark(p, s, query)
    return query


def _past_watermark(p: PipelinePlan, s: SourcePlan, query: exp.Select) -> exp.Query:
    """First run (no watermark yet): everything. Later: strictly past it, plus rows with
    a NULL watermark column: such a row cannot be placed against the watermark, so every
    run reads it and dead-letters it once (the dead-letter insert skips rows it already
    holds); a filter on the watermark alone would drop it without a trace.

    Disjoint branches rather than one OR: the first-run branch depends on no row, so it
    is a one-time filter (no scan at all once a watermark exists); the others are range
    reads of the watermark column (an index on PostgreSQL, the sort key on Redshift)."""
    assert s.watermark_column is not None
    beyond = query.copy().where(
        exp.GT(this=col(s.watermark_column), expression=watermark_value(p, s)), copy=False
    )
    unplaced = query.copy().where(
        and_all([is_null(col(s.watermark_column)), not_null(watermark_value(p, s))]), copy=False
    )
    first_run = query.where(is_null(watermark_value(p, s)), copy=False)
    return exp.union(
        exp.union(beyond, unplaced, distinct=False, copy=False),
        first_run,
        distinct=False,
        copy=False,
    )


def _check(s: SourcePlan, expression: exp.Expression, alias: str | None) -> exp.Expression:
    # A check that evaluates to NULL passes, as a SQL CHECK constraint would.
    return exp.Not(this=exp.Coalesce(this=qualify_all(expression, alias), expressions=[lit(True)]))


def reject_reasons(s: SourcePlan, alias: str | None) -> list[tuple[exp.Expression, exp.Expression]]:
    """(condition, reason) pairs sending a staged row to the dead-letter table; the first
    that holds names the reason."""
    reasons: list[tuple[exp.Expression, exp.Expression]] = [
        (
            or_all(is_null(col(k, alias)) for k in s.key),
            lit(f"NULL key ({', '.join(s.key)})"),
        ),
        (is_null(col(s.updated_at, alias)), lit(f"NULL {s.updated_at}")),
    ]
    if s.watermark_column and s.watermark_column != s.updated_at:
        reasons.append((is_null(col(s.watermark_column, alias)), lit(f"NULL {s.watermark_column}")))
    reasons += _misfits(s, alias)
    reasons += [(_check(s, e, alias), lit(f"check failed: {name}")) for name, e in s.checks]
    return reasons


def cast_checked(s: SourcePlan, column: str) -> bool:
    """Is this staged column checked for castability (staging may hold it as text)? Not
    the key, updated_at or the watermark column: runs compare and join those raw, so
    staging must hold them in the baseline's type (docs/staging.md). Nor any column of a
    source whose staging holds the declared types (``staging_types: declared``): there
    the patterns only cost time, most of a first load's staged copy."""
    if s.staging_types == "declared":
        return False
    if column in s.key or column in (s.updated_at, s.watermark_column):
        return False
    return checks_castability(s.type_of(column))


def _misfits(s: SourcePlan, alias: str | None) -> list[tuple[exp.Expression, exp.Expression]]:
    """Values that the baseline column they land in cannot hold (staging may be wider,
    or text): first whether the value casts at all, then whether it fits."""
    found: list[tuple[exp.Expression, exp.Expression]] = []
    for c in s.columns:
        where = f"{s.name}.{c.name}"
        value = col(c.name, alias)
        if cast_checked(s, c.name):
            found.append(not_castable(value, c.type, where))
            test = typed_misfit(value, c.type, where)
        else:
            test = misfit(value, c.type, where)
        if test is not None:
            found.append(test)
    return found


def rejected(s: SourcePlan, alias: str) -> exp.Expression:
    """Is a staged row (of :func:`staged_query`) to be dead-lettered?"""
    return not_null(col(REJECT, alias))


def row_hash(s: SourcePlan, alias: str) -> exp.Expression:
    parts: list[exp.Expression] = []
    for i, c in enumerate(s.staging_columns):
        if i:
            parts.append(lit("|"))
        text = as_text(col(c.name, alias), c.type, 65535)
        parts.append(exp.Coalesce(this=text, expressions=[lit(NULL_MARK)]))
    return exp.MD5(this=concat(parts))


def dead_letters_of(
    p: PipelinePlan, source: str, condition: exp.Expression, selected: exp.Expression
) -> exp.Select:
    """``SELECT selected`` over this pipeline's dead letters (alias ``x``) recorded for
    ``source`` (a source, or a target for unstorable computed values) and ``condition``."""
    return (
        exp.select(selected)
        .from_(table(f"{p.cdc_schema}.dead_letter", "x"), copy=False)
        .where(
            and_all(
                [
                    eq(col("pipeline", "x"), lit(p.name)),
                    eq(col("source", "x"), lit(source)),
                    condition,
                ]
            ),
            copy=False,
        )
    )


#: how a resolving UPDATE names the dead-letter table's columns
_LETTER = "dead_letter"


def resolve_letters(
    p: PipelinePlan, source: str, relation: exp.Expression, matched: exp.Expression
) -> exp.Update:
    """Close ``source``'s open dead letters of earlier runs that ``matched`` pairs with a
    row of ``relation`` (columns of the letter: ``dead_letter.<column>``). A letter of
    this run stays open: the run held its row back."""
    letter = _LETTER
    return exp.Update(
        this=table(f"{p.cdc_schema}.dead_letter"),
        expressions=[eq(col("resolved_run_id"), var("p_run_id")), eq(col("resolved_at"), nodes.RunTimestamp())],
        from_=exp.From(this=relation),
        where=exp.Where(
            this=and_all(
                [
                    eq(col("pipeline", letter), lit(p.name)),
                    eq(col("source", letter), lit(source)),
                    is_null(col("resolved_run_id", letter)),
                    exp.LT(this=col("run_id", letter), expression=var("p_run_id")),
                    matched,
                ]
            )
        ),
    )


#: A resolving step's argument: whether a dead letter of an earlier run is open. Most
#: runs have none, and skip every resolving UPDATE (a statement per changed source and
#: per target with overflowing values; on Redshift each is compiled and queued).
OPEN_LETTERS = "p_open_letters"


def open_letters_probe(p: PipelinePlan) -> exp.Subquery:
    """1 if any of this pipeline's dead letters of an earlier run is open, else 0, reading
    one letter at most: ``(SELECT COUNT(*) FROM (SELECT 1 FROM cdc.dead_letter AS x
    WHERE … LIMIT 1) AS cdc__open)``. It sits in a statement the run makes anyway."""
    open_: list[exp.Expression] = [
        eq(col("pipeline", "x"), lit(p.name)),
        is_null(col("resolved_run_id", "x")),
        exp.LT(this=col("run_id", "x"), expression=var("p_run_id")),
    ]
    one = (
        exp.select(lit(1))
        .from_(table(f"{p.cdc_schema}.dead_letter", "x"), copy=False)
        .where(and_all(open_), copy=False)
        .limit(1, copy=False)
    )
    return rows_of(one, "cdc__open")


def when_letters_open(resolve: exp.Expression) -> OnlyIf:
    """``resolve``, run only when a letter of an earlier run is open (:data:`OPEN_LETTERS`)."""
    return only_if(f"{OPEN_LETTERS} > 0", resolve)


def letter_value(column: str, type_: str, names: Sequence[str]) -> exp.Expression:
    """A column of a dead letter's row image, typed."""
    return nodes.payload_get(col("row_data", _LETTER), column, type_, names)


def resolve_dead_letters(p: PipelinePlan, s: SourcePlan) -> exp.Update:
    """A dead letter is resolved when a later run applies a valid version of its key at
    least as new as the held-back row (an insert or update), or deletes the key. Its row
    was never applied: the key holds the newer version now, so nothing is held back."""
    r = "r"
    names = [c.name for c in s.staging_columns]
    same_key = [
        eq(
            exp.Coalesce(this=col(k, r), expressions=[col(old(k), r)]),
            letter_value(k, s.type_of(k), names),
        )
        for k in s.key
    ]
    held = letter_value(s.updated_at, s.type_of(s.updated_at), names)
    newer = or_all(
        [
            op_in(r, "D"),
            is_null(held),
            exp.GTE(this=col(s.updated_at, r), expression=held.copy()),
        ]
    )
    matched = and_all([op_in(r, "I", "U", "D"), *same_key, paren(newer)])
    return resolve_letters(p, s.name, table(delta_name(p, s), r), matched)


def dead_letter_insert(p: PipelinePlan, s: SourcePlan) -> exp.Insert:
    """Rejected rows go to dead_letter once (window-mode staging re-delivers them every run)."""
    alias = "n"
    reason = col(REJECT, alias)
    already = dead_letters_of(p, s.name, eq(col("row_hash", "x"), row_hash(s, alias)), lit(1))
    payload = nodes.payload([(c.name, col(c.name, alias), c.type) for c in s.staging_columns])
    query = (
        exp.select(
            var("p_run_id"),
            lit(p.name),
            lit(s.name),
            reason,
            row_hash(s, alias),
            payload,
            nodes.RunTimestamp(),
        )
        .from_(table(staged_name(p, s), alias), copy=False)
        .where(
            and_all([paren(rejected(s, alias)), exp.Not(this=exp.Exists(this=already))]), copy=False
        )
    )
    return into_state(p, "dead_letter", query)


def _is_delete(s: SourcePlan, alias: str) -> exp.Expression | None:
    if s.delete_kind == "when" and s.delete_when is not None:
        return exp.Coalesce(this=paren(qualify_all(s.delete_when, alias)), expressions=[lit(False)])
    if s.delete_kind == "op_column" and s.op_column:
        return exp.Coalesce(
            this=eq(exp.Upper(this=col(s.op_column, alias)), lit("D")), expressions=[lit(False)]
        )
    return None


def _ranked(s: SourcePlan, staged: exp.Expression) -> exp.Select:
    """Valid staged rows, ranked newest first per key; ties broken by the whole row."""
    order = [exp.Ordered(this=col(s.updated_at), desc=True, nulls_first=False)]
    if s.loaded_at:
        order.append(exp.Ordered(this=col(s.loaded_at), desc=True, nulls_first=False))
    order += [
        exp.Ordered(this=col(c.name), desc=True, nulls_first=False)
        for c in s.staging_columns
        if c.name not in s.key and c.name not in (s.updated_at, s.loaded_at)
    ]
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in s.key],
        order=exp.Order(expressions=order),
    )
    return (
        exp.select(*[col(c.name) for c in s.staging_columns], col(REJECT), exp.alias_(window, RANK))
        .from_(staged.copy(), copy=False)
        .where(exp.Not(this=paren(rejected(s, _alias_of(staged)))), copy=False)
    )


def _alias_of(staged: exp.Expression) -> str:
    return staged.alias_or_name


def as_stored(s: SourcePlan, column: str, alias: str) -> exp.Expression:
    """A staged value as its baseline column will hold it. Staging may be wider than the
    spec (numeric(30,4) for numeric(12,2)): compared raw, 12.345 would differ from the
    stored 12.35 on every run and be re-applied forever. Values that do not fit at all
    were dead-lettered before this point, so the cast only rounds, never fails. A value
    that staging may hold as text is cast only in a row that passed every test
    (``CASE WHEN cdc__reject IS NULL THEN CAST(...) END``, :func:`cdcgen.sql.fits.stored`):
    a rejected row never reaches a cast that would fail, whatever order the engine
    evaluates the query in."""
    if cast_checked(s, column):
        return stored(col(column, alias), s.type_of(column), is_null(col(REJECT, alias)))
    return cast(col(column, alias), s.type_of(column))


def _paired(p: PipelinePlan, s: SourcePlan, staged: exp.Expression) -> exp.Select:
    """Newest valid staged row per key beside its baseline row, with change flags."""
    n, b, t = "n", "b", "t"
    deleting = _is_delete(s, n)
    older_than_baseline = exp.LT(this=col(s.updated_at, n), expression=col(s.updated_at, b))
    not_after_delete = and_all(
        [
            is_null(col(s.key[0], b)),
            exp.LTE(this=col(s.updated_at, n), expression=col(s.updated_at, t)),
        ]
    )
    stale = exp.Coalesce(
        this=paren(or_all([older_than_baseline, paren(not_after_delete)])), expressions=[lit(False)]
    )
    select = exp.select(
        *[exp.alias_(as_stored(s, c, n), c, copy=False) for c in s.column_names],
        *[exp.alias_(col(c, b), old(c), copy=False) for c in s.column_names],
        *[
            exp.alias_(differs(as_stored(s, c, n), col(c, b)), chg(c), copy=False)
            for c in s.column_names
        ],
        exp.alias_(deleting if deleting is not None else lit(False), "cdc__delete", copy=False),
        exp.alias_(stale, "cdc__stale", copy=False),
    )
    ranked = derived(_ranked(s, staged), n)
    return (
        select.from_(ranked, copy=False)
        .join(joined(table(s.baseline, b), "left"), on=keys_equal(s.key, n, b), copy=False)
        .join(joined(table(tombstones(p, s), t), "left"), on=keys_equal(s.key, n, t), copy=False)
        .where(eq(col(RANK, n), lit(1)), copy=False)
    )


def _classified(plan: PipelinePlan, s: SourcePlan, staged: exp.Expression) -> exp.Select:
    """Classify each pair; the flags computed once in ``_paired`` decide an update."""
    p = "p"
    absent = is_null(col(old(s.key[0]), p))
    deleting = col("cdc__delete", p)
    op = case(
        [
            # a delete of a key the baseline never had: nothing to do
            (and_all([absent, deleting]), lit("N")),
            (col("cdc__stale", p), lit("S")),
            (deleting.copy(), lit("D")),
            (absent.copy(), lit("I")),
            (or_all(col(chg(c), p) for c in s.column_names), lit("U")),
        ],
        lit("N"),
    )
    paired = derived(_paired(plan, s, staged), p)
    return exp.select(
        exp.alias_(op, OP),
        *[col(c, p) for c in s.column_names],
        *[col(old(c), p) for c in s.column_names],
        *[col(chg(c), p) for c in s.column_names],
    ).from_(paired, copy=False)


def _snapshot_deletes(s: SourcePlan, staged: exp.Expression) -> exp.Select:
    """Keys the baseline has and a full snapshot lacks are deletes. An empty snapshot is
    taken as a failed load, not as 'everything was deleted'."""
    b, x = "b", "x"
    staged_x = staged.copy()
    staged_x.set("alias", exp.TableAlias(this=exp.to_identifier(x)))
    present = (
        exp.select(lit(1)).from_(staged_x, copy=False).where(keys_equal(s.key, x, b), copy=False)
    )
    # a snapshot made only of rejected rows is a failed load too, not "everything went"
    any_rows = (
        exp.select(lit(1))
        .from_(staged.copy(), copy=False)
        .where(exp.Not(this=paren(rejected(s, _alias_of(staged)))), copy=False)
    )
    return (
        exp.select(
            exp.alias_(lit("D"), OP),
            *[exp.alias_(cast(exp.null(), c.type), c.name) for c in s.columns],
            *[exp.alias_(col(c, b), old(c)) for c in s.column_names],
            *[exp.alias_(lit(True), chg(c)) for c in s.column_names],
        )
        .from_(table(s.baseline, b), copy=False)
        .where(
            and_all([exp.Not(this=exp.Exists(this=present)), exp.Exists(this=any_rows)]), copy=False
        )
    )


def changes_query(p: PipelinePlan, s: SourcePlan, staged: exp.Expression) -> exp.Select:
    """I/U/D/S rows with new image, old image (``old__*``) and change flags (``chg__*``).

    ``staged`` is the relation holding this run's staging rows (the temp copy in a
    run, or staging itself in the ``__changes`` view)."""
    body: exp.Query = _classified(p, s, staged)
    if s.delete_kind == "snapshot":
        body = exp.union(body, _snapshot_deletes(s, staged), distinct=False, copy=False)
    wrapped = derived(body, "c")
    return (
        exp.select(exp.Star())
        .from_(wrapped, copy=False)
        .where(exp.NEQ(this=col(OP, "c"), expression=lit("N")), copy=False)
    )


def view_staged(p: PipelinePlan, s: SourcePlan) -> exp.Expression:
    """Staging as the view sees it, with each row's dead-letter reason: append-mode
    sources are cut at the watermark."""
    return derived(staged_query(p, s), "s")


#: A source detection's argument: how many of its cast-checked staging columns the
#: catalog shows typed (its dispatcher reads them for all sources in one statement).
TYPED_ARG = "p_typed"
#: the PL/pgSQL variable naming the staged copy made ('typed' or 'checked')
STAGED_PATH_VAR = "v_staged_path"


@dataclass(frozen=True)
class DetectSteps:
    """A source's detection. With cast-checked columns (``checked``), when the catalog
    shows all of them typed (:mod:`cdcgen.sql.typed_staging`, :data:`TYPED_ARG`), the
    run makes ``typed_staged`` instead of ``staged`` (the same temp table, without the
    castability patterns). ``rest`` follows either."""

    staged: list[exp.Expression]
    rest: list[exp.Expression]
    checked: tuple[str, ...] = ()
    typed_staged: list[exp.Expression] = field(default_factory=list)


def temp_names(p: PipelinePlan, s: SourcePlan) -> tuple[str, str]:
    """A source's detection makes these temp tables; its dispatcher drops them first
    (:func:`cdcgen.sql.dispatch.drop_step_temps`)."""
    return staged_name(p, s), delta_name(p, s)


def _staged_copy(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """The staged copy (its dispatcher dropped an older one, see :func:`temp_names`)."""
    return temp_table(staged_name(p, s), staged_query(p, s), s.key, drop=False)


def detect_steps(p: PipelinePlan, s: SourcePlan) -> DetectSteps:
    staged = _staged_copy(p, s)
    checked = [c.name for c in s.columns if cast_checked(s, c.name)]
    rest = detect_statements(p, s, counts_path=bool(checked))
    if not checked:
        return DetectSteps(staged, rest)
    typed = replace(s, staging_types="declared")
    return DetectSteps(staged, rest, tuple(checked), _staged_copy(p, typed))


def detect_statements(
    p: PipelinePlan, s: SourcePlan, *, counts_path: bool = False
) -> list[exp.Expression]:
    """Everything after the staged copy (:func:`detect_steps`)."""
    staged = table(staged_name(p, s))
    stmts: list[exp.Expression] = []
    stmts.append(dead_letter_insert(p, s))
    stmts += temp_table(
        delta_name(p, s), changes_query(p, s, staged), delta_join_columns(p, s), drop=False
    )
    stmts.append(when_letters_open(resolve_dead_letters(p, s)))
    stmts.append(source_counts(p, s, counts_path))
    return stmts


def delta_join_columns(p: PipelinePlan, s: SourcePlan) -> list[str]:
    """The delta's columns later steps join on: op, key (both images), and each column a
    target's join or semi-join condition reads from this source (both images)."""
    wanted = dict.fromkeys(s.key)
    for t in p.targets:
        for r in t.relations:
            if r.source == s.name and r.on is not None:
                wanted.update(
                    dict.fromkeys(c.name for c in r.on.find_all(exp.Column) if c.table == r.alias)
                )
    names = [c for c in wanted if c in s.column_names]
    return [OP, *names, *(old(c) for c in names)]


def staged_probe(p: PipelinePlan, s: SourcePlan) -> exp.Select:
    """One row if this run has something to detect for ``s``: the run's cheap check.
    Incremental staging: any row (past the watermark). A full snapshot: any difference
    from the baseline (see :func:`_snapshot_differs`)."""
    if s.delete_kind == "snapshot":
        return _snapshot_differs(s)
    staged = derived(staged_query(p, s, reason=False), "s")
    return exp.select(lit(1)).from_(staged, copy=False).limit(1, copy=False)


def _same_row(s: SourcePlan, left: str, right: str) -> exp.Expression:
    """Every column equal, NULL equal to NULL. Raw values are compared: staging wider
    than the baseline can only make an equal row look different (then the source is
    detected as usual), never the other way round.

    The key is compared with a plain ``=``: a baseline key is never NULL, so this is the
    same test, and it gives the anti-joins of :func:`_snapshot_differs` an equi-join
    condition. Without one the planner can only run a nested loop, every row against
    every row: a full snapshot of 100,000 rows would cost 10^10 comparisons a run."""
    rest = [exp.Not(this=differs(col(c, left), col(c, right))) for c in s.column_names if c not in s.key]
    return and_all([keys_equal(s.key, left, right), *rest])


def _snapshot_differs(s: SourcePlan) -> exp.Select:
    """A row if the snapshot is not exactly the baseline: a staged row without an
    identical baseline row, or (when anything is staged: an empty snapshot deletes
    nothing) a baseline row without an identical staged row. Most snapshot runs of a
    small reference table change nothing; this one read replaces the whole detection."""
    st, b = "s", "b"
    unmatched_staged = (
        exp.select(lit(1))
        .from_(table(s.staging, st), copy=False)
        .where(
            exp.Not(
                this=exp.Exists(
                    this=exp.select(lit(1)).from_(table(s.baseline, b)).where(_same_row(s, st, b))
                )
            ),
            copy=False,
        )
    )
    unmatched_baseline = (
        exp.select(lit(1))
        .from_(table(s.baseline, b), copy=False)
        .where(
            and_all(
                [
                    exp.Not(
                        this=exp.Exists(
                            this=exp.select(lit(1))
                            .from_(table(s.staging, st))
                            .where(_same_row(s, st, b))
                        )
                    ),
                    exp.Exists(this=exp.select(lit(1)).from_(table(s.staging, "a"))),
                ]
            ),
            copy=False,
        )
    )
    either = exp.union(unmatched_staged, unmatched_baseline, distinct=False)
    return (
        exp.select(lit(1))
        .from_(
            derived(either, "u"), copy=False
        )
        .limit(1, copy=False)
    )


def skipped_statements(p: PipelinePlan, s: SourcePlan) -> list[exp.Expression]:
    """Nothing to detect: only the source's counts. No temp table is made: later steps
    read these counts and never touch the staged or delta table of an unchanged source
    (creating empty ones cost most of a no-op run: catalog writes per column, and
    planning each source's changes query). A snapshot identical to the baseline was
    read whole: its rows count as applied (no-ops), duplicates as superseded."""
    head = [var("p_run_id"), lit(p.name), lit("source"), lit(s.name)]
    # inserted, updated, deleted, stale, dead-lettered
    zeros = [lit(0) for _ in range(5)]
    if s.delete_kind != "snapshot":
        # read, applied, superseded, rejected
        counts = exp.select(*head, *zeros, *[lit(0) for _ in range(4)])
        return [into_state(p, "run_counts", counts)]
    read, keys = _row_count(s.staging), _key_count(s, s.staging)
    superseded = exp.Sub(this=read.copy(), expression=keys.copy())
    counts = exp.select(*head, *zeros, read, keys, superseded, lit(0))
    return [into_state(p, "run_counts", counts)]


def logged_counts(p: PipelinePlan, sources: Sequence[str] | None = None) -> exp.Select:
    """This run's counts rows of its sources (detection writes one for every source,
    skipped or not): what later steps read instead of an unchanged source's tables."""
    where: list[exp.Expression] = [
        eq(col("run_id"), var("p_run_id")),
        eq(col("object_kind"), lit("source")),
    ]
    if sources is not None:
        where.append(exp.In(this=col("object_name"), expressions=[lit(s) for s in sources]))
    return (
        exp.select(
            *[col(c) for c in ("object_name", "inserted", "updated", "deleted", "read_rows")]
        )
        .from_(table(f"{p.cdc_schema}.run_counts"), copy=False)
        .where(and_all(where), copy=False)
    )


def _summed_where(picked: exp.Expression, value: exp.Expression) -> exp.Expression:
    """``value`` summed over the rows of :func:`logged_counts` where ``picked`` (0 if none)."""
    return exp.Coalesce(this=exp.Sum(this=case([(picked, value)], lit(0))), expressions=[lit(0)])


def _detected_changes() -> exp.Expression:
    return exp.Add(
        this=exp.Add(this=col("inserted"), expression=col("updated")), expression=col("deleted")
    )


def logged_sum(source: str, value: exp.Expression) -> exp.Expression:
    """``value`` summed over ``source``'s row of :func:`logged_counts` (0 if none)."""
    return _summed_where(eq(col("object_name"), lit(source)), value)


def logged_changes_of(sources: Sequence[str]) -> exp.Expression:
    """How many inserts, updates and deletes this run detected over all of ``sources``."""
    named = exp.In(this=col("object_name"), expressions=[lit(s) for s in sources])
    return _summed_where(named, _detected_changes())


def logged_changes(source: str) -> exp.Expression:
    """How many inserts, updates and deletes this run detected for ``source``."""
    return logged_sum(source, _detected_changes())


def source_counts(p: PipelinePlan, s: SourcePlan, with_path: bool = False) -> exp.Insert:
    """The source's ``run_counts`` row; ``with_path``: its ``path`` says which staged
    copy the run made (:data:`STAGED_PATH_VAR`). The delta and the staged copy are each
    read once (the staged copy used to be read six times: a first load's whole batch)."""
    # Only rows dead-lettered by this run: window-mode staging re-delivers a bad row every
    # run, and counting it again each time would report a new problem where there is none.
    dead = dead_letters_of(
        p, s.name, eq(col("run_id", "x"), var("p_run_id")), exp.Count(this=exp.Star())
    )
    ops = {"inserted": "I", "updated": "U", "deleted": "D", "stale": "S"}
    delta = exp.select(*[_named(count_if(op_in(None, op)), name) for name, op in ops.items()])
    delta = delta.from_(table(delta_name(p, s)), copy=False)
    read, rejects, keys = col("read_rows", "r"), col("rejected_rows", "r"), col("valid_keys", "r")
    stale = col("stale", "d")
    query = exp.select(
        var("p_run_id"),
        lit(p.name),
        lit("source"),
        lit(s.name),
        *[col(name, "d") for name in ops],
        exp.Subquery(this=dead),
        read,
        exp.Sub(this=keys, expression=stale.copy()),
        exp.Sub(this=exp.Sub(this=read.copy(), expression=rejects.copy()), expression=keys.copy()),
        rejects.copy(),
    )
    query = query.from_(derived(delta, "d"), copy=False)
    query = query.join(derived(_staged_row_counts(p, s), "r"), join_type="CROSS", copy=False)
    if with_path:
        query = query.select(var(STAGED_PATH_VAR), copy=False)
    return into_state(p, "run_counts", query)


def _staged_row_counts(p: PipelinePlan, s: SourcePlan) -> exp.Select:
    """Rows read, rows rejected, and keys among the valid rows (one row per key survives
    de-duplication; the others were superseded in the same batch), in one pass: the
    staged rows grouped by key, each group counting its rows and its rejected rows."""
    keys = [col(k, "n") for k in s.key]
    per_key = (
        exp.select(
            _named(exp.Count(this=exp.Star()), "read_rows"),
            _named(count_if(rejected(s, "n")), "rejected_rows"),
        )
        .from_(table(staged_name(p, s), "n"), copy=False)
        .group_by(*keys, copy=False)
    )
    read, rejects = col("read_rows", "g"), col("rejected_rows", "g")
    return exp.select(
        _named(exp.Coalesce(this=exp.Sum(this=read), expressions=[lit(0)]), "read_rows"),
        _named(exp.Coalesce(this=exp.Sum(this=rejects), expressions=[lit(0)]), "rejected_rows"),
        _named(count_if(exp.GT(this=read.copy(), expression=rejects.copy())), "valid_keys"),
    ).from_(derived(per_key, "g"), copy=False)


def _named(e: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=e, alias=exp.to_identifier(name))


def _row_count(relation: Table | str) -> exp.Subquery:
    """``(SELECT COUNT(*) FROM relation)``."""
    return exp.Subquery(this=exp.select(exp.Count(this=exp.Star())).from_(table(relation), copy=False))


def _key_count(s: SourcePlan, relation: Table | str) -> exp.Subquery:
    """How many distinct keys ``relation`` holds."""
    keys = [col(k) for k in s.key]
    per_key = exp.select(*keys).from_(table(relation), copy=False).group_by(*keys, copy=False)
    return exp.Subquery(
        this=exp.select(exp.Count(this=exp.Star())).from_(derived(per_key, "k"), copy=False)
    )

"""Step 3 of a run, per fact: affected keys -> recompute -> diff -> delete/merge -> log.

The affected keys are every grain key whose fact row *may* change: grain rows that
changed, and grain rows that reach a changed lookup or semi-join row through the
join conditions, matched against both the old and the new image of that row. The
rows are then recomputed with the fact's full definition over the synced baseline,
so re-pointed lookups, filters that start or stop matching and lookup chains are
all handled by one mechanism instead of column-by-column propagation.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import AsOfPlan, PipelinePlan, Relation, SourcePlan, TargetPlan
from cdcgen.sql import nodes
from cdcgen.sql.builders import (
    OP,
    analyze_temp,
    and_all,
    case,
    cast,
    changed_rows,
    chg,
    col,
    concat,
    count_if,
    create_temp_as,
    delete_changed,
    derived,
    differs,
    drop_temp,
    eq,
    insert,
    is_null,
    joined,
    lit,
    old,
    op_in,
    or_all,
    paren,
    rebind,
    rows_of,
    table,
    temp_table,
    update_from,
    var,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.declared import stored_value, unstorable
from cdcgen.sql.detect import (
    dead_letters_of,
    delta_name,
    letter_value,
    resolve_letters,
    when_letters_open,
)
from cdcgen.sql.sync import key_text, logged_change
from cdcgen.sql.tables import IS_CURRENT, VALID_FROM, VALID_TO

KEYS = "cdc__k"


def keys_name(p: PipelinePlan, t: TargetPlan) -> str:
    return p.temp(t.name, "keys")


def new_name(p: PipelinePlan, t: TargetPlan) -> str:
    return p.temp(t.name, "new")


def diff_name(p: PipelinePlan, t: TargetPlan) -> str:
    return p.temp(t.name, "diff")


def _exists_clause(p: PipelinePlan, r: Relation) -> exp.Exists:
    assert r.on is not None
    inner = (
        exp.select(lit(1))
        .from_(table(p.source(r.source).baseline, r.alias), copy=False)
        .where(r.on.copy(), copy=False)
    )
    return exp.Exists(this=inner)


def definition(
    p: PipelinePlan, t: TargetPlan, keys_table: str | None = None, *, only_key: bool = False
) -> exp.Select:
    """The target's full definition over the baseline, optionally cut to a key table
    (or reduced to its key columns, when only which rows exist matters)."""
    grain = p.source(t.grain.source)
    columns = [c for c in t.columns if c.name in t.key] if only_key else t.columns
    # each value as the target stores it (its declared type), so that stored and
    # recomputed rows compare alike in the diff, the __full view and verify
    query = exp.select(*[exp.alias_(stored_value(c), c.name, copy=False) for c in columns]).from_(
        table(grain.baseline, t.grain.alias), copy=False
    )
    if keys_table is not None:
        on = and_all(
            eq(col(tk, KEYS), col(gk, t.grain.alias))
            for tk, gk in zip(t.key, t.grain_key, strict=True)
        )
        query = query.join(joined(table(keys_table, KEYS), "inner"), on=on, copy=False)
    for j in t.joins:
        assert j.on is not None
        query = query.join(
            joined(table(p.source(j.source).baseline, j.alias), "left"),
            on=j.on.copy(),
            copy=False,
        )
    for a in t.as_of:
        query = query.join(joined(table(a.table, a.alias), "left"), on=_as_of_on(a), copy=False)
    filters: list[exp.Expression] = []
    if t.where is not None:
        filters.append(paren(t.where.copy()))
    filters += [_exists_clause(p, e) for e in t.exists]
    if filters:
        query = query.where(and_all(filters), copy=False)
    return query


def _as_of_time(a: AsOfPlan) -> exp.Expression:
    """The grain's as-of value, compared with the dimension's timestamps (a date is its
    midnight: the version valid when that day began)."""
    return cast(a.at.copy(), "timestamp") if a.at_type == "date" else a.at.copy()


def _as_of_on(a: AsOfPlan) -> exp.Expression:
    """The version of the key valid at the as-of time: ``valid_from <= at < valid_to``
    (an open version has no end). A NULL as-of time matches no version."""
    at = _as_of_time(a)
    return and_all(
        [
            a.on.copy(),
            exp.LTE(this=col(VALID_FROM, a.alias), expression=at),
            paren(
                or_all(
                    [
                        is_null(col(VALID_TO, a.alias)),
                        exp.LT(this=at.copy(), expression=col(VALID_TO, a.alias)),
                    ]
                )
            ),
        ]
    )


def _as_of_keys(p: PipelinePlan, t: TargetPlan, a: AsOfPlan) -> exp.Select:
    """Fact keys whose as-of time falls where this run changed the dimension's versions.

    Per changed dimension key (the dimension's diff, applied earlier in the run), the
    versions from ``cdc__from`` on are new or different: an opened version (I, H, X under
    new_version) and the time after a closed one start at the change time, and a version
    overwritten in place (U) is the current one, from its ``valid_from``. Versions before
    that time kept their columns, so fact rows as of an earlier time are not reached."""
    dim = p.target(a.dimension)
    d, cur, v = "d", "cur", "v"
    keyed = {k: exp.Coalesce(this=col(k, d), expressions=[col(old(k), d)]) for k in dim.key}
    current = and_all(
        [*(eq(col(k, cur), keyed[k].copy()) for k in dim.key), eq(col(IS_CURRENT, cur), lit(True))]
    )
    start = case([(op_in(d, "U"), col(VALID_FROM, cur))], col("cdc__change_ts", d))
    changed = (
        exp.select(*[exp.alias_(e, k) for k, e in keyed.items()], exp.alias_(start, "cdc__from"))
        .from_(table(diff_name(p, dim), d), copy=False)
        .join(joined(table(dim.table, cur), "left"), on=current, copy=False)
    )
    grain = p.source(t.grain.source)
    reached = and_all(
        [
            rebind(a.on, {a.alias: (v, "")}),
            exp.GTE(this=_as_of_time(a), expression=col("cdc__from", v)),
        ]
    )
    return (
        exp.select(
            *[
                exp.alias_(col(gk, t.grain.alias), tk)
                for tk, gk in zip(t.key, t.grain_key, strict=True)
            ]
        )
        .from_(table(grain.baseline, t.grain.alias), copy=False)
        .join(
            joined(derived(changed, v), "inner"),
            on=reached,
            copy=False,
        )
    )


def as_of_key_parts(p: PipelinePlan, t: TargetPlan) -> dict[str, list[exp.Query]]:
    """Per dimension looked up as of a time: the fact keys its changes in this run reach."""
    parts: dict[str, list[exp.Query]] = {}
    for a in t.as_of:
        parts.setdefault(a.dimension, []).append(_as_of_keys(p, t, a))
    return parts


def logged_dimension_counts(p: PipelinePlan, dimensions: list[str]) -> exp.Select:
    """This run's counts rows of the dimensions a fact looks up (every run writes one per
    dimension, zero when nothing changed): a dimension without changes is never read."""
    return (
        exp.select(*[col(c) for c in ("object_name", "inserted", "updated", "deleted")])
        .from_(table(f"{p.cdc_schema}.run_counts"), copy=False)
        .where(
            and_all(
                [
                    eq(col("run_id"), var("p_run_id")),
                    eq(col("object_kind"), lit("dimension")),
                    exp.In(this=col("object_name"), expressions=[lit(n) for n in dimensions]),
                ]
            ),
            copy=False,
        )
    )


def _relevant_change(s: SourcePlan, columns: tuple[str, ...], alias: str) -> exp.Expression:
    """Inserts and deletes always matter; an update only if a column this target reads changed."""
    flags = [col(chg(c), alias) for c in columns if c in s.column_names]
    return and_all([op_in(alias, "I", "U", "D"), paren(or_all([op_in(alias, "I", "D"), *flags]))])


def _grain_keys(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    s = p.source(t.grain.source)
    d = "d"
    keys = [
        exp.alias_(exp.Coalesce(this=col(gk, d), expressions=[col(old(gk), d)]), tk)
        for tk, gk in zip(t.key, t.grain_key, strict=True)
    ]
    relevant = _relevant_change(s, t.referenced_columns(t.grain.alias), d)
    return (
        exp.select(*keys).from_(table(delta_name(p, s), d), copy=False).where(relevant, copy=False)
    )


def _reached_keys(p: PipelinePlan, t: TargetPlan, r: Relation, image_prefix: str) -> exp.Select:
    """Grain keys whose current path reaches a change of ``r`` seen through one image."""
    assert r.on is not None
    s = p.source(r.source)
    d = "d"
    grain = p.source(t.grain.source)
    query = exp.select(
        *[exp.alias_(col(gk, t.grain.alias), tk) for tk, gk in zip(t.key, t.grain_key, strict=True)]
    ).from_(table(grain.baseline, t.grain.alias), copy=False)
    for j in t.path_to(r):
        assert j.on is not None
        query = query.join(
            joined(table(p.source(j.source).baseline, j.alias), "inner"),
            on=j.on.copy(),
            copy=False,
        )
    matched = rebind(r.on, {r.alias: (d, image_prefix)})
    delta = _probed(p, t, r, table(delta_name(p, s), d), matched)
    query = query.join(joined(delta, "inner"), on=matched, copy=False)
    return query.where(_relevant_change(s, t.referenced_columns(r.alias), d), copy=False)


def _probed(
    p: PipelinePlan, t: TargetPlan, r: Relation, delta: exp.Table, matched: exp.Expression
) -> exp.Expression:
    """The delta, kept to rows with a partner where it joins a non-key column of one
    relation (nodes.ProbedDelta: PostgreSQL's planner would otherwise hash the whole
    table for a low-cardinality column). A join on the partner's key is a unique
    index lookup already: the delta as is."""
    if len(r.depends_on) != 1:
        return delta
    (alias,) = r.depends_on
    partner = p.source(t.relation(alias).source)
    if set(partner.key) <= {c.name for c in matched.find_all(exp.Column) if c.table == alias}:
        return delta
    probe = exp.Exists(
        this=exp.select(lit(1))
        .from_(table(partner.baseline, alias), copy=False)
        .where(matched.copy(), copy=False)
    )
    return nodes.ProbedDelta(this=delta, probe=probe)


def read_sources(t: TargetPlan) -> list[str]:
    """The sources ``t`` reads, in the order its procedure numbers them."""
    return sorted({r.source for r in t.relations})


def affected_key_parts(p: PipelinePlan, t: TargetPlan) -> dict[str, list[exp.Query]]:
    """Per source: the queries yielding the keys its changes reach (grain keys; keys
    reached through each join or exists relation, by the new and the old image)."""
    parts: dict[str, list[exp.Query]] = {}
    parts.setdefault(t.grain.source, []).append(_grain_keys(p, t))
    for r in (*t.joins, *t.exists):
        # Two equality joins instead of one OR join: Redshift can hash-join each.
        parts.setdefault(r.source, []).append(_reached_keys(p, t, r, ""))
        parts[r.source].append(_reached_keys(p, t, r, "old__"))
    return parts


def keys_shell(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """The empty key table, typed like the target's key (a constant-false read of the
    target: nothing is scanned). Each changed source then adds the keys it reaches.
    Only a run's dispatcher leads here, and it dropped the older temp tables already
    (:func:`cdcgen.sql.dispatch.drop_step_temps`)."""
    empty = (
        exp.select(*[col(k) for k in t.key])
        .from_(table(t.table), copy=False)
        .where(lit(False), copy=False)
    )
    return [create_temp_as(keys_name(p, t), empty)]


def temp_names(p: PipelinePlan, t: TargetPlan) -> tuple[str, str, str]:
    """Every temp table of an apply: the key table, the recompute and the diff."""
    return keys_name(p, t), new_name(p, t), diff_name(p, t)


def _drop_temps(p: PipelinePlan, t: TargetPlan) -> exp.Expression:
    """The full key step (a rebuild or a first load, which the rebuild procedure also
    calls) drops the apply's temp tables itself."""
    return drop_temp(*temp_names(p, t))


def keys_insert(p: PipelinePlan, t: TargetPlan, parts: list[exp.Query]) -> exp.Insert:
    """Add the keys one source's changes reach, each key once across sources."""
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=True, copy=False)
    reached = derived(union, "a")
    known = (
        exp.select(lit(1))
        .from_(table(keys_name(p, t), "x"), copy=False)
        .where(and_all(eq(col(k, "x"), col(k, "a")) for k in t.key), copy=False)
    )
    query = (
        exp.select(*[col(k, "a") for k in t.key])
        .from_(reached, copy=False)
        .where(exp.Not(this=exp.Exists(this=known)), copy=False)
    )
    if len(parts) == 1:
        query = query.distinct(copy=False)
    return insert(keys_name(p, t), t.key, query)


def keys_analyze(p: PipelinePlan, t: TargetPlan) -> exp.Expression:
    return analyze_temp(keys_name(p, t), filled=True)


def analyze_target(t: TargetPlan) -> exp.Expression:
    """A rebuild's statistics of the target itself, on both dialects: the diff (and a
    fact's MERGE) join it with every key, and statistics taken before a bulk load (the
    first load writes every row by one INSERT) plan that join as a nested loop over a
    table believed empty."""
    return analyze_temp(str(t.table), filled=True)


def all_keys_query(p: PipelinePlan, t: TargetPlan) -> exp.Query:
    """Rebuild: every key the definition yields or the target holds."""
    defined = exp.select(*[col(k, "f") for k in t.key]).from_(
        derived(definition(p, t, only_key=True), "f"),
        copy=False,
    )
    held = exp.select(*[col(k) for k in t.key]).from_(table(t.table), copy=False)
    return exp.union(defined, held, distinct=True, copy=False)


def _current_rows(p: PipelinePlan, t: TargetPlan) -> exp.Subquery:
    o = "f"
    on = and_all(eq(col(k, o), col(k, KEYS)) for k in t.key)
    query = (
        exp.select(*[col(c, o) for c in t.column_names])
        .from_(table(t.table, o), copy=False)
        .join(joined(table(keys_name(p, t), KEYS), "inner"), on=on, copy=False)
    )
    return derived(query, "o")


def diff_query(p: PipelinePlan, t: TargetPlan, current: exp.Subquery | None = None) -> exp.Select:
    """Recomputed rows beside current rows (``current``: default the affected keys'); keeps
    inserts, deletes and real changes."""
    n, o, d = "n", "o", "d"
    first = t.key[0]
    op = case([(is_null(col(first, o)), lit("I")), (is_null(col(first, n)), lit("D"))], lit("U"))
    on = and_all(eq(col(k, n), col(k, o)) for k in t.key)
    paired = (
        exp.select(
            exp.alias_(op, OP, copy=False),
            *[exp.alias_(col(c, n), c, copy=False) for c in t.column_names],
            *[exp.alias_(col(c, o), old(c), copy=False) for c in t.column_names],
            *[exp.alias_(differs(col(c, n), col(c, o)), chg(c), copy=False) for c in t.column_names],
        )
        .from_(table(new_name(p, t), n), copy=False)
        .join(joined(_current_rows(p, t) if current is None else current, "full"), on=on, copy=False)
    )
    changed = or_all(col(chg(c.name), d) for c in t.non_key_columns)
    return (
        exp.select(exp.Star())
        .from_(
            derived(paired, d), copy=False
        )
        .where(or_all([exp.NEQ(this=col(OP, d), expression=lit("U")), paren(changed)]), copy=False)
    )


def fact_change_log_insert(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    d = "d"
    query = exp.select(*logged_change(p, t, d), nodes.RunTimestamp()).from_(
        table(diff_name(p, t), d), copy=False
    )
    return into_state(p, "fact_change_log", query)


def zero_counts(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    """The counts row of a target no change reached (every run reports every target)."""
    values = exp.select(
        var("p_run_id"), lit(p.name), lit(t.kind), lit(t.name), lit(0), lit(0), lit(0), lit(0), lit(0)
    )
    return into_state(p, "run_counts", values)


def target_counts(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    query = exp.select(
        var("p_run_id"),
        lit(p.name),
        lit(t.kind),
        lit(t.name),
        count_if(op_in(None, "I")),
        count_if(op_in(None, "U")),
        count_if(op_in(None, "D")),
        lit(0),
        lit(0),
        *path_columns(),
    ).from_(table(diff_name(p, t)), copy=False)
    return into_state(p, "run_counts", query)


UNSTORABLE = "cdc__unstorable"


def _unstorable_reason(t: TargetPlan) -> exp.Expression | None:
    """Why a recomputed row holds a value its column cannot store (NULL when none)."""
    tests = [unstorable(c, f"{t.name}.{c.name}") for c in t.columns]
    found = [x for x in tests if x is not None]
    return case(found) if found else None


def _with_unstorable_reason(t: TargetPlan, query: exp.Select) -> exp.Select:
    """``query`` plus the reason a value could not be stored (when a column can overflow)."""
    reason = _unstorable_reason(t)
    if reason is None:
        return query
    return query.select(exp.alias_(reason, UNSTORABLE, copy=False), copy=False)


def recompute_query(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    """The definition over the run's keys, with the reason a value could not be stored."""
    return _with_unstorable_reason(t, definition(p, t, keys_name(p, t)))


def unstorable_insert(p: PipelinePlan, t: TargetPlan) -> exp.Insert | None:
    """Dead-letter each recomputed row with a value its column cannot store (stored as
    NULL; see :func:`cdcgen.sql.declared.stored_value`), once per key and reason, named
    by the target (``source`` = the target's name) with the row's key."""
    if _unstorable_reason(t) is None:
        return None
    n = "n"
    types = {c.name: c.type for c in t.columns}
    row_hash = exp.MD5(
        this=concat([col(UNSTORABLE, n), lit("|"), key_text(t.key, n, types, fallback_prefix=None)])
    )
    already = dead_letters_of(p, t.name, eq(col("row_hash", "x"), row_hash), lit(1))
    query = (
        exp.select(
            var("p_run_id"),
            lit(p.name),
            lit(t.name),
            col(UNSTORABLE, n),
            row_hash.copy(),
            nodes.payload([(k, col(k, n), types[k]) for k in t.key]),
            nodes.RunTimestamp(),
        )
        .from_(table(new_name(p, t), n), copy=False)
        .where(
            and_all([exp.Not(this=is_null(col(UNSTORABLE, n))), exp.Not(this=exp.Exists(this=already))]),
            copy=False,
        )
    )
    return into_state(p, "dead_letter", query)


def unstorable_resolve(p: PipelinePlan, t: TargetPlan) -> exp.Update | None:
    """Close the target's open dead letters of earlier runs whose key this run
    recomputed and which its row no longer has a reason for (stored now, another
    reason, or the row is gone)."""
    if _unstorable_reason(t) is None:
        return None
    k, n = "k", "n"
    types = {c.name: c.type for c in t.columns}
    recomputed = (
        exp.select(*[col(key, k) for key in t.key], exp.alias_(col(UNSTORABLE, n), UNSTORABLE))
        .from_(table(keys_name(p, t), k), copy=False)
        .join(
            joined(table(new_name(p, t), n), "left"),
            on=and_all(eq(col(key, k), col(key, n)) for key in t.key),
            copy=False,
        )
    )
    r = "r"
    relation = derived(recomputed, r)
    same_key = [eq(col(key, r), letter_value(key, types[key], t.key)) for key in t.key]
    gone = or_all(
        [is_null(col(UNSTORABLE, r)), exp.NEQ(this=col(UNSTORABLE, r), expression=col("reason", "dead_letter"))]
    )
    return resolve_letters(p, t.name, relation, and_all([*same_key, paren(gone)]))


def unstorable_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """After the recompute: dead-letter the values the target cannot store, and close the
    letters the recompute cleared (nothing when no column can overflow)."""
    dead = unstorable_insert(p, t)
    resolve = unstorable_resolve(p, t)
    return [] if dead is None or resolve is None else [dead, when_letters_open(resolve)]


def full_keys_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    return [_drop_temps(p, t), *temp_table(keys_name(p, t), all_keys_query(p, t), drop=False)]


def apply_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """After the key table: recompute, diff, delete (then load_statements, log_statements)."""
    return _recompute_and_delete(p, t, recompute_query(p, t), diff_query(p, t))


def _recompute_and_delete(
    p: PipelinePlan, t: TargetPlan, recompute: exp.Select, diff_rows: exp.Select
) -> list[exp.Expression]:
    """The recomputed rows and their diff as temp tables (dropped by the caller's key
    step), the unstorable values dead-lettered, the deleted keys deleted."""
    diff = diff_name(p, t)
    stmts: list[exp.Expression] = []
    stmts += temp_table(new_name(p, t), recompute, t.key, drop=False)
    stmts += unstorable_statements(p, t)
    stmts += temp_table(diff, diff_rows, [OP, *t.key, *map(old, t.key)], drop=False)
    stmts.append(delete_changed(t.table, diff, t.key, "D"))
    return stmts


def merge_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """Updates and inserts into a target that holds rows, straight from the diff: an
    ``UPDATE … FROM`` of the mapped columns (unmapped ones keep their values), then an
    ``INSERT`` of the new keys. A MERGE would need a plain-table copy of the diff's
    upserts on Redshift: a temp table and one more statement a run."""
    non_key = [c for c in t.column_names if c not in t.key]
    diff = diff_name(p, t)
    updates = [update_from(t.table, diff, t.key, non_key, op_in(diff, "U"))] if non_key else []
    return [*updates, insert(t.table, t.column_names, changed_rows(diff, t.column_names, "I"))]


def insert_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """The same into an empty target (first load, rebuild of an emptied table): every
    row is an insert, and a plain INSERT … SELECT scales linearly where a join planned
    against an empty table does not."""
    rows = changed_rows(diff_name(p, t), t.column_names, "I", "U")
    return [insert(t.table, t.column_names, rows)]


def log_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    return [fact_change_log_insert(p, t), target_counts(p, t)]


def verify_insert(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    """Rows missing from, extra in, or different in the target versus its definition."""
    v, f = "v", "f"
    on = and_all(eq(col(k, v), col(k, f)) for k in t.key)
    first = t.key[0]
    different = and_all(
        [
            exp.Not(this=is_null(col(first, v))),
            exp.Not(this=is_null(col(first, f))),
            paren(or_all(differs(col(c.name, v), col(c.name, f)) for c in t.non_key_columns)),
        ]
    )
    query = (
        exp.select(
            nodes.RunTimestamp(),
            lit(p.name),
            lit(t.name),
            count_if(is_null(col(first, f))),
            count_if(is_null(col(first, v))),
            count_if(different),
        )
        .from_(table(f"{p.cdc_schema}.{t.name}__full", v), copy=False)
        .join(joined(table(t.table, f), "full"), on=on, copy=False)
    )
    return into_state(p, "verify_log", query)


# --------------------------------------------------------------------------- path by cost
# When the affected keys are a large share of a fact, the keyed recompute (definition
# joined to the key table, target joined to the key table) is replaced by the whole
# definition beside the whole target: the same diff, so the same rows written, the
# same fact_change_log and run_counts (docs/performance.md, "Choosing the path by cost").

#: Affected keys, in percent of the fact's rows, from which the run recomputes the whole
#: fact set-based instead of by key. Measured in docs/performance.md ("Choosing the path
#: by cost"): on PostgreSQL the keyed path, its key tables analyzed, already hash-joins
#: at large shares, and the whole path was 1.5 to 5 times slower below about 30 %. The
#: apply procedures render it as ``v_keys * 100 >= <pct> * v_target_count``.
WHOLE_PATH_PCT = 50

#: Fewest affected keys for which the run counts the fact's rows to choose the path. Counting
#: reads the whole fact (O(table), 7-12 ms per 100k rows on PostgreSQL; more on Redshift,
#: a statement of its own), so a run of a few changes must not pay it. Below this many
#: keys the whole path could only win on a fact under 2,000 rows, where both are cheap.
WHOLE_PATH_MIN_KEYS = 1000

#: the PL/pgSQL variable naming the path taken (``run_counts.path``)
PATH_VAR = "v_path"

#: the PL/pgSQL variable holding 0 for an empty fact (its first load), else 1
TARGET_ROWS_VAR = "v_target_rows"


def target_one_row(t: TargetPlan) -> exp.Select:
    """``SELECT 1 FROM fact LIMIT 1``: counted, 0 when the fact is empty, else 1."""
    return exp.select(lit(1)).from_(table(t.table), copy=False).limit(1, copy=False)


def target_probe(t: TargetPlan) -> exp.Subquery:
    """``(SELECT COUNT(*) FROM (SELECT 1 FROM fact LIMIT 1) AS cdc__t)``: 0 when the fact
    is empty, else 1, reading one row at most."""
    return rows_of(target_one_row(t), "cdc__t")


def path_columns() -> list[exp.Expression]:
    """A fact's counts row ends with the path: read_rows … rejected (a source's) NULL."""
    return [exp.null(), exp.null(), exp.null(), exp.null(), var(PATH_VAR)]


def _among_affected(p: PipelinePlan, t: TargetPlan, alias: str) -> exp.Exists:
    """The row under ``alias`` has an affected key (a semi-join with the key table)."""
    inner = (
        exp.select(lit(1))
        .from_(table(keys_name(p, t), KEYS), copy=False)
        .where(and_all(eq(col(k, KEYS), col(k, alias)) for k in t.key), copy=False)
    )
    return exp.Exists(this=inner)


def whole_recompute_query(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    """The whole definition computed set-based (no key table driving its joins), then
    kept to the affected keys, with the reason a value could not be stored. Keeping it
    to those keys makes the path's writes and logs the keyed path's even when the
    target drifted from its definition behind the pipeline's back (verify reports
    that; a run must not silently repair it on one path and not the other)."""
    query = _with_unstorable_reason(t, definition(p, t))
    w = "w"
    return (
        exp.select(exp.Star())
        .from_(derived(query, w), copy=False)
        .where(_among_affected(p, t, w), copy=False)
    )


def _whole_current_rows(p: PipelinePlan, t: TargetPlan) -> exp.Subquery:
    query = (
        exp.select(*[col(c, "f") for c in t.column_names])
        .from_(table(t.table, "f"), copy=False)
        .where(_among_affected(p, t, "f"), copy=False)
    )
    return derived(query, "o")


def whole_diff_query(p: PipelinePlan, t: TargetPlan) -> exp.Select:
    """:func:`diff_query` over the target's rows of the affected keys, read by a
    semi-join instead of a join driven by the key table."""
    return diff_query(p, t, _whole_current_rows(p, t))


def whole_apply_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    """:func:`apply_statements` with the whole definition and the whole target. The dead
    letters are still closed by the affected keys (the key table), as on the keyed path."""
    # Its one caller's key step has dropped both already; one statement on a rare path.
    drop = drop_temp(new_name(p, t), diff_name(p, t))
    return [drop, *_recompute_and_delete(p, t, whole_recompute_query(p, t), whole_diff_query(p, t))]

"""Integrity checks of the audit trail, run by ``sp_<p>_verify()`` after each target's
comparison with its definition (``facts.verify_insert``, ``dimensions.verify_insert``).

Each check is one INSERT of one ``verify_log`` row: ``check_name``, ``target`` (what was
checked), ``findings`` (0 = sound) and up to three ``examples``; the definition columns
(``missing_rows``, ...) stay NULL. The checks:

- ``lsn``: change_log LSNs are unique and gapless from 1. LSNs are global (max + row
  number under the run lock shared by every pipeline, DESIGN §3), so the sequence is
  checked over the whole table; an example ``4->6`` is a break after LSN 4;
- ``payload`` (per source): every change_log image the op calls for (after for I/U,
  before for U/D) is a JSON object holding a scalar value for each key column. A value
  that is not an object — text stored as a SUPER string, say — holds no key, so this
  also finds images that do not parse. Reads ``JSON_TYPEOF``/``jsonb_typeof`` only:
  nothing is cast, so a malformed image cannot fail the verification;
- ``run_counts``: per run (kind ``run`` or ``rebuild``) and object, inserted / updated /
  deleted equal the I / U / D rows the run wrote to change_log (sources) or
  fact_change_log (facts, dimensions);
- ``validity`` (per SCD2 dimension): at most one current version per key and exactly one
  live (current, not deleted) version per key of the definition; ``is_current`` agrees
  with an open ``valid_to``; in ``valid_from`` order no version ends before it starts,
  overlaps the next, or — unless ``on_delete: invalidate``, where a key that is gone
  has no version — leaves a gap before it;
- ``dead_letter_age``: no open dead letter older than ``freshness.error_after`` (only
  with a freshness threshold). A dead letter is open until a later run applies a newer
  valid version of its key or deletes it (``resolved_run_id``): fix the row upstream.

``sp_<p>_verify_deep()`` (``cdcgen verify --deep``) adds ``replay`` per source: the
change_log replayed from empty — per key its newest row, absent when that is a delete,
else its after-image read back into the column types — equals the baseline. It reads
the whole log, hence opt-in.
"""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, TargetPlan
from cdcgen.sql import nodes
from cdcgen.sql.builders import (
    and_all,
    as_text,
    case,
    cast,
    col,
    concat,
    derived,
    differs,
    eq,
    is_null,
    joined,
    lit,
    or_all,
    paren,
    position_in_list,
    table,
)
from cdcgen.sql.ddl import into_state
from cdcgen.sql.sync import audited
from cdcgen.sql.tables import IS_CURRENT, IS_DELETED, VALID_FROM, VALID_TO, surrogate_key

#: examples per verify_log row, each cut to EXAMPLE_WIDTH characters. verify_log.examples is
#: VARCHAR(2048): Redshift counts bytes, and 3 x 150 characters of 4 bytes + 2 separators fit.
EXAMPLES = 3
EXAMPLE_WIDTH = 150
EXAMPLE = "cdc__example"


def _report(p: PipelinePlan, target: str, check: str, problems: exp.Select) -> exp.Insert:
    """One verify_log row from ``problems``: a query with one row per finding and its
    example text in column :data:`EXAMPLE`."""
    rn = "cdc__rn"
    ranked = exp.select(
        col(EXAMPLE, "q"),
        exp.alias_(
            exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[col(EXAMPLE, "q")])), rn,
            copy=False,
        ),
    ).from_(derived(problems, "q"), copy=False)

    def nth(i: int) -> exp.Expression:
        return exp.Max(this=case([(eq(col(rn, "r"), lit(i)), col(EXAMPLE, "r"))], exp.null()))

    parts: list[exp.Expression] = [exp.Coalesce(this=nth(1), expressions=[lit("")])]
    for i in range(2, EXAMPLES + 1):
        parts.append(exp.Coalesce(this=concat([lit(", "), nth(i)]), expressions=[lit("")]))
    examples = exp.Nullif(this=concat(parts), expression=lit(""))
    query = exp.select(
        nodes.RunTimestamp(),
        lit(p.name),
        lit(target),
        exp.null(),
        exp.null(),
        exp.null(),
        lit(check),
        exp.Count(this=exp.Star()),
        examples,
    ).from_(derived(ranked, "r"), copy=False)
    return into_state(p, "verify_log", query)


def _example(*parts: exp.Expression) -> exp.Expression:
    return exp.Alias(
        this=exp.Substring(this=concat(list(parts)), start=lit(1), length=lit(EXAMPLE_WIDTH)),
        alias=exp.to_identifier(EXAMPLE),
    )


def _num(e: exp.Expression) -> exp.Expression:
    return cast(e, "varchar(20)")


def lsn_check(p: PipelinePlan) -> exp.Insert:
    log = f"{p.cdc_schema}.change_log"
    prev = exp.Coalesce(
        this=exp.Window(
            this=exp.Anonymous(this="LAG", expressions=[col("lsn")]),
            order=exp.Order(expressions=[col("lsn")]),
        ),
        expressions=[lit(0)],
    )
    seq = exp.select(col("lsn"), exp.alias_(prev, "prev_lsn")).from_(table(log))
    problems = (
        exp.select(_example(_num(col("prev_lsn", "s")), lit("->"), _num(col("lsn", "s"))))
        .from_(derived(seq, "s"), copy=False)
        .where(
            exp.NEQ(
                this=col("lsn", "s"),
                expression=exp.Add(this=col("prev_lsn", "s"), expression=lit(1)),
            ),
            copy=False,
        )
    )
    return _report(p, "change_log", "lsn", problems)


def _imaged(s: SourcePlan) -> list[str]:
    """The columns a change_log image of ``s`` is laid out over (all, or the key under
    ``audit: keys``), in the order of its parts."""
    return [c for c, _ in audited([(c.name, c.type) for c in s.columns], s.key, s.audit)]


def _holds_key(image: exp.Expression, s: SourcePlan) -> exp.Expression:
    names = _imaged(s)
    scalar = [
        exp.Not(
            this=exp.In(
                this=exp.Coalesce(
                    this=nodes.payload_kind(image.copy(), k, names), expressions=[lit("null")]
                ),
                expressions=[lit("null"), lit("object"), lit("array")],
            )
        )
        for k in s.key
    ]
    return and_all(scalar)


def payload_check(p: PipelinePlan, s: SourcePlan) -> exp.Insert:
    l_ = "l"
    op = exp.Coalesce(this=col("op", l_), expressions=[lit("?")])
    sound = and_all(
        [
            exp.In(this=op, expressions=[lit("I"), lit("U"), lit("D")]),
            exp.Paren(
                this=or_all([eq(op.copy(), lit("D")), _holds_key(col("after_row", l_), s)])
            ),
            exp.Paren(
                this=or_all([eq(op.copy(), lit("I")), _holds_key(col("before_row", l_), s)])
            ),
        ]
    )
    problems = (
        exp.select(_example(lit("lsn "), _num(col("lsn", l_))))
        .from_(table(f"{p.cdc_schema}.change_log", l_), copy=False)
        .where(
            and_all(
                [
                    eq(col("pipeline", l_), lit(p.name)),
                    eq(col("source", l_), lit(s.name)),
                    exp.Not(this=exp.Paren(this=sound)),
                ]
            ),
            copy=False,
        )
    )
    return _report(p, s.name, "payload", problems)


def _logged(p: PipelinePlan) -> exp.Query:
    """Per run and object, the I / U / D rows of change_log and fact_change_log."""

    def counts(log: str, kind: exp.Expression, name: str) -> exp.Select:
        def n(op: str) -> exp.Expression:
            return exp.Sum(this=case([(eq(col("op"), lit(op)), lit(1))], lit(0)))

        return (
            exp.select(
                col("run_id"),
                exp.alias_(kind, "object_kind"),
                exp.alias_(col(name), "object_name"),
                exp.alias_(n("I"), "inserted"),
                exp.alias_(n("U"), "updated"),
                exp.alias_(n("D"), "deleted"),
            )
            .from_(table(f"{p.cdc_schema}.{log}"), copy=False)
            .where(eq(col("pipeline"), lit(p.name)), copy=False)
            .group_by(col("run_id"), col(name), copy=False)
        )

    dims = [t.name for t in p.targets if t.kind == "dimension"]
    target_kind: exp.Expression = lit("fact")
    if dims:
        target_kind = case(
            [(exp.In(this=col("target"), expressions=[lit(d) for d in dims]), lit("dimension"))],
            lit("fact"),
        )
    return exp.union(
        counts("change_log", lit("source"), "source"),
        counts("fact_change_log", target_kind, "target"),
        distinct=False,
        copy=False,
    )


def run_counts_check(p: PipelinePlan) -> exp.Insert:
    c, g = "c", "g"
    counted = (
        exp.select("run_id", "object_kind", "object_name", "inserted", "updated", "deleted")
        .from_(table(f"{p.cdc_schema}.run_counts"), copy=False)
        .where(eq(col("pipeline"), lit(p.name)), copy=False)
    )
    on = and_all(eq(col(k, c), col(k, g)) for k in ("run_id", "object_kind", "object_name"))
    runs = (
        exp.select(col("run_id"))
        .from_(table(f"{p.cdc_schema}.run_log"), copy=False)
        .where(
            and_all(
                [
                    eq(col("pipeline"), lit(p.name)),
                    exp.In(this=col("kind"), expressions=[lit("run"), lit("rebuild")]),
                ]
            ),
            copy=False,
        )
    )
    run_id = exp.Coalesce(this=col("run_id", c), expressions=[col("run_id", g)])

    def zero(alias: str, name: str) -> exp.Expression:
        return exp.Coalesce(this=col(name, alias), expressions=[lit(0)])

    disagree = or_all(
        exp.NEQ(this=zero(c, n), expression=zero(g, n)) for n in ("inserted", "updated", "deleted")
    )
    problems = (
        exp.select(
            _example(
                lit("run "),
                _num(run_id),
                lit(" "),
                exp.Coalesce(this=col("object_name", c), expressions=[col("object_name", g)]),
            )
        )
        .from_(derived(counted, c), copy=False)
        .join(
            joined(derived(_logged(p), g), "full"),
            on=on,
            copy=False,
        )
        .where(
            and_all(
                [exp.In(this=run_id.copy(), query=exp.Subquery(this=runs)), exp.Paren(this=disagree)]
            ),
            copy=False,
        )
    )
    return _report(p, "run_counts", "run_counts", problems)


def validity_check(p: PipelinePlan, t: TargetPlan) -> exp.Insert:
    v = "v"
    sk = surrogate_key(t)
    keys = [col(k) for k in t.key]
    types = {c.name: c.type for c in t.columns}

    def over(this: exp.Expression, ordered: bool) -> exp.Window:
        order = (
            exp.Order(expressions=[col(VALID_FROM), col(sk)]) if ordered else None
        )
        return exp.Window(this=this, partition_by=[k.copy() for k in keys], order=order)

    versions = exp.select(
        *keys,
        col(sk),
        col(VALID_FROM),
        col(VALID_TO),
        col(IS_CURRENT),
        exp.alias_(over(exp.Anonymous(this="LEAD", expressions=[col(VALID_FROM)]), True), "next_from"),
        exp.alias_(
            over(exp.Count(this=case([(col(IS_CURRENT), lit(1))], exp.null())), False), "currents"
        ),
    ).from_(table(t.table))

    def key_of(alias: str) -> list[exp.Expression]:
        out: list[exp.Expression] = []
        for i, k in enumerate(t.key):
            if i:
                out.append(lit("|"))
            out.append(as_text(col(k, alias), types[k], 64))
        return out

    next_from, valid_to, valid_from = col("next_from", v), col(VALID_TO, v), col(VALID_FROM, v)
    broken: list[exp.Expression] = [
        exp.GT(this=col("currents", v), expression=lit(1)),
        # is_current and an open valid_to say the same thing
        exp.NEQ(
            this=case([(col(IS_CURRENT, v), lit(1))], lit(0)),
            expression=case([(exp.Is(this=valid_to.copy(), expression=exp.null()), lit(1))], lit(0)),
        ),
        exp.LT(this=valid_to.copy(), expression=valid_from.copy()),
        # a later version exists: this one must be closed by the time it starts
        and_all(
            [
                exp.Not(this=exp.Is(this=next_from.copy(), expression=exp.null())),
                exp.Is(this=valid_to.copy(), expression=exp.null()),
            ]
        ),
        exp.GT(this=valid_to.copy(), expression=next_from.copy()),
    ]
    if t.on_delete != "invalidate":
        broken.append(exp.LT(this=valid_to.copy(), expression=next_from.copy()))
    bad_versions = (
        exp.select(_example(*key_of(v), lit(" sk "), _num(col(sk, v))))
        .from_(derived(versions, v))
        .where(or_all(broken))
    )
    # keys of the definition without exactly one live version
    f, d = "f", "d"
    live = (
        exp.select(*keys, exp.alias_(exp.Count(this=exp.Star()), "live"))
        .from_(table(t.table))
        .where(and_all([eq(col(IS_CURRENT), lit(True)), eq(col(IS_DELETED), lit(False))]))
        .group_by(*[k.copy() for k in keys])
    )
    first = t.key[0]
    not_live = (
        exp.select(_example(*key_of(f), lit(" live "), _num(exp.Coalesce(
            this=col("live", d), expressions=[lit(0)]))))
        .from_(table(f"{p.cdc_schema}.{t.name}__full", f))
        .join(
            joined(derived(live, d), "left"),
            on=and_all(eq(col(k, f), col(k, d)) for k in t.key),
        )
        .where(
            or_all(
                [
                    exp.Is(this=col(first, d), expression=exp.null()),
                    exp.GT(this=col("live", d), expression=lit(1)),
                ]
            )
        )
    )
    return _report(p, t.name, "validity", exp.union(bad_versions, not_live, distinct=False))  # type: ignore[arg-type]


def dead_letter_check(p: PipelinePlan) -> exp.Insert | None:
    if p.freshness_error_seconds is None:
        return None
    age = exp.DateDiff(
        this=nodes.WallClock(), expression=col("dead_lettered_at"), unit=exp.var("SECOND")
    )
    problems = (
        exp.select(_example(col("source"), lit(" run "), _num(col("run_id")), lit(": "), col("reason")))
        .from_(table(f"{p.cdc_schema}.dead_letter"), copy=False)
        .where(
            and_all(
                [
                    eq(col("pipeline"), lit(p.name)),
                    is_null(col("resolved_run_id")),
                    exp.GT(this=age, expression=lit(p.freshness_error_seconds)),
                ]
            ),
            copy=False,
        )
    )
    return _report(p, "dead_letter", "dead_letter_age", problems)


def log_checks(p: PipelinePlan) -> list[exp.Expression]:
    """The verify_log rows of the audit-trail checks, in a fixed order."""
    stmts: list[exp.Expression] = [lsn_check(p)]
    stmts += [payload_check(p, s) for s in p.sources]
    stmts.append(run_counts_check(p))
    stmts += [validity_check(p, t) for t in p.targets if t.kind == "dimension"]
    dead = dead_letter_check(p)
    if dead is not None:
        stmts.append(dead)
    return stmts


def _log_value(s: SourcePlan, layout: list[str], image: str, c: str) -> exp.Expression:
    return nodes.payload_get(col(image, "l"), c, s.type_of(c), layout)


def _log_key(s: SourcePlan, layout: list[str]) -> list[exp.Expression]:
    """A change_log row's key: from its after image, or its before image for a delete."""
    return [
        exp.Coalesce(
            this=_log_value(s, layout, "after_row", k),
            expressions=[_log_value(s, layout, "before_row", k)],
        )
        for k in s.key
    ]


def _log_rows(p: PipelinePlan, s: SourcePlan, *columns: exp.Expr) -> exp.Select:
    """``columns`` over the change_log rows of ``s`` (alias ``l``)."""
    l_ = "l"
    this_source = and_all([eq(col("pipeline", l_), lit(p.name)), eq(col("source", l_), lit(s.name))])
    return (
        exp.select(*columns)
        .from_(table(f"{p.cdc_schema}.change_log", l_), copy=False)
        .where(this_source, copy=False)
    )


def _newest_first(s: SourcePlan, layout: list[str]) -> exp.Window:
    return exp.Window(
        this=exp.RowNumber(),
        partition_by=_log_key(s, layout),
        order=exp.Order(expressions=[exp.Ordered(this=col("lsn", "l"), desc=True)]),
    )


def _alive(op: exp.Expression) -> exp.Expression:
    return exp.NEQ(this=exp.Coalesce(this=op, expressions=[lit("?")]), expression=lit("D"))


def _replayed_images(
    p: PipelinePlan, s: SourcePlan, layout: list[str], names: list[str]
) -> exp.Select:
    """Per key the after image of its newest log row, unless that row is a delete."""
    latest = _log_rows(
        p,
        s,
        col("op", "l"),
        *[exp.alias_(_log_value(s, layout, "after_row", c), c, copy=False) for c in names],
        exp.alias_(_newest_first(s, layout), "cdc__newest", copy=False),
    )
    return (
        exp.select(*[col(c, "x") for c in names])
        .from_(derived(latest, "x"), copy=False)
        .where(and_all([eq(col("cdc__newest", "x"), lit(1)), _alive(col("op", "x"))]), copy=False)
    )


def _replayed_changes(
    p: PipelinePlan, s: SourcePlan, layout: list[str], names: list[str]
) -> exp.Select:
    """Per live key, each column from the newest log row that set it (``audit: changed``):
    an insert sets every column, an update the ones its ``changed_columns`` names.

    One pass: a window finds each column's setting LSN per key, then one GROUP BY picks
    the values (MAX, BOOL_OR for booleans: every other value in the group is NULL)."""
    l_, x = "l", "x"
    non_key = [c for c in names if c not in s.key]

    def sets(c: str) -> exp.Expression:
        named = exp.GT(this=position_in_list(col("changed_columns", l_), c), expression=lit(0))
        return or_all([eq(col("op", l_), lit("I")), paren(and_all([eq(col("op", l_), lit("U")), named]))])

    def set_at(c: str) -> exp.Expression:
        lsn = case([(sets(c), col("lsn", l_))], exp.null())
        return exp.Window(this=exp.Max(this=lsn), partition_by=_log_key(s, layout))

    layer = _log_rows(
        p,
        s,
        col("op", l_),
        col("lsn", l_),
        *[exp.alias_(k, name, copy=False) for k, name in zip(_log_key(s, layout), s.key, strict=True)],
        *[exp.alias_(_log_value(s, layout, "after_row", c), c, copy=False) for c in non_key],
        *[exp.alias_(set_at(c), f"cdc__set_{i}", copy=False) for i, c in enumerate(non_key)],
        exp.alias_(_newest_first(s, layout), "cdc__newest", copy=False),
    )

    def value(i: int, c: str) -> exp.Expression:
        picked = case([(eq(col("lsn", x), col(f"cdc__set_{i}", x)), col(c, x))], exp.null())
        if s.type_of(c).lower().startswith("bool"):
            return exp.LogicalOr(this=picked)
        return exp.Max(this=picked)

    newest_op = exp.Max(this=case([(eq(col("cdc__newest", x), lit(1)), col("op", x))], exp.null()))
    return (
        exp.select(
            *[col(k, x) for k in s.key],
            *[exp.alias_(value(i, c), c, copy=False) for i, c in enumerate(non_key)],
        )
        .from_(derived(layer, x), copy=False)
        .group_by(*[col(k, x) for k in s.key], copy=False)
        .having(_alive(newest_op), copy=False)
    )


def replay_check(p: PipelinePlan, s: SourcePlan) -> exp.Insert:
    """The change_log of ``s`` replayed from empty against its baseline: whole rows
    (under ``audit: changed`` each column from the newest row that set it, SUPER
    columns left out), or the keys only under ``audit: keys``."""
    layout = _imaged(s)
    r, b = "r", "b"
    if s.audit == "changed":
        names = [c for c in layout if c in s.key or not _is_super(s.type_of(c))]
        replayed = _replayed_changes(p, s, layout, names)
    else:
        names = layout
        replayed = _replayed_images(p, s, layout, names)
    types = {c: s.type_of(c) for c in names}

    def key_text(alias: str) -> list[exp.Expression]:
        out: list[exp.Expression] = []
        for i, k in enumerate(s.key):
            if i:
                out.append(lit("|"))
            out.append(as_text(col(k, alias), types[k], 64))
        return out

    def side(this: str, other: str, label: str, found: exp.Expression) -> exp.Select:
        """Rows of ``this`` matched (LEFT JOIN on the key) against ``other``."""
        baseline = exp.select(*[col(c) for c in names]).from_(table(s.baseline), copy=False)
        # one side is the baseline (made here, used once), the other a copy of replayed
        this_q = replayed.copy() if this == r else baseline
        other_q = replayed.copy() if other == r else baseline
        return (
            exp.select(_example(*key_text(this), lit(label)))
            .from_(derived(this_q, this), copy=False)
            .join(
                joined(derived(other_q, other), "left"),
                on=and_all(eq(col(k, this), col(k, other)) for k in s.key),
                copy=False,
            )
            .where(found, copy=False)
        )

    first = s.key[0]
    missing = side(b, r, " not replayed", exp.Is(this=col(first, r), expression=exp.null()))
    extra = side(r, b, " not in the baseline", exp.Is(this=col(first, b), expression=exp.null()))
    non_key = [c for c in names if c not in s.key]
    problems: exp.Query = exp.union(missing, extra, distinct=False, copy=False)
    if non_key:
        different = side(
            b,
            r,
            " differs",
            and_all(
                [
                    exp.Not(this=exp.Is(this=col(first, r), expression=exp.null())),
                    exp.Paren(this=or_all(differs(col(c, b), col(c, r)) for c in non_key)),
                ]
            ),
        )
        problems = exp.union(problems, different, distinct=False, copy=False)
    return _report(p, s.name, "replay", problems)  # type: ignore[arg-type]


def _is_super(type_: str) -> bool:
    return type_.strip().lower() == "super"


def deep_checks(p: PipelinePlan) -> list[exp.Expression]:
    return [replay_check(p, s) for s in p.sources]

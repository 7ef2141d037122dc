"""Views: detection per source, full definition per target, status and freshness."""

from __future__ import annotations

from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, TargetPlan
from cdcgen.sql import nodes
from cdcgen.sql.builders import and_all, case, cast, col, derived, eq, lit, table
from cdcgen.sql.detect import changes_query, view_staged
from cdcgen.sql.facts import definition
from cdcgen.sql.nodes import is_temporal


def create_view(name: str, query: exp.Query) -> exp.Create:
    # Late binding (WITH NO SCHEMA BINDING): dropping or reloading a table the view
    # reads never breaks the view on Redshift. Stripped for PostgreSQL.
    return exp.Create(
        this=table(name), kind="VIEW", replace=True, expression=query, no_schema_binding=True
    )


def changes_view(p: PipelinePlan, s: SourcePlan) -> tuple[str, exp.Create]:
    name = f"{p.cdc_schema}.{s.name}__changes"
    return name, create_view(name, changes_query(p, s, view_staged(p, s)))


def full_view(p: PipelinePlan, t: TargetPlan) -> tuple[str, exp.Create]:
    name = f"{p.cdc_schema}.{t.name}__full"
    return name, create_view(name, definition(p, t))


def status_view(p: PipelinePlan) -> tuple[str, exp.Create]:
    name = f"{p.cdc_schema}.{p.name}_status"
    query = (
        exp.select(
            *[
                col(c)
                for c in (
                    "run_id",
                    "kind",
                    "status",
                    "started_at",
                    "finished_at",
                    "duration_ms",
                    "rows_changed",
                    "error",
                )
            ]
        )
        .from_(table(f"{p.cdc_schema}.run_log"), copy=False)
        .where(eq(col("pipeline"), lit(p.name)), copy=False)
    )
    return name, create_view(name, query)


def freshness_view(p: PipelinePlan) -> tuple[str, exp.Create]:
    """Lag per source: now minus the newest change the baseline holds, against the
    spec's thresholds (the dbt 'source freshness' idea, kept in the warehouse)."""
    name = f"{p.cdc_schema}.{p.name}_freshness"
    parts = [
        exp.select(exp.alias_(lit(s.name), "source"), exp.alias_(_last_change(p, s), "last_change_at"))
        for s in p.sources
    ]
    last_changes: exp.Query = parts[0]
    for part in parts[1:]:
        last_changes = exp.union(last_changes, part, distinct=False, copy=False)
    last = col("last_change_at", "f")
    lag = exp.DateDiff(this=nodes.WallClock(), expression=last.copy(), unit=exp.var("SECOND"))
    status: exp.Expression = lit("unknown")
    if p.freshness_warn_seconds is not None and p.freshness_error_seconds is not None:
        status = case(
            [
                (exp.Is(this=last.copy(), expression=exp.null()), lit("unknown")),
                (exp.GT(this=lag.copy(), expression=lit(p.freshness_error_seconds)), lit("error")),
                (exp.GT(this=lag.copy(), expression=lit(p.freshness_warn_seconds)), lit("warn")),
            ],
            lit("ok"),
        )
    query = exp.select(
        col("source", "f"),
        last.copy(),
        exp.alias_(lag, "lag_seconds"),
        exp.alias_(status, "status"),
    ).from_(
        derived(last_changes, "f"),
        copy=False,
    )
    return name, create_view(name, query)


def _last_change(p: PipelinePlan, s: SourcePlan) -> exp.Expression:
    """When the source last changed: its newest version if that is a time; else (an
    integer version column) the start of the last run that applied a change from it,
    since DATEDIFF of a number means nothing and Redshift rejects it."""
    if is_temporal(s.type_of(s.updated_at)):
        newest = exp.select(cast(exp.Max(this=col(s.updated_at)), "timestamp")).from_(
            table(s.baseline), copy=False
        )
        return exp.Subquery(this=newest)
    changed = exp.Add(
        this=exp.Add(this=col("inserted", "c"), expression=col("updated", "c")),
        expression=col("deleted", "c"),
    )
    applied = (
        exp.select(exp.Max(this=col("started_at", "r")))
        .from_(table(f"{p.cdc_schema}.run_counts", "c"), copy=False)
        .join(table(f"{p.cdc_schema}.run_log", "r"), on=eq(col("run_id", "r"), col("run_id", "c")),
              copy=False)
        .where(
            and_all(
                [
                    eq(col("pipeline", "c"), lit(p.name)),
                    eq(col("object_kind", "c"), lit("source")),
                    eq(col("object_name", "c"), lit(s.name)),
                    eq(col("status", "r"), lit("succeeded")),
                    exp.GT(this=changed, expression=lit(0)),
                ]
            ),
            copy=False,
        )
    )
    return exp.Subquery(this=applied)

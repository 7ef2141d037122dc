"""Names and fixed columns of generated tables that both the DDL (``cdcgen.sql.ddl``) and
the procedures (``detect``, ``dimensions``) need; kept here, below all of them, so that
the DDL does not import the procedure modules that import it."""

from __future__ import annotations

from cdcgen.plan.model import Column, PipelinePlan, SourcePlan, Table, TargetPlan
from cdcgen.spec.model import IS_CURRENT, IS_DELETED, VALID_FROM, VALID_TO


def tombstones(p: PipelinePlan, s: SourcePlan) -> Table:
    """Deleted keys with the version that deleted them: a late, older version of a
    deleted row is stale too, not a new insert."""
    return Table(p.cdc_schema, f"{s.name}__deleted")


#: columns of the rollback logs (``tombstone_log``, ``version_log``)
REMOVED_RUN_ID, RUN_ID, VERSION_ACTION = "removed_run_id", "cdc__run_id", "cdc__action"


def tombstone_log(p: PipelinePlan, s: SourcePlan) -> Table:
    """Tombstones a run removed, with that run: what a rollback puts back."""
    return Table(p.cdc_schema, f"{s.name}__deleted_log")


def version_log(p: PipelinePlan, t: TargetPlan) -> Table:
    """SCD2 versions a run closed or overwrote (before image) or opened."""
    return Table(p.cdc_schema, f"{t.name}__version_log")


def surrogate_key(t: TargetPlan) -> str:
    return f"{t.name}_sk"


def bookkeeping_columns(t: TargetPlan) -> tuple[Column, ...]:
    return (
        Column(surrogate_key(t), "bigint"),
        Column(VALID_FROM, "timestamp"),
        Column(VALID_TO, "timestamp"),
        Column(IS_CURRENT, "boolean"),
        Column(IS_DELETED, "boolean"),
    )

"""Apply a deploy plan exactly as it was explained.

All DDL of the plan and the record of the deployment run in one transaction:
PostgreSQL rolls all of it back on error; on Redshift, CREATE SCHEMA/TABLE/VIEW,
CREATE OR REPLACE PROCEDURE and ALTER TABLE ADD/DROP COLUMN are transactional too.
Backfills run after the commit, one CALL each in autocommit mode: the rebuild
procedure may COMMIT, which is not allowed inside a transaction block
([stored-procedure-transaction-management]).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdcgen.deploy.connect import Database
from cdcgen.deploy.errors import DatabaseError, DeployError, DestructiveChangeRefused
from cdcgen.deploy.live import LiveCatalog, key_fingerprint, read_catalog, statement_fingerprint
from cdcgen.deploy.manifest import BuiltObject, Manifest
from cdcgen.deploy.plan import DeployPlan, Statement, explain, quote_qualified

#: SQLSTATE of "cannot drop/rename/retype columns of a view" on PostgreSQL.
_VIEW_COLUMNS_CHANGED = "42P16"
_UNDEFINED_TABLE = "42P01"
#: The timestamp of the deploying transaction, per dialect (Redshift: SYSDATE is the
#: transaction start [r_SYSDATE]; CURRENT_TIMESTAMP is leader-node only there).
_NOW = {"postgres": "LOCALTIMESTAMP", "redshift": "SYSDATE"}
_INSERT_BATCH = 200


@dataclass(frozen=True)
class DeployResult:
    plan: DeployPlan
    deployment_id: int | None  # None: nothing was done
    backfilled: tuple[str, ...] = ()


def apply_plan(db: Database, plan: DeployPlan) -> DeployResult:
    if plan.refused:
        raise DestructiveChangeRefused(explain(plan))
    if plan.is_noop:
        return DeployResult(plan, None)
    try:
        with db.transaction():
            for step in plan.changes:
                for statement in step.statements:
                    _execute(db, statement)
            deployment_id = _record_deployment(db, plan)
    except DatabaseError as exc:
        if exc.sqlstate == _UNDEFINED_TABLE and plan.skipped:
            raise DatabaseError(
                f"{exc}\nNothing was applied. Views over staging need the staging tables: "
                "create them with the ETL first, or deploy with --with-staging (demos, tests)",
                sqlstate=exc.sqlstate,
            ) from None
        raise
    backfilled = tuple(
        _backfill(db, plan.manifest, target, deployment_id) for target in plan.backfills
    )
    return DeployResult(plan, deployment_id, backfilled)


def _execute(db: Database, statement: Statement) -> None:
    if statement.recreates_view is None:
        db.execute(statement.sql, what=statement.what)
        return
    try:
        with db.savepoint():
            db.execute(statement.sql, what=statement.what)
    except DatabaseError as exc:
        if exc.sqlstate != _VIEW_COLUMNS_CHANGED:
            raise
        # The view's columns changed: OR REPLACE cannot do that on PostgreSQL.
        view = quote_qualified(statement.recreates_view)
        db.execute(f"DROP VIEW {view}", what=f"drop view {statement.recreates_view} to recreate it")
        db.execute(statement.sql, what=statement.what)


def _backfill(db: Database, manifest: Manifest, target: str, deployment_id: int) -> str:
    from cdcgen.deploy.ops import rebuild  # ops builds on deploy, not the other way round

    try:
        rebuild(db, manifest, target)
    except DatabaseError as exc:
        raise DeployError(
            f"deployment {deployment_id} is applied, but backfilling {target} failed: {exc}\n"
            f"Fix the cause, then run: cdcgen rebuild {manifest.pipeline} {target}"
        ) from None
    return target


# --------------------------------------------------------------------------- recording


def _record_deployment(db: Database, plan: DeployPlan) -> int:
    manifest = plan.manifest
    table = f"{manifest.cdc_schema}.deployments"
    # Serialises concurrent deploys of any pipeline until commit [r_LOCK].
    db.execute(f"LOCK TABLE {table}", what=f"lock {table}")
    deployment_id = int(
        db.scalar(
            f"SELECT COALESCE(MAX(deployment_id), 0) + 1 FROM {table}", what="number the deployment"
        )
    )
    db.execute(
        f"""
        INSERT INTO {table}
            (deployment_id, pipeline, manifest_sha256, spec_sha256, tool_version, deployed_at, deployed_by)
        SELECT %s, %s, %s, %s, %s, {_NOW.get(plan.dialect, "LOCALTIMESTAMP")}, current_user
        """,
        [
            deployment_id,
            manifest.pipeline,
            manifest.sha256,
            manifest.spec_sha256,
            manifest.tool_version,
        ],
        what="record the deployment",
    )
    rows = _deployed_object_rows(db, plan, deployment_id)
    for start in range(0, len(rows), _INSERT_BATCH):
        batch = rows[start : start + _INSERT_BATCH]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(batch))
        db.execute(
            f"INSERT INTO {manifest.cdc_schema}.deployed_objects "
            f"(deployment_id, pipeline, object_name, kind, sha256, fingerprint) VALUES {values}",
            [value for row in batch for value in row],
            what="record the deployed objects",
        )
    return deployment_id


def _deployed_object_rows(
    db: Database, plan: DeployPlan, deployment_id: int
) -> list[tuple[object, ...]]:
    """One row per deployed object, and one per table column (so a later deploy can tell
    a column dropped from the build from a column somebody added by hand).

    Fingerprints of views and procedures are read back from the catalog now, inside
    the deploying transaction: the server's normalised text is what drift is judged on.
    """
    objects = [step.obj for step in plan.steps]
    catalog = read_catalog(db, {o.schema for o in objects})
    pipeline = plan.manifest.pipeline
    rows: list[tuple[object, ...]] = []
    for obj in objects:
        rows.append(
            (
                deployment_id,
                pipeline,
                obj.name,
                obj.kind,
                obj.sha256,
                _fingerprint(obj, catalog, plan.manifest),
            )
        )
        rows.extend(
            (deployment_id, pipeline, f"{obj.name}.{column}", "column", obj.sha256, live_type)
            for column, live_type in _managed_columns(obj, catalog.tables.get(obj.name, ()))
        )
    return rows


def _fingerprint(obj: BuiltObject, catalog: LiveCatalog, manifest: Manifest) -> str | None:
    if obj.kind in ("index", "staging_index"):
        return statement_fingerprint(manifest.sql(obj))
    if obj.is_table:
        return key_fingerprint(obj.key)
    if obj.kind == "view":
        return catalog.views.get(obj.name)
    if obj.kind == "procedure":
        return catalog.procedures.get(obj.name)
    return None


def _managed_columns(
    obj: BuiltObject, live_columns: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    built = {column for column, _ in obj.columns}
    return [(column, live_type) for column, live_type in live_columns if column in built]

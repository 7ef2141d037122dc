"""Work out what a deploy would change, as a frozen plan (SQLMesh style: build the plan,
explain it, then apply exactly that plan).

Per object of the build, compared with the catalog and with what the last deployment
of the pipeline recorded (``cdc.deployed_objects``):

- **create**: the object is missing.
- **replace**: a view or procedure whose built text changed, or that was changed by
  hand since it was deployed (**drift**: its catalog fingerprint differs from the one
  recorded at deployment); deploy puts the built version back.
- **migrate**: a table exists and the build adds columns (one ``ALTER TABLE … ADD
  COLUMN`` each, the only form Redshift takes); a target table is then backfilled by
  its rebuild procedure. A kept table whose build file gained ``ALTER TABLE … SET
  STORAGE`` (PostgreSQL) takes those statements too.
- **refused**: a column dropped or retyped, or a key changed. Refused unless
  ``--allow-destructive``; state tables (the audit trail) are never changed
  destructively, and baseline columns are never retyped (the baseline is the only
  full copy of the sources: a retype is a data migration to write by hand).
- **unchanged**.

Columns present in the catalog that no deployment recorded are somebody else's
(DESIGN §3: unmapped fact columns are never touched) and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cdcgen.deploy.connect import Database
from cdcgen.deploy.live import (
    Deployment,
    LiveCatalog,
    argument_types,
    dialect_column_type,
    key_fingerprint,
    latest_deployment,
    read_catalog,
    statement_fingerprint,
)
from cdcgen.deploy.manifest import BuiltObject, Manifest


class Action(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    MIGRATE = "migrate"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class Statement:
    sql: str
    what: str
    #: Set for ``CREATE OR REPLACE VIEW`` on PostgreSQL: if the view's columns changed the
    #: server refuses to replace it (SQLSTATE 42P16), and apply drops and recreates it.
    recreates_view: str | None = None


@dataclass(frozen=True)
class Step:
    obj: BuiltObject
    action: Action
    reasons: tuple[str, ...] = ()
    statements: tuple[Statement, ...] = ()
    backfill: str | None = None  # target to rebuild once the DDL is committed
    drift: bool = False


@dataclass(frozen=True)
class DeployPlan:
    manifest: Manifest
    dialect: str
    previous: Deployment | None
    steps: tuple[Step, ...]
    skipped: tuple[BuiltObject, ...]  # staging tables: they belong to the ETL
    obsolete: tuple[str, ...]  # recorded last time, gone from the build

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action in _CHANGING)

    @property
    def refused(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action is Action.REFUSED)

    @property
    def drifted(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.drift)

    @property
    def backfills(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.backfill for s in self.changes if s.backfill))

    @property
    def is_noop(self) -> bool:
        """Nothing to change and this very build is the one recorded last."""
        return (
            not self.changes
            and not self.refused
            and self.previous is not None
            and self.previous.manifest_sha256 == self.manifest.sha256
        )


_CHANGING = (Action.CREATE, Action.REPLACE, Action.MIGRATE)
_MISSING = "missing"  # the plain reason to create: not repeated under each line


def build_plan(
    db: Database,
    manifest: Manifest,
    *,
    allow_destructive: bool = False,
    with_staging: bool = False,
) -> DeployPlan:
    schemas = {o.schema for o in manifest.objects} | set(manifest.schemas.values())
    catalog = read_catalog(db, schemas)
    previous = latest_deployment(db, manifest.cdc_schema, manifest.pipeline)
    deployable = [o for o in manifest.objects if with_staging or o.kind not in STAGING_KINDS]
    planner = _Planner(manifest, db.dialect, catalog, previous, allow_destructive)
    return DeployPlan(
        manifest=manifest,
        dialect=db.dialect,
        previous=previous,
        steps=tuple(planner.step(o) for o in deployable),
        skipped=tuple(o for o in manifest.objects if o not in deployable),
        obsolete=_obsolete(previous, manifest),
    )


def _obsolete(previous: Deployment | None, manifest: Manifest) -> tuple[str, ...]:
    if previous is None:
        return ()
    built = {(o.kind, o.name) for o in manifest.objects}
    return tuple(
        sorted(
            f"{kind} {name}"
            for kind, name in previous.objects
            if kind != "column" and (kind, name) not in built
        )
    )


def quote_ident(name: str) -> str:
    """A quoted identifier (reserved words such as ``user`` or ``order`` need it)."""
    return '"' + name.replace('"', '""') + '"'


def created_arguments(sql: str) -> str:
    """The argument list of the CREATE PROCEDURE in ``sql``.

    >>> created_arguments("CREATE OR REPLACE PROCEDURE cdc.p(a BIGINT, b VARCHAR(12))\\nAS $$")
    'a BIGINT, b VARCHAR(12)'
    """
    created = re.search(r"CREATE\s+(?:OR\s+REPLACE\s+)?PROCEDURE\s+[^(]+\(", sql, re.IGNORECASE)
    if created is None:
        raise ValueError("no CREATE PROCEDURE")
    start, depth = created.end(), 1
    for end in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[end], 0)
        if depth == 0:
            return sql[start:end]
    raise ValueError("a CREATE PROCEDURE without a closing parenthesis")


def quote_qualified(name: str) -> str:
    return ".".join(quote_ident(part) for part in name.split("."))


@dataclass(frozen=True)
class _Planner:
    manifest: Manifest
    dialect: str
    catalog: LiveCatalog
    previous: Deployment | None
    allow_destructive: bool

    def step(self, obj: BuiltObject) -> Step:
        if obj.kind == "schema":
            return self._schema(obj)
        if obj.kind in ("index", "staging_index"):
            return self._index(obj)
        if obj.is_table:
            return self._table(obj)
        return self._code(obj)

    def _create(
        self,
        obj: BuiltObject,
        reason: str = _MISSING,
        *,
        backfill: str | None = None,
        drift: bool = False,
    ) -> Step:
        statements = (self._file(obj),)
        return Step(obj, Action.CREATE, (reason,), statements, backfill=backfill, drift=drift)

    def _file(self, obj: BuiltObject) -> Statement:
        return Statement(self.manifest.sql(obj), obj.file)

    def _recorded(self, obj: BuiltObject) -> tuple[str, str | None] | None:
        """(sha256, fingerprint) recorded for ``obj`` at the last deployment."""
        if self.previous is None:
            return None
        recorded = self.previous.get(obj.kind, obj.name)
        return (recorded.sha256, recorded.fingerprint) if recorded else None

    # -- schemas and indexes: exist or not

    def _schema(self, obj: BuiltObject) -> Step:
        if obj.name in self.catalog.schemas:
            return Step(obj, Action.UNCHANGED)
        return self._create(obj)

    def _index(self, obj: BuiltObject) -> Step:
        qualified = obj.name if "." in obj.name else None
        exists = (
            qualified in self.catalog.indexes
            if qualified
            else any(i.endswith("." + obj.name) for i in self.catalog.indexes)
        )
        if not exists:
            return self._create(obj)
        recorded = self._recorded(obj)
        if recorded is None or recorded[0] == obj.sha256:
            return Step(obj, Action.UNCHANGED)
        if recorded[1] == statement_fingerprint(self.manifest.sql(obj)):
            return Step(obj, Action.UNCHANGED)  # only comments changed: keep the index
        drop = Statement(
            f"DROP INDEX IF EXISTS {quote_qualified(obj.name)}", f"drop index {obj.name}"
        )
        return Step(obj, Action.REPLACE, ("changed in the build",), (drop, self._file(obj)))

    # -- views and procedures: replaced when changed, restored when drifted

    def _code(self, obj: BuiltObject) -> Step:
        live = (self.catalog.views if obj.kind == "view" else self.catalog.procedures).get(obj.name)
        recorded = self._recorded(obj)
        deployment = self.previous.deployment_id if self.previous else None
        if live is None:
            if recorded is None:
                return self._create(obj)
            return self._create(
                obj,
                f"dropped by hand since deployment {deployment}; deploy recreates it",
                drift=True,
            )
        reasons: list[str] = []
        if recorded is None:
            reasons.append("exists but no deployment of this pipeline recorded it")
        elif recorded[0] != obj.sha256:
            reasons.append("changed in the build")
        drift = recorded is not None and recorded[1] is not None and recorded[1] != live
        if drift:
            reasons.append(
                f"changed by hand since deployment {deployment} (drift); "
                "deploy puts the built version back"
            )
        if not reasons:
            return Step(obj, Action.UNCHANGED)
        return Step(obj, Action.REPLACE, tuple(reasons), self._replacement(obj), drift=drift)

    def _stale_overloads(self, obj: BuiltObject) -> tuple[Statement, ...]:
        """DROP PROCEDURE for each live overload whose argument types the build no longer
        has (a step procedure that gained its statement counter, say). Only those: a
        replaced procedure keeps its OID, and with it the EXECUTE grants users gave."""
        built = argument_types(created_arguments(self.manifest.sql(obj)))
        return tuple(
            Statement(
                f"DROP PROCEDURE {quote_qualified(obj.name)}({arguments})",
                f"drop procedure {obj.name}({arguments}): the build takes other arguments",
            )
            for arguments in self.catalog.overloads.get(obj.name, ())
            if argument_types(arguments) != built
        )

    def _replacement(self, obj: BuiltObject) -> tuple[Statement, ...]:
        if obj.kind != "view":
            # Same argument types: CREATE OR REPLACE replaces in place [r_CREATE_PROCEDURE];
            # other ones would add an overload beside the old procedure, so that goes first.
            return (*self._stale_overloads(obj), self._file(obj))
        if self.dialect == "redshift":
            # Replacing a view with other columns fails on both engines; Redshift has no
            # savepoint to try first, and late-binding views have no dependants to break.
            drop = Statement(
                f"DROP VIEW IF EXISTS {quote_qualified(obj.name)}", f"drop view {obj.name}"
            )
            return (drop, self._file(obj))
        return (Statement(self.manifest.sql(obj), obj.file, recreates_view=obj.name),)

    # -- tables: created, migrated additively, or refused

    def _table(self, obj: BuiltObject) -> Step:
        live = self.catalog.tables.get(obj.name)
        target = self.manifest.target_of_table(obj.name) if obj.kind == "target_table" else None
        if live is None:
            # A target added to a deployed pipeline starts empty over full baselines.
            backfill = target.name if target and self.previous is not None else None
            return self._create(obj, backfill=backfill)
        diff = _ColumnDiff.of(obj, dict(live), self.previous, self.dialect)
        return self._table_change(obj, diff, target.name if target else None)

    def _table_change(self, obj: BuiltObject, diff: _ColumnDiff, target: str | None) -> Step:
        recorded = self._recorded(obj)
        key_changed = recorded is not None and recorded[1] not in (None, key_fingerprint(obj.key))
        destructive = diff.destructive_reasons() + (
            [f"key changed to ({', '.join(obj.key)}) since the last deployment"]
            if key_changed
            else []
        )
        text_changed = recorded is not None and recorded[0] != obj.sha256
        notes = diff.notes(obj)
        if text_changed and not (diff.added or destructive):
            notes.append(
                "DDL text changed but columns and key match: the table is kept "
                "(a DISTKEY/SORTKEY change is applied by hand: ALTER TABLE … ALTER DISTKEY, "
                "ALTER SORTKEY, or a deep copy)"
            )
        if destructive:
            refusal = self._refusal(obj, diff)
            if refusal:
                return Step(obj, Action.REFUSED, (*destructive, refusal, *notes))
        storage = _storage_statements(obj) if text_changed else []
        statements = [
            *self._destructive_statements(obj, diff),
            *_add_columns(obj, diff.added),
            *storage,
        ]
        if not statements and not destructive:
            return Step(obj, Action.UNCHANGED, tuple(notes))
        reasons = [
            *destructive,
            *(f"add column {c} {t}" for c, t in diff.added),
            *(s.what for s in storage),
            *notes,
        ]
        # New or retyped columns are empty and a new key changes the rows: recompute.
        # A dropped column leaves every other value right.
        needs_backfill = bool(diff.added or diff.retyped or key_changed)
        return Step(
            obj,
            Action.MIGRATE,
            tuple(reasons),
            tuple(statements),
            backfill=target if needs_backfill else None,
        )

    def _refusal(self, obj: BuiltObject, diff: _ColumnDiff) -> str | None:
        """Why a destructive change is refused, or ``None`` when it may go ahead."""
        if obj.kind == "state_table":
            return (
                "state tables hold the audit trail and are never changed destructively by a "
                "deploy; migrate this table by hand, then deploy again"
            )
        if obj.kind != "target_table" and diff.retyped:
            return (
                f"{obj.name} is the only full copy of its source: a type change is a data "
                "migration; ALTER it by hand (or reload it), then deploy again"
            )
        if not self.allow_destructive:
            return "rerun with --allow-destructive to apply it (dropped columns lose their data)"
        return None

    def _destructive_statements(self, obj: BuiltObject, diff: _ColumnDiff) -> list[Statement]:
        table = quote_qualified(obj.name)
        statements = [
            Statement(
                f"ALTER TABLE {table} DROP COLUMN {quote_ident(c)}", f"drop column {obj.name}.{c}"
            )
            for c in diff.removed
        ]
        # A target is derived data: drop and re-add a retyped column; the backfill refills it.
        for column, _old, new in diff.retyped:
            statements.append(
                Statement(
                    f"ALTER TABLE {table} DROP COLUMN {quote_ident(column)}",
                    f"drop column {obj.name}.{column}",
                )
            )
            statements.extend(_add_columns(obj, [(column, new)]))
        return statements


def _add_columns(obj: BuiltObject, columns: Iterable[tuple[str, str]]) -> list[Statement]:
    # Redshift adds one column per ALTER TABLE statement [r_ALTER_TABLE].
    return [
        Statement(
            f"ALTER TABLE {quote_qualified(obj.name)} ADD COLUMN {quote_ident(column)} {type_text}",
            f"add column {obj.name}.{column}",
        )
        for column, type_text in columns
    ]


def _storage_statements(obj: BuiltObject) -> list[Statement]:
    """The manifest's ``storage`` statements of a table (PostgreSQL: the change logs' row
    images, nodes.UncompressedColumns). They change only how values written later are
    stored, so a kept table takes them: without this, a deployment made before them
    would keep compressing its images."""
    return [
        Statement(sql.removesuffix(";"), f"store columns of {obj.name} as built (SET STORAGE)")
        for sql in obj.storage
    ]


@dataclass(frozen=True)
class _ColumnDiff:
    added: list[tuple[str, str]]  # (column, type in the dialect)
    removed: list[str]  # deployed by cdcgen earlier, gone from the build
    retyped: list[tuple[str, str, str]]  # (column, live type, built type)
    unmanaged: list[str]  # in the catalog, never deployed by cdcgen: left alone

    @classmethod
    def of(
        cls, obj: BuiltObject, live: dict[str, str], previous: Deployment | None, dialect: str
    ) -> _ColumnDiff:
        built = {c: dialect_column_type(t, dialect) for c, t in obj.columns}
        recorded = previous.columns_of(obj.name) if previous else {}
        return cls(
            added=[(c, built[c]) for c, _ in obj.columns if c not in live],
            removed=[c for c in live if c not in built and c in recorded],
            retyped=[
                (c, live[c], built[c]) for c, _ in obj.columns if c in live and built[c] != live[c]
            ],
            unmanaged=[c for c in live if c not in built and c not in recorded],
        )

    def destructive_reasons(self) -> list[str]:
        return [f"column {c} was dropped from the build" for c in self.removed] + [
            f"column {c} changes type from {old} to {new}" for c, old, new in self.retyped
        ]

    def notes(self, obj: BuiltObject) -> list[str]:
        notes = []
        if self.unmanaged:
            notes.append(f"columns not managed by cdcgen, left alone: {', '.join(self.unmanaged)}")
        if self.added and obj.kind == "baseline_table":
            notes.append(
                "existing baseline rows hold NULL in the new columns until their source rows "
                "change; reload the baseline to fill them"
            )
        return notes


# --------------------------------------------------------------------------- explain


_MARK = {
    Action.CREATE: "+",
    Action.REPLACE: "~",
    Action.MIGRATE: ">",
    Action.REFUSED: "x",
    Action.UNCHANGED: "=",
}


def explain(plan: DeployPlan, *, verbose: bool = False) -> str:
    """The plan as text for people: what changes, why, and what stays."""
    m = plan.manifest
    lines = [
        f"Deploy plan for pipeline {m.pipeline} ({plan.dialect}) from {m.directory}",
        f"  build {m.sha256[:12]} (tool {m.tool_version or '?'}, spec {m.spec_sha256[:12] or '?'})",
        "  " + _previous_line(plan.previous),
    ]
    for step in plan.steps:
        if step.action is Action.UNCHANGED and not (verbose or step.reasons):
            continue
        label = "drift" if step.drift else step.action.value
        lines.append(
            f"  {_MARK[step.action]} {label:<9} {step.obj.kind.replace('_', ' ')} {step.obj.name}"
        )
        lines.extend(f"      {reason}" for reason in step.reasons if reason != _MISSING)
        if step.backfill:
            rebuild = m.procedures.get("rebuild", "the rebuild procedure")
            lines.append(f"      then backfill: CALL {rebuild}('{step.backfill}')")
    unchanged = sum(1 for s in plan.steps if s.action is Action.UNCHANGED)
    if unchanged:
        lines.append(f"  = unchanged {unchanged} object(s)")
    if plan.skipped:
        lines.append(
            f"  - skipped   {len(plan.skipped)} staging table(s): they belong to the ETL "
            "(--with-staging creates them, for demos and tests)"
        )
    lines.extend(
        f"  ? obsolete  {o}: no longer in the build; drop it by hand if unused"
        for o in plan.obsolete
    )
    lines.append(_summary(plan))
    return "\n".join(lines)


def _previous_line(previous: Deployment | None) -> str:
    if previous is None:
        return "deployed: nothing yet (first deployment)"
    when = (
        previous.deployed_at.isoformat(sep=" ", timespec="seconds") if previous.deployed_at else "?"
    )
    return (
        f"deployed: deployment {previous.deployment_id} at {when} by {previous.deployed_by} "
        f"(build {previous.manifest_sha256[:12]})"
    )


def _summary(plan: DeployPlan) -> str:
    if plan.refused:
        return (
            f"Refused: {len(plan.refused)} destructive change(s); nothing will be applied. "
            "See the reasons above."
        )
    if plan.is_noop:
        return "Nothing to do: the database matches this build."
    if not plan.changes:
        return "No object changes; the deployment of this build will be recorded."
    counts = {a: sum(1 for s in plan.changes if s.action is a) for a in _CHANGING}
    parts = [f"{n} to {a.value}" for a, n in counts.items() if n]
    if plan.drifted:
        parts.append(f"{len(plan.drifted)} drifted")
    if plan.backfills:
        parts.append(f"{len(plan.backfills)} backfill(s)")
    return "Plan: " + ", ".join(parts) + "."


STAGING_KINDS = ("staging_table", "staging_index")


def staging_ddl(plan: DeployPlan) -> list[str]:
    """The statements a ``--with-staging`` deploy runs for staging: the schemas holding
    staging tables, the tables and their indexes that are missing (and any column added to
    them), in deploy order and without the generated-file header: the same text as
    ``cdcgen staging-ddl`` for what was created."""
    staging_schemas = {o.schema for o in plan.manifest.objects if o.kind in STAGING_KINDS}
    staging_schemas.add(plan.manifest.schemas.get("staging", "staging"))
    return [
        _without_header(statement.sql)
        for step in plan.changes
        if step.obj.kind in STAGING_KINDS
        or (step.obj.kind == "schema" and step.obj.name in staging_schemas)
        for statement in step.statements
    ]


def _without_header(sql: str) -> str:
    lines = sql.splitlines(keepends=True)
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "".join(lines).strip() + "\n"


def plan_as_dict(plan: DeployPlan) -> dict[str, object]:
    """The plan as JSON-ready data (for ``--json`` and for tests)."""
    return {
        "pipeline": plan.manifest.pipeline,
        "dialect": plan.dialect,
        "build": plan.manifest.sha256,
        "previous_deployment": plan.previous.deployment_id if plan.previous else None,
        "nothing_to_do": plan.is_noop,
        "steps": [
            {
                "object": s.obj.name,
                "kind": s.obj.kind,
                "action": s.action.value,
                "drift": s.drift,
                "reasons": list(s.reasons),
                "statements": [
                    st.sql if st.what != s.obj.file else s.obj.file for st in s.statements
                ],
                "backfill": s.backfill,
            }
            for s in plan.steps
        ],
        "skipped": [o.name for o in plan.skipped],
        "obsolete": list(plan.obsolete),
    }

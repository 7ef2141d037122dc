"""The plan: a validated spec turned into frozen, SQL-ready facts about every
source and target (tables, columns, parsed expressions, dependency paths).

Nothing here renders SQL; ``cdcgen.sql`` builds statements from a plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp

from cdcgen.spec.model import AsOf, ColumnDef, ColumnValue, Fact, Spec, TableHints, column_expr
from cdcgen.validate import ValidatedSpec
from cdcgen.validate.inference import ColumnTypes, InferenceProblem, infer_type
from cdcgen.validate.targets import as_of_columns

DeleteKind = Literal["none", "when", "op_column", "snapshot"]
RelationKind = Literal["from", "join", "exists"]


@dataclass(frozen=True)
class Table:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class SourcePlan:
    name: str
    staging: Table
    baseline: Table
    key: tuple[str, ...]
    updated_at: str
    loaded_at: str | None
    mode: Literal["window", "append"]
    delete_kind: DeleteKind
    delete_when: exp.Expression | None
    op_column: str | None
    #: every column of the staging table, in order
    staging_columns: tuple[Column, ...]
    #: the source's true state: staging columns minus load metadata (op column, loaded_at)
    columns: tuple[Column, ...]
    checks: tuple[tuple[str, exp.Expression], ...]
    #: change_log images: "full" rows, "changed" columns of updates, or "keys" only (spec ``audit``)
    audit: str = "full"
    #: "any": staging may hold text where the spec says date/time/number (cast-checked);
    #: "declared": staging holds the declared types (spec ``staging_types``)
    staging_types: str = "any"
    #: the baseline table's Redshift physical design (spec ``redshift``)
    hints: TableHints | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def non_key_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.name not in self.key)

    @property
    def watermark_column(self) -> str | None:
        """Append mode reads staging rows beyond this column's last seen value."""
        if self.mode != "append":
            return None
        return self.loaded_at or self.updated_at

    def type_of(self, column: str) -> str:
        for c in self.staging_columns:
            if c.name == column:
                return c.type
        raise KeyError(column)


@dataclass(frozen=True)
class Relation:
    """One source as seen by a target: the grain (``from``), a lookup or a semi-join."""

    alias: str
    source: str
    kind: RelationKind
    on: exp.Expression | None
    #: aliases (other than this one) that ``on`` references
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class AsOfPlan:
    """A point-in-time lookup: the version of SCD2 ``dimension`` valid at ``at`` (a grain
    column), matched on ``on`` (the dimension's whole key equated with grain values)."""

    alias: str
    dimension: str
    table: Table
    on: exp.Expression
    at: exp.Column
    #: the grain column's type: ``date`` or a ``timestamp``
    at_type: str


@dataclass(frozen=True)
class TargetColumn:
    name: str
    expr: exp.Expression
    #: the column's type: declared in the spec, else inferred from ``expr``
    type: str
    #: the type ``expr`` itself yields (cdcgen.validate.inference); ``None`` when it cannot
    #: be worked out. Differs from ``type`` only where the spec declares a type.
    inferred: str | None


@dataclass(frozen=True)
class TargetPlan:
    name: str
    kind: Literal["fact", "dimension"]
    table: Table
    key: tuple[str, ...]
    #: the grain source's key columns, aligned with ``key``
    grain_key: tuple[str, ...]
    grain: Relation
    joins: tuple[Relation, ...]
    exists: tuple[Relation, ...]
    where: exp.Expression | None
    columns: tuple[TargetColumn, ...]
    hints: TableHints | None
    history: tuple[str, ...] = ()
    on_delete: str = "invalidate"
    #: fact_change_log images: "full", "changed" or "keys" (spec ``audit``)
    audit: str = "full"
    #: point-in-time lookups of SCD2 dimensions (facts only)
    as_of: tuple[AsOfPlan, ...] = ()

    @property
    def relations(self) -> tuple[Relation, ...]:
        return (self.grain, *self.joins, *self.exists)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def non_key_columns(self) -> tuple[TargetColumn, ...]:
        return tuple(c for c in self.columns if c.name not in self.key)

    def relation(self, alias: str) -> Relation:
        for r in self.relations:
            if r.alias == alias:
                return r
        raise KeyError(alias)

    def path_to(self, relation: Relation) -> tuple[Relation, ...]:
        """Lookups needed (besides the grain) to evaluate ``relation.on``, in join order."""
        needed: set[str] = set()
        pending = list(relation.depends_on)
        while pending:
            alias = pending.pop()
            if alias == self.grain.alias or alias in needed:
                continue
            needed.add(alias)
            pending.extend(self.relation(alias).depends_on)
        return tuple(j for j in self.joins if j.alias in needed)

    def referenced_columns(self, alias: str) -> tuple[str, ...]:
        """Columns of ``alias`` that this target reads anywhere: a change elsewhere can't matter."""
        exprs = [c.expr for c in self.columns]
        exprs += [r.on for r in self.relations if r.on is not None]
        exprs += [e for a in self.as_of for e in (a.on, a.at)]
        if self.where is not None:
            exprs.append(self.where)
        found: dict[str, None] = {}
        for e in exprs:
            for col in e.find_all(exp.Column):
                if col.table == alias:
                    found[col.name] = None
        return tuple(found)


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    spec_file: str
    spec_sha256: str
    cdc_schema: str
    staging_schema: str
    baseline_schema: str
    target_schema: str
    sources: tuple[SourcePlan, ...]
    targets: tuple[TargetPlan, ...]
    freshness_warn_seconds: int | None
    freshness_error_seconds: int | None
    schedule: str | None

    def source(self, name: str) -> SourcePlan:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def target(self, name: str) -> TargetPlan:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def facts(self) -> tuple[TargetPlan, ...]:
        return tuple(t for t in self.targets if t.kind == "fact")

    @property
    def dimensions(self) -> tuple[TargetPlan, ...]:
        return tuple(t for t in self.targets if t.kind == "dimension")

    def proc(self, step: str) -> str:
        return f"{self.cdc_schema}.sp_{self.name}_{step}"

    def temp(self, *parts: str) -> str:
        """Session temp table names; prefixed by the pipeline so two pipelines never clash."""
        return "__".join((self.name, *parts))


def parse_expression(text: str) -> exp.Expression:
    """Parse one spec expression (Redshift syntax); validation has vetted it already."""
    return sqlglot.parse_one(text, read="redshift")  # type: ignore[return-value]


def _aliases_in(expression: exp.Expression) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.table for c in expression.find_all(exp.Column) if c.table))


def _relation(alias: str, source: str, kind: RelationKind, on: str | None) -> Relation:
    parsed = parse_expression(on) if on else None
    depends = tuple(a for a in _aliases_in(parsed) if a != alias) if parsed is not None else ()
    return Relation(alias, source, kind, parsed, depends)


def _source_plan(spec: Spec, name: str, columns: dict[str, str]) -> SourcePlan:
    src = spec.sources[name]
    staging_columns = tuple(Column(c, t) for c, t in columns.items())
    metadata = {src.loaded_at, src.deletes.op_column if src.deletes else None} - {None}
    kind: DeleteKind = "none"
    if src.deletes is not None:
        kind = "when" if src.deletes.when else "op_column" if src.deletes.op_column else "snapshot"
    return SourcePlan(
        name=name,
        staging=Table(spec.schemas.staging, name),
        baseline=Table(spec.schemas.baseline, name),
        key=src.key,
        updated_at=src.updated_at,
        loaded_at=src.loaded_at,
        mode=src.mode,
        delete_kind=kind,
        delete_when=parse_expression(src.deletes.when) if src.deletes and src.deletes.when else None,
        op_column=src.deletes.op_column if src.deletes else None,
        staging_columns=staging_columns,
        columns=tuple(c for c in staging_columns if c.name not in metadata),
        checks=tuple((n, parse_expression(e)) for n, e in src.checks.items()),
        audit=src.audit or spec.audit,
        staging_types=src.staging_types or spec.staging_types,
        hints=src.redshift,
    )


def _grain_key(target: Fact, columns: dict[str, exp.Expression]) -> tuple[str, ...]:
    grain = target.from_
    out = []
    for k in target.key:
        col = columns[k]
        assert isinstance(col, exp.Column) and col.table == grain, f"key {k} not a grain column"
        out.append(col.name)
    return tuple(out)


def _expression_type(
    value: ColumnValue, tree: exp.Expression, column_type: str, scope: ColumnTypes
) -> str | None:
    """The type ``tree`` yields: already inferred unless the spec declared one."""
    if not isinstance(value, ColumnDef):
        return column_type
    try:
        return infer_type(tree, scope)
    except InferenceProblem:
        return None  # why the spec had to declare the type


def _target_plan(spec: Spec, vspec: ValidatedSpec, name: str) -> TargetPlan:
    facts, dims = spec.facts, spec.dimensions
    target = facts.get(name) or dims[name]
    parsed = {c: parse_expression(column_expr(v)) for c, v in target.columns.items()}
    types = vspec.target_columns[name]
    is_fact = name in facts
    exists = target.exists if isinstance(target, Fact) else ()
    # what a column expression can read: the grain and the lookups
    aliases = {target.from_: target.from_, **{j.alias: j.source for j in target.join}}
    scope = {alias: vspec.source_columns[source] for alias, source in aliases.items()}
    lookups = target.as_of if isinstance(target, Fact) else ()
    for a in lookups:
        scope[a.alias] = as_of_columns(a.dimension, dict(vspec.target_columns[a.dimension]))
    columns = tuple(
        TargetColumn(c, parsed[c], types[c], _expression_type(v, parsed[c], types[c], scope))
        for c, v in target.columns.items()
    )
    return TargetPlan(
        name=name,
        kind="fact" if is_fact else "dimension",
        table=Table(spec.schemas.target, name),
        key=target.key,
        grain_key=_grain_key(target, parsed),  # type: ignore[arg-type]
        grain=Relation(target.from_, target.from_, "from", None, ()),
        joins=tuple(_relation(j.alias, j.source, "join", j.on) for j in target.join),
        exists=tuple(_relation(e.alias, e.source, "exists", e.on) for e in exists),
        where=parse_expression(target.where) if target.where else None,
        columns=columns,
        hints=target.redshift,
        history=getattr(target, "history", ()),
        on_delete=getattr(target, "on_delete", "invalidate"),
        audit=(getattr(target, "audit", None) or spec.audit) if is_fact else "full",
        as_of=tuple(_as_of_plan(spec, vspec, target.from_, a) for a in lookups),
    )


def _as_of_plan(spec: Spec, vspec: ValidatedSpec, grain: str, a: AsOf) -> AsOfPlan:
    at = parse_expression(a.at)
    assert isinstance(at, exp.Column), "validation: as_of 'at' is a grain column"
    return AsOfPlan(
        alias=a.alias,
        dimension=a.dimension,
        table=Table(spec.schemas.target, a.dimension),
        on=parse_expression(a.on),
        at=at,
        at_type=vspec.source_columns[grain][at.name],
    )


def _run_order(spec: Spec) -> tuple[str, ...]:
    """Targets in the order a run applies them: a fact that looks up dimensions as of a
    time comes after every dimension, so that it reads the versions this run opened and
    closed (and the dimension's diff, to reach the fact rows they change)."""
    plain = [n for n, f in spec.facts.items() if not f.as_of]
    looking_up = [n for n, f in spec.facts.items() if f.as_of]
    return (*plain, *spec.dimensions, *looking_up)


def build_plan(vspec: ValidatedSpec, spec_sha256: str) -> PipelinePlan:
    spec = vspec.spec
    fresh = spec.freshness
    from cdcgen.spec.model import duration_seconds

    return PipelinePlan(
        name=spec.pipeline,
        spec_file=vspec.file,
        spec_sha256=spec_sha256,
        cdc_schema=spec.schemas.cdc,
        staging_schema=spec.schemas.staging,
        baseline_schema=spec.schemas.baseline,
        target_schema=spec.schemas.target,
        sources=tuple(
            _source_plan(spec, n, dict(vspec.source_columns[n])) for n in spec.sources
        ),
        targets=tuple(_target_plan(spec, vspec, n) for n in _run_order(spec)),
        freshness_warn_seconds=duration_seconds(fresh.warn_after) if fresh else None,
        freshness_error_seconds=duration_seconds(fresh.error_after) if fresh else None,
        schedule=spec.schedule.cron if spec.schedule else None,
    )

"""Tables: state tables in the cdc schema (never dropped), staging (demo/tests only),
baselines, targets; and PostgreSQL indexes on keys and join columns."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from cdcgen.plan.model import Column, PipelinePlan, SourcePlan, Table, TargetPlan
from cdcgen.spec.model import TableHints
from cdcgen.sql import nodes
from cdcgen.sql.builders import data_type, insert, table
from cdcgen.sql.tables import (
    REMOVED_RUN_ID,
    RUN_ID,
    VALID_FROM,
    VERSION_ACTION,
    bookkeeping_columns,
    surrogate_key,
    tombstone_log,
    tombstones,
    version_log,
)


@dataclass(frozen=True)
class TableDef:
    table: Table
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    hints: TableHints | None = None
    not_null: tuple[str, ...] = ()


#: State tables: the run's memory. Additive migrations only.
STATE_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...], TableHints]] = {
    "run_log": (
        (
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("kind", "varchar(16)"),
            ("status", "varchar(16)"),
            ("started_at", "timestamp"),
            ("finished_at", "timestamp"),
            ("duration_ms", "bigint"),
            ("rows_changed", "bigint"),
            ("error", "varchar(65535)"),
            ("statements", "bigint"),
        ),
        ("run_id",),
        TableHints(diststyle="all", sortkey=("run_id",)),
    ),
    "run_counts": (
        (
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("object_kind", "varchar(16)"),
            ("object_name", "varchar(127)"),
            ("inserted", "bigint"),
            ("updated", "bigint"),
            ("deleted", "bigint"),
            ("stale", "bigint"),
            ("dead_lettered", "bigint"),
            # a source's staged-row accounting (NULL for targets): every row read is
            # applied (possibly as a no-op), stale, superseded in its batch, or rejected
            ("read_rows", "bigint"),
            ("applied", "bigint"),
            ("superseded", "bigint"),
            ("rejected", "bigint"),
            # how a fact was recomputed: 'keys' (the keys its changes reach) or 'full'
            # (a large share of it: the whole definition, set-based; facts.WHOLE_PATH_PCT);
            # how a changed source's staging was copied: 'typed' (no castability
            # patterns) or 'checked' (sql/typed_staging.py)
            ("path", "varchar(8)"),
        ),
        ("run_id", "object_kind", "object_name"),
        TableHints(diststyle="all", sortkey=("run_id",)),
    ),
    "change_log": (
        (
            ("lsn", "bigint"),
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("source", "varchar(127)"),
            ("op", "char(1)"),
            ("key_text", "varchar(1024)"),
            ("changed_columns", "varchar(65535)"),
            ("before_row", "super"),
            ("after_row", "super"),
            ("source_updated_at", "timestamp"),
            ("captured_at", "timestamp"),
        ),
        ("lsn",),
        TableHints(diststyle="even", sortkey=("lsn",)),
    ),
    "fact_change_log": (
        (
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("target", "varchar(127)"),
            ("op", "char(1)"),
            ("key_text", "varchar(1024)"),
            ("changed_columns", "varchar(65535)"),
            ("before_row", "super"),
            ("after_row", "super"),
            ("changed_at", "timestamp"),
        ),
        (),
        TableHints(diststyle="even", sortkey=("run_id",)),
    ),
    "dead_letter": (
        (
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("source", "varchar(127)"),
            ("reason", "varchar(1024)"),
            ("row_hash", "char(32)"),
            ("row_data", "super"),
            ("dead_lettered_at", "timestamp"),
            # closed by the first later run that applies a newer valid version of the
            # row's key, or deletes it (open while NULL; detect.resolve_dead_letters)
            ("resolved_run_id", "bigint"),
            ("resolved_at", "timestamp"),
        ),
        (),
        TableHints(diststyle="even", sortkey=("run_id",)),
    ),
    "watermark": (
        (
            ("pipeline", "varchar(127)"),
            ("source", "varchar(127)"),
            ("value", "varchar(64)"),
            ("updated_at", "timestamp"),
            ("previous_value", "varchar(64)"),
            ("run_id", "bigint"),
        ),
        ("pipeline", "source"),
        TableHints(diststyle="all"),
    ),
    # The watermark row as it was before a run moved it (``value`` NULL: there was
    # none), so a rollback to any earlier run can put every watermark back.
    "watermark_log": (
        (
            ("run_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("source", "varchar(127)"),
            ("value", "varchar(64)"),
            ("updated_at", "timestamp"),
            ("previous_value", "varchar(64)"),
            ("previous_run_id", "bigint"),
        ),
        (),
        TableHints(diststyle="all", sortkey=("run_id",)),
    ),
    "verify_log": (
        (
            ("verified_at", "timestamp"),
            ("pipeline", "varchar(127)"),
            ("target", "varchar(127)"),
            ("missing_rows", "bigint"),
            ("extra_rows", "bigint"),
            ("different_rows", "bigint"),
            # the audit-trail checks (cdcgen.sql.verify); NULL on a target's comparison
            ("check_name", "varchar(32)"),
            ("findings", "bigint"),
            ("examples", "varchar(2048)"),
        ),
        (),
        TableHints(diststyle="all"),
    ),
    "deployments": (
        (
            ("deployment_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("manifest_sha256", "char(64)"),
            ("spec_sha256", "char(64)"),
            ("tool_version", "varchar(32)"),
            ("deployed_at", "timestamp"),
            ("deployed_by", "varchar(128)"),
        ),
        ("deployment_id",),
        TableHints(diststyle="all"),
    ),
    "deployed_objects": (
        (
            ("deployment_id", "bigint"),
            ("pipeline", "varchar(127)"),
            ("object_name", "varchar(255)"),
            ("kind", "varchar(32)"),
            ("sha256", "char(64)"),
            ("fingerprint", "varchar(64)"),
        ),
        (),
        TableHints(diststyle="all"),
    ),
}


def state_columns(name: str) -> list[str]:
    return [c for c, _ in STATE_TABLES[name][0]]


def into_state(p: PipelinePlan, name: str, query: exp.Query) -> exp.Insert:
    """INSERT into a state table; ``query`` yields the table's columns in order, or a
    leading part of them (columns added later for other writers stay NULL)."""
    columns = state_columns(name)
    if isinstance(query, exp.Select):
        columns = columns[: len(query.selects)]
    return insert(f"{p.cdc_schema}.{name}", columns, query)


#: PostgreSQL: the row-image columns of the change logs, stored uncompressed
#: (nodes.UncompressedColumns)
UNCOMPRESSED_IMAGES: dict[str, tuple[str, ...]] = {
    "change_log": ("before_row", "after_row"),
    "fact_change_log": ("before_row", "after_row"),
}


def uncompressed_columns(p: PipelinePlan, d: TableDef) -> nodes.UncompressedColumns | None:
    """``ALTER TABLE … SET STORAGE EXTERNAL`` for a change log's images (PostgreSQL only)."""
    columns = UNCOMPRESSED_IMAGES.get(d.table.name) if d.table.schema == p.cdc_schema else None
    if not columns:
        return None
    return nodes.UncompressedColumns(
        this=table(d.table), expressions=[exp.to_identifier(c) for c in columns]
    )


def state_tables(p: PipelinePlan) -> list[TableDef]:
    return [
        TableDef(Table(p.cdc_schema, name), tuple(Column(c, t) for c, t in cols), key, hints, key)
        for name, (cols, key, hints) in STATE_TABLES.items()
    ]


def tombstone_tables(p: PipelinePlan) -> list[TableDef]:
    return [
        TableDef(
            tombstones(p, s),
            (*(Column(k, s.type_of(k)) for k in s.key), Column(s.updated_at, s.type_of(s.updated_at)),
             Column("deleted_run_id", "bigint")),
            s.key,
            TableHints(sortkey=s.key),
            s.key,
        )
        for s in p.sources
    ]


def tombstone_log_tables(p: PipelinePlan) -> list[TableDef]:
    """Per source, the tombstones a run removed (``removed_run_id``): a rollback puts
    them back. (The ones a run added carry its ``deleted_run_id``.)"""
    return [
        TableDef(
            tombstone_log(p, s),
            (*(Column(k, s.type_of(k)) for k in s.key), Column(s.updated_at, s.type_of(s.updated_at)),
             Column("deleted_run_id", "bigint"), Column(REMOVED_RUN_ID, "bigint")),
            (),
            TableHints(sortkey=(REMOVED_RUN_ID,)),
        )
        for s in p.sources
    ]


def version_log_tables(p: PipelinePlan) -> list[TableDef]:
    """Per SCD2 dimension, the versions a run touched: ``B`` the before image of a version
    it closed or overwrote, ``O`` a version it opened. A rollback deletes the opened ones
    and writes the before images back; the logged surrogate keys stay the high-water
    mark, so an undone version's key is never used again."""
    defs = []
    for t in p.dimensions:
        target = target_table(t)
        defs.append(
            TableDef(
                version_log(p, t),
                (Column(RUN_ID, "bigint"), Column(VERSION_ACTION, "char(1)"), *target.columns),
                (),
                TableHints(sortkey=(RUN_ID,)),
            )
        )
    return defs


def staging_tables(p: PipelinePlan) -> list[TableDef]:
    # Staging belongs to the ETL and may hold duplicates: no key. Append-mode staging
    # is read past its watermark: sorted by it on Redshift (zone maps skip the rest),
    # indexed on PostgreSQL (staging_indexes).
    return [
        TableDef(s.staging, s.staging_columns, (), _staging_hints(s)) for s in p.sources
    ]


def _staging_hints(s: SourcePlan) -> TableHints | None:
    return TableHints(sortkey=(s.watermark_column,)) if s.watermark_column else None


def baseline_tables(p: PipelinePlan) -> list[TableDef]:
    return [
        TableDef(s.baseline, s.columns, s.key, sorted_by_default(s.hints, s.key), s.key)
        for s in p.sources
    ]


def sorted_by_default(hints: TableHints | None, sortkey: tuple[str, ...]) -> TableHints:
    """The spec's ``redshift`` hints, sorted by ``sortkey`` unless they name a sort key.
    A run reads a baseline, a fact or a dimension by its key (MERGE, DELETE … USING, the
    keyed recompute), so the key stays the sort key and zone maps skip the blocks
    without the changed keys; a spec that sorts by something else says so.

    >>> sorted_by_default(TableHints(diststyle="all"), ("id",)).sortkey
    ('id',)
    """
    if hints is None:
        return TableHints(sortkey=sortkey)
    return hints if hints.sortkey else hints.model_copy(update={"sortkey": sortkey})


def target_table(t: TargetPlan) -> TableDef:
    mapped = tuple(Column(c.name, c.type) for c in t.columns)
    if t.kind == "dimension":
        sk, *validity = bookkeeping_columns(t)
        hints = sorted_by_default(t.hints, (*t.key, VALID_FROM))
        return TableDef(t.table, (sk, *mapped, *validity), (sk.name,), hints, (sk.name,))
    return TableDef(t.table, mapped, t.key, sorted_by_default(t.hints, t.key), t.key)


def create_table(d: TableDef) -> exp.Create:
    columns: list[exp.Expression] = []
    for c in d.columns:
        constraints = []
        if c.name in d.not_null:
            constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        columns.append(
            exp.ColumnDef(
                this=exp.to_identifier(c.name),
                kind=data_type(c.type),
                constraints=constraints,
            )
        )
    if d.key:
        # Informational on Redshift (nothing relies on it); enforced on PostgreSQL.
        columns.append(exp.PrimaryKey(expressions=[exp.to_identifier(k) for k in d.key]))
    return exp.Create(
        this=exp.Schema(this=table(d.table), expressions=columns),
        kind="TABLE",
        exists=True,
        properties=_properties(d.hints),
    )


def _properties(hints: TableHints | None) -> exp.Properties | None:
    if hints is None:
        return None
    props: list[exp.Expression] = []
    style = hints.diststyle or ("key" if hints.distkey else None)
    if style:
        props.append(exp.DistStyleProperty(this=exp.var(style.upper())))
    if hints.distkey:
        props.append(exp.DistKeyProperty(this=exp.to_identifier(hints.distkey)))
    if hints.sortkey:
        props.append(
            exp.SortKeyProperty(this=[exp.to_identifier(c) for c in hints.sortkey], compound=False)
        )
    return exp.Properties(expressions=props) if props else None


def create_schema(name: str) -> exp.Create:
    return exp.Create(this=exp.to_table(name), kind="SCHEMA", exists=True)


@dataclass(frozen=True)
class IndexDef:
    name: str
    table: Table
    columns: tuple[str, ...]
    where: exp.Expression | None = None  # a partial index


def postgres_indexes(p: PipelinePlan) -> list[IndexDef]:
    """PostgreSQL only (Redshift has no indexes): every column a join or semi-join
    condition reads, so a run touches only the rows a change reaches."""
    wanted: dict[tuple[str, str], None] = {}
    for t in p.targets:
        for r in t.relations:
            if r.on is None:
                continue
            for c in r.on.find_all(exp.Column):
                source = t.relation(c.table).source
                if p.source(source).key != (c.name,):
                    wanted[(source, c.name)] = None
    return [
        IndexDef(f"ix_{source}__{column}", p.source(source).baseline, (column,))
        for source, column in sorted(wanted)
    ]


def current_version_indexes(p: PipelinePlan) -> list[IndexDef]:
    """SCD2 dimensions are read by key for their open version (recompute, close, overwrite):
    a partial index on the key over current rows only; by key for their closed versions
    (when a key returns, its last validity end): a partial index over those; and for
    the highest surrogate key in the version log (new keys never reuse a rolled-back
    one): an index on it, so each run reads one index entry, not the whole log."""
    out: list[IndexDef] = []
    for t in p.targets:
        if t.kind != "dimension":
            continue
        current = exp.column("is_current")
        out += [
            IndexDef(f"ix_{t.name}__current", t.table, t.key, exp.EQ(this=current, expression=exp.true())),
            IndexDef(
                f"ix_{t.name}__closed", t.table, t.key, exp.EQ(this=current.copy(), expression=exp.false())
            ),
            IndexDef(f"ix_{t.name}__version_log", version_log(p, t), (surrogate_key(t),)),
        ]
    return out


def staging_indexes(p: PipelinePlan) -> list[IndexDef]:
    """Append-mode staging accumulates: a run reads only the rows past the watermark,
    through this index, instead of the whole table. (Staging belongs to the ETL: these
    are deployed with the staging tables only.)"""
    return [
        IndexDef(f"ix_{s.name}__{s.watermark_column}", s.staging, (s.watermark_column,))
        for s in p.sources
        if s.watermark_column
    ]


def create_index(ix: IndexDef) -> exp.Create:
    return exp.Create(
        this=exp.Index(
            this=exp.to_identifier(ix.name),
            table=table(ix.table),
            params=exp.IndexParameters(
                columns=[exp.to_identifier(c) for c in ix.columns],
                where=exp.Where(this=ix.where.copy()) if ix.where is not None else None,
            ),
        ),
        kind="INDEX",
        exists=True,
    )

"""The spec language: frozen, strict pydantic models of one ``mappings/*.yml`` file.

These models check shape only (keys, types, name syntax). Rules that need the
whole spec (references, join keys, cycles, expression safety) live in
``cdcgen.validate``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

IDENT_PATTERN = r"^[a-z_][a-z0-9_]*$"

#: A plain lowercase SQL identifier: what Redshift folds every name to anyway.
Ident = Annotated[str, StringConstraints(pattern=IDENT_PATTERN, max_length=127)]

#: A SQL expression written in Redshift syntax, checked by ``cdcgen.validate``.
SqlExpr = Annotated[str, StringConstraints(min_length=1)]

#: A duration such as ``45m``, ``2h``, ``1d`` or ``90s``.
Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+[smhd]$")]

_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: str) -> int:
    """Seconds in a spec duration.

    >>> duration_seconds("45m")
    2700
    """
    match = re.fullmatch(r"([0-9]+)([smhd])", value)
    if match is None:
        raise ValueError(f"not a duration: {value!r}")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors and nothing mutates."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Schemas(Strict):
    staging: Ident = "staging"
    baseline: Ident = "public"
    target: Ident = "staging_public"
    cdc: Ident = "cdc"


class Deletes(Strict):
    """How a source signals deletes; exactly one of the three rules.

    - ``when``: a predicate over the staging row (``deleted_at IS NOT NULL``);
    - ``op_column``: a staging-only column holding I/U/D;
    - ``snapshot: full``: staging holds the whole table, absent keys are deleted.
    """

    when: SqlExpr | None = None
    op_column: Ident | None = None
    snapshot: Literal["full"] | None = None

    @model_validator(mode="after")
    def _exactly_one_rule(self) -> Deletes:
        given = [n for n in ("when", "op_column", "snapshot") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "deletes needs exactly one of 'when', 'op_column' or 'snapshot'"
                + (f", got {', '.join(given)}" if given else "")
            )
        return self


class TableHints(Strict):
    """Redshift physical design; ignored by the PostgreSQL rendering."""

    diststyle: Literal["auto", "even", "key", "all"] | None = None
    distkey: Ident | None = None
    sortkey: tuple[Ident, ...] = ()


#: What a change-log row image holds: the whole row (``full``, the default: what
#: rollback restores from); the whole row for inserts and deletes but only the key and
#: the changed columns for updates (``changed``); or only the key columns (``keys``).
#: The lean modes are much cheaper for wide rows and large batches; ``changed_columns``
#: names what changed in every mode.
Audit = Literal["full", "changed", "keys"]

#: What staging holds in a date, time or number column: text or that type (``any``, the
#: default: every value is cast-checked, docs/staging.md) or always the declared type
#: (``declared``: the castability patterns are skipped; widths and ranges still checked).
StagingTypes = Literal["any", "declared"]


class Source(Strict):
    key: tuple[Ident, ...] = Field(min_length=1)
    updated_at: Ident
    created_at: Ident | None = None
    loaded_at: Ident | None = None
    deletes: Deletes | None = None
    mode: Literal["window", "append"] = "window"
    columns: dict[Ident, str] | None = None
    checks: dict[Ident, SqlExpr] = Field(default_factory=dict)
    redshift: TableHints | None = None
    audit: Audit | None = None  # the pipeline's ``audit`` when not given
    staging_types: StagingTypes | None = None  # the pipeline's ``staging_types`` when not given


class Join(Strict):
    """A many-to-one lookup: LEFT JOIN on the joined source's whole key."""

    source: Ident
    as_: Ident | None = Field(default=None, alias="as")
    on: SqlExpr

    @property
    def alias(self) -> str:
        return self.as_ or self.source


class Exists(Strict):
    """A semi-join: the grain row qualifies only if a matching row exists."""

    source: Ident
    as_: Ident | None = Field(default=None, alias="as")
    on: SqlExpr

    @property
    def alias(self) -> str:
        return self.as_ or self.source


class AsOf(Strict):
    """A point-in-time lookup of an SCD2 dimension of the same spec: the version that
    was valid at ``at``, a date or timestamp column of the grain
    (``valid_from <= at < valid_to``; no match when ``at`` is NULL or falls outside
    every version). ``on`` equates the dimension's whole key with grain values."""

    dimension: Ident
    as_: Ident | None = Field(default=None, alias="as")
    on: SqlExpr
    at: SqlExpr

    @property
    def alias(self) -> str:
        return self.as_ or self.dimension


class ColumnDef(Strict):
    """A target column given with an explicit type, when inference is not enough."""

    expr: SqlExpr
    type: str


ColumnValue = SqlExpr | ColumnDef


def column_expr(value: ColumnValue) -> str:
    return value.expr if isinstance(value, ColumnDef) else value


class Fact(Strict):
    key: tuple[Ident, ...] = Field(min_length=1)
    from_: Ident = Field(alias="from")
    where: SqlExpr | None = None
    exists: tuple[Exists, ...] = ()
    join: tuple[Join, ...] = ()
    #: point-in-time lookups of SCD2 dimensions (their columns, as of a grain column)
    as_of: tuple[AsOf, ...] = ()
    columns: dict[Ident, ColumnValue] = Field(min_length=1)
    redshift: TableHints | None = None
    audit: Audit | None = None  # the pipeline's ``audit`` when not given


#: The version columns cdcgen adds to an SCD2 dimension's table, besides its surrogate key
#: ``<d>_sk`` (README, spec reference): validation and the generated SQL share the names.
VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED = "valid_from", "valid_to", "is_current", "is_deleted"


class Dimension(Strict):
    """An SCD Type 2 dimension: ``history`` columns open a new version."""

    key: tuple[Ident, ...] = Field(min_length=1)
    from_: Ident = Field(alias="from")
    where: SqlExpr | None = None
    join: tuple[Join, ...] = ()
    columns: dict[Ident, ColumnValue] = Field(min_length=1)
    history: tuple[Ident, ...] = ()
    on_delete: Literal["ignore", "invalidate", "new_version"] = "invalidate"
    redshift: TableHints | None = None


class Schedule(Strict):
    cron: str = Field(pattern=r"^(cron|rate)\(.+\)$")


class Freshness(Strict):
    warn_after: Duration
    error_after: Duration


class Spec(Strict):
    """One pipeline: ``mappings/<pipeline>.yml``."""

    pipeline: Ident
    schemas: Schemas = Schemas()
    catalog: str | None = None
    sources: dict[Ident, Source] = Field(min_length=1)
    facts: dict[Ident, Fact] = Field(default_factory=dict)
    dimensions: dict[Ident, Dimension] = Field(default_factory=dict)
    schedule: Schedule | None = None
    freshness: Freshness | None = None
    #: change_log / fact_change_log row images, for every source and fact that does
    #: not say otherwise (SCD2 dimensions always log full images)
    audit: Audit = "full"
    #: what every source's staging holds in its date, time and number columns, unless
    #: the source says otherwise
    staging_types: StagingTypes = "any"

    def targets(self) -> dict[str, Fact | Dimension]:
        return {**self.facts, **self.dimensions}

"""Expression nodes whose SQL differs by dialect. The trees built in ``cdcgen.sql``
use these; each dialect module (``cdcgen.render.redshift``/``postgres``) says how
to write them, so no builder ever branches on the dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from cdcgen.sql.builders import data_type


class RunTimestamp(exp.Expression, exp.Func):
    """One timestamp for the whole run: the transaction start.

    Redshift ``SYSDATE`` (GETDATE is per statement; CURRENT_TIMESTAMP is
    leader-node only); PostgreSQL ``transaction_timestamp()``."""

    arg_types = {}  # type: ignore[var-annotated]


class WallClock(exp.Expression, exp.Func):
    """The time now, for durations: Redshift ``GETDATE()``, PostgreSQL ``clock_timestamp()``."""

    arg_types = {}  # type: ignore[var-annotated]


class DurationMs(exp.Expression, exp.Func):
    """Milliseconds from ``this`` to now (WallClock)."""

    arg_types = {"this": True}


class RowPayload(exp.Expression, exp.Func):
    """A JSON object of key/value pairs: Redshift ``OBJECT(k, v, ...)`` (SUPER), PostgreSQL
    ``jsonb_build_object(k, v, ...)``. Never more than :data:`MAX_PAIRS` pairs, so one call
    each; a wide row image nests them (see :func:`payload`).

    ``expressions`` alternate key literals and values; values that are dates or
    times arrive wrapped in :class:`PayloadText`."""

    arg_types = {"expressions": True}
    is_var_len_args = True


class SparsePayload(exp.Expression, exp.Func):
    """A row image (``this``, a :class:`RowPayload`) whose :class:`WhenChanged` values
    are logged only when their column changed: an update's image under ``audit:
    changed``. Redshift renders the OBJECT as it is, an unchanged column's value NULL.
    PostgreSQL leaves unchanged (and NULL) columns out: it writes the JSON text of the
    logged pairs alone and casts it to jsonb, so an unchanged column costs a CASE, not
    a key and value (docs/performance.md). A reader takes a non-key value from such an
    image only when the row's ``changed_columns`` names the column, so both read the
    same."""

    arg_types = {"this": True}


class WhenChanged(exp.Expression, exp.Func):
    """``CASE WHEN flag THEN this END``: a value logged only when ``flag`` (its column's
    ``chg__`` flag) is true; see :class:`SparsePayload`."""

    arg_types = {"this": True, "flag": True}


class PayloadText(exp.Expression, exp.Func):
    """A date/time value inside a payload: Redshift's OBJECT needs it cast to
    VARCHAR first; jsonb serialises it itself."""

    arg_types = {"this": True}


class PayloadType(exp.Expression, exp.Func):
    """The column type holding a payload: Redshift SUPER, PostgreSQL jsonb.
    Only used as a marker inside DDL; rendered by the dialect."""

    arg_types = {}  # type: ignore[var-annotated]


# One OBJECT/jsonb_build_object call per 50 key/value pairs: PostgreSQL caps a call at 100
# arguments (FUNC_MAX_ARGS) and AWS documents no higher cap for OBJECT (r_object_function),
# so stay at the conservative bound (REDSHIFT.md: unconfirmed -> conservative form).
MAX_PAIRS = 50


def payload_parts(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Where each column sits in a row image: () at the top level, or (part,) inside part.

    Up to 50 columns the image is flat: {"id": 1, "name": "a"}. Wider rows are split
    into nested objects of 50, {"cdc__1": {...}, "cdc__2": {...}}, built with OBJECT
    alone, so the SUPER value never goes through VARCHAR (JSON_SERIALIZE/JSON_PARSE cap
    it at 65,535 bytes; a SUPER value holds 16 MB, limitations-super). Both dialects
    use this one shape, so every reader navigates it the same way. Spec names may not
    contain a double underscore, so a part key never collides with a column."""
    if len(names) <= MAX_PAIRS:
        return [() for _ in names]
    parts: list[tuple[str, ...]] = [(f"cdc__{i // MAX_PAIRS + 1}",) for i in range(len(names))]
    # Redshift tables hold at most 1,600 columns: 32 parts, far below 50.
    assert len(names) <= MAX_PAIRS * MAX_PAIRS, f"{len(names)} columns in one row image"
    return parts


def payload(pairs: list[tuple[str, exp.Expression, str]]) -> RowPayload:
    """Build a row image from (key, value, source type) triples, laid out by
    :func:`payload_parts` (the one place readers take their paths from too)."""
    groups: dict[tuple[str, ...], list[exp.Expression]] = {}
    for (key, value, type_), part in zip(pairs, payload_parts([k for k, _, _ in pairs]), strict=True):
        groups.setdefault(part, []).append(exp.Literal.string(key))
        groups[part].append(PayloadText(this=value) if is_temporal(type_) else value)
    if set(groups) <= {()}:
        return RowPayload(expressions=groups.get((), []))
    nested: list[exp.Expression] = []
    for path, args in groups.items():
        nested += [exp.Literal.string(path[0]), RowPayload(expressions=args)]
    return RowPayload(expressions=nested)


def is_temporal(type_: str) -> bool:
    t = type_.lower()
    return t.startswith(("date", "time", "timestamp"))


class PayloadGet(exp.Expression, exp.Func):
    """One typed value out of a stored row image, read straight into its type.

    ``expressions`` is the key path (part, column) as string literals. PostgreSQL:
    ``CAST(p -> 'part' ->> 'k' AS t)``. Redshift: ``CAST(p."part"."k" AS t)``, a direct
    cast from the SUPER scalar, never through VARCHAR (see ``cdcgen.render.redshift``)."""

    arg_types = {"this": True, "expressions": True, "to": True}


def payload_get(
    payload_column: exp.Expression, key: str, type_: str, names: Sequence[str]
) -> PayloadGet:
    """Read column ``key`` of a row image written by :func:`payload` over ``names``."""
    path = [*payload_parts(names)[list(names).index(key)], key]
    return PayloadGet(
        this=payload_column,
        expressions=[exp.Literal.string(k) for k in path],
        to=data_type(type_),
    )


class PayloadKind(exp.Expression, exp.Func):
    """The JSON type of a stored row image, or of the value at a key path inside it
    ('object', 'string', 'number', 'boolean', 'array', 'null'; SQL NULL where the path
    does not exist): Redshift ``JSON_TYPEOF(p."part"."k")`` (r_json_typeof; navigating to
    a missing member is NULL in the default lax mode), PostgreSQL
    ``jsonb_typeof(p -> 'part' -> 'k')``. Never casts, so a malformed image cannot fail
    the query that inspects it."""

    arg_types = {"this": True, "expressions": False}


def payload_kind(
    payload_column: exp.Expression, key: str | None = None, names: Sequence[str] = ()
) -> PayloadKind:
    """The JSON type of column ``key`` of a row image written by :func:`payload` over
    ``names`` (of the whole image when ``key`` is None)."""
    path = [] if key is None else [*payload_parts(names)[list(names).index(key)], key]
    return PayloadKind(this=payload_column, expressions=[exp.Literal.string(k) for k in path])


class TextWidth(exp.Expression, exp.Func):
    """The length of a text value in the unit the engine declares VARCHAR widths in:
    Redshift ``OCTET_LENGTH`` (VARCHAR(n) holds n bytes, r_Character_types), PostgreSQL
    ``LENGTH`` (VARCHAR(n) holds n characters)."""

    arg_types = {"this": True}
class ColumnCatalog(exp.Expression):
    """The catalog view of table columns, as a relation with ``table_schema``,
    ``table_name``, ``column_name``, ``data_type``, ``numeric_precision`` and
    ``numeric_scale``: Redshift ``SVV_COLUMNS`` (r_SVV_COLUMNS), PostgreSQL the same
    columns read from ``pg_catalog`` (render.postgres.COLUMN_CATALOG). Both name types
    as information_schema does ('bigint', 'numeric', 'timestamp without time zone')."""

    arg_types = {}  # type: ignore[var-annotated]


class UncompressedColumns(exp.Expression):
    """PostgreSQL only: store ``expressions`` (columns of table ``this``) out of line and
    uncompressed, ``ALTER TABLE t ALTER COLUMN c SET STORAGE EXTERNAL``. The change logs'
    row images are written once per change and seldom read: a 75-column image is some
    2 KB, past the TOAST threshold, and compressing it with pglz was about a third of
    writing it (docs/performance.md, *Audit images*). Redshift stores SUPER its own way."""

    arg_types = {"this": True, "expressions": True}


class ProbedDelta(exp.Expression):
    """A delta table joined into a large table, kept to the rows that find a partner there.

    ``this`` is the delta (a table with its alias), ``probe`` an ``EXISTS`` over the
    partner table with the join condition. PostgreSQL: ``(SELECT * FROM delta AS d WHERE
    probe) AS d``; the probe is an index lookup per delta row, and a hash join whose
    hashed side comes out empty never scans the large side. That matters for
    low-cardinality join columns (``companies.created_by``, a handful of creators):
    the planner, estimating thousands of partners per delta row, hashes the whole
    table although most changed rows have none. Redshift: the delta alone (no
    indexes to probe; the hash join reads the columns it needs either way)."""

    arg_types = {"this": True, "probe": True}


def flat_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored row image as one flat {column: value} dict (for Python readers)."""
    if image is None or not any(k.startswith("cdc__") for k in image):
        return image
    flat: dict[str, Any] = {}
    for part in image.values():
        flat.update(part)
    return flat

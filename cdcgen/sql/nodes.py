"""Expression nodes whose SQL differs by dialect. The trees built in ``cdcgen.sql``
use these; each dialect module (``cdcgen.render.redshift``/``postgres``) says how
to write them, so no builder ever branches on the dialect."""

from __future__ import annotations

from sqlglot import exp


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
    """A row image as a JSON object: Redshift ``OBJECT(k, v, ...)`` (SUPER),
    PostgreSQL ``jsonb_build_object`` (in chunks: PostgreSQL caps functions at 100 arguments).

    ``expressions`` alternate key literals and values; values that are dates or
    times arrive wrapped in :class:`PayloadText`."""

    arg_types = {"expressions": True}
    is_var_len_args = True


class PayloadText(exp.Expression, exp.Func):
    """A date/time value inside a payload: Redshift's OBJECT needs it cast to
    VARCHAR first; jsonb serialises it itself."""

    arg_types = {"this": True}


class PayloadType(exp.Expression, exp.Func):
    """The column type holding a payload: Redshift SUPER, PostgreSQL jsonb.
    Only used as a marker inside DDL; rendered by the dialect."""

    arg_types = {}  # type: ignore[var-annotated]


def payload(pairs: list[tuple[str, exp.Expression, str]]) -> RowPayload:
    """Build a payload from (key, value, source type) triples."""
    args: list[exp.Expression] = []
    for key, value, type_ in pairs:
        args.append(exp.Literal.string(key))
        args.append(PayloadText(this=value) if is_temporal(type_) else value)
    return RowPayload(expressions=args)


def is_temporal(type_: str) -> bool:
    t = type_.lower()
    return t.startswith(("date", "time", "timestamp"))


class PayloadGet(exp.Expression, exp.Func):
    """One typed value out of a stored row image: PostgreSQL ``CAST(p ->> 'k' AS t)``,
    Redshift ``CAST(CAST(p."k" AS VARCHAR(65535)) AS t)`` (SUPER navigation, then text,
    because date/time values were stored as text)."""

    arg_types = {"this": True, "key": True, "to": True}


def payload_get(payload_column: exp.Expression, key: str, type_: str) -> PayloadGet:
    return PayloadGet(
        this=payload_column,
        key=exp.Literal.string(key),
        to=exp.DataType.build(type_, dialect="redshift"),
    )


class TextWidth(exp.Expression, exp.Func):
    """The length of a text value in the unit the engine declares VARCHAR widths in:
    Redshift ``OCTET_LENGTH`` (VARCHAR(n) holds n bytes, r_Character_types), PostgreSQL
    ``LENGTH`` (VARCHAR(n) holds n characters)."""

    arg_types = {"this": True}

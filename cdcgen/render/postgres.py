"""The PostgreSQL dialect: what the tests and the demo execute.

Same trees as Redshift; the differences are rendering rules only.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.redshift import Redshift

from cdcgen.render import shortcuts
from cdcgen.sql import nodes
from cdcgen.sql.builders import derived

_REDSHIFT_ONLY_PROPERTIES = (exp.DistKeyProperty, exp.SortKeyProperty, exp.DistStyleProperty)


#: nodes.ColumnCatalog: information_schema.columns' names and type spelling, read from
#: pg_catalog directly. The view joins a dozen catalogs and checks privileges per column:
#: 9-10 ms for one source's question in a new session and 4 ms after, against 4 ms
#: and 1 ms for this (PostgreSQL 15, scale 10), asked once per changed source and run.
#: NUMERIC's typmod holds ((precision << 16) | scale) + 4; -1 when unconstrained.
COLUMN_CATALOG = (
    "(SELECT ns.nspname AS table_schema, cl.relname AS table_name, a.attname AS column_name,"
    " format_type(a.atttypid, NULL) AS data_type,"
    " CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4"
    " THEN (a.atttypmod - 4) / 65536 END AS numeric_precision,"
    " CASE WHEN a.atttypid = 'numeric'::regtype AND a.atttypmod >= 4"
    " THEN (a.atttypmod - 4) % 65536 END AS numeric_scale"
    " FROM pg_catalog.pg_attribute AS a"
    " JOIN pg_catalog.pg_class AS cl ON cl.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace AS ns ON ns.oid = cl.relnamespace"
    " WHERE a.attnum > 0 AND NOT a.attisdropped) AS cdc__columns"
)


def _payload(gen: Any, e: nodes.RowPayload) -> str:
    # One call per (nested) RowPayload: the tree never holds more than 50 pairs.
    return gen.func("jsonb_build_object", *e.expressions) if e.expressions else "'{}'::jsonb"


def _json_text(gen: Any, e: nodes.RowPayload) -> str:
    """A row image as JSON text built from its logged pairs only (see SparsePayload).

    ``CONCAT_WS`` skips NULL members: an unchanged column (``WhenChanged`` false) and a
    NULL value (``TO_JSON(NULL)``) are both left out. Keys are spec identifiers, which
    need no JSON escaping. A part holds at most 50 pairs: 51 arguments, under
    PostgreSQL's 100."""
    members = []
    args = e.expressions
    for key, value in zip(args[::2], args[1::2], strict=True):
        name = f"'\"{key.name}\":'"
        if isinstance(value, nodes.RowPayload):
            members.append(f"{name} || {_json_text(gen, value)}")
            continue
        inner = value.this if isinstance(value, nodes.PayloadText) else value
        if isinstance(inner, nodes.WhenChanged):
            json = f"CAST(TO_JSON({gen.sql(inner, 'this')}) AS TEXT)"
            members.append(f"CASE WHEN {gen.sql(inner, 'flag')} THEN {name} || {json} END")
        else:
            members.append(f"{name} || CAST(TO_JSON({gen.sql(inner)}) AS TEXT)")
    return "'{' || CONCAT_WS(',', " + ", ".join(members) + ") || '}'"


def _payload_get(gen: Any, e: nodes.PayloadGet) -> str:
    *parts, key = e.expressions
    path = gen.sql(e, "this") + "".join(f" -> {gen.sql(p)}" for p in parts)
    if shortcuts.is_plain_type(e.args["to"], exp.DType.SUPER):
        # a super (jsonb) column: the JSON value itself; ->> would unquote a JSON string
        return f"NULLIF({path} -> {gen.sql(key)}, 'null'::jsonb)"
    return f"CAST({path} ->> {gen.sql(key)} AS {gen.sql(e, 'to')})"


_UNIT_ALIASES = {
    "YEARS": "YEAR", "Y": "YEAR", "YR": "YEAR", "YRS": "YEAR",
    "QUARTERS": "QUARTER", "QTR": "QUARTER", "QTRS": "QUARTER",
    "MONTHS": "MONTH", "MON": "MONTH", "MONS": "MONTH",
    "WEEKS": "WEEK", "W": "WEEK", "DAYS": "DAY", "D": "DAY",
    "HOURS": "HOUR", "H": "HOUR", "HR": "HOUR", "HRS": "HOUR",
    "MINUTES": "MINUTE", "M": "MINUTE", "MIN": "MINUTE", "MINS": "MINUTE",
    "SECONDS": "SECOND", "S": "SECOND", "SEC": "SECOND", "SECS": "SECOND",
}


def _datediff(gen: Any, e: exp.Expression) -> str:
    """Redshift's DATEDIFF counts unit *boundaries crossed* (10:59 -> 11:01 is one hour;
    Dec 31 -> Jan 1 is one year), not elapsed time as sqlglot's PostgreSQL rendering does.
    Written so both dialects give the same answer (r_DATEDIFF_function)."""
    unit_node = e.args.get("unit")
    unit = unit_node.name.upper() if unit_node is not None else "DAY"
    unit = _UNIT_ALIASES.get(unit, unit)
    a = f"CAST({gen.sql(e, 'expression')} AS TIMESTAMP)"
    b = f"CAST({gen.sql(e, 'this')} AS TIMESTAMP)"
    years = f"(EXTRACT(YEAR FROM {b}) - EXTRACT(YEAR FROM {a}))"
    formulas = {
        "YEAR": years,
        "QUARTER": f"{years} * 4 + EXTRACT(QUARTER FROM {b}) - EXTRACT(QUARTER FROM {a})",
        "MONTH": f"{years} * 12 + EXTRACT(MONTH FROM {b}) - EXTRACT(MONTH FROM {a})",
        "WEEK": f"(CAST(DATE_TRUNC('week', {b}) AS DATE) - CAST(DATE_TRUNC('week', {a}) AS DATE)) / 7",
        "DAY": f"CAST({b} AS DATE) - CAST({a} AS DATE)",
        "HOUR": f"EXTRACT(EPOCH FROM DATE_TRUNC('hour', {b}) - DATE_TRUNC('hour', {a})) / 3600",
        "MINUTE": f"EXTRACT(EPOCH FROM DATE_TRUNC('minute', {b}) - DATE_TRUNC('minute', {a})) / 60",
        "SECOND": f"EXTRACT(EPOCH FROM DATE_TRUNC('second', {b}) - DATE_TRUNC('second', {a}))",
    }
    if unit not in formulas:  # sub-second units: elapsed time is what Redshift returns too
        return Postgres.Generator.TRANSFORMS[exp.TsOrDsDiff](gen, e)  # type: ignore[no-any-return]
    return f"CAST({formulas[unit]} AS BIGINT)"


#: Redshift date parts [r_Dateparts_for_datetime_functions] PostgreSQL's EXTRACT does not spell alike.
_PART_ALIASES = {
    **_UNIT_ALIASES,
    "W": "WEEK", "WK": "WEEK", "WKS": "WEEK",
    "DW": "DOW", "WEEKDAY": "DOW", "DY": "DOY", "YEARDAY": "DOY",
    "MS": "MILLISECOND", "MSEC": "MILLISECOND", "MSECS": "MILLISECOND", "MSECOND": "MILLISECOND",
    "MSECONDS": "MILLISECOND", "MILLISEC": "MILLISECOND", "MILLISECS": "MILLISECOND",
    "MILLISECON": "MILLISECOND", "MILLISECONDS": "MILLISECOND",
    "US": "MICROSECOND", "USEC": "MICROSECOND", "USECS": "MICROSECOND", "USECOND": "MICROSECOND",
    "USECONDS": "MICROSECOND", "MICROSEC": "MICROSECOND", "MICROSECS": "MICROSECOND",
    "MICROSECONDS": "MICROSECOND",
}


def _extract(gen: Any, e: exp.Expression) -> str:
    """Redshift's EXTRACT of a timestamp is an INTEGER of the one field asked for: seconds
    without their fraction, milliseconds and microseconds within the second (12:08:43.101 ->
    ms 101); PostgreSQL's counts the seconds in as well (43101) [r_EXTRACT_function]."""
    unit = _PART_ALIASES.get(e.this.name.upper(), e.this.name.upper())
    source = gen.sql(e, "expression")
    if unit == "SECOND":
        return f"CAST(FLOOR(EXTRACT(SECOND FROM {source})) AS INTEGER)"
    if unit == "MILLISECOND":
        return f"(CAST(FLOOR(EXTRACT(MILLISECONDS FROM {source})) AS INTEGER) % 1000)"
    if unit == "MICROSECOND":
        return f"(CAST(EXTRACT(MICROSECONDS FROM {source}) AS INTEGER) % 1000000)"
    return f"EXTRACT({unit} FROM {source})"


def _concat(gen: Any, e: exp.Expression) -> str:
    """Redshift's CONCAT is NULL when an argument is (r_CONCAT); PostgreSQL's concat() skips NULLs."""
    return "(" + " || ".join(gen.sql(part) for part in e.expressions) + ")"


def _uncompressed_columns(gen: Any, e: nodes.UncompressedColumns) -> str:
    columns = ", ".join(f"ALTER COLUMN {gen.sql(c)} SET STORAGE EXTERNAL" for c in e.expressions)
    return f"ALTER TABLE {gen.sql(e, 'this')} {columns}"


#: ``SET`` clauses of every target's apply procedure (PostgreSQL only). No merge joins:
#: a fact's affected keys are found by joining a few delta rows to a large table on a
#: lookup column, and where that column holds few values (``client_company_id``: one
#: value per client) the planner expects thousands of partners per delta row and may
#: merge-join the sorted delta with the column's whole index, walking all of it when the
#: column's values sort below every delta key (60-90 ms a run at scale 10, for no rows).
#: A hash join or an index lookup per row reads only what matches. Measured at scale 10
#: (docs/performance.md): 479 changes 0.69 -> 0.57 s median, fact rebuild 3.8 -> 3.3 s,
#: no loss at 48 rows, 1 % or 10 %. Redshift merge-joins only tables sorted and
#: distributed alike, which no temp table here is.
APPLY_SETTINGS: tuple[str, ...] = ("enable_mergejoin = off",)


def _probed_delta(gen: Any, e: nodes.ProbedDelta) -> str:
    # A plain EXISTS, deliberately: the planner chooses an index probe per delta row, or a
    # pass over the partner column's index for many rows. Tried and measured worse (scale
    # 10, 479 changes): "OFFSET 0" to force a per-row subplan, which the planner, expecting
    # a quarter of the table to match a low-cardinality column, runs as a sequential scan
    # "until the first match" -- the whole table for every row without one (13 s).
    delta: exp.Table = e.this
    kept = exp.select(exp.Star()).from_(delta.copy(), copy=False).where(e.args["probe"].copy(), copy=False)
    return gen.sql(derived(kept, delta.alias))


def _strip_redshift_only(expression: exp.Create) -> exp.Create:
    """DISTKEY/SORTKEY/DISTSTYLE and late binding are Redshift physical design."""
    # A shallow copy: the body (a view's whole query) is shared, not copied; only the
    # top node and its properties are replaced, so the caller's tree is untouched.
    args = {k: v for k, v in expression.args.items() if k not in ("this", "expression")}
    props = args.get("properties")
    if props is not None:
        kept = [p.copy() for p in props.expressions if not isinstance(p, _REDSHIFT_ONLY_PROPERTIES)]
        args["properties"] = exp.Properties(expressions=kept) if kept else None
    args["no_schema_binding"] = False
    create = exp.Create(**{k: (v.copy() if isinstance(v, exp.Expression) else v) for k, v in args.items()})
    # this/expression are set without re-parenting the shared subtrees
    create.args["this"] = expression.args.get("this")
    create.args["expression"] = expression.args.get("expression")
    return create


class CdcPostgres(Postgres):
    class Generator(shortcuts.GeneratorShortcuts, Postgres.Generator):  # type: ignore[misc,valid-type]
        # Quote the union of both reserved-word lists so one spec works on both.
        RESERVED_KEYWORDS = Redshift.Generator.RESERVED_KEYWORDS | {
            "user",
            "order",
            "default",
            "timestamp",
            "offset",
            "limit",
            "window",
        }

        TYPE_MAPPING = {
            **Postgres.Generator.TYPE_MAPPING,
            exp.DataType.Type.SUPER: "JSONB",
        }

        TRANSFORMS = {
            **Postgres.Generator.TRANSFORMS,
            exp.DateDiff: _datediff,
            exp.TsOrDsDiff: _datediff,
            exp.Extract: _extract,
            exp.Concat: _concat,
            nodes.RunTimestamp: lambda self, e: "transaction_timestamp()",
            nodes.ColumnCatalog: lambda self, e: COLUMN_CATALOG,
            nodes.WallClock: lambda self, e: "clock_timestamp()",
            nodes.DurationMs: lambda self, e: (
                f"CAST(EXTRACT(EPOCH FROM (clock_timestamp() - {self.sql(e, 'this')})) * 1000 AS BIGINT)"
            ),
            nodes.RowPayload: _payload,
            nodes.SparsePayload: lambda self, e: f"CAST({_json_text(self, e.this)} AS JSONB)",
            nodes.WhenChanged: lambda self, e: (
                f"CASE WHEN {self.sql(e, 'flag')} THEN {self.sql(e, 'this')} ELSE NULL END"
            ),
            nodes.ProbedDelta: _probed_delta,
            nodes.UncompressedColumns: _uncompressed_columns,
            nodes.PayloadText: lambda self, e: self.sql(e, "this"),
            # VARCHAR(n) holds n characters on PostgreSQL
            nodes.TextWidth: lambda self, e: f"LENGTH({self.sql(e, 'this')})",
            nodes.PayloadGet: _payload_get,
            nodes.PayloadKind: lambda self, e: "JSONB_TYPEOF({})".format(
                self.sql(e, "this") + "".join(f" -> {self.sql(k)}" for k in e.expressions)
            ),
        }

        def create_sql(self, expression: exp.Create) -> str:
            return super().create_sql(_strip_redshift_only(expression))

        def datatype_sql(self, expression: exp.DataType) -> str:
            return shortcuts.datatype_sql(self, expression)



DIALECT = CdcPostgres


def sql(expression: exp.Expression, pretty: bool = True) -> str:
    return expression.sql(dialect=CdcPostgres, pretty=pretty)

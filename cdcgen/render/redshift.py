"""The Redshift dialect: what users deploy.

A subclass of sqlglot's Redshift generator; the rules are tables. Constructs
that sqlglot would pass through silently but Redshift rejects are never built
(see ``cdcgen.check.redshift_rules`` for the checks that prove it).
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp, transforms
from sqlglot.dialects.redshift import Redshift

from cdcgen.render import shortcuts
from cdcgen.sql import nodes


def _payload_text(gen: Any, e: nodes.PayloadText) -> str:
    # r_object_function: OBJECT() rejects date/time values; cast them to text first.
    return f"CAST({gen.sql(e, 'this')} AS VARCHAR(64))"


def _payload(gen: Any, e: nodes.RowPayload) -> str:
    # One OBJECT per (nested) RowPayload: the tree never holds more than 50 pairs, so a
    # wide row is nested OBJECTs, a SUPER value from end to end (no VARCHAR splice).
    return gen.func("OBJECT", *e.expressions)  # type: ignore[no-any-return]


def _payload_get(gen: Any, e: nodes.PayloadGet) -> str:
    """Navigate to the SUPER scalar and cast it straight to the column type.

    limitations-super (casting limitations): SUPER values cast to and from other types,
    except that SUPER-related cast errors become NULL instead of failing. A cast through
    VARCHAR would turn every boolean and number into NULL that way (a SUPER boolean or
    number is not a SUPER string), so each value is read back as the type it was
    written as by OBJECT (r_object_function): boolean -> BOOLEAN, SMALLINT/INTEGER/
    BIGINT/DECIMAL(p,s)/REAL/DOUBLE PRECISION -> that numeric type (Redshift does not
    tell integers from scale-0 decimals, so either reads back exactly), CHAR/VARCHAR ->
    that character type. Dates and times cannot be put in a SUPER value, so OBJECT got
    them as VARCHAR text (PayloadText); the same page documents that date and time
    types *can* be cast from SUPER, its example being a SUPER string cast ::date, so
    they too are one direct cast from the stored string to DATE/TIME/TIMESTAMP[TZ]."""
    path = gen.sql(e, "this") + "".join(f'."{k.name}"' for k in e.expressions)
    if shortcuts.is_plain_type(e.args["to"], exp.DType.SUPER):
        return path  # a SUPER column: the navigated value is already SUPER
    return f"CAST({path} AS {gen.sql(e, 'to')})"


def _payload_kind(gen: Any, e: Any) -> str:
    # r_json_typeof: the dynamic type of a SUPER value, as VARCHAR
    path = gen.sql(e, "this") + "".join(f'."{k.name}"' for k in e.expressions)
    return f"JSON_TYPEOF({path})"


class CdcRedshift(Redshift):
    class Generator(shortcuts.GeneratorShortcuts, Redshift.Generator):  # type: ignore[misc,valid-type]
        # Reserved words (user, order, default, timestamp, open, ...) must be quoted.
        RESERVED_KEYWORDS = Redshift.Generator.RESERVED_KEYWORDS

        TRANSFORMS = {
            **Redshift.Generator.TRANSFORMS,
            # sqlglot's SELECT preprocessing minus its two UNNEST rewrites: cdcgen builds
            # no UNNEST (Redshift has none), and each rewrite searched the whole subtree
            # of every SELECT, which made rendering quadratic in query depth.
            exp.Select: transforms.preprocess(
                [
                    transforms.eliminate_window_clause,
                    transforms.eliminate_distinct_on,
                    transforms.eliminate_semi_and_anti_joins,
                ]
            ),
            # r_SYSDATE: start of the transaction = one timestamp for the whole run.
            nodes.RunTimestamp: lambda self, e: "SYSDATE",
            # r_GETDATE: start of the current statement, good enough for durations.
            nodes.ColumnCatalog: lambda self, e: "svv_columns",
            nodes.WallClock: lambda self, e: "GETDATE()",
            nodes.DurationMs: lambda self, e: (
                f"DATEDIFF(MILLISECOND, {self.sql(e, 'this')}, GETDATE())"
            ),
            # r_object_function: row images are SUPER values built with OBJECT(k, v, ...).
            nodes.RowPayload: _payload,
            # no function drops an OBJECT's null pairs; readers go by changed_columns
            nodes.SparsePayload: lambda self, e: self.sql(e, "this"),
            nodes.WhenChanged: lambda self, e: (
                f"CASE WHEN {self.sql(e, 'flag')} THEN {self.sql(e, 'this')} ELSE NULL END"
            ),
            nodes.ProbedDelta: lambda self, e: self.sql(e, "this"),
            nodes.PayloadText: _payload_text,
            # r_OCTET_LENGTH: VARCHAR(n) holds n bytes on Redshift, so widths are bytes.
            nodes.TextWidth: lambda self, e: f"OCTET_LENGTH({self.sql(e, 'this')})",
            nodes.PayloadGet: _payload_get,
            nodes.PayloadKind: _payload_kind,
        }

        def datatype_sql(self, expression: exp.DataType) -> str:
            # sqlglot's Redshift rule (TEXT -> VARCHAR(MAX), in place, as it does), minus
            # its `is_type("text")`, which parsed the string "text" on every type written
            # (a tenth of a build). `this == TEXT` is what that test means for a type
            # without parameters; tests/test_render_shortcuts.py holds the two equal.
            if expression.this == exp.DType.TEXT:
                expression.set("this", exp.DType.VARCHAR)
                if not expression.args.get("expressions"):
                    expression.append("expressions", exp.var("MAX"))
            return shortcuts.datatype_sql(self, expression)

        def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
            # sqlglot's Redshift rule (a cast to JSON is dropped), minus its is_type, which
            # built a DataType for every cast written (see shortcuts.is_plain_type)
            if shortcuts.is_plain_type(expression.to, exp.DType.JSON):
                return self.sql(expression, "this")
            return super(Redshift.Generator, self).cast_sql(expression, safe_prefix=safe_prefix)  # type: ignore[misc,no-any-return]



DIALECT = CdcRedshift

#: ``SET`` clauses of the apply procedures: none. Redshift merge-joins only tables
#: distributed and sorted alike, which no temp table of a run is (see the PostgreSQL
#: module's APPLY_SETTINGS).
APPLY_SETTINGS: tuple[str, ...] = ()


def sql(expression: exp.Expression, pretty: bool = True) -> str:
    return expression.sql(dialect=CdcRedshift, pretty=pretty)

"""The Redshift dialect: what users deploy.

A subclass of sqlglot's Redshift generator; the rules are tables. Constructs
that sqlglot would pass through silently but Redshift rejects are never built
(see ``cdcgen.render.redshift_rules`` for the checks that prove it).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.redshift import Redshift

from cdcgen.sql import nodes


def _payload_text(gen: Redshift.Generator, e: nodes.PayloadText) -> str:
    # r_object_function: OBJECT() rejects date/time values; cast them to text first.
    return f"CAST({gen.sql(e, 'this')} AS VARCHAR(64))"


class CdcRedshift(Redshift):
    class Generator(Redshift.Generator):
        # Reserved words (user, order, default, timestamp, open, ...) must be quoted.
        RESERVED_KEYWORDS = Redshift.Generator.RESERVED_KEYWORDS

        TRANSFORMS = {
            **Redshift.Generator.TRANSFORMS,
            # r_SYSDATE: start of the transaction = one timestamp for the whole run.
            nodes.RunTimestamp: lambda self, e: "SYSDATE",
            # r_GETDATE: start of the current statement, good enough for durations.
            nodes.WallClock: lambda self, e: "GETDATE()",
            nodes.DurationMs: lambda self, e: (
                f"DATEDIFF(MILLISECOND, {self.sql(e, 'this')}, GETDATE())"
            ),
            # r_object_function: row images are SUPER values built with OBJECT(k, v, ...).
            nodes.RowPayload: lambda self, e: self.func("OBJECT", *e.expressions),
            nodes.PayloadText: _payload_text,
        }


DIALECT = CdcRedshift


def sql(expression: exp.Expression, pretty: bool = True) -> str:
    return expression.sql(dialect=CdcRedshift, pretty=pretty)

"""The Redshift dialect: what users deploy.

A subclass of sqlglot's Redshift generator; the rules are tables. Constructs
that sqlglot would pass through silently but Redshift rejects are never built
(see ``cdcgen.render.redshift_rules`` for the checks that prove it).
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp, transforms
from sqlglot.dialects.redshift import Redshift

from cdcgen.sql import nodes


def _payload_text(gen: Any, e: nodes.PayloadText) -> str:
    # r_object_function: OBJECT() rejects date/time values; cast them to text first.
    return f"CAST({gen.sql(e, 'this')} AS VARCHAR(64))"


# PostgreSQL (Redshift's ancestor) caps a call at 100 arguments and AWS documents no
# higher cap for OBJECT, so stay at 50 key/value pairs per call (REDSHIFT.md: when a
# fact is unconfirmed, generate the conservative form).
_MAX_PAIRS_PER_OBJECT = 50


def _payload(gen: Any, e: nodes.RowPayload) -> str:
    """OBJECT(k, v, ...) for up to 50 columns; wider rows are built as one OBJECT per
    50 columns, serialised, spliced into one JSON text and parsed back to SUPER.
    (The splice goes through VARCHAR, so such rows are limited to 65,535 bytes.)"""
    args = e.expressions
    step = 2 * _MAX_PAIRS_PER_OBJECT
    chunks = [args[i : i + step] for i in range(0, len(args), step)]
    if len(chunks) <= 1:
        return gen.func("OBJECT", *args)
    inners = []
    for chunk in chunks:
        text = f"JSON_SERIALIZE({gen.func('OBJECT', *chunk)})"
        # '{"a":1}' -> '"a":1' ('' for an empty object)
        inners.append(f"SUBSTRING({text}, 2, LEN({text}) - 2)")
    spliced = inners[0]
    for inner in inners[1:]:
        sep = f"CASE WHEN {spliced} <> '' AND {inner} <> '' THEN ',' ELSE '' END"
        spliced = f"{spliced} || {sep} || {inner}"
    return f"JSON_PARSE('{{' || {spliced} || '}}')"


class CdcRedshift(Redshift):
    class Generator(Redshift.Generator):  # type: ignore[misc,valid-type]
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
            nodes.WallClock: lambda self, e: "GETDATE()",
            nodes.DurationMs: lambda self, e: (
                f"DATEDIFF(MILLISECOND, {self.sql(e, 'this')}, GETDATE())"
            ),
            # r_object_function: row images are SUPER values built with OBJECT(k, v, ...).
            nodes.RowPayload: _payload,
            nodes.PayloadText: _payload_text,
            nodes.PayloadGet: lambda self, e: (
                f"CAST(CAST({self.sql(e, 'this')}.\"{e.args['key'].name}\" AS VARCHAR(65535)) "
                f"AS {self.sql(e, 'to')})"
            ),
        }


DIALECT = CdcRedshift


def sql(expression: exp.Expression, pretty: bool = True) -> str:
    return expression.sql(dialect=CdcRedshift, pretty=pretty)

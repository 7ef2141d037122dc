"""The PostgreSQL dialect: what the tests and the demo execute.

Same trees as Redshift; the differences are rendering rules only.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.redshift import Redshift

from cdcgen.sql import nodes

# PostgreSQL caps function calls at 100 arguments (FUNC_MAX_ARGS): 50 key/value pairs.
_MAX_PAIRS_PER_CALL = 50

_REDSHIFT_ONLY_PROPERTIES = (exp.DistKeyProperty, exp.SortKeyProperty, exp.DistStyleProperty)


def _payload(gen: Any, e: nodes.RowPayload) -> str:
    args = e.expressions
    chunks = [
        args[i : i + 2 * _MAX_PAIRS_PER_CALL] for i in range(0, len(args), 2 * _MAX_PAIRS_PER_CALL)
    ]
    calls = [gen.func("jsonb_build_object", *chunk) for chunk in chunks] or ["'{}'::jsonb"]
    return " || ".join(calls) if len(calls) == 1 else "(" + " || ".join(calls) + ")"


def _strip_redshift_only(expression: exp.Create) -> exp.Create:
    """DISTKEY/SORTKEY/DISTSTYLE and late binding are Redshift physical design."""
    create = expression.copy()
    create.set("no_schema_binding", False)
    props = create.args.get("properties")
    if props is not None:
        kept = [p for p in props.expressions if not isinstance(p, _REDSHIFT_ONLY_PROPERTIES)]
        create.set("properties", exp.Properties(expressions=kept) if kept else None)
    return create


class CdcPostgres(Postgres):
    class Generator(Postgres.Generator):  # type: ignore[misc,valid-type]
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
            nodes.RunTimestamp: lambda self, e: "transaction_timestamp()",
            nodes.WallClock: lambda self, e: "clock_timestamp()",
            nodes.DurationMs: lambda self, e: (
                f"CAST(EXTRACT(EPOCH FROM (clock_timestamp() - {self.sql(e, 'this')})) * 1000 AS BIGINT)"
            ),
            nodes.RowPayload: _payload,
            nodes.PayloadText: lambda self, e: self.sql(e, "this"),
            nodes.PayloadGet: lambda self, e: (
                f"CAST({self.sql(e, 'this')} ->> {self.sql(e, 'key')} AS {self.sql(e, 'to')})"
            ),
        }

        def create_sql(self, expression: exp.Create) -> str:
            return super().create_sql(_strip_redshift_only(expression))


DIALECT = CdcPostgres


def sql(expression: exp.Expression, pretty: bool = True) -> str:
    return expression.sql(dialect=CdcPostgres, pretty=pretty)

"""Every supported function computes on PostgreSQL what the AWS page documents for Redshift.

The examples are the documented ones (docs.aws.amazon.com/redshift/latest/dg/<doc>.html),
with TICKIT table columns replaced by literals of the same values.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlglot

from cdcgen.render import postgres
from cdcgen.validate.expressions import parse_scalar
from cdcgen.validate.functions import FUNCTIONS

#: function name -> [(Redshift expression, Redshift's documented result)]
EXAMPLES: dict[str, list[tuple[str, object]]] = {
    "COALESCE": [("COALESCE(NULL, 'x', 'y')", "x"), ("NVL(NULL, 0)", 0), ("NVL(5, 0)", 5)],
    "NULLIF": [("NULLIF('Shows', 'Shows')", None), ("NULLIF('Concerts', 'Shows')", "Concerts")],
    "CASE": [
        (
            "CASE 'New York City' WHEN 'New York City' THEN 'Big Apple' ELSE 'other' END",
            "Big Apple",
        ),
        ("CASE WHEN 9 < 10 THEN 'low' ELSE 'high' END", "low"),
    ],
    "CAST": [("CAST(162.00 AS INTEGER)", 162), ("CAST('2008-02-18' AS DATE)", date(2008, 2, 18))],
    "UPPER": [("UPPER('Shows')", "SHOWS")],
    "LOWER": [("LOWER('Shows')", "shows")],
    "TRIM": [
        ("'#' || TRIM('    abc    ') || '#'", "#abc#"),
        ("TRIM(BOTH '\"' FROM '\"Bank of America Stadium\"')", "Bank of America Stadium"),
    ],
    "BTRIM": [("BTRIM('    abc    ')", "abc"), ("BTRIM('xyzaxyzbxyzcxyz', 'xyz')", "axyzbxyzc")],
    "LTRIM": [("LTRIM('xyzaxyzbxyzcxyz', 'xyz')", "axyzbxyzcxyz"), ("LTRIM('  abc')", "abc")],
    "RTRIM": [("RTRIM('xyzaxyzbxyzcxyz', 'xyz')", "xyzaxyzbxyzc"), ("RTRIM('abc  ')", "abc")],
    "SUBSTRING": [
        ("SUBSTRING('caterpillar', 6, 4)", "pill"),
        ("SUBSTRING('caterpillar', 4)", "erpillar"),
        ("SUBSTRING('caterpillar' FROM 6 FOR 3)", "pil"),
        ("SUBSTRING('caterpillar', -2, 6)", "cat"),
        ("SUBSTR('caterpillar', 6, 4)", "pill"),
    ],
    "LEFT": [("LEFT('Chicago', 3)", "Chi")],
    "RIGHT": [("RIGHT('Chicago', 3)", "ago")],
    "LEN": [
        ("LEN('français')", 8),
        ("LEN('cat   ')", 6),
        ("LEN(CAST('cat   ' AS CHAR(6)))", 3),
        ("LEN(CAST('cat   ' AS VARCHAR(6)))", 6),
        ("LENGTH('français')", 8),
    ],
    "OCTET_LENGTH": [("OCTET_LENGTH('français')", 9)],
    "REPLACE": [
        ("REPLACE('Shows', 'Shows', 'Theatre')", "Theatre"),
        ("REPLACE('a-b-c', '-', '')", "abc"),
    ],
    "CONCAT": [
        ("CONCAT('December 25, ', '2008')", "December 25, 2008"),
        ("CONCAT('Thursday, ', CONCAT('December 25, ', '2008'))", "Thursday, December 25, 2008"),
        ("CONCAT('seats ', NULL)", None),
    ],
    "ROUND": [("ROUND(28.05)", 28), ("ROUND(28.05, 1)", Decimal("28.1")), ("ROUND(-2.5)", -3)],
    "ABS": [("ABS(-38)", 38), ("ABS(-38.25)", Decimal("38.25"))],
    "CEIL": [("CEIL(28.05)", 29), ("CEILING(-28.05)", -28)],
    "FLOOR": [("FLOOR(28.95)", 28), ("FLOOR(-28.05)", -29)],
    "TRUNC": [
        ("TRUNC(111.86)", 111),
        ("TRUNC(111.86, 1)", Decimal("111.8")),
        ("TRUNC(-111.86, 1)", Decimal("-111.8")),
    ],
    "DATE_TRUNC": [
        ("DATE_TRUNC('week', TIMESTAMP '2020-04-30 04:05:06.789')", datetime(2020, 4, 27)),
        ("DATE_TRUNC('month', TIMESTAMP '2024-05-17 10:00:00')", datetime(2024, 5, 1)),
        ("DATE_TRUNC('hour', TIMESTAMP '2020-04-30 04:05:06.789')", datetime(2020, 4, 30, 4)),
        # A date argument: PostgreSQL answers a timestamptz at local midnight; stored in the
        # column's declared type (as generated SQL does) it is Redshift's timestamp.
        ("CAST(DATE_TRUNC('month', DATE '2024-05-17') AS TIMESTAMP)", datetime(2024, 5, 1)),
    ],
    "DATEDIFF": [
        ("DATEDIFF(week, '2009-01-01', '2009-12-31')", 52),
        ("DATEDIFF(year, '2023-12-31', '2024-01-01')", 1),
    ],
    "DATEADD": [
        ("DATEADD(month, 18, '2008-02-28')", datetime(2009, 8, 28)),
        ("DATEADD(month, 12, '2008-02-29')", datetime(2009, 2, 28)),
        ("DATEADD(day, 30, DATE '2008-11-01')", datetime(2008, 12, 1)),
    ],
    "EXTRACT": [
        ("EXTRACT(minute FROM TIMESTAMP '2009-09-09 12:08:43')", 8),
        ("EXTRACT(ms FROM TIMESTAMP '2009-09-09 12:08:43.101')", 101),
        ("EXTRACT(second FROM TIMESTAMP '2009-09-09 12:08:43.101')", 43),
        ("EXTRACT(year FROM TIMESTAMP '2009-09-09 12:08:43')", 2009),
    ],
    "DATE_PART": [
        ("DATE_PART(minute, TIMESTAMP '2009-01-01 02:08:01')", 8),
        ("DATE_PART(dow, TIMESTAMP '2008-01-05 14:00:00')", 6),
        ("DATE_PART(w, TIMESTAMP '2008-01-05 14:00:00')", 1),
    ],
    "GREATEST": [("GREATEST(1, 2, NULL)", 2), ("GREATEST('Alana', 'Baker')", "Baker")],
    "LEAST": [("LEAST(3, 1, NULL)", 1), ("LEAST('Alana', 'Baker')", "Alana")],
}

CASES = [(name, sql, expected) for name, examples in EXAMPLES.items() for sql, expected in examples]


def test_every_function_has_documented_examples() -> None:
    assert set(EXAMPLES) == {f.name for f in FUNCTIONS}


@pytest.mark.parametrize(
    ("name", "redshift_sql", "expected"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES]
)
def test_postgres_rendering_matches_redshift_docs(
    pg_conn, name: str, redshift_sql: str, expected: object
) -> None:
    parse_scalar(redshift_sql)  # the example is itself a valid spec expression
    rendered = postgres.sql(
        sqlglot.parse_one(f"SELECT {redshift_sql}", read="redshift"), pretty=False
    )
    assert pg_conn.execute(rendered).fetchone()[0] == expected, rendered

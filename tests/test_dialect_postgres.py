"""The PostgreSQL rendering must compute what Redshift computes, executed for real."""

from __future__ import annotations

import pytest
import sqlglot

from cdcgen.render import postgres

# (unit, a, b, Redshift's DATEDIFF): it counts unit boundaries crossed, not elapsed time.
DATEDIFF_CASES = [
    ("hour", "2024-01-01 10:59", "2024-01-01 11:01", 1),
    ("hour", "2024-01-01 10:01", "2024-01-01 10:59", 0),
    ("hour", "2024-01-01 11:01", "2024-01-01 10:59", -1),
    ("minute", "2024-01-01 10:00:59", "2024-01-01 10:01:00", 1),
    ("second", "2024-01-01 10:00:00.9", "2024-01-01 10:00:01.1", 1),
    ("day", "2024-01-01 23:59", "2024-01-02 00:01", 1),
    ("day", "2024-01-01 00:00", "2024-01-01 23:59", 0),
    ("week", "2009-01-01", "2009-12-31", 52),
    ("month", "2024-01-31", "2024-02-01", 1),
    ("month", "2023-11-15", "2024-02-14", 3),
    ("quarter", "2024-03-31", "2024-04-01", 1),
    ("year", "2023-12-31", "2024-01-01", 1),
    ("year", "2024-01-01", "2024-12-31", 0),
    ("yrs", "2020-06-30", "2024-01-01", 4),
]


@pytest.mark.parametrize(("unit", "a", "b", "expected"), DATEDIFF_CASES)
def test_datediff_counts_boundaries_like_redshift(pg_conn, unit: str, a: str, b: str, expected: int) -> None:
    spec_sql = f"SELECT DATEDIFF({unit}, TIMESTAMP '{a}', TIMESTAMP '{b}')"
    rendered = postgres.sql(sqlglot.parse_one(spec_sql, read="redshift"))
    assert pg_conn.execute(rendered).fetchone()[0] == expected, rendered

"""The rule that applies a target column's declared type where its value is computed
(cdcgen/sql/declared.py), case by case; the property test
(tests/test_property_types.py) executes it."""

from __future__ import annotations

import pytest
import sqlglot

from cdcgen.sql.declared import needs_cast
from tests.pipeline_harness import REPO


def _e(text: str) -> sqlglot.exp.Expression:
    return sqlglot.parse_one(text, read="redshift")


@pytest.mark.parametrize(
    ("expr", "declared", "inferred", "cast"),
    [
        # numbers: computed values take the declared type (storing rounds)
        ("c.revenue / 1000000", "numeric(18,6)", "numeric(29,13)", True),
        ("c.rating * 20", "numeric(5,2)", "numeric(13,2)", True),
        ("c.amount * 3", "integer", "numeric(22,2)", True),
        # ...even when Redshift's inferred type equals the declared one: PostgreSQL's
        # numeric division keeps more digits
        ("c.amount / 3", "numeric(23,13)", "numeric(23,13)", True),
        ("EXTRACT(YEAR FROM c.day)", "integer", "integer", True),
        ("c.ratio", "real", "double precision", True),
        # a plain column or a CAST already of the declared type arrives as stored
        ("c.amount", "numeric(12,2)", "numeric(12,2)", False),
        ("CAST(c.at AS DATE)", "date", "date", False),
        ("c.big", "integer", "bigint", True),
        # dates and times
        ("c.at", "date", "timestamp", True),
        ("c.day", "timestamp", "date", True),
        # unknown type (why the spec declares one): cast numbers and times
        ("DATEADD(hour, 5, c.at)", "date", None, True),
        # across families: never (Redshift rejects the cast; inference may be wrong)
        ("CAST(c.a AS DATE) - CAST(c.b AS DATE)", "integer", "date", False),
        ("c.flag", "integer", "boolean", False),
        ("c.amount", "varchar(20)", "numeric(12,2)", False),
        # booleans: never
        ("c.x IS NULL", "boolean", "boolean", False),
        ("c.flag", "boolean", None, False),
        # text: never a cast that could truncate, none when storing keeps the value
        ("c.name || ' / ' || c.city", "varchar(300)", "varchar(358)", False),
        ("CASE WHEN c.x THEN 'a' END", "varchar(20)", "varchar(1)", False),
        ("COALESCE(c.code, 'Z')", "char(2)", "varchar(2)", True),
        ("COALESCE(c.code, 'Z')", "char(2)", "varchar(3)", False),
        ("c.code", "varchar(5)", "char(3)", True),
        ("c.code", "char(5)", "char(3)", True),
        ("UPPER(c.name)", "char(2)", None, False),
    ],
)
def test_needs_cast(expr: str, declared: str, inferred: str | None, cast: bool) -> None:
    assert needs_cast(_e(expr), declared, inferred) is cast


def test_vendor_definition_rounds_revenue_and_leaves_text_alone() -> None:
    text = (REPO / "generated/vendor/redshift/050_view__cdc.fact_vendor__full.sql").read_text()
    # rounded to the declared type; a value it cannot hold becomes NULL (and is dead-lettered)
    assert "ELSE CAST(companies.annual_revenue / 1000000 AS DECIMAL(18, 6))\n  END AS annual_revenue_musd" in text
    assert "ABS(companies.annual_revenue / 1000000) >= 999999999999.9999995" in text
    assert "companies.name || ' / ' || COALESCE(cities.name, '?') AS vendor_label" in text
    assert "AS VARCHAR" not in text.split("FROM", 1)[0]

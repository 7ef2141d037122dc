"""Typed staging is copied without the castability patterns; text keeps them.

Each run asks the catalog (once, for all changed sources) whether every cast-checked
staging column of a changed source has a type whose values' text always passes its pattern (sql/typed_staging.py), and
says in ``run_counts.path`` which staged copy it made: 'typed' or 'checked'. Executed on
PostgreSQL with the shipped vendor spec, whose staging DDL is typed."""

from __future__ import annotations

import pytest

from cdcgen.sql import typed_staging
from tests.pipeline_harness import Pipeline, ts, widen_staging
from tests.test_poison import dead_letters
from tests.test_scenarios_vendor import SPEC, city, company, vendor

__all__ = ["vendor"]  # the fixture, re-used


def staged_paths(p: Pipeline, run: int) -> dict[str, str | None]:
    rows = p.conn.execute(
        "SELECT object_name, path FROM cdc.run_counts"
        " WHERE run_id = %s AND object_kind = 'source' AND path IS NOT NULL"
        " ORDER BY object_name",
        [run],
    ).fetchall()
    return dict(rows)


def test_typed_staging_is_copied_without_the_patterns(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme Renamed", updated=ts(2)))
    run = vendor.run()
    assert staged_paths(vendor, run) == {"companies": "typed"}
    assert vendor.counts(run)["companies"] == (0, 1, 0)
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}


def test_one_text_column_keeps_the_patterns_for_the_whole_copy(vendor: Pipeline) -> None:
    widen_staging(vendor.conn, "companies", "onboarded_at", "varchar(100)", SPEC)
    vendor.stage("companies", company(100, "Acme", onboarded_at="2024-13-45", updated=ts(2)),
                 company(101, "Beta Good", category=2, onboarded_at="2024-02-29 10:00", updated=ts(2)))
    run = vendor.run()
    assert staged_paths(vendor, run) == {"companies": "checked"}
    assert dead_letters(vendor) == [
        ('value not castable to timestamp for companies.onboarded_at ("2024-13-45")', 100)]
    assert vendor.counts(run)["companies"] == (0, 1, 0)


def test_one_catalog_read_answers_each_changed_source_for_itself(vendor: Pipeline) -> None:
    """The run reads the catalog once for every changed source; a text column in one
    source's staging keeps the patterns for that source only."""
    widen_staging(vendor.conn, "companies", "onboarded_at", "varchar(100)", SPEC)
    vendor.stage("companies", company(101, "Beta Renamed", category=2, updated=ts(2)))
    vendor.stage("cities", city(10, "Paris-Centre", 1, updated=ts(2)))
    run = vendor.run()
    assert staged_paths(vendor, run) == {"cities": "typed", "companies": "checked"}
    assert vendor.counts(run)["companies"] == (0, 1, 0)
    assert vendor.counts(run)["cities"] == (0, 1, 0)
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}


@pytest.mark.parametrize(
    ("column", "staged_as", "path"),
    [
        # numeric(18,2) in the spec: 35 integer digits pass its pattern
        ("annual_revenue", "numeric(30,4)", "typed"),
        ("annual_revenue", "bigint", "typed"),
        ("annual_revenue", "numeric(38,0)", "checked"),  # 38 digits: the pattern decides
        ("annual_revenue", "numeric", "checked"),  # unconstrained: NaN, any length
        ("annual_revenue", "double precision", "checked"),  # 1e+20 is no plain number
        ("status", "integer", "typed"),  # smallint in the spec: the range test remains
        ("incorporation_date", "timestamp", "checked"),  # a date's pattern has no time
        ("onboarded_at", "date", "typed"),
    ],
)
def test_which_staging_types_skip_the_patterns(
    vendor: Pipeline, column: str, staged_as: str, path: str
) -> None:
    widen_staging(vendor.conn, "companies", column, staged_as, SPEC)
    vendor.stage("companies", company(100, "Acme Renamed", updated=ts(2)))
    run = vendor.run()
    assert staged_paths(vendor, run) == {"companies": path}
    assert vendor.counts(run)["companies"] == (0, 1, 0)
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}


def test_range_and_precision_are_still_tested_on_the_typed_copy(vendor: Pipeline) -> None:
    widen_staging(vendor.conn, "companies", "status", "integer", SPEC)
    vendor.stage("companies", company(100, "Acme", status=70000, updated=ts(2)),
                 company(101, "Beta Renamed", category=2, updated=ts(2)))
    run = vendor.run()
    assert staged_paths(vendor, run) == {"companies": "typed"}
    assert dead_letters(vendor) == [("value out of range for companies.status (smallint)", 100)]
    assert vendor.counts(run)["companies"] == (0, 1, 0)


def test_the_catalog_test_per_declared_type() -> None:
    def sql(type_: str) -> str:
        return typed_staging.accepts(type_).sql()

    assert sql("integer") == "data_type IN ('smallint', 'integer', 'bigint')"
    assert sql("timestamp") == "data_type IN ('date', 'timestamp without time zone')"
    assert sql("date") == "data_type IN ('date')"
    # DECIMAL(38,20): 17 integer digits pass the pattern, so BIGINT's 19 do not
    assert "'bigint'" not in sql("decimal(38,20)") and "'integer'" in sql("decimal(38,20)")
    assert "numeric_precision - numeric_scale <= 17" in sql("decimal(38,20)")

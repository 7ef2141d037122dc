"""The typed conformance pass (cdcgen/check/types.py): one violating and one passing
statement per rule, the typing of procedure variables and temporary tables, and the pass
over every generated Redshift output (0 findings, coverage above a floor)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from cdcgen.check.conformance import format_report
from cdcgen.check.types import (
    TYPE_RULES,
    TYPE_RULES_BY_ID,
    TypeReport,
    catalog_from_sql,
    check_types,
    check_types_directory,
    check_types_files,
)

REPO = Path(__file__).resolve().parent.parent

DDL = """
CREATE TABLE s.t (
  n INTEGER, big BIGINT, flag BOOLEAN, d DATE, ts TIMESTAMP, name VARCHAR(20),
  code CHAR(1), doc SUPER
);
"""
CATALOG = catalog_from_sql([DDL])


def proc(body: str, params: str = "", declare: str = "") -> str:
    return (
        f"CREATE OR REPLACE PROCEDURE s.p({params})\nAS $$\n"
        + (f"DECLARE\n  {declare}\n" if declare else "")
        + f"BEGIN\n  {body}\nEND;\n$$ LANGUAGE plpgsql;"
    )


def rules_hit(sql: str) -> list[str]:
    return [f.rule for f in check_types(sql, catalog=CATALOG).findings]


# (rule, violating statement, its passing counterpart)
CASES = [
    ("type-cast",
     "SELECT CAST(t.flag AS VARCHAR(5)) FROM s.t AS t",
     "SELECT CASE WHEN t.flag THEN 'true' WHEN NOT t.flag THEN 'false' END FROM s.t AS t"),
    ("type-cast",
     "SELECT CAST(t.d AS BOOLEAN) FROM s.t AS t",
     "SELECT CAST(t.d AS VARCHAR(10)) FROM s.t AS t"),
    ("type-super-through-varchar",
     'SELECT CAST(CAST(t.doc."k" AS VARCHAR(100)) AS BIGINT) FROM s.t AS t',
     'SELECT CAST(t.doc."k" AS BIGINT) FROM s.t AS t'),
    ("type-comparison",
     "SELECT 1 FROM s.t AS t WHERE t.d = t.n",
     "SELECT 1 FROM s.t AS t WHERE t.d = '2024-01-01' AND t.n = t.big"),
    ("type-comparison",
     "SELECT 1 FROM s.t AS t WHERE t.ts IN (t.n, t.big)",
     "SELECT 1 FROM s.t AS t WHERE t.ts IN (t.d, '2024-01-01')"),
    ("type-case-branches",
     "SELECT CASE WHEN t.n > 0 THEN t.d ELSE t.flag END FROM s.t AS t",
     "SELECT CASE WHEN t.n > 0 THEN t.n ELSE t.big END FROM s.t AS t"),
    ("type-coalesce",
     "SELECT COALESCE(t.flag, t.d) FROM s.t AS t",
     "SELECT COALESCE(t.n, t.big, 0) FROM s.t AS t"),
    ("type-union",
     "SELECT t.d FROM s.t AS t UNION ALL SELECT t.flag FROM s.t AS t",
     "SELECT t.n FROM s.t AS t UNION ALL SELECT t.big FROM s.t AS t"),
    ("type-assignment",
     "INSERT INTO s.t (name) SELECT u.flag FROM s.t AS u",
     "INSERT INTO s.t (name) SELECT CASE WHEN u.flag THEN 'true' ELSE 'false' END FROM s.t AS u"),
    ("type-assignment",
     "UPDATE s.t SET d = u.flag FROM s.t AS u WHERE t.n = u.n",
     "UPDATE s.t SET code = u.name FROM s.t AS u WHERE t.n = u.n"),
    ("type-assignment",
     "MERGE INTO s.t USING s.t AS u ON t.n = u.n WHEN MATCHED THEN UPDATE SET flag = u.d "
     "WHEN NOT MATCHED THEN INSERT (n) VALUES (u.n)",
     "MERGE INTO s.t USING s.t AS u ON t.n = u.n WHEN MATCHED THEN UPDATE SET flag = u.flag "
     "WHEN NOT MATCHED THEN INSERT (n) VALUES (u.n)"),
    ("type-function",
     "SELECT MD5(t.flag) FROM s.t AS t",
     "SELECT MD5(t.name || CAST(t.n AS VARCHAR(12))) FROM s.t AS t"),
    ("type-function",
     "SELECT DATEDIFF(fortnight, t.d, t.ts) FROM s.t AS t",
     "SELECT DATEDIFF(qtr, t.d, t.ts) FROM s.t AS t"),
    ("type-function",
     "SELECT DATEDIFF(day, t.n, t.ts) FROM s.t AS t",
     "SELECT DATEDIFF(day, '2024-01-01', t.ts) FROM s.t AS t"),
    ("type-object",
     "SELECT OBJECT('k', t.ts) FROM s.t AS t",
     "SELECT OBJECT('k', CAST(t.ts AS VARCHAR(32))) FROM s.t AS t"),
    ("type-object",
     "SELECT OBJECT(t.name, t.n) FROM s.t AS t",
     "SELECT OBJECT('name', t.n) FROM s.t AS t"),
    ("type-json-serialize-text",
     "SELECT JSON_SERIALIZE(OBJECT('a', t.n)) || JSON_SERIALIZE(OBJECT('b', t.big)) FROM s.t AS t",
     "SELECT JSON_SERIALIZE(OBJECT('a', t.n, 'b', t.big)) FROM s.t AS t"),
    # the shape cdcgen.render.redshift renders for rows wider than 50 columns
    ("type-json-serialize-text",
     "SELECT JSON_PARSE('{' || SUBSTRING(JSON_SERIALIZE(OBJECT('a', t.n)), 2, "
     "LEN(JSON_SERIALIZE(OBJECT('a', t.n))) - 2) || '}') FROM s.t AS t",
     "SELECT OBJECT('a', t.n, 'b', t.big) FROM s.t AS t"),
    ("type-json-serialize-text",
     "INSERT INTO s.t (name) SELECT JSON_SERIALIZE(u.doc) FROM s.t AS u",
     "INSERT INTO s.t (doc) SELECT u.doc FROM s.t AS u"),
    # types from procedure parameters, declared variables and temporary tables
    ("type-assignment",
     proc("INSERT INTO s.t (name) VALUES (p_flag);", params="p_flag BOOLEAN"),
     proc("INSERT INTO s.t (flag) VALUES (p_flag);", params="p_flag BOOLEAN")),
    ("type-cast",
     proc("v_flag := TRUE;\n  INSERT INTO s.t (name) VALUES (CAST(v_flag AS VARCHAR(5)));",
          declare="v_flag BOOLEAN;"),
     proc("v_flag := TRUE;\n  INSERT INTO s.t (flag) VALUES (v_flag);", declare="v_flag BOOLEAN;")),
    ("type-assignment",
     proc("CREATE TEMP TABLE tmp AS SELECT t.flag AS f FROM s.t AS t;\n"
          "  INSERT INTO s.t (d) SELECT tmp.f FROM tmp;"),
     proc("CREATE TEMP TABLE tmp AS SELECT t.flag AS f FROM s.t AS t;\n"
          "  INSERT INTO s.t (flag) SELECT tmp.f FROM tmp;")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_catches_its_violation_and_passes_its_counterpart(
    rule: str, bad: str, good: str
) -> None:
    assert rule in TYPE_RULES_BY_ID
    assert rule in rules_hit(bad), bad
    assert rules_hit(good) == [], good


@pytest.mark.parametrize("rule", sorted({c[0] for c in CASES}))
def test_without_the_rule_its_violations_pass(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    others = tuple(r for r in TYPE_RULES if r.id != rule)
    monkeypatch.setattr("cdcgen.check.types.TYPE_RULES", others)
    for case_rule, bad, _ in CASES:
        if case_rule == rule:
            assert rule not in rules_hit(bad)


def test_every_rule_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(TYPE_RULES_BY_ID)


def test_finding_names_rule_doc_page_and_line() -> None:
    sql = "SELECT 1;\nSELECT\n  CAST(t.flag AS VARCHAR(5))\nFROM s.t AS t;"
    (finding,) = check_types(sql, "x.sql", CATALOG).findings
    assert finding.line == 3
    assert "[c_Supported_data_types#r_Type_conversion]" in finding.message
    assert "BOOLEAN to VARCHAR" in finding.message


def test_date_minus_date_is_an_integer() -> None:
    assert rules_hit("SELECT 1 FROM s.t AS t WHERE t.d - t.d = t.n") == []


def test_untyped_expressions_are_not_findings_but_lower_coverage() -> None:
    report = check_types("SELECT CAST(x.y AS VARCHAR(5)) FROM unknown.tbl AS x", catalog=CATALOG)
    assert report.findings == [] and report.coverage < 1.0


# --------------------------------------------------------------------------- generated output

#: Share of value expressions the pass types on generated output (0.90 when written);
#: a drop below the floor means the catalog or the annotation broke, not that SQL improved.
COVERAGE_FLOOR = 0.85

GENERATED = sorted((REPO / "generated").glob("*/redshift"))
VALID_SPECS = sorted((REPO / "tests" / "specs" / "valid").glob("*.yml"))


def _assert_clean(report: TypeReport, what: str) -> None:
    by_rule = Counter(f.rule for f in report.findings)
    assert not report.findings, format_report(
        report.findings[:40], f"{what}: {len(report.findings)} typed finding(s) {dict(by_rule)}"
    )


@pytest.mark.skipif(not GENERATED, reason="no generated/*/redshift output yet")
@pytest.mark.parametrize("directory", GENERATED, ids=[d.parent.name for d in GENERATED])
def test_generated_redshift_is_well_typed(directory: Path) -> None:
    started = time.perf_counter()
    report = check_types_directory(directory)
    elapsed = time.perf_counter() - started
    assert report.coverage >= COVERAGE_FLOOR, f"typed {report.coverage:.1%} of {report.total}"
    assert elapsed < 300, f"typed pass took {elapsed:.0f}s"
    _assert_clean(report, str(directory))


@pytest.mark.parametrize("spec", VALID_SPECS, ids=[p.stem for p in VALID_SPECS])
def test_valid_specs_render_well_typed_redshift(spec: Path) -> None:
    from cdcgen.render.build import render_pipeline
    from cdcgen.validate import validate_file

    report = check_types_files(render_pipeline(validate_file(spec))["redshift"])
    assert report.coverage >= COVERAGE_FLOOR, f"typed {report.coverage:.1%} of {report.total}"
    _assert_clean(report, spec.name)


@pytest.mark.parametrize("name", ["orders", "vendor"])
def test_catalog_read_from_the_ddl_is_the_plan(name: str) -> None:
    """The typed pass reads column types from the rendered DDL; they must be the plan's
    (sources' staging and baseline tables, targets, state and tombstone tables)."""
    from sqlglot import exp

    from cdcgen.plan.model import build_plan
    from cdcgen.render.build import render_pipeline, spec_digest
    from cdcgen.sql import ddl
    from cdcgen.validate import validate_file

    vspec = validate_file(REPO / "mappings" / f"{name}.yml")
    plan = build_plan(vspec, spec_digest(vspec))
    catalog = catalog_from_sql(
        text for _, text in sorted(render_pipeline(vspec)["redshift"].items())
    )
    definitions = [
        *ddl.state_tables(plan), *ddl.tombstone_tables(plan), *ddl.staging_tables(plan),
        *ddl.baseline_tables(plan), *(ddl.target_table(t) for t in plan.targets),
    ]  # fmt: skip
    for d in definitions:
        columns = catalog.tables[f"{d.table.schema}.{d.table.name}".lower()]
        assert list(columns) == [c.name.lower() for c in d.columns], d.table
        for c in d.columns:
            planned = exp.DataType.build(c.type, dialect="redshift")
            assert columns[c.name.lower()].this == planned.this, (d.table, c.name)

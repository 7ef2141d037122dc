"""The statement splitter, the sqlglot and sqlfluff checks, and file/directory conformance
(cdcgen.check.conformance.py). Rule-by-rule tests live in test_redshift_rules.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdcgen.check.conformance import (
    ConformanceError,
    SplitError,
    SqlfluffOptions,
    Statement,
    assert_conformant,
    check_directory,
    check_file,
    check_sql,
    check_sqlfluff,
    check_sqlglot,
    format_report,
    iter_statements,
    pglast_body_statements,
    split_statements,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "redshift"
COMPANIES = FIXTURES / "conformant" / "companies.sql"


def one(sql: str) -> Statement:
    (stmt,) = split_statements(sql)
    return stmt


# --------------------------------------------------------------------------- splitter


def test_realistic_procedure_is_split_into_its_sql_statements() -> None:
    text = COMPANIES.read_text()
    top = split_statements(text, "companies.sql")
    assert [s.kind for s in top] == ["CREATE"] * 3 + ["ALTER", "CREATE", "CREATE"]
    proc = top[-1]
    body = [(s.kind, s.synthetic) for s in proc.body]
    assert body == [
        ("DECLARE", False), ("DECLARE", False), ("DECLARE", False), ("DECLARE", False),
        ("LOCK", False),
        ("SELECT", False),  # SELECT COUNT(*) INTO v_rows ...
        ("SELECT", True),  # IF v_rows = 0 THEN
        ("RAISE", False), ("RETURN", False),
        ("SELECT", True),  # ELSIF v_rows > 1000000 THEN
        ("RAISE", False),
        ("ASSIGN", False), ("SELECT", True),  # v_msg := 'batch ' || p_batch
        ("DROP", False), ("CREATE", False), ("MERGE", False), ("DELETE", False),
        ("GET", False),
        ("INSERT", False),  # OBJECT(...)
        ("INSERT", False),  # EXCEPTION WHEN OTHERS THEN INSERT ... SQLERRM
        ("RAISE", False),
    ]  # fmt: skip
    lines = text.splitlines()
    for stmt in proc.body:
        assert stmt.index == proc.index and stmt.in_procedure
        first_word = stmt.sql.removeprefix("SELECT ").split()[0]
        assert first_word in lines[stmt.line - 1], (stmt.line, stmt.sql)
    select_into = proc.body[5]
    assert "INTO" not in select_into.sql and "v_rows" not in select_into.sql
    assert " ".join(select_into.sql.split()) == "SELECT COUNT(*) FROM staging.companies_feed WHERE batch_id = p_batch"
    assert proc.body[3].sql.endswith("'it''s; not a statement end'")
    handler_insert = proc.body[19]
    assert "SQLERRM" in handler_insert.sql and not handler_insert.sql.startswith("EXCEPTION")


def test_splitter_agrees_with_postgres_plpgsql_parser() -> None:
    # pglast parses bodies with the PostgreSQL grammar: drop the Redshift-only DISTKEY.
    text = COMPANIES.read_text().replace(" DISTKEY (company_id)", "")
    proc = split_statements(text)[-1]
    ours = [
        (s.line - proc.line + 1, " ".join(s.sql.split()))
        for s in proc.body
        if s.is_sql and not s.synthetic
    ]
    assert ours == pglast_body_statements(proc.sql)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 'a;b' AS x; SELECT 2", ["SELECT 'a;b' AS x", "SELECT 2"]),
        ("SELECT 'it''s;' AS x;", ["SELECT 'it''s;' AS x"]),
        ("SELECT 'it\\'s;' AS x; SELECT 1", ["SELECT 'it\\'s;' AS x", "SELECT 1"]),
        ('SELECT 1 AS "a;""b"; SELECT 2;', ['SELECT 1 AS "a;""b"', "SELECT 2"]),
        ("SELECT 1 -- ; not here\n; SELECT 2", ["SELECT 1", "SELECT 2"]),  # trailing comment dropped
        ("SELECT /* ; /* nested ; */ ; */ 1;", ["SELECT /* ; /* nested ; */ ; */ 1"]),
        ("SELECT $1 + $2; SELECT 3", ["SELECT $1 + $2", "SELECT 3"]),
        (";; -- only a comment\n;SELECT 1", ["SELECT 1"]),
        ("SELECT 1\n", ["SELECT 1"]),
    ],
)
def test_top_level_split(sql: str, expected: list[str]) -> None:
    assert [s.sql for s in split_statements(sql)] == expected


def test_dollar_tags_and_lines() -> None:
    sql = "\n\nCREATE PROCEDURE p() AS $body$\nBEGIN\n  RAISE INFO 'a $$ b;';\nEND;\n$body$ LANGUAGE plpgsql;\nSELECT 1;"
    top = split_statements(sql)
    assert [s.line for s in top] == [3, 8]
    (raise_stmt,) = top[0].body
    assert raise_stmt.kind == "RAISE" and raise_stmt.line == 5


@pytest.mark.parametrize("sql", ["SELECT 'open", 'SELECT "open', "SELECT 1 /* open", "CREATE PROCEDURE p() AS $$ BEGIN"])
def test_unterminated_text_is_a_split_error(sql: str) -> None:
    with pytest.raises(SplitError):
        split_statements(sql)
    (finding,) = check_sql("SELECT 1;\n" + sql)
    assert finding.rule == "split" and finding.line == 2


def test_body_control_flow_is_stripped() -> None:
    sql = """CREATE OR REPLACE PROCEDURE cdc.sp_x() AS $$
DECLARE
    r RECORD;
BEGIN
    <<outer>>
    WHILE (SELECT COUNT(*) FROM cdc.q) > 0 LOOP
        DELETE FROM cdc.q WHERE id = (SELECT MIN(id) FROM cdc.q);
        EXIT WHEN NOT FOUND;
    END LOOP;
    FOR r IN SELECT id FROM cdc.t LOOP
        CALL cdc.sp_y(r.id);
    END LOOP;
    IF CASE WHEN 1 = 1 THEN TRUE ELSE FALSE END THEN
        DECLARE
            v INTEGER;
        BEGIN
            SELECT a, b INTO STRICT v, r.x FROM cdc.t;
            EXECUTE 'SELECT 1';
            PERFORM cdc.f();
        END;
    END IF;
    CASE
        WHEN 1 = 2 THEN COMMIT;
        ELSE ROLLBACK;
    END CASE;
EXCEPTION
    WHEN OTHERS THEN
        RAISE;
END outer;
$$ LANGUAGE plpgsql"""
    body = one(sql).body
    assert [(s.kind, s.sql.split()[:3]) for s in body] == [
        ("DECLARE", ["r", "RECORD"]),
        ("SELECT", ["SELECT", "(SELECT", "COUNT(*)"]),
        ("DELETE", ["DELETE", "FROM", "cdc.q"]),
        ("EXIT", ["EXIT", "WHEN", "NOT"]),
        ("SELECT", ["SELECT", "id", "FROM"]),
        ("CALL", ["CALL", "cdc.sp_y(r.id)"]),
        ("SELECT", ["SELECT", "CASE", "WHEN"]),
        ("DECLARE", ["v", "INTEGER"]),
        ("SELECT", ["SELECT", "a,", "b"]),
        ("EXECUTE", ["EXECUTE", "'SELECT", "1'"]),
        ("SELECT", ["SELECT", "cdc.f()"]),
        ("COMMIT", ["COMMIT"]),
        ("ROLLBACK", ["ROLLBACK"]),
        ("RAISE", ["RAISE"]),
    ]
    assert body[8].sql.split() == ["SELECT", "a,", "b", "FROM", "cdc.t"]
    assert not check_sql(sql.replace("FROM cdc.t;", "FROM cdc.t LIMIT 1;"))


def test_with_merge_keeps_its_into() -> None:
    body = one("CREATE PROCEDURE p() AS $$ BEGIN WITH s AS (SELECT 1 AS id) "
               "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE; END; $$ LANGUAGE plpgsql").body
    assert "MERGE INTO t" in body[0].sql


# --------------------------------------------------------------------------- sqlglot, sqlfluff


def test_sqlglot_check() -> None:
    assert check_sqlglot(one("LOCK cdc.companies")) == []  # Command, allow-listed
    assert check_sqlglot(one("CALL cdc.sp_x()")) == []
    (unknown,) = check_sqlglot(one("UNLOAD ('SELECT 1') TO 's3://b/p' IAM_ROLE default"))
    assert "opaque UNLOAD" in unknown.message
    (error,) = check_sqlglot(one("SELECT a,\nFROM WHERE ("))
    assert error.rule == "sqlglot" and error.line == 2


def test_sqlfluff_rejects_with_before_merge() -> None:
    stmt = one("WITH s AS (SELECT 1 AS id) MERGE INTO cdc.t USING s ON t.id = s.id "
               "WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)")
    (finding,) = check_sqlfluff(stmt)
    assert finding.rule == "sqlfluff"


def test_sqlfluff_accepts_is_distinct_from_so_our_rule_must_catch_it() -> None:
    # REDSHIFT.md says sqlfluff's Redshift grammar rejects IS DISTINCT FROM; sqlfluff 4.5
    # parses it (both IS and IS NOT). The own rule is the only guard.
    for sql in ("SELECT a FROM t WHERE a IS DISTINCT FROM b", "SELECT a FROM t WHERE a IS NOT DISTINCT FROM b"):
        assert check_sqlfluff(one(sql)) == []
        assert {f.rule for f in check_sql(sql)} == {"is-distinct-from"}


def test_sqlfluff_sees_a_procedure_body_as_a_string() -> None:
    garbage = "CREATE OR REPLACE PROCEDURE p() AS $$ BEGIN SELECT FROM FROM; END; $$ LANGUAGE plpgsql"
    top = one(garbage)
    assert check_sqlfluff(top) == [] and check_sqlglot(top) == []
    assert {f.rule for s in top.body for f in check_sqlfluff(s) + check_sqlglot(s)} == {"sqlfluff", "sqlglot"}


def test_sqlfluff_budget_and_disk_cache(tmp_path: Path) -> None:
    stmt = one("WITH s AS (SELECT 1 AS id) MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE")
    assert check_sqlfluff(stmt, max_chars=10) == []
    first = check_sqlfluff(stmt, cache_dir=tmp_path)
    assert first and len(list(tmp_path.iterdir())) == 1
    assert check_sqlfluff(stmt, cache_dir=tmp_path) == first


# --------------------------------------------------------------------------- files, directories


def test_conformant_fixture_passes_all_checks() -> None:
    assert check_file(COMPANIES) == []
    assert check_file(str(COMPANIES)) == []
    assert check_directory(FIXTURES / "conformant") == []
    assert_conformant(FIXTURES / "conformant")


def test_check_file_accepts_text() -> None:
    assert [f.rule for f in check_file("SELECT NOW()")] == ["leader-node-time"]


def test_broken_fixture_report_is_readable() -> None:
    with pytest.raises(ConformanceError) as caught:
        assert_conformant(FIXTURES / "broken")
    findings = {(f.rule, f.line) for f in caught.value.findings}
    assert {
        ("varchar-length", 6),
        ("truncate-in-procedure", 13),
        ("merge-with", 14),
        ("sqlfluff", 14),
        ("object-datetime-value", 19),
        ("type-object", 19),  # the typed pass sees the same TIMESTAMP value
        ("is-distinct-from", 20),
    } == findings
    report = str(caught.value)
    assert "orders.sql:20: [is-distinct-from]" in report
    assert "o.note IS DISTINCT FROM 'x'" in report  # the statement excerpt
    assert "body statement 3" in report


def test_empty_directory_is_not_conformant(tmp_path: Path) -> None:
    with pytest.raises(ConformanceError, match=r"no \.sql files"):
        assert_conformant(tmp_path)


# --------------------------------------------------------------------------- generated output

GENERATED = sorted((REPO / "generated").glob("*/redshift"))
GENERATED_FILES = sorted((REPO / "generated").glob("*/redshift/*.sql"))


def _sqlfluff_budget() -> int | None:
    """sqlfluff parses ~3-5k characters a second and generated procedures hold statements of
    40k characters, so a budget can be set for quick local runs
    (CDCGEN_SQLFLUFF_MAX_CHARS=2000: sqlglot and the own rules still check all).
    The default, and CI, check every statement."""
    value = os.environ.get("CDCGEN_SQLFLUFF_MAX_CHARS", "all")
    return None if value == "all" else int(value)


def test_every_pipeline_has_generated_redshift_output() -> None:
    pipelines = {p.stem for p in (REPO / "mappings").glob("*.yml")}
    assert {d.parent.name for d in GENERATED} == pipelines


# One test per file, so pytest-xdist spreads the slow sqlfluff parses over the cores.
@pytest.mark.skipif(not GENERATED_FILES, reason="no generated/*/redshift output yet")
@pytest.mark.parametrize(
    "path", GENERATED_FILES, ids=[f"{p.parent.parent.name}/{p.name}" for p in GENERATED_FILES]
)
def test_generated_redshift_is_conformant(path: Path, pytestconfig: pytest.Config) -> None:
    cache = pytestconfig.cache.mkdir("cdcgen-sqlfluff") if getattr(pytestconfig, "cache", None) else None
    findings = check_file(path, sqlfluff=SqlfluffOptions(max_chars=_sqlfluff_budget(), cache_dir=cache))
    assert not findings, format_report(findings, f"{path} breaks Redshift rules")


def test_iter_statements_flattens_bodies() -> None:
    top = split_statements(COMPANIES.read_text())
    flat = list(iter_statements(top))
    assert len(flat) == len(top) + len(top[-1].body)

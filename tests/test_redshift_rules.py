"""cdcgen's own Redshift rules (cdcgen.check.redshift_rules.py), as data.

Each case is a violating statement that the named rule must reject; each conforming twin
must pass all three checks (sqlglot, sqlfluff and every own rule), so the twins also guard
against false positives. Procedure-only rules wrap their SQL in a procedure body.
"""

from __future__ import annotations

import pytest

from cdcgen.check.conformance import check_sql, iter_statements, split_statements
from cdcgen.check.redshift_rules import RULES, RULES_BY_ID, check_redshift_rules
from cdcgen.check.reserved import AWS_RESERVED_WORDS, RESERVED_WORDS, is_reserved


def proc(*body: str) -> str:
    """A conformant procedure around ``body`` statements (each given without ';')."""
    lines = "\n".join(f"    {stmt};" for stmt in body)
    return (
        "CREATE OR REPLACE PROCEDURE cdc.sp_t(p_batch VARCHAR(64))\nAS $$\n"
        "DECLARE\n    v INTEGER := 0;\n    v_msg VARCHAR(256);\nBEGIN\n"
        f"{lines}\nEND;\n$$ LANGUAGE plpgsql"
    )


MERGE_OK = (
    "MERGE INTO cdc.t USING stage_t AS s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET a = s.a "
    "WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a)"
)

# (rule id, violating SQL)
BAD: list[tuple[str, str]] = [
    ("is-distinct-from", "SELECT a FROM cdc.t WHERE a IS DISTINCT FROM b"),
    ("is-distinct-from", "SELECT a FROM cdc.t WHERE a IS NOT DISTINCT FROM b"),
    ("is-distinct-from", proc("IF v IS DISTINCT FROM 0 THEN v := 1; END IF")),
    ("is-distinct-from", proc("v := CASE WHEN p_batch IS DISTINCT FROM 'x' THEN 1 ELSE 0 END")),
    ("merge-when-clauses", MERGE_OK.replace("WHEN NOT", "WHEN MATCHED THEN DELETE WHEN NOT")),
    ("merge-when-clauses", MERGE_OK + " WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)"),
    ("merge-conditional-when", MERGE_OK.replace("WHEN MATCHED THEN", "WHEN MATCHED AND s.op = 'U' THEN")),
    ("merge-conditional-when", MERGE_OK.replace("WHEN NOT MATCHED THEN", "WHEN NOT MATCHED AND s.op <> 'D' THEN")),
    ("merge-not-matched-by", MERGE_OK + " WHEN NOT MATCHED BY SOURCE THEN DELETE"),
    ("merge-target-alias", MERGE_OK.replace("cdc.t USING", "cdc.t AS tt USING").replace("t.id", "tt.id")),
    ("merge-target-alias", MERGE_OK.replace("cdc.t USING", "cdc.t tt USING")),
    ("merge-source-table", MERGE_OK.replace("stage_t AS s", "(SELECT * FROM stage_t) AS s")),
    ("merge-with", "WITH s AS (SELECT id, a FROM stage_t) " + MERGE_OK.replace("stage_t AS s", "s")),
    ("merge-set-unqualified", MERGE_OK.replace("SET a = s.a", "SET t.a = s.a")),
    ("on-conflict", "INSERT INTO cdc.t (id) SELECT id FROM cdc.s ON CONFLICT (id) DO NOTHING"),
    ("returning", "DELETE FROM cdc.t WHERE id = 1 RETURNING id"),
    ("sequence", "SELECT NEXTVAL('cdc.seq_t')"),
    ("sequence", "CREATE SEQUENCE cdc.seq_t"),
    ("create-index", "CREATE INDEX ix_t ON cdc.t (a)"),
    ("create-index", "CREATE UNIQUE INDEX ix_t ON cdc.t (a)"),
    ("trigger", "CREATE TRIGGER trg AFTER INSERT ON cdc.t FOR EACH ROW EXECUTE PROCEDURE cdc.f()"),
    ("values-as-table", "SELECT v.id FROM (VALUES (1, 'a'), (2, 'b')) AS v (id, name)"),
    ("values-as-table", "SELECT * FROM cdc.t JOIN (VALUES (1)) AS v (id) ON v.id = t.id"),
    ("savepoint", "SAVEPOINT sp1"),
    ("savepoint", "ROLLBACK TO SAVEPOINT sp1"),
    ("savepoint", proc("DELETE FROM cdc.t", "ROLLBACK TO sp1")),
    ("array-row-constructor", "SELECT ARRAY[1, 2] AS a"),
    ("array-row-constructor", "SELECT ARRAY(SELECT id FROM cdc.t) AS a"),
    ("array-row-constructor", "SELECT ROW(1, 2) AS r"),
    ("array-row-constructor", "CREATE TABLE cdc.t (ids INTEGER[])"),
    ("unsupported-type", "CREATE TABLE cdc.t (payload JSON)"),
    ("unsupported-type", "CREATE TABLE cdc.t (payload JSONB)"),
    ("unsupported-type", "CREATE TABLE cdc.t (id UUID)"),
    ("unsupported-type", "CREATE TABLE cdc.t (id SERIAL)"),
    ("unsupported-type", "CREATE TABLE cdc.t (id BIGSERIAL)"),
    ("unsupported-type", "CREATE TABLE cdc.t (d INTERVAL)"),
    ("unsupported-type", "ALTER TABLE cdc.t ADD COLUMN payload JSON"),
    ("unsupported-type", "SELECT x::json FROM cdc.t"),
    ("unsupported-type", "SELECT CAST(x AS JSONB) FROM cdc.t"),
    ("unsupported-type", proc("v_msg := CAST(p_batch AS UUID)")),
    ("generate-series", "SELECT n FROM GENERATE_SERIES(1, 10) AS n"),
    ("truncate-in-procedure", proc("TRUNCATE cdc.t")),
    ("truncate-in-procedure", proc("TRUNCATE TABLE cdc.t")),
    ("truncate-in-procedure", proc("EXECUTE 'TRUNCATE cdc.t'")),
    ("not-in-procedure", proc("VACUUM cdc.t")),
    ("not-in-procedure", proc("ALTER TABLE cdc.t ALTER COLUMN a TYPE VARCHAR(512)")),
    ("varchar-length", "CREATE TABLE cdc.t (a VARCHAR)"),
    ("varchar-length", "CREATE TABLE cdc.t (a CHARACTER VARYING, b INTEGER)"),
    ("varchar-length", "CREATE TABLE cdc.t (a TEXT)"),
    ("varchar-length", "ALTER TABLE cdc.t ADD COLUMN a VARCHAR"),
    ("varchar-length", "SELECT CAST(x AS VARCHAR) FROM cdc.t"),
    ("varchar-length", "SELECT x::varchar FROM cdc.t"),
    ("varchar-length", "SELECT x::CHARACTER VARYING FROM cdc.t"),
    ("varchar-length", "CREATE OR REPLACE PROCEDURE cdc.sp_t(p VARCHAR) AS $$ BEGIN NULL; END; $$ LANGUAGE plpgsql"),
    ("varchar-length", proc("NULL").replace("v_msg VARCHAR(256)", "v_msg VARCHAR")),
    ("object-datetime-value", "SELECT OBJECT('k', updated_at) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', t.created_at) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', order_date) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', shipped_on) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', GETDATE())"),
    ("object-datetime-value", "SELECT OBJECT('k', SYSDATE)"),
    ("object-datetime-value", "SELECT OBJECT('k', DATE_TRUNC('day', x)) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', x::DATE) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', CAST(x AS TIMESTAMP)) FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', DATE '2024-01-31')"),
    ("object-datetime-value", "SELECT OBJECT('a', 1, 'b', OBJECT('k', loaded_at)) FROM cdc.t"),
    ("object-arguments", "SELECT OBJECT(" + ", ".join(f"'k{i}', {i}" for i in range(51)) + ")"),
    ("object-arguments", "SELECT OBJECT('k')"),
    ("procedure-language", "CREATE OR REPLACE PROCEDURE cdc.sp_t() LANGUAGE plpgsql AS $$ BEGIN NULL; END; $$"),
    ("procedure-language", "CREATE OR REPLACE PROCEDURE cdc.sp_t() AS $$ BEGIN NULL; END; $$"),
    ("procedure-language", "CREATE OR REPLACE PROCEDURE cdc.sp_t() AS $$ BEGIN NULL; END; $$ LANGUAGE sql"),
    ("raise-format", proc("RAISE NOTICE 'rows: %', v + 1")),
    ("raise-format", proc("RAISE NOTICE 'batch %', UPPER(p_batch)")),
    ("raise-format", proc("RAISE NOTICE 'batch %', 'literal'")),
    ("raise-format", proc("RAISE NOTICE v_msg")),
    ("raise-format", proc("RAISE NOTICE 'a' || 'b'")),
    ("raise-format", proc("RAISE DEBUG 'x'")),
    ("raise-format", proc("RAISE 'no level'")),
    ("get-diagnostics", proc("GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT")),
    ("get-diagnostics", proc("GET DIAGNOSTICS v := PG_CONTEXT")),
    ("get-diagnostics", proc("GET CURRENT DIAGNOSTICS v := ROW_COUNT")),
    ("update-target-alias", "UPDATE cdc.t AS x SET a = 1 WHERE x.id = 1"),
    ("update-target-alias", "UPDATE cdc.t x SET a = 1 WHERE x.id = 1"),
    ("update-outer-join", "UPDATE cdc.t SET a = s.a FROM cdc.s LEFT JOIN cdc.u ON s.id = u.id WHERE t.id = s.id"),
    ("update-outer-join", "UPDATE cdc.t SET a = s.a FROM cdc.s FULL OUTER JOIN cdc.u ON s.id = u.id WHERE t.id = s.id"),
    ("alter-add-one-column", "ALTER TABLE cdc.t ADD COLUMN a INTEGER, ADD COLUMN b INTEGER"),
    ("alter-add-column-attributes", "ALTER TABLE cdc.t ADD COLUMN id BIGINT IDENTITY(1, 1)"),
    ("alter-add-column-attributes", "ALTER TABLE cdc.t ADD COLUMN k INTEGER DISTKEY"),
    ("leader-node-time", "SELECT CURRENT_TIMESTAMP"),
    ("leader-node-time", "SELECT NOW()"),
    ("leader-node-time", "INSERT INTO cdc.t (at) SELECT LOCALTIMESTAMP"),
    ("leader-node-time", proc("v_msg := CURRENT_TIMESTAMP::VARCHAR(32)")),
    ("backslash-quote", "SELECT 'it\\'s' AS s"),
    ("listagg-order", "SELECT LISTAGG(a, ',') AS l FROM cdc.t"),
    ("reserved-identifier", "SELECT t.order FROM cdc.t"),
    ("reserved-identifier", "SELECT open FROM cdc.t"),
    ("reserved-identifier", "SELECT a AS default FROM cdc.t"),
    ("reserved-identifier", "INSERT INTO cdc.t (tag, id) SELECT 1, 2"),
    ("reserved-identifier", "CREATE TABLE cdc.t (id INTEGER, timestamp TIMESTAMP)"),
    ("reserved-identifier", "SELECT x FROM cdc.t AS start"),
    ("reserved-identifier", proc("UPDATE cdc.t SET a = 1 WHERE t.user = p_batch")),
    ("view-no-schema-binding", "CREATE OR REPLACE VIEW cdc.v AS SELECT a FROM cdc.t"),
    ("view-qualified-tables", "CREATE OR REPLACE VIEW cdc.v AS SELECT a FROM t WITH NO SCHEMA BINDING"),
    ("view-qualified-tables", "CREATE VIEW cdc.v AS SELECT a FROM cdc.t JOIN u ON u.id = t.id WITH NO SCHEMA BINDING"),
    ("lock-form", "LOCK cdc.t NOWAIT"),
    ("lock-form", "LOCK TABLE cdc.t IN ACCESS EXCLUSIVE MODE"),
    ("lock-form", "SELECT PG_ADVISORY_LOCK(42)"),
]

# Conforming twins: each passes every check (sqlglot, sqlfluff, own rules).
GOOD: list[tuple[str, str]] = [
    ("is-distinct-from", "SELECT a FROM cdc.t WHERE (a = b OR (a IS NULL AND b IS NULL))"),
    ("is-distinct-from", "SELECT 'a IS DISTINCT FROM b' AS s -- IS DISTINCT FROM in a comment\nFROM cdc.t"),
    ("merge-when-clauses", MERGE_OK),
    ("merge-when-clauses", MERGE_OK.replace("UPDATE SET a = s.a", "DELETE")),
    ("merge-target-alias", "MERGE INTO cdc.t USING stage_t ON t.id = stage_t.id WHEN MATCHED THEN DELETE"
     " WHEN NOT MATCHED THEN INSERT (id) VALUES (stage_t.id)"),
    ("on-conflict", "INSERT INTO cdc.t (id) SELECT id FROM cdc.s"),
    ("sequence", "SELECT ROW_NUMBER() OVER (ORDER BY id) AS n FROM cdc.t"),
    ("values-as-table", "INSERT INTO cdc.t (id, a) VALUES (1, 'a'), (2, 'b')"),
    ("values-as-table", "SELECT v.id FROM (SELECT 1 AS id UNION ALL SELECT 2) AS v"),
    ("array-row-constructor", "SELECT ARRAY(1, 2) AS a, s.payload[0] AS first FROM cdc.s"),
    ("unsupported-type", "SELECT JSON_PARSE(x) AS payload FROM cdc.t WHERE d > SYSDATE - INTERVAL '1 day'"),
    ("unsupported-type", "CREATE TABLE cdc.t (payload SUPER, id BIGINT IDENTITY(1, 1))"),
    ("truncate-in-procedure", "TRUNCATE cdc.t"),
    ("truncate-in-procedure", proc("DELETE FROM cdc.t")),
    ("varchar-length", "CREATE TABLE cdc.t (a VARCHAR(32), b CHARACTER VARYING(10), c VARCHAR(MAX))"),
    ("varchar-length", "SELECT CAST(x AS VARCHAR(64)) AS a, x::VARCHAR(MAX) AS b FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', CAST(updated_at AS VARCHAR(32))) AS o FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('k', t.updated_at::VARCHAR(32), 'n', t.id) AS o FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('d', TO_CHAR(updated_at, 'YYYY-MM-DD')) AS o FROM cdc.t"),
    ("object-datetime-value", "SELECT OBJECT('updated_at', 1, 'c', candidate, 'u', last_update) AS o FROM cdc.t"),
    ("object-arguments", "SELECT OBJECT(" + ", ".join(f"'k{i}', {i}" for i in range(50)) + ") AS o"),
    ("procedure-language", proc("NULL")),
    ("raise-format", proc("RAISE NOTICE 'batch % rows %', p_batch, v", "RAISE INFO 'done'")),
    ("get-diagnostics", proc("DELETE FROM cdc.t WHERE id = 1", "GET DIAGNOSTICS v := ROW_COUNT")),
    ("raise-format", proc("DELETE FROM cdc.t").replace("END;\n$$", "EXCEPTION WHEN OTHERS THEN\n    RAISE;\nEND;\n$$")),
    ("update-target-alias", "UPDATE cdc.t SET a = s.a FROM cdc.s JOIN cdc.u ON s.id = u.id WHERE t.id = s.id"),
    ("alter-add-one-column", "ALTER TABLE cdc.t ADD COLUMN a INTEGER"),
    ("leader-node-time", "SELECT SYSDATE AS a, GETDATE() AS b, t.now FROM cdc.t"),
    ("backslash-quote", "SELECT 'it''s' AS s"),
    ("listagg-order", "SELECT LISTAGG(a, ',') WITHIN GROUP (ORDER BY a) AS l FROM cdc.t"),
    ("reserved-identifier", 'SELECT t."order", "open" AS "default" FROM cdc.t AS "start"'),
    ("reserved-identifier", 'CREATE TABLE cdc.t (id INTEGER, "timestamp" TIMESTAMP ENCODE az64) BACKUP NO'),
    ("view-qualified-tables", "CREATE OR REPLACE VIEW cdc.v AS WITH c AS (SELECT a FROM cdc.t) SELECT a FROM c"
     " WITH NO SCHEMA BINDING"),
    ("lock-form", "LOCK cdc.t"),
    ("lock-form", proc("LOCK cdc.t, cdc.u")),
]


def rules_fired(sql: str) -> set[str]:
    return {
        f.rule for stmt in iter_statements(split_statements(sql)) for f in check_redshift_rules(stmt)
    }


@pytest.mark.parametrize(("rule", "sql"), BAD, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD)])
def test_rule_rejects(rule: str, sql: str) -> None:
    assert rule in RULES_BY_ID
    assert rule in rules_fired(sql), f"{rule} did not fire on:\n{sql}"


@pytest.mark.parametrize(("rule", "sql"), GOOD, ids=[f"{r}-{i}" for i, (r, _) in enumerate(GOOD)])
def test_conforming_twin_passes_every_check(rule: str, sql: str) -> None:
    assert rule in RULES_BY_ID
    findings = check_sql(sql)
    assert not findings, "\n".join(str(f) for f in findings)


def test_every_rule_has_a_violating_case() -> None:
    assert {rule.id for rule in RULES} == {rule for rule, _ in BAD}


def test_every_rule_names_its_aws_page() -> None:
    for rule in RULES:
        assert rule.doc and " " not in rule.doc, rule.id


def test_finding_points_at_the_offending_line() -> None:
    sql = "SELECT a\nFROM cdc.t\nWHERE a IS DISTINCT FROM b"
    (finding,) = [f for f in check_sql(sql) if f.rule == "is-distinct-from"]
    assert finding.line == 3


def test_procedure_finding_line_is_the_file_line() -> None:
    sql = "-- header\n\n" + proc("DELETE FROM cdc.t", "TRUNCATE cdc.t")
    (finding,) = [f for f in check_sql(sql, "x.sql") if f.rule == "truncate-in-procedure"]
    assert finding.line == sql.splitlines().index("    TRUNCATE cdc.t;") + 1
    assert finding.statement.body_index is not None
    assert str(finding).startswith(f"x.sql:{finding.line}: [truncate-in-procedure]")


def test_reserved_words_are_the_union_of_aws_and_sqlglot() -> None:
    assert AWS_RESERVED_WORDS <= RESERVED_WORDS
    assert {"USER", "ORDER", "DEFAULT", "TIMESTAMP", "OPEN", "ENCRYPT", "TYPE"} <= RESERVED_WORDS
    assert len(AWS_RESERVED_WORDS) == 156
    assert is_reserved("order") and not is_reserved("orders")
    assert all(word == word.strip().upper() for word in RESERVED_WORDS)

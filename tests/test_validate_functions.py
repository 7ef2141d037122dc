"""Unit tests of the function table, argument and storage checks (validate/functions.py, types.py)."""

from __future__ import annotations

import pytest

from cdcgen.validate.expressions import ExprProblem, parse_scalar
from cdcgen.validate.functions import BY_SPELLING, FUNCTIONS, nearest
from cdcgen.validate.inference import call_problems, infer_type
from cdcgen.validate.types import cast_problem, storage_problem

TYPES = {
    "c": {
        "name": "varchar(100)",
        "code": "char(2)",
        "n": "integer",
        "amount": "numeric(12,2)",
        "at": "timestamp",
        "tz": "timestamptz",
        "day": "date",
        "flag": "boolean",
    }
}


def test_every_entry_names_its_aws_page_and_a_signature() -> None:
    for function in FUNCTIONS:
        assert function.doc.startswith("r_"), function.name
        assert function.signatures, function.name
        assert function.name == function.name.upper()


def test_spellings_are_unique() -> None:
    spellings = [s for f in FUNCTIONS for s in f.spellings]
    assert len(spellings) == len(set(spellings)) == len(BY_SPELLING)


@pytest.mark.parametrize(
    "text",
    [
        "NVL(c.name, '?')",
        "coalesce(c.name, upper(c.code))",
        "TRIM(BOTH 'x' FROM c.name)",
        "CAST(c.n AS varchar(20))",
        "c.n::numeric(12,2)",
        "EXTRACT(YEAR FROM c.at)",
        "DATE_PART('dow', c.at)",
        "DATEDIFF(day, c.at, c.day)",
        "CASE WHEN c.flag THEN 1 ELSE 0 END",
        "c.n IN (1, 2) AND NOT (c.n BETWEEN 3 AND 4) AND c.name LIKE 'a%'",
        "OCTET_LENGTH(c.name)",
    ],
)
def test_supported_calls_parse(text: str) -> None:
    parse_scalar(text)


@pytest.mark.parametrize(
    ("text", "named", "offset"),
    [
        ("now()", "NOW()", 0),
        ("c.n + pg_read_file('x')", "PG_READ_FILE()", 6),
        ("set_config('a', 'b', false)", "SET_CONFIG()", 0),
        ("SYSDATE", "SYSDATE is", 0),
        ("c.at < CURRENT_DATE", "CURRENT_DATE is", 7),
        ("uper(c.name)", "did you mean UPPER?", 0),
        ("GETDATE()", "GETDATE()", 0),
    ],
)
def test_other_functions_are_located_errors(text: str, named: str, offset: int) -> None:
    with pytest.raises(ExprProblem) as caught:
        parse_scalar(text)
    assert named in str(caught.value)
    assert caught.value.offset == offset


def test_nearest_names_a_supported_function() -> None:
    assert nearest("uppr") == "UPPER"
    assert nearest("datetrunc") == "DATE_TRUNC"
    assert nearest("pg_read_file") in BY_SPELLING


@pytest.mark.parametrize(
    ("text", "inferred"),
    [
        ("c.name || ' / ' || COALESCE(c.name, '?')", "varchar(203)"),
        ("CONCAT(c.name, c.code)", "varchar(102)"),
        ("UPPER(c.name)", "varchar(100)"),
        ("REPLACE(c.name, 'a', 'xyz')", "varchar(300)"),
        ("REPLACE(c.name, 'abc', 'x')", "varchar(100)"),
        ("LEFT(c.name, 5)", "varchar(5)"),
        ("ROUND(c.amount, 1)", "numeric(12,2)"),
        ("GREATEST(c.n, c.amount)", "numeric(12,2)"),
        ("DATE_TRUNC('month', c.day)", "timestamp"),
        ("DATE_TRUNC('month', c.tz)", "timestamptz"),
        ("DATEADD(day, 1, c.at)", "timestamp"),
        ("LEN(c.name)", "integer"),
        ("CAST(c.day AS DATE) - CAST(c.at AS DATE)", "integer"),
    ],
)
def test_result_types_follow_the_table(text: str, inferred: str) -> None:
    assert infer_type(parse_scalar(text), TYPES) == inferred


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("UPPER(c.n)", "UPPER expects a string, got integer"),
        ("ROUND(c.name)", "ROUND expects a number"),
        ("TRUNC(c.at)", "CAST(... AS DATE)"),
        ("DATE_TRUNC('day', c.name)", "DATE_TRUNC expects a date or timestamp"),
        ("DATEADD(day, c.name, c.at)", "DATEADD expects a number"),
        ("CAST(c.flag AS varchar(5))", "cannot cast boolean"),
        ("CAST(c.at AS numeric(18,0))", "cannot cast timestamp"),
    ],
)
def test_bad_arguments_are_reported(text: str, fragment: str) -> None:
    problems = call_problems(parse_scalar(text), TYPES)
    assert any(fragment in message for _, message in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "UPPER(c.code)",
        "ROUND(c.n)",
        "DATE_TRUNC('day', c.day)",
        "CAST(c.n AS varchar(11))",
        "LEN(NULL)",
    ],
)
def test_good_arguments_pass(text: str) -> None:
    assert call_problems(parse_scalar(text), TYPES) == []


@pytest.mark.parametrize(
    ("value", "column", "fragment"),
    [
        ("varchar(408)", "varchar(300)", "can reach 408"),
        ("varchar(10)", "integer", "cannot be stored in integer"),
        ("boolean", "varchar(5)", "no boolean to text"),
        ("timestamp", "numeric(18,0)", "cannot cast it either"),
        ("bigint", "varchar(10)", "can reach 20"),
        ("date", "boolean", "cannot be stored"),
    ],
)
def test_unstorable_values(value: str, column: str, fragment: str) -> None:
    problem = storage_problem(value, column)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("value", "column"),
    [
        ("varchar(300)", "varchar(300)"),
        ("char(2)", "varchar(2)"),
        ("integer", "numeric(12,2)"),
        ("integer", "varchar(11)"),
        ("date", "timestamp"),
        ("timestamp", "varchar(26)"),
        ("varchar(10)", "super"),
        ("unresolved", "integer"),
    ],
)
def test_storable_values(value: str, column: str) -> None:
    assert storage_problem(value, column) is None


def test_casts_redshift_refuses() -> None:
    assert cast_problem("boolean", "varchar(5)") is not None
    assert cast_problem("integer", "varchar(5)") is None
    assert cast_problem("varchar(10)", "integer") is None  # runs; fails per value, not per plan

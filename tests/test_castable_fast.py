"""The castability test of a number column (:func:`cdcgen.sql.fits.castable`) takes a
cheap pattern for short texts; it must accept exactly what the documented bounded
pattern (:func:`cdcgen.sql.fits.number_pattern`) accepts, on real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from cdcgen.render import postgres
from cdcgen.sql import fits
from cdcgen.sql.fits import castable, number_pattern, typed_misfit

TYPES = ["smallint", "integer", "bigint", "numeric(18,2)", "numeric(14,2)", "numeric(38,30)",
         "numeric(38,37)", "decimal(38,0)"]

EDGES = [
    "", "-", ".", "-.", "0", "-0", "00", "1.", ".5", "-.5", "1.5", "-1.5", "1..5", "1.5.", "--1",
    "1-", " 1", "1 ", "1\n", "+1", "1e5", "12 people", "٣", "0" * 40, "0" * 60 + "1",
    "1" * 7, "1" * 8, "1" * 35, "1" * 36, "1" * 37, "1" * 38, "-" + "1" * 37, "-" + "1" * 36,
    "1." + "2" * 38, "1." + "2" * 39, "0" * 30 + "1" * 37, "1" * 35 + ".5", "1" * 36 + ".5",
    "1" * 37 + ".5", "1" * 38 + ".5", "-" + "1" * 35 + ".25", "9" * 7 + "." + "9" * 30,
    "0.0000001", "0" * 3 + "." + "0" * 3,
]


def _both(conn: psycopg.Connection, type_: str, texts: list[str]) -> list[tuple[str, bool, bool]]:
    value = exp.column("v", "t")
    fast = postgres.DIALECT().generate(castable(value, type_))
    bounded = f"COALESCE(CAST(t.v AS VARCHAR(65535)) ~ '{number_pattern(type_)}', TRUE)"
    rows = conn.execute(
        f"SELECT t.v, {fast}, {bounded} FROM unnest(%s::text[]) AS t(v)", [texts]
    ).fetchall()
    return [(v, a, b) for v, a, b in rows]


@pytest.mark.parametrize("type_", TYPES)
def test_fast_number_test_matches_the_bounded_pattern(pg_conn: psycopg.Connection, type_: str) -> None:
    rows = _both(pg_conn, type_, [*EDGES, None])  # type: ignore[list-item]
    assert [(v, a) for v, a, b in rows if a != b] == []
    # the edges exercise both answers
    assert {a for _, a, _ in rows} == {True, False}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet="0123456789-. x", max_size=45), min_size=1, max_size=60))
def test_fast_number_test_matches_on_random_texts(pg_conn: psycopg.Connection, texts: list[str]) -> None:
    for type_ in ("bigint", "numeric(18,2)", "numeric(38,30)"):
        rows = _both(pg_conn, type_, texts)
        assert [(v, a) for v, a, b in rows if a != b] == []


RANGE_EDGES = [
    "9999", "-9999", "32767", "32767.4", "32767.5", "-32768", "-32768.5", "99999", "0" * 9 + "1",
    "999999999", "2147483647", "2147483647.5", "-2147483648.5", "9" * 18, "9" * 19,
    "9223372036854775807", "9223372036854775807.5", "-9223372036854775808.5", "999", "999.99",
    "999.995", "-999.995", "9.99", "99.5", "9.5", "1000", "0999.994", "1.5", "-1", "x", "1e9",
]


def _misfit_both(conn: psycopg.Connection, type_: str, texts: list[str]) -> list[tuple[str, bool, bool]]:
    value = exp.column("v", "t")
    test = typed_misfit(value, type_, "t.v")
    assert test is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fits, "_unless_short", lambda _value, _type, condition: condition)
        reference = typed_misfit(value, type_, "t.v")
    assert reference is not None and reference[0] != test[0]
    generate = postgres.DIALECT().generate
    rows = conn.execute(
        f"SELECT t.v, {generate(test[0])}, {generate(reference[0])} FROM unnest(%s::text[]) AS t(v)",
        [texts],
    ).fetchall()
    return [(v, a, b) for v, a, b in rows]


@pytest.mark.parametrize("type_", ["smallint", "integer", "bigint", "numeric(5,2)", "numeric(3,0)", "numeric(18,2)"])
def test_short_text_shortcut_keeps_every_range_verdict(pg_conn: psycopg.Connection, type_: str) -> None:
    """A text no longer than the type's safe length skips the range test: it must be
    exactly the texts the range test would pass."""
    rows = _misfit_both(pg_conn, type_, [*RANGE_EDGES, None])  # type: ignore[list-item]
    assert [(v, a, b) for v, a, b in rows if a != b] == []
    assert {a for _, a, _ in rows} == {True, False}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(alphabet="0123456789-.9", max_size=22), min_size=1, max_size=60))
def test_short_text_shortcut_on_random_texts(pg_conn: psycopg.Connection, texts: list[str]) -> None:
    for type_ in ("smallint", "integer", "bigint", "numeric(5,2)", "numeric(4,0)"):
        rows = _misfit_both(pg_conn, type_, texts)
        assert [(v, a, b) for v, a, b in rows if a != b] == []

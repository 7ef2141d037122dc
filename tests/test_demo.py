"""cdcgen demo: the sample data is consistent and deterministic, and the whole demo runs
end to end through the CLI — on the session's server (--dsn) and on its own embedded one."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.demo.data import (
    CLIENT_ID,
    ColumnType,
    World,
    company_count,
    generate_world,
)
from cdcgen.demo.mutations import APPEND_SOURCES, SNAPSHOT_SOURCES, initial_staging, mutate
from cdcgen.demo.staging import staging_types
from cdcgen.deploy.manifest import load_manifest
from tests.pipeline_harness import REPO

BUILD = REPO / "generated" / "vendor" / "postgres"
TINY = "0.05"  # 15 companies: the whole demo in seconds


@pytest.fixture(scope="module")
def types() -> dict[str, dict[str, str]]:
    return staging_types(load_manifest(BUILD))


def world(types: dict[str, dict[str, str]], seed: int = 1, scale: float = 0.2) -> World:
    return generate_world(types, scale=scale, rng=random.Random(seed))


# --------------------------------------------------------------------------- the data


def test_every_row_has_exactly_the_staging_columns_within_their_widths(types) -> None:
    w = world(types)
    assert set(w.rows) == set(types)
    for source, rows in w.rows.items():
        kinds = {c: ColumnType.parse(t) for c, t in types[source].items()}
        for row in rows.values():
            assert list(row) == list(types[source])
            for column, value in row.items():
                kind = kinds[column]
                if isinstance(value, str) and kind.length:
                    assert len(value) <= kind.length, (source, column, value)


def test_foreign_keys_follow_the_specs_joins(types) -> None:
    w = world(types)
    cities, countries = w.table("cities"), w.table("countries")
    users, companies = w.table("users"), w.table("companies")
    categories = w.table("product_categories")
    assert all(c["country_id"] in countries for c in cities.values())
    for company in companies.values():
        assert company["city_id"] in cities
        assert company["primary_contact_id"] in users
        assert users[company["primary_contact_id"]]["company_id"] == company["id"]
        assert company["created_by"] in users
        assert company["primary_category_id"] in categories
        assert company["parent_company_id"] in (None, *companies)
    for mapping in w.table("buyer_seller_company_mappings").values():
        assert mapping["client_company_id"] in companies
        assert mapping["dealing_with_company_id"] in companies
        assert mapping["invited_by"] in (None, *users)
    for member in w.table("team_members").values():
        assert member["team_id"] in w.table("teams") and member["user_id"] in users


def test_a_good_share_of_companies_qualify_as_vendors(types) -> None:
    w = world(types, scale=1)
    suppliers = [c for c in w.alive("companies") if c["id"] != CLIENT_ID]
    share = sum(w.is_vendor(c) for c in suppliers) / len(suppliers)
    assert 0.2 < share < 0.7
    assert len(suppliers) >= company_count(1)


def test_the_same_seed_gives_the_same_data_and_changes(types) -> None:
    def story(seed: int) -> tuple[object, ...]:
        rng = random.Random(seed)
        w = generate_world(types, scale=0.1, rng=rng)
        cycles = [mutate(w, rng, n) for n in range(1, 6)]
        return (w.rows, [c.mutations for c in cycles], [c.staging().rows for c in cycles])

    assert story(7) == story(7)
    assert story(7) != story(8)


def test_cycles_stage_what_each_source_mode_expects(types) -> None:
    rng = random.Random(3)
    w = generate_world(types, scale=0.2, rng=rng)
    assert initial_staging(w).total == sum(w.counts().values())
    loaded_before = {m["_loaded_at"] for s in APPEND_SOURCES for m in w.table(s).values()}
    staged = [mutate(w, rng, n).staging() for n in range(1, 5)]
    for cycle in staged:
        assert not set(APPEND_SOURCES) & set(cycle.cleared)  # append feeds accumulate
        for source in SNAPSHOT_SOURCES:  # the full (current) table every cycle
            assert cycle.rows[source] and set(cycle.cleared) >= {source}
        for source in APPEND_SOURCES:
            assert all(r["_loaded_at"] > max(loaded_before) for r in cycle.rows[source])
    companies = staged[2].rows["companies"]
    assert any(r["id"] is None for r in companies)  # NULL key -> dead letter
    assert any(r["status"] == 9 for r in companies)  # fails check valid_status
    assert max(Counter(r["id"] for r in companies if r["id"]).values()) == 2  # two versions
    assert len(staged[2].rows["product_categories"]) == len(w.table("product_categories"))


# --------------------------------------------------------------------------- end to end


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["demo", *args], catch_exceptions=False)
    return result.exit_code, result.output


def facts_equal_their_definition(dsn: str) -> dict[str, int]:
    """Independently of the verify procedure: rows of each fact not in its __full view
    and the other way round."""
    manifest = load_manifest(BUILD)
    differences = {}
    with psycopg.connect(dsn) as conn:
        for target in manifest.targets:
            if target.kind != "fact":
                continue
            view = f"{manifest.cdc_schema}.{target.name}__full"
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema || '.' || table_name = %s ORDER BY ordinal_position",
                    [view],
                )
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            (count,) = conn.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {listed} FROM {target.table} "
                f"EXCEPT SELECT {listed} FROM {view}) a) + (SELECT count(*) FROM "
                f"(SELECT {listed} FROM {view} EXCEPT SELECT {listed} FROM {target.table}) b)"
            ).fetchone()
            differences[target.name] = count
    return differences


def test_demo_on_a_given_server(pg_dsn: str) -> None:
    code, output = invoke("--dsn", pg_dsn, "--scale", TINY, "--cycles", "4", "--seed", "5")
    assert code == 0, output
    text = " ".join(output.split())  # rich wraps at 80 columns
    for title in ("bootstrap", "cycle 1", "cycle 2", "cycle 3", "cycle 4"):
        assert f" {title} " in f" {output} ", title
    assert text.count("verify: 0 differences") == 5
    assert len(re.findall(r"Run \d+ succeeded", text)) == 5
    assert "new updated deleted stale dead-letter rows" in text  # the counts table
    assert "fact_vendor" in text and "companies" in text
    assert " → " in text  # before → after of fact changes
    assert "renamed" in text and "dead letter" in text and "soft-deleted" in text
    assert "every run verified with 0 differences" in text
    assert "PostgreSQL stopped" not in text  # not our server: left alone

    assert facts_equal_their_definition(pg_dsn) == {
        "fact_vendor": 0,
        "fact_company_profile": 0,
        "fact_geography": 0,
        "fact_relationship": 0,
    }
    with psycopg.connect(pg_dsn) as conn:
        (dead,) = conn.execute("SELECT count(*) FROM cdc.dead_letter").fetchone()
        (runs,) = conn.execute("SELECT count(*) FROM cdc.run_log WHERE kind = 'run'").fetchone()
    assert dead == 2 and runs == 5

    # a second demo into the same database is refused; --reset starts over
    code, output = invoke("--dsn", pg_dsn, "--scale", TINY, "--cycles", "0")
    assert code == 2 and "already holds rows" in " ".join(output.split())
    code, output = invoke("--dsn", pg_dsn, "--scale", TINY, "--cycles", "1", "--reset")
    assert code == 0, output


def test_dsn_excludes_the_embedded_server_options(tmp_path: Path) -> None:
    code, output = invoke("--dsn", "postgresql://x@/y", "--keep")
    assert code == 2 and "--data-dir and --keep" in output


def test_default_demo_starts_and_stops_its_own_server() -> None:
    """The out-of-the-box experience; must stay well under a minute (it runs in CI)."""
    pytest.importorskip("pgserver")
    started = time.perf_counter()
    code, output = invoke("--scale", TINY, "--cycles", "1")
    elapsed = time.perf_counter() - started
    assert code == 0, output
    text = " ".join(output.split())
    data_dir = Path(re.search(r"PostgreSQL started \(pgserver\) in (\S+)", text).group(1))
    assert "PostgreSQL stopped" in text
    assert not data_dir.exists()  # a temporary data directory is removed with the server
    assert elapsed < 60, f"the default demo took {elapsed:.0f}s"


def test_kept_server_keeps_running_until_stopped(tmp_path: Path) -> None:
    pytest.importorskip("pgserver")
    from cdcgen.demo.server import start_server

    server = start_server(tmp_path / "pg", keep=True)
    try:
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert "pg_ctl" in server.stop_hint and str(server.data_dir) in server.stop_hint
    finally:
        server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=3)
    assert server.data_dir.exists()  # a directory the user named is never removed


def test_without_pgserver_a_postgres_on_path_is_used(monkeypatch) -> None:
    import shutil
    import sys

    from cdcgen.demo.server import start_server

    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("no initdb/pg_ctl on PATH")
    monkeypatch.setitem(sys.modules, "pgserver", None)  # import pgserver -> ImportError
    server = start_server()
    try:
        assert server.backend.endswith("pg_ctl")
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not server.data_dir.exists()

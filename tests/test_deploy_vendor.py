"""Deploy and operate the REAL generated vendor pipeline (``cdcgen build
mappings/vendor.yml``, postgres rendering) on a real PostgreSQL, through the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app

REPO = Path(__file__).resolve().parent.parent
build_module = pytest.importorskip("cdcgen.render.build")


def build(spec: Path, out: Path) -> Path:
    build_module.build([spec], out)
    return out / "vendor" / "postgres"


@pytest.fixture(scope="module")
def vendor_build(tmp_path_factory) -> Path:
    return build(REPO / "mappings" / "vendor.yml", tmp_path_factory.mktemp("generated"))


@pytest.fixture
def cdcgen(pg_dsn, secret_password):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--dsn", pg_dsn], catch_exceptions=False)
        assert secret_password not in result.output
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def sql(dsn: str, statement: str, *params):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else None


def stage_geography(dsn: str) -> None:
    """A full snapshot of two countries and three cities (countries use snapshot deletes)."""
    sql(
        dsn,
        "INSERT INTO staging.countries (id, name, iso2, updated_at) VALUES "
        "(1, 'France', 'FR', '2024-01-01'), (2, 'Japan', 'JP', '2024-01-01')",
    )
    sql(
        dsn,
        "INSERT INTO staging.cities (id, country_id, name, created_at, updated_at) VALUES "
        "(10, 1, 'Paris', '2024-01-01', '2024-01-01'), (11, 1, 'Lyon', '2024-01-01', '2024-01-01'), "
        "(20, 2, 'Osaka', '2024-01-01', '2024-01-01')",
    )


def test_deploy_bootstrap_run_status_verify_rebuild(cdcgen, pg_dsn, vendor_build):
    deployed = cdcgen("deploy", "--with-staging", str(vendor_build))
    assert "deployed: deployment 1 of vendor" in deployed
    assert "Nothing to do" in cdcgen("deploy", "--with-staging", str(vendor_build))

    stage_geography(pg_dsn)
    boot = cdcgen("bootstrap", str(vendor_build))
    assert "run 1 succeeded" in boot and "rebuilt:" not in boot  # empty targets: loaded by the run
    assert sql(
        pg_dsn, "SELECT city_id, city_label FROM staging_public.fact_geography ORDER BY 1"
    ) == [
        (10, "Paris, FR"),
        (11, "Lyon, FR"),
        (20, "Osaka, JP"),
    ]

    # Lyon moves to Japan: a re-pointed lookup; the fact row must follow.
    sql(pg_dsn, "UPDATE staging.cities SET country_id = 2, updated_at = '2024-02-01' WHERE id = 11")
    ran = json.loads(cdcgen("run", "--json", str(vendor_build)))
    counts = {(c["object_kind"], c["object_name"]): c for c in ran["counts"]}
    assert ran["run"]["status"] == "succeeded"
    assert counts[("source", "cities")]["updated"] == 1
    assert counts[("fact", "fact_geography")]["updated"] == 1
    assert sql(
        pg_dsn, "SELECT city_label FROM staging_public.fact_geography WHERE city_id = 11"
    ) == [("Lyon, JP",)]

    # the staged data is from 2024: far past error_after, so status reports it and exits 1
    failed = json.loads(cdcgen("status", "--json", str(vendor_build), code=1))
    assert failed["error"].startswith("vendor is past its freshness error_after for cities, countries")
    status = failed["status"]
    assert status["last_deployment"]["deployment_id"] == 1
    assert status["runs"][0]["status"] == "succeeded" and status["failures"] == []
    assert {f["source"] for f in status["freshness"]} >= {"cities", "countries", "companies"}
    shown = cdcgen("status", str(vendor_build), code=1)
    assert "recent runs:" in shown and "statements" in shown  # statements per run
    assert re.search(r"cities +\S+ \S+ +\d+ d( \d+ h)? +error", shown), shown  # human lag
    cities = next(f for f in status["freshness"] if f["source"] == "cities")
    assert isinstance(cities["lag_seconds"], int) and cities["lag_seconds"] > 86400  # seconds

    # text: only the count rows that changed something, then how many had none
    sql(pg_dsn, "UPDATE staging.cities SET name = 'Lyon 2', updated_at = '2024-03-01' WHERE id = 11")
    ran_text = cdcgen("run", str(vendor_build))
    assert re.search(r"source +cities +0 +1 +0 +0 +0", ran_text), ran_text
    assert re.search(r"fact +fact_geography +0 +1 ", ran_text), ran_text
    assert "companies" not in ran_text and "fact_vendor" not in ran_text
    assert re.search(r"\n  \d+ unchanged\n$", ran_text), ran_text

    assert "fact_geography: ok" in cdcgen("verify", str(vendor_build))
    sql(pg_dsn, "DELETE FROM staging_public.fact_geography WHERE city_id = 20")
    assert "fact_geography: DIFFERS (missing 1" in cdcgen("verify", str(vendor_build), code=1)
    rebuilt = cdcgen("rebuild", str(vendor_build), "fact_geography")
    assert rebuilt.startswith("rebuilt: fact_geography\nrebuild ") and " succeeded in " in rebuilt
    assert re.search(r"fact +fact_geography +1 +0 +0 ", rebuilt), rebuilt  # the row put back
    rebuilt_json = json.loads(cdcgen("rebuild", "--json", str(vendor_build), "fact_geography"))
    assert rebuilt_json["rebuilt"] == "fact_geography"
    assert rebuilt_json["run"]["kind"] == "rebuild" and rebuilt_json["run"]["status"] == "succeeded"
    assert [c["object_name"] for c in rebuilt_json["counts"]] == ["fact_geography"]
    assert "fact_geography: ok" in cdcgen("verify", str(vendor_build))


def test_plan_reports_drift_of_generated_view_and_procedure(cdcgen, pg_dsn, vendor_build):
    missing_staging = cdcgen("deploy", str(vendor_build), code=2)
    assert "Nothing was applied. Views over staging need the staging tables" in missing_staging
    cdcgen("deploy", "--with-staging", str(vendor_build))
    definition = sql(pg_dsn, "SELECT pg_get_viewdef('cdc.vendor_status'::regclass)")[0][0]
    sql(
        pg_dsn,
        f"CREATE OR REPLACE VIEW cdc.vendor_status AS {definition.rstrip().rstrip(';')} LIMIT 5",
    )
    sql(
        pg_dsn,
        "CREATE OR REPLACE PROCEDURE cdc.sp_vendor_verify() LANGUAGE plpgsql AS $$ BEGIN END $$",
    )

    plan = json.loads(cdcgen("deploy", "--plan", "--json", "--with-staging", str(vendor_build)))
    assert sorted(s["object"] for s in plan["steps"] if s["drift"]) == [
        "cdc.sp_vendor_verify",
        "cdc.vendor_status",
    ]
    text = cdcgen("deploy", "--plan", "--with-staging", str(vendor_build))
    assert "~ drift     procedure cdc.sp_vendor_verify" in text
    assert "Plan: 2 to replace, 2 drifted." in text

    cdcgen("deploy", "--with-staging", str(vendor_build))  # restores the built versions
    assert "Nothing to do" in cdcgen("deploy", "--plan", "--with-staging", str(vendor_build))


def test_new_fact_column_is_migrated_and_backfilled(cdcgen, pg_dsn, vendor_build, tmp_path):
    cdcgen("deploy", "--with-staging", str(vendor_build))
    stage_geography(pg_dsn)
    cdcgen("bootstrap", str(vendor_build))

    spec = tmp_path / "vendor.yml"
    shutil.copy(REPO / "mappings" / "vendor.yml", spec)
    text = spec.read_text()
    mapped = "      city_name: cities.name\n"
    at = text.index(mapped, text.index("  fact_geography:")) + len(mapped)
    spec.write_text(text[:at] + "      city_ascii_name: cities.ascii_name\n" + text[at:])
    sql(pg_dsn, "UPDATE public.cities SET ascii_name = upper(name)")
    new_build = build(spec, tmp_path / "generated")

    plan = cdcgen("deploy", "--plan", "--with-staging", str(new_build))
    assert "> migrate   target table staging_public.fact_geography" in plan
    assert "add column city_ascii_name varchar(150)" in plan
    assert "then backfill: CALL cdc.sp_vendor_rebuild('fact_geography')" in plan
    assert "index" not in plan  # only their header comment changed: indexes are kept

    applied = cdcgen("deploy", "--with-staging", str(new_build))
    assert "backfilled: fact_geography" in applied
    assert sql(
        pg_dsn, "SELECT city_id, city_ascii_name FROM staging_public.fact_geography ORDER BY 1"
    ) == [(10, "PARIS"), (11, "LYON"), (20, "OSAKA")]
    assert "fact_geography: ok" in cdcgen("verify", str(new_build))

    # Back to the original build: the column is now recorded, so dropping it is destructive.
    refused = cdcgen("deploy", "--with-staging", str(vendor_build), code=1)
    assert "column city_ascii_name was dropped from the build" in refused

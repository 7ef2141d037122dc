"""``sp_<p>_rollback_to(run_id)`` / ``cdcgen rollback --to``: undo every later run, newest
first, in one transaction, on a real PostgreSQL (mappings/vendor.yml).

After each run every table the pipeline's state consists of is snapshotted (baselines,
targets with their SCD2 versions, tombstones, watermarks, dead letters); a rollback to
run N must give back exactly the snapshot after N. A property test does the same over
random histories, then checks that a normal run re-applies what staging still holds.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cdcgen.cli import app
from tests.pipeline_harness import REPO, Pipeline, ts
from tests.strategies_pipeline import budget, bump, deployed_database, postgres_rendering, reset
from tests.test_scenarios_vendor import city, company, mapping, restage_snapshots

SPEC = REPO / "mappings" / "vendor.yml"

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module", params=["full", "changed"])
def deployed(
    pg_admin_dsn: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
):
    """The vendor pipeline, logging whole row images or (``audit: changed``) only an
    update's changed columns, from which undo must still restore whole rows."""
    spec = SPEC
    if request.param != "full":
        text = SPEC.read_text(encoding="utf-8")
        audited = text.replace(
            "\npipeline: vendor\n", f"\npipeline: vendor\naudit: {request.param}\n", 1
        )
        assert audited != text
        spec = tmp_path_factory.mktemp(f"audit_{request.param}") / SPEC.name
        spec.write_text(audited, encoding="utf-8")
    with deployed_database(pg_admin_dsn, postgres_rendering(spec)) as p:
        yield p


def seed(p: Pipeline) -> int:
    """The world of test_scenarios_vendor: companies 100-104, three of them vendors."""
    reset(p)
    restage_snapshots(p)
    p.stage("cities", city(10, "Paris", 1), city(11, "Lyon", 1), city(20, "Berlin", 2))
    p.stage(
        "users",
        {
            "id": 500,
            "first_name": "Alice",
            "last_name": "Smith",
            "email": "alice@x.io",
            "created_at": ts(1),
            "updated_at": ts(1),
        },
    )
    p.stage(
        "companies",
        company(100, "Acme"),
        company(101, "Beta", category=2),
        company(102, "Gamma", category=4, city=20),
        company(103, "Delta", status=0, city=11),
        company(104, "Epsilon", city=11),
    )
    p.stage(
        "buyer_seller_company_mappings",
        mapping(1000, 100),
        mapping(1001, 101),
        mapping(1002, 102),
        mapping(1003, 103),
    )
    return p.run()


@pytest.fixture
def vendor(deployed: Pipeline) -> Pipeline:
    seed(deployed)
    return deployed


def state_tables(p: Pipeline) -> list[str]:
    """Everything a rollback must put back: baselines, targets, tombstones, watermarks and
    dead letters (the logs only grow, and are checked separately)."""
    cdc = p.schemas["cdc"]
    names = [
        o["name"] for o in p.manifest["objects"] if o["kind"] in ("baseline_table", "target_table")
    ]
    names += [f"{cdc}.{s['name']}__deleted" for s in p.manifest["sources"]]
    return [*names, f"{cdc}.watermark", f"{cdc}.dead_letter"]


def snapshot(p: Pipeline) -> Snapshot:
    taken: Snapshot = {}
    for name in state_tables(p):
        rows = p.conn.execute(f"SELECT * FROM {name}").fetchall()
        taken[name] = sorted((tuple(r) for r in rows), key=repr)
    return taken


def assert_same(actual: Snapshot, expected: Snapshot, what: str) -> None:
    differ = {
        t: {
            "extra": [r for r in actual[t] if r not in expected[t]],
            "missing": [r for r in expected[t] if r not in actual[t]],
        }
        for t in expected
        if actual[t] != expected[t]
    }
    assert not differ, f"{what}: {differ}"


def rollback_to(p: Pipeline, run_id: int) -> int:
    p.conn.execute(f"CALL {p.manifest['procedures']['rollback_to']}(%s)", [run_id])
    last = p.last_run()
    assert (last["kind"], last["status"]) == ("rollback", "succeeded")
    return int(last["run_id"])


def statuses(p: Pipeline) -> dict[int, tuple[str, str]]:
    rows = p.conn.execute("SELECT run_id, kind, status FROM cdc.run_log ORDER BY run_id").fetchall()
    return {r: (k, s) for r, k, s in rows}


def tagging(id_: int, op: str, loaded: dt.datetime, taggable: int = 100) -> dict[str, Any]:
    return {
        "id": id_,
        "tag_id": 7,
        "taggable_id": taggable,
        "taggable_type": "Company",
        "created_at": ts(1),
        "updated_at": loaded,
        "op": op,
        "_loaded_at": loaded,
    }


def run(p: Pipeline, snaps: dict[int, Snapshot]) -> None:
    """A run, then the snapshot after it."""
    run_id = p.run()
    snaps[run_id] = snapshot(p)


def history(p: Pipeline) -> dict[int, Snapshot]:
    """Four more runs on top of the seed, staging kept (window sources re-deliver, the
    append feed accumulates): an SCD2 history change and a type-1 change, a deleted
    company (tombstone, closed version), the company back (tombstone removed), and
    tagging rows that move the append-mode watermark."""
    snaps = {p.last_run()["run_id"]: snapshot(p)}
    p.clear_staging()
    restage_snapshots(p)
    p.stage(
        "companies",
        company(100, "Acme Corp", updated=ts(2)),
        company(102, "Gamma", category=4, city=20, email="g@x.io", updated=ts(2)),
    )
    p.stage("cities", city(10, "Paris-Centre", 1, updated=ts(2)))
    p.stage("taggings", tagging(1, "I", ts(2)))
    run(p, snaps)
    p.stage("companies", company(101, "Beta", category=2, updated=ts(3), deleted_at=ts(3)))
    p.stage("taggings", tagging(2, "I", ts(3)), tagging(1, "D", ts(3, 1)))
    run(p, snaps)
    p.stage(
        "companies",
        company(101, "Beta Again", category=3, updated=ts(4)),
        company(100, "Acme Industries", status=2, updated=ts(4)),
    )
    p.stage("taggings", tagging(1, "I", ts(4)), tagging(3, "I", ts(4, 1)))
    run(p, snaps)
    p.stage("buyer_seller_company_mappings", mapping(1004, 104, updated=ts(5)))
    p.stage("taggings", tagging(3, "D", ts(5)))
    run(p, snaps)
    return snaps


def test_the_history_exercises_what_rollback_must_restore(vendor: Pipeline) -> None:
    """Guard for the scenario below: SCD2 versions opened and closed, a tombstone added
    and removed, the watermark moved in several runs."""
    snaps = history(vendor)
    runs = sorted(snaps)
    deleted = [len(snaps[r]["cdc.companies__deleted"]) for r in runs]
    assert deleted == [0, 0, 1, 0, 0]
    versions = [len(snaps[r]["staging_public.dim_company"]) for r in runs]
    assert versions == [5, 6, 6, 8, 8]
    marks = [snaps[r]["cdc.watermark"] for r in runs]
    assert marks[0] == [] and len({repr(m) for m in marks}) == 5


@pytest.mark.parametrize("back", [1, 2, 3, 4])
def test_rollback_to_restores_the_state_after_that_run(vendor: Pipeline, back: int) -> None:
    snaps = history(vendor)
    runs = sorted(snaps)
    target = runs[-1 - back]
    logged = len(vendor.change_log())
    sks = vendor.conn.execute(
        "SELECT MAX(dim_company_sk) FROM staging_public.dim_company"
    ).fetchone()[0]

    rollback = rollback_to(vendor, target)
    assert_same(snapshot(vendor), snaps[target], f"after rollback to {target}")
    # every undone run is marked, the rollback itself is logged as a run
    undone = [r for r in runs if r > target]
    assert all(statuses(vendor)[r] == ("run", "rolled_back") for r in undone)
    assert all(statuses(vendor)[r] == ("run", "succeeded") for r in runs if r <= target)
    # the logs keep the runs and their undo: compensating rows under the rollback's run id,
    # LSNs still gapless, and replaying change_log still gives the baseline
    log = vendor.change_log()
    assert [r["lsn"] for r in log] == list(range(1, len(log) + 1))
    assert len(log) > logged and {r["run_id"] for r in log[logged:]} == {rollback}
    assert vendor.fact_changes(rollback)
    assert all(v == (0, 0, 0) for v in vendor.verify().values())
    found = {k: v for k, v in vendor.checks(deep=True).items() if v[0]}
    assert not found, found

    # a normal run re-applies what staging still holds: the state of the last run again,
    # with new SCD2 versions whose surrogate keys are above every key given before
    vendor.run()
    again = snapshot(vendor)
    last = snaps[runs[-1]]
    for name, rows in last.items():
        if name.endswith(("dim_company", "watermark")):
            continue
        # Tombstones are left out: the re-applying run reads the undone runs' rows as one
        # batch, where a key inserted and deleted again is never there to leave one.
        if not name.endswith("__deleted"):
            assert again[name] == rows, name
    assert [r[:3] for r in again["cdc.watermark"]] == [r[:3] for r in last["cdc.watermark"]]
    dim = "staging_public.dim_company"
    kept = {r[0] for r in snaps[target][dim]}
    assert all(r[0] > sks for r in again[dim] if r[0] not in kept)

    def current(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted(((*r[1:7], r[10]) for r in rows if r[9]), key=repr)

    assert current(again[dim]) == current(last[dim])


def test_rollback_to_the_latest_run_changes_nothing(vendor: Pipeline) -> None:
    snaps = history(vendor)
    last = max(snaps)
    rollback_to(vendor, last)
    assert_same(snapshot(vendor), snaps[last], "rollback to the latest run")
    assert statuses(vendor)[last] == ("run", "succeeded")


def test_rollback_to_refuses_a_run_not_in_effect(vendor: Pipeline) -> None:
    snaps = history(vendor)
    runs = sorted(snaps)
    rollback_to(vendor, runs[1])
    before = snapshot(vendor)
    for bad in (runs[2], 999):
        with pytest.raises(psycopg.Error, match="not a successful run or rebuild"):
            rollback_to(vendor, bad)
        assert vendor.last_run()["status"] == "failed"
    assert_same(snapshot(vendor), before, "a refused rollback changes nothing")


def test_a_dimension_change_without_its_version_log_is_refused(vendor: Pipeline) -> None:
    """A run from before the version log existed (simulated: its log rows removed) changed
    dim_company: the undo cannot restore it, so the rollback refuses and changes nothing."""
    snaps = history(vendor)
    runs = sorted(snaps)
    vendor.conn.execute(
        "DELETE FROM cdc.dim_company__version_log WHERE cdc__run_id = %s", [runs[-2]]
    )
    with pytest.raises(psycopg.Error, match="before its version log existed"):
        rollback_to(vendor, runs[-3])
    assert_same(snapshot(vendor), snaps[runs[-1]], "a refused rollback changes nothing")
    assert statuses(vendor)[runs[-1]] == ("run", "succeeded")


# --------------------------------------------------------------------------- CLI


def test_cli_rollback_to(pg_dsn: str, secret_password: str, tmp_path) -> None:
    """``cdcgen rollback BUILD --to RUN_ID`` on the committed vendor build (refreshed by
    ``cdcgen build``, which CI checks): the text and JSON reports and a refusal."""
    build = tmp_path / "generated" / "vendor" / "postgres"
    shutil.copytree(REPO / "generated" / "vendor" / "postgres", build)
    runner = CliRunner()

    def cdcgen(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--dsn", pg_dsn], catch_exceptions=False)
        assert secret_password not in result.output
        assert result.exit_code == code, result.output
        return result.output

    def sql(statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    cdcgen("deploy", "--with-staging", str(build))
    sql(
        "INSERT INTO staging.cities (id, country_id, name, created_at, updated_at) VALUES "
        "(10, 1, 'Paris', '2024-01-01', '2024-01-01')"
    )
    cdcgen("run", str(build))
    sql("UPDATE staging.cities SET name = 'Paris 2', updated_at = '2024-02-01'")
    cdcgen("run", str(build))
    sql("UPDATE staging.cities SET name = 'Paris 3', updated_at = '2024-03-01'")
    cdcgen("run", str(build))
    assert sql("SELECT name FROM public.cities") == [("Paris 3",)]

    shown = cdcgen("rollback", str(build), "--to", "1")
    assert shown == "rollback 4 succeeded: back to run 1; rolled back: 3, 2\n"
    assert sql("SELECT name FROM public.cities") == [("Paris",)]
    assert sql("SELECT run_id, status FROM cdc.run_log ORDER BY 1") == [
        (1, "succeeded"),
        (2, "rolled_back"),
        (3, "rolled_back"),
        (4, "succeeded"),
    ]
    again = json.loads(cdcgen("rollback", "--json", str(build), "--to", "1"))
    assert again["rolled_back"] == [] and again["run"]["status"] == "succeeded"
    refused = cdcgen("rollback", str(build), "--to", "2", code=1)
    assert "run 2 is not a successful run or rebuild of pipeline vendor" in refused
    assert "Nothing was rolled back" in refused
    cdcgen("run", str(build))  # staging still holds Paris 3: applied again
    assert sql("SELECT name FROM public.cities") == [("Paris 3",)]


# --------------------------------------------------------------------------- property


company_change = st.fixed_dictionaries(
    {
        "id": st.sampled_from([100, 101, 102, 103, 104, 105]),
        "name": st.sampled_from(["Acme", "Beta", "Gamma", "Delta"]),
        "status": st.sampled_from([0, 1, 1, 2]),
        "category": st.sampled_from([1, 2, 4]),
        "city": st.sampled_from([10, 11, 20]),
        "email": st.sampled_from([None, "a@x.io", "b@y.io"]),
        "deleted": st.booleans(),
    }
)
batch = st.fixed_dictionaries(
    {
        "companies": st.lists(company_change, max_size=3),
        "cities": st.lists(
            st.tuples(st.sampled_from([10, 11, 20]), st.sampled_from(["Paris", "Lyon", "Nice"])),
            max_size=1,
        ),
        "mappings": st.lists(
            st.tuples(
                st.sampled_from([1000, 1001, 1004, 1005]),
                st.sampled_from([100, 101, 104, 105]),
                st.booleans(),
            ),
            max_size=2,
        ),
        "taggings": st.lists(
            st.tuples(st.integers(1, 3), st.sampled_from(["I", "U", "D"])), max_size=2
        ),
        "clear": st.booleans(),
    }
)


def stage_batch(p: Pipeline, b: dict[str, Any], day: int) -> None:
    if b["clear"]:
        p.clear_staging(*(s["name"] for s in p.manifest["sources"] if s["mode"] == "window"))
    restage_snapshots(p)
    for i, c in enumerate(b["companies"]):
        extra = {"deleted_at": ts(day, i)} if c["deleted"] else {}
        p.stage(
            "companies",
            company(
                c["id"],
                c["name"],
                status=c["status"],
                category=c["category"],
                city=c["city"],
                email=c["email"],
                updated=ts(day, i),
                **extra,
            ),
        )
    for id_, name in b["cities"]:
        p.stage("cities", city(id_, name, 1, updated=ts(day)))
    for i, (id_, vendor_id, deleted) in enumerate(b["mappings"]):
        extra = {"deleted_at": ts(day, i)} if deleted else {}
        p.stage(
            "buyer_seller_company_mappings", mapping(id_, vendor_id, updated=ts(day, i), **extra)
        )
    for i, (id_, op) in enumerate(b["taggings"]):
        p.stage("taggings", tagging(id_, op, ts(day, i, 30)))


@given(batches=st.lists(batch, min_size=1, max_size=3), data=st.data())
@budget(15, 300)
def test_rollback_to_any_run_of_a_random_history(
    deployed: Pipeline, batches: list[dict[str, Any]], data: st.DataObject
) -> None:
    p = deployed
    first = seed(p)
    snaps = {first: snapshot(p)}
    p.clear_staging()
    for day, b in enumerate(batches, 2):
        stage_batch(p, b, day)
        run(p, snaps)
    runs = sorted(snaps)
    target = data.draw(st.sampled_from(runs), label="rollback to")
    rollback_to(p, target)
    assert_same(snapshot(p), snaps[target], f"rollback to {target} of runs {runs}")
    found = {k: v for k, v in p.checks(deep=True).items() if v[0]}
    assert not found, found
    bump("rollback_to.undone_runs", len([r for r in runs if r > target]))
    # a normal run re-applies staging; the result is sound (targets equal definitions,
    # the audit trail checks out) and a second run writes nothing
    p.run()
    assert all(v == (0, 0, 0) for v in p.verify().values())
    found = {k: v for k, v in p.checks().items() if v[0]}
    assert not found, found
    settled = snapshot(p)
    p.run()
    assert_same(snapshot(p), settled, "a second run after the re-apply")

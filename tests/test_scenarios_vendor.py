"""The vendor pipeline (mappings/vendor.yml) executed on a real PostgreSQL, one
scenario per test: each asserts the fact rows, the change logs and the run counts.

World after the first run (all companies are vendors of client 12855 except where noted):

    countries 1 France, 2 Germany            cities 10 Paris(1), 11 Lyon(1), 20 Berlin(2)
    companies 100 Acme    (status 1, cat 1, Paris)   -> vendor
              101 Beta    (status 1, cat 2, Paris)   -> vendor
              102 Gamma   (status 1, cat 4, Berlin)  -> vendor
              103 Delta   (status 0, cat 1, Lyon)    -> not a vendor (status)
              104 Epsilon (status 1, cat 1, Lyon)    -> not a vendor (no mapping)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.pipeline_harness import REPO, Pipeline, deploy, ts

SPEC = REPO / "mappings" / "vendor.yml"

COUNTRIES = [
    {"id": 1, "name": "France", "iso2": "FR", "updated_at": ts(1), "created_at": ts(1)},
    {"id": 2, "name": "Germany", "iso2": "DE", "updated_at": ts(1), "created_at": ts(1)},
]
CATEGORIES = [{"id": 7, "name": "Steel", "code": "STL", "updated_at": ts(1), "created_at": ts(1)}]


def company(id_: int, name: str, *, status: int = 1, category: int = 1, city: int = 10,
            updated: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "name": name, "status": status, "category": category, "city_id": city,
            "primary_contact_id": 500, "primary_category_id": 7,
            "created_at": ts(1), "updated_at": updated or ts(1), **extra}


def mapping(id_: int, vendor: int, *, updated: Any = None, **extra: Any) -> dict[str, Any]:
    row = {"id": id_, "client_company_id": 12855, "dealing_with_company_id": vendor, "status": 1,
           "source": 0, "invited_by": 500, "created_at": ts(1), "updated_at": updated or ts(1)}
    return {**row, **extra}


def city(id_: int, name: str, country: int, updated: Any = None) -> dict[str, Any]:
    return {"id": id_, "name": name, "country_id": country, "created_at": ts(1),
            "updated_at": updated or ts(1)}


def restage_snapshots(p: Pipeline, countries: list[dict[str, Any]] = COUNTRIES) -> None:
    """countries and product_categories are full-snapshot sources: every load has all rows."""
    p.stage("countries", *countries)
    p.stage("product_categories", *CATEGORIES)


@pytest.fixture
def vendor(pg_conn) -> Pipeline:
    p = deploy(pg_conn, SPEC)
    restage_snapshots(p)
    p.stage("cities", city(10, "Paris", 1), city(11, "Lyon", 1), city(20, "Berlin", 2))
    p.stage("users", {"id": 500, "first_name": "Alice", "last_name": "Smith", "email": "alice@x.io",
                      "created_at": ts(1), "updated_at": ts(1)})
    p.stage(
        "companies",
        company(100, "Acme"), company(101, "Beta", category=2),
        company(102, "Gamma", category=4, city=20), company(103, "Delta", status=0, city=11),
        company(104, "Epsilon", city=11),
    )
    p.stage("buyer_seller_company_mappings", mapping(1000, 100), mapping(1001, 101),
            mapping(1002, 102), mapping(1003, 103))
    run = p.run()
    assert p.counts(run)["fact_vendor"] == (3, 0, 0)
    p.clear_staging()
    restage_snapshots(p)
    return p


def vendors(p: Pipeline, *columns: str) -> dict[int, tuple[Any, ...]]:
    cols = ["vendor_id", *columns]
    return {r["vendor_id"]: tuple(r[c] for c in columns)
            for r in p.rows("staging_public.fact_vendor", cols)}


def assert_consistent(p: Pipeline) -> None:
    """Every fact equals its full definition over the baseline (the invariant)."""
    assert all(diff == (0, 0, 0) for diff in p.verify().values()), p.verify()


def changed(p: Pipeline, run: int, target: str) -> dict[str, tuple[str, str | None]]:
    return {r["key_text"]: (r["op"], r["changed_columns"]) for r in p.fact_changes(run, target)}


def test_first_run_loads_every_fact(vendor: Pipeline) -> None:
    assert vendors(vendor, "vendor_name", "city_name", "country_name") == {
        100: ("Acme", "Paris", "France"),
        101: ("Beta", "Paris", "France"),
        102: ("Gamma", "Berlin", "Germany"),
    }
    assert [r["lsn"] for r in vendor.change_log()] == list(range(1, len(vendor.change_log()) + 1))
    assert_consistent(vendor)


def test_company_renamed(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name", "vendor_label")[100] == ("Acme Corp", "Acme Corp / Paris")
    assert vendor.counts(run) == {
        "companies": (0, 1, 0),
        "fact_vendor": (0, 1, 0),
        "fact_company_profile": (0, 1, 0),
        "fact_relationship": (0, 1, 0),
        "dim_company": (0, 1, 0),
    }
    assert changed(vendor, run, "fact_vendor") == {"100": ("U", "vendor_name,vendor_label")}
    (log,) = vendor.change_log(run)
    assert (log["op"], log["changed_columns"]) == ("U", "name,updated_at")
    assert log["before_row"]["name"] == "Acme" and log["after_row"]["name"] == "Acme Corp"
    assert_consistent(vendor)


def test_city_renamed_changes_every_vendor_in_it(vendor: Pipeline) -> None:
    vendor.stage("cities", city(10, "Paris-Centre", 1, updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "city_name") == {100: ("Paris-Centre",), 101: ("Paris-Centre",), 102: ("Berlin",)}
    counts = vendor.counts(run)
    assert counts["fact_vendor"] == (0, 2, 0)
    assert counts["fact_geography"] == (0, 1, 0)
    assert counts["fact_company_profile"] == (0, 2, 0)  # Acme and Beta are in Paris
    assert changed(vendor, run, "fact_vendor") == {
        "100": ("U", "vendor_label,full_address,city_name"),
        "101": ("U", "vendor_label,full_address,city_name"),
    }
    assert_consistent(vendor)


def test_company_moves_city(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme", city=20, updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "city_name", "country_name")[100] == ("Berlin", "Germany")
    assert vendor.counts(run)["fact_vendor"] == (0, 1, 0)
    assert_consistent(vendor)


def test_country_renamed_two_hops(vendor: Pipeline) -> None:
    restage = [{**COUNTRIES[0], "name": "République française", "updated_at": ts(2)}, COUNTRIES[1]]
    vendor.clear_staging("countries")
    vendor.stage("countries", *restage)
    run = vendor.run()
    assert vendors(vendor, "country_name") == {
        100: ("République française",), 101: ("République française",), 102: ("Germany",)}
    counts = vendor.counts(run)
    assert counts["countries"] == (0, 1, 0)
    assert counts["fact_vendor"] == (0, 2, 0)
    assert counts["fact_geography"] == (0, 2, 0)  # Paris and Lyon
    assert_consistent(vendor)


def test_city_repointed_to_another_country(vendor: Pipeline) -> None:
    vendor.stage("cities", city(10, "Paris", 2, updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "country_name")[100] == ("Germany",)
    assert vendor.counts(run)["fact_vendor"] == (0, 2, 0)
    assert_consistent(vendor)


def test_company_stops_then_starts_qualifying(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme", status=0, updated=ts(2)))
    run = vendor.run()
    assert 100 not in vendors(vendor)
    assert vendor.counts(run)["fact_vendor"] == (0, 0, 1)
    assert changed(vendor, run, "fact_vendor") == {"100": ("D", None)}
    (deleted,) = vendor.fact_changes(run, "fact_vendor")
    assert deleted["before_row"]["vendor_name"] == "Acme" and deleted["after_row"] is None

    vendor.clear_staging()
    restage_snapshots(vendor)
    vendor.stage("companies", company(100, "Acme", status=1, updated=ts(3)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme",)
    assert vendor.counts(run)["fact_vendor"] == (1, 0, 0)
    assert_consistent(vendor)


def test_mapping_inserted_makes_company_qualify(vendor: Pipeline) -> None:
    vendor.stage("buyer_seller_company_mappings", mapping(1004, 104, updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[104] == ("Epsilon",)
    counts = vendor.counts(run)
    assert counts["fact_vendor"] == (1, 0, 0)
    assert counts["fact_relationship"] == (1, 0, 0)
    assert_consistent(vendor)


def test_mapping_status_change_disqualifies(vendor: Pipeline) -> None:
    vendor.stage("buyer_seller_company_mappings", mapping(1001, 101, status=3, updated=ts(2)))
    run = vendor.run()
    assert 101 not in vendors(vendor)
    assert vendor.counts(run)["fact_vendor"] == (0, 0, 1)
    assert_consistent(vendor)


def test_soft_delete(vendor: Pipeline) -> None:
    vendor.stage("companies", company(102, "Gamma", category=4, city=20, updated=ts(2), deleted_at=ts(2)))
    run = vendor.run()
    assert 102 not in vendors(vendor)
    assert vendor.rows("public.companies", ["id"], "id") == [{"id": i} for i in (100, 101, 103, 104)]
    counts = vendor.counts(run)
    assert counts["companies"] == (0, 0, 1)
    assert counts["fact_vendor"] == (0, 0, 1)
    assert counts["fact_company_profile"] == (0, 0, 1)
    # the relationship row stays (its grain is the mapping) but loses the vendor's name
    assert counts["fact_relationship"] == (0, 1, 0)
    (log,) = vendor.change_log(run)
    assert log["op"] == "D" and log["after_row"] is None and log["before_row"]["name"] == "Gamma"
    assert_consistent(vendor)


def test_hard_delete_through_op_column(vendor: Pipeline) -> None:
    tagging = {"id": 1, "tag_id": 9, "taggable_id": 100, "taggable_type": "Company",
               "created_at": ts(2), "updated_at": ts(2), "op": "I", "_loaded_at": ts(2)}
    vendor.stage("taggings", tagging)
    run = vendor.run()
    assert vendor.counts(run)["taggings"] == (1, 0, 0)
    vendor.stage("taggings", {**tagging, "op": "D", "updated_at": ts(3), "_loaded_at": ts(3)})
    run = vendor.run()
    assert vendor.counts(run)["taggings"] == (0, 0, 1)
    assert vendor.rows("public.taggings") == []
    assert "op" not in vendor.columns("public.taggings")  # feed metadata stays out of the baseline


def test_full_snapshot_source_losing_a_row(vendor: Pipeline) -> None:
    vendor.clear_staging("countries")
    vendor.stage("countries", COUNTRIES[0])  # Germany is gone
    run = vendor.run()
    assert vendor.counts(run)["countries"] == (0, 0, 1)
    assert vendors(vendor, "country_name")[102] == (None,)
    assert vendor.counts(run)["fact_vendor"] == (0, 1, 0)
    assert_consistent(vendor)


def test_empty_snapshot_is_not_a_mass_delete(vendor: Pipeline) -> None:
    vendor.clear_staging("countries", "product_categories")
    run = vendor.run()
    assert vendor.counts(run) == {}
    assert len(vendor.rows("public.countries")) == 2


def test_two_versions_of_one_key_in_one_batch(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme v2", updated=ts(2)), company(100, "Acme v3", updated=ts(3)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme v3",)
    assert vendor.counts(run)["companies"] == (0, 1, 0)
    assert vendor.rows("public.companies", ["name"], "id")[0] == {"name": "Acme v3"}


def test_stale_row_is_skipped(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme new", updated=ts(5)))
    vendor.run()
    vendor.clear_staging()
    restage_snapshots(vendor)
    vendor.stage("companies", company(100, "Acme old", updated=ts(3)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme new",)
    stale = vendor.conn.execute(
        "SELECT stale FROM cdc.run_counts WHERE run_id = %s AND object_name = 'companies'", [run]
    ).fetchone()
    assert stale == (1,)
    assert vendor.counts(run) == {}


def test_null_to_value_and_value_to_null(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme", email="sales@acme.io", updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "vendor_email")[100] == ("sales@acme.io",)
    assert changed(vendor, run, "fact_vendor") == {"100": ("U", "vendor_email")}
    vendor.clear_staging()
    restage_snapshots(vendor)
    vendor.stage("companies", company(100, "Acme", email=None, updated=ts(3)))
    run = vendor.run()
    assert vendors(vendor, "vendor_email")[100] == (None,)
    assert changed(vendor, run, "fact_vendor") == {"100": ("U", "vendor_email")}


def test_declared_numeric_type_holds_where_the_value_is_computed(vendor: Pipeline) -> None:
    """annual_revenue_musd is declared numeric(18,6) but computed as annual_revenue / 1000000
    (numeric(29,13) on Redshift, unbounded on PostgreSQL): the fact stores the rounded value,
    so the definition must round it too, or verify and every later run see a difference."""
    vendor.stage("companies", company(100, "Acme", annual_revenue=Decimal("1234567.89"), updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "annual_revenue_musd")[100] == (Decimal("1.234568"),)
    assert changed(vendor, run, "fact_vendor") == {"100": ("U", "annual_revenue,annual_revenue_musd")}
    assert_consistent(vendor)
    (log,) = vendor.fact_changes(run, "fact_vendor")
    assert log["after_row"]["annual_revenue_musd"] == 1.234568
    # a later change reaching the row logs only what changed, not the revenue again
    vendor.stage("companies", company(100, "Acme Corp", annual_revenue=Decimal("1234567.89"),
                                      updated=ts(3)))
    run = vendor.run()
    assert changed(vendor, run, "fact_vendor") == {"100": ("U", "vendor_name,vendor_label")}
    assert vendor.counts(vendor.run()) == {}  # and a rerun writes nothing
    assert_consistent(vendor)


def test_touch_only_updated_at_writes_no_vendor_row(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme", updated=ts(2)))
    run = vendor.run()
    counts = vendor.counts(run)
    assert counts["companies"] == (0, 1, 0)
    assert "fact_vendor" not in counts
    # fact_company_profile maps updated_at itself, so it (and only that column) changes
    assert changed(vendor, run, "fact_company_profile") == {"100": ("U", "profile_updated_at")}


def test_null_key_goes_to_dead_letter(vendor: Pipeline) -> None:
    vendor.stage("companies", company(None, "Nameless", updated=ts(2)))  # type: ignore[arg-type]
    vendor.stage("companies", company(105, "Bad status", status=9, updated=ts(2)))
    run = vendor.run()
    assert vendor.counts(run) == {}
    reasons = sorted(r["reason"] for r in vendor.dead_letters())
    assert reasons == ["NULL key (id)", "check failed: valid_status"]
    # window-mode staging re-delivers the same bad rows: they are recorded once
    vendor.run()
    assert len(vendor.dead_letters()) == 2


def test_append_mode_takes_only_rows_beyond_the_watermark(vendor: Pipeline) -> None:
    member = {"id": 1, "team_id": 1, "user_id": 500, "created_at": ts(2), "updated_at": ts(2),
              "_loaded_at": ts(2)}
    vendor.stage("team_members", member)
    run = vendor.run()
    assert vendor.counts(run) == {"team_members": (1, 0, 0)}
    # staging accumulates: the old row stays, a new version arrives with a later load time
    vendor.stage("team_members", {**member, "role": 2, "updated_at": ts(3), "_loaded_at": ts(3)})
    run = vendor.run()
    assert vendor.counts(run) == {"team_members": (0, 1, 0)}
    run = vendor.run()
    assert vendor.counts(run) == {}
    (mark,) = vendor.rows("cdc.watermark", ["source", "value"])
    assert mark["source"] == "team_members" and mark["value"].startswith("2024-01-03")


def test_second_run_with_nothing_new_writes_nothing(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    vendor.run()
    lsn_before = len(vendor.change_log())
    run = vendor.run()  # same staging rows again (window mode re-delivers)
    assert vendor.counts(run) == {}
    assert vendor.fact_changes(run) == []
    assert len(vendor.change_log()) == lsn_before
    assert vendor.last_run()["rows_changed"] == 0


def test_failed_run_changes_nothing_and_is_recorded(vendor: Pipeline) -> None:
    before = vendor.rows("staging_public.fact_vendor", order_by="vendor_id")
    log_before = vendor.change_log()
    # a mid-run failure: the fact table loses a column the apply step writes
    vendor.conn.execute("ALTER TABLE staging_public.fact_relationship RENAME COLUMN vendor_code TO vc")
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    error = vendor.run_expecting_failure()
    assert "vendor_code" in error
    failed = vendor.last_run()
    assert failed["status"] == "failed" and "vendor_code" in failed["error"]
    assert vendor.rows("staging_public.fact_vendor", order_by="vendor_id") == before
    assert vendor.change_log() == log_before
    assert vendor.rows("public.companies", ["name"], "id")[0] == {"name": "Acme"}
    assert vendor.conn.execute("SELECT count(*) FROM cdc.run_counts WHERE run_id = %s",
                               [failed["run_id"]]).fetchone() == (0,)
    # fixed, the next run starts from the same place
    vendor.conn.execute("ALTER TABLE staging_public.fact_relationship RENAME COLUMN vc TO vendor_code")
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme Corp",)
    assert vendor.counts(run)["companies"] == (0, 1, 0)
    assert_consistent(vendor)


def test_rebuild_restores_a_damaged_fact(vendor: Pipeline) -> None:
    vendor.conn.execute("UPDATE staging_public.fact_vendor SET vendor_name = 'oops' WHERE vendor_id = 101")
    vendor.conn.execute("DELETE FROM staging_public.fact_vendor WHERE vendor_id = 102")
    assert vendor.verify()["fact_vendor"] == (1, 0, 1)
    vendor.rebuild("fact_vendor")
    assert vendor.verify()["fact_vendor"] == (0, 0, 0)
    assert vendor.last_run()["kind"] == "rebuild"


def test_unmapped_fact_columns_are_never_touched(vendor: Pipeline) -> None:
    vendor.conn.execute("ALTER TABLE staging_public.fact_vendor ADD COLUMN analyst_note VARCHAR(100)")
    vendor.conn.execute("UPDATE staging_public.fact_vendor SET analyst_note = 'keep me'")
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    vendor.run()
    notes = {r["analyst_note"] for r in vendor.rows("staging_public.fact_vendor", ["analyst_note"])}
    assert notes == {"keep me"}


# --- dim_company: SCD Type 2 (history: name, segment, status; email, city_id type 1) ---


def versions(p: Pipeline, company_id: int) -> list[tuple[Any, ...]]:
    rows = p.conn.execute(
        "SELECT name, email, valid_from, valid_to, is_current, is_deleted "
        "FROM staging_public.dim_company WHERE company_id = %s ORDER BY valid_from, dim_company_sk",
        [company_id],
    ).fetchall()
    return [tuple(r) for r in rows]


def test_dimension_history_change_opens_a_new_version(vendor: Pipeline) -> None:
    assert versions(vendor, 100) == [("Acme", None, ts(1), None, True, False)]
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    run = vendor.run()
    assert versions(vendor, 100) == [
        ("Acme", None, ts(1), ts(2), False, False),
        ("Acme Corp", None, ts(2), None, True, False),
    ]
    assert vendor.counts(run)["dim_company"] == (0, 1, 0)
    assert changed(vendor, run, "dim_company") == {"100": ("U", "name")}
    assert_consistent(vendor)


def test_dimension_type1_change_overwrites_in_place(vendor: Pipeline) -> None:
    vendor.stage("companies", company(101, "Beta", category=2, email="hi@beta.io", updated=ts(2)))
    vendor.run()
    assert versions(vendor, 101) == [("Beta", "hi@beta.io", ts(1), None, True, False)]
    assert_consistent(vendor)


def test_dimension_delete_closes_the_current_version(vendor: Pipeline) -> None:
    vendor.stage("companies", company(104, "Epsilon", city=11, updated=ts(2), deleted_at=ts(2)))
    run = vendor.run()
    ((name, _, valid_from, valid_to, current, deleted),) = versions(vendor, 104)
    assert (name, valid_from, current, deleted) == ("Epsilon", ts(1), False, False)
    assert valid_to is not None
    assert vendor.counts(run)["dim_company"] == (0, 0, 1)
    assert_consistent(vendor)


def test_dimension_rerun_keeps_one_current_version_per_key(vendor: Pipeline) -> None:
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    vendor.run()
    vendor.run()
    vendor.rebuild("dim_company")
    assert vendor.conn.execute(
        "SELECT company_id, count(*) FROM staging_public.dim_company WHERE is_current "
        "GROUP BY company_id HAVING count(*) > 1"
    ).fetchall() == []
    assert len(versions(vendor, 100)) == 2


# --- sp_vendor_rollback(run_id): undo the latest run from the logs' before-images ---


def rollback(p: Pipeline, run_id: int) -> None:
    p.conn.execute(f"CALL {p.manifest['procedures']['rollback']}(%s)", [run_id])


def test_rollback_restores_baseline_and_facts(vendor: Pipeline) -> None:
    facts_before = vendor.rows("staging_public.fact_vendor", order_by="vendor_id")
    cities_before = vendor.rows("public.cities", order_by="id")
    vendor.stage("cities", city(10, "Paris-Centre", 1, updated=ts(2)), city(30, "Munich", 2, updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "city_name")[100] == ("Paris-Centre",)
    logged = len(vendor.change_log())

    rollback(vendor, run)
    assert vendor.rows("staging_public.fact_vendor", order_by="vendor_id") == facts_before
    assert vendor.rows("public.cities", order_by="id") == cities_before
    assert vendor.conn.execute("SELECT status FROM cdc.run_log WHERE run_id = %s", [run]).fetchone() == (
        "rolled_back",)
    # the undo is logged as compensating changes with new, gapless LSNs
    log = vendor.change_log()
    assert [r["lsn"] for r in log] == list(range(1, len(log) + 1))
    undo = [(r["op"], r["key_text"]) for r in log[logged:]]
    assert sorted(undo) == [("D", "30"), ("U", "10")]
    assert_consistent(vendor)
    # the same staging rows are applied again by the next run
    run = vendor.run()
    assert vendors(vendor, "city_name")[100] == ("Paris-Centre",)
    assert_consistent(vendor)


def test_rollback_keeps_unmapped_fact_columns_and_puts_back_a_row_removed_since(
    vendor: Pipeline,
) -> None:
    """The restore updates the keys that are there (mapped columns only) and inserts the
    ones that are not, as the MERGE it replaced did."""
    vendor.conn.execute("ALTER TABLE staging_public.fact_vendor ADD COLUMN analyst_note VARCHAR(100)")
    vendor.conn.execute("UPDATE staging_public.fact_vendor SET analyst_note = 'keep me'")
    mapped = vendor.columns("staging_public.fact_vendor")  # the manifest's: without the note
    before = vendor.rows("staging_public.fact_vendor", mapped, order_by="vendor_id")
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)), company(101, "Beta Ltd", updated=ts(2)))
    run = vendor.run()
    assert vendors(vendor, "vendor_name")[100] == ("Acme Corp",)
    vendor.conn.execute("DELETE FROM staging_public.fact_vendor WHERE vendor_id = 101")  # by hand

    rollback(vendor, run)
    assert vendor.rows("staging_public.fact_vendor", mapped, order_by="vendor_id") == before
    notes = dict(vendor.conn.execute("SELECT vendor_id, analyst_note FROM staging_public.fact_vendor").fetchall())
    assert notes[100] == "keep me"  # updated back in place
    assert notes[101] is None  # inserted back: its row was gone


def test_rollback_refuses_anything_but_the_latest_run(vendor: Pipeline) -> None:
    vendor.stage("cities", city(10, "Paris-Centre", 1, updated=ts(2)))
    first = vendor.run()
    vendor.run()
    with pytest.raises(Exception, match="not the latest successful run"):
        rollback(vendor, first)
    assert vendors(vendor, "city_name")[100] == ("Paris-Centre",)


def test_rollback_restores_a_dimension_and_never_reuses_its_surrogate_keys(vendor: Pipeline) -> None:
    """A run that changed an SCD2 dimension is undone from its version log: the closed
    version is open again, the opened one is gone, and its surrogate key is not given again."""
    before = versions(vendor, 100)
    vendor.stage("companies", company(100, "Acme Corp", updated=ts(2)))
    run = vendor.run()
    assert len(versions(vendor, 100)) == 2
    (opened,) = vendor.conn.execute(
        "SELECT MAX(dim_company_sk) FROM staging_public.dim_company").fetchone()
    rollback(vendor, run)
    assert versions(vendor, 100) == before
    assert vendors(vendor, "vendor_name")[100] == ("Acme",)
    assert vendor.last_run()["kind"] == "rollback" and vendor.last_run()["status"] == "succeeded"
    vendor.run()  # staging still holds the change: it is applied again, with a new key
    assert [v[0] for v in versions(vendor, 100)] == ["Acme", "Acme Corp"]
    (reopened,) = vendor.conn.execute(
        "SELECT dim_company_sk FROM staging_public.dim_company WHERE company_id = 100 AND is_current"
    ).fetchone()
    assert reopened > opened
    assert_consistent(vendor)


def test_dimension_key_that_comes_back_never_overlaps_its_closed_version(vendor: Pipeline) -> None:
    """on_delete: invalidate closes a deleted key at the run's time; when the key comes back
    with an (older) source time, its new version opens where the closed one ended, so a
    point-in-time lookup can never match two versions."""
    vendor.stage("companies", company(104, "Epsilon", city=11, updated=ts(2), deleted_at=ts(2)))
    vendor.run()
    ((*_, closed_at, _, _),) = versions(vendor, 104)
    vendor.clear_staging("companies")
    vendor.stage("companies", company(104, "Epsilon Again", city=11, updated=ts(3)))
    vendor.run()
    (old, new) = versions(vendor, 104)
    assert ts(3) < closed_at  # the source time is earlier than the close: the trap
    assert old[3] == closed_at and not old[4]
    assert new[0] == "Epsilon Again" and new[2] == closed_at and new[3] is None and new[4]
    assert_consistent(vendor)


def test_a_rebuild_analyzes_the_target_it_merges_into(vendor: Pipeline) -> None:
    """The first load wrote fact_vendor by one INSERT (no statistics of those rows); a
    rebuild joins the target with every key, so it takes statistics first (issue 9)."""

    def estimated(table: str) -> float:
        return vendor.conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table]
        ).fetchone()[0]

    rows = vendor.conn.execute("SELECT count(*) FROM staging_public.fact_vendor").fetchone()[0]
    assert rows > 0 and estimated("staging_public.fact_vendor") != rows
    vendor.rebuild("fact_vendor")
    assert estimated("staging_public.fact_vendor") == rows
    vendor.rebuild("dim_company")
    dims = vendor.conn.execute("SELECT count(*) FROM staging_public.dim_company").fetchone()[0]
    assert estimated("staging_public.dim_company") == dims
    assert_consistent(vendor)


def test_tombstone_statements_run_only_for_inserts_and_deletes(vendor: Pipeline) -> None:
    """A source's sync touches its tombstones in three statements: log and forget those
    of keys inserted (or deleted) again, and remember the keys it deletes. An update-only
    run makes none of them, an insert the first two, a delete all three; the tombstones
    come out right either way."""

    def statements(*rows: dict[str, Any]) -> int:
        vendor.clear_staging("companies")
        vendor.stage("companies", *rows)
        vendor.run()
        return int(vendor.last_run()["statements"])

    # one company, so that every run reaches the same targets
    inserted = statements(company(105, "Zeta", updated=ts(2)))
    updated = statements(company(105, "Zeta Renamed", updated=ts(3)))
    deleted = statements(company(105, "Zeta Renamed", updated=ts(4), deleted_at=ts(4)))
    assert (inserted - updated, deleted - updated) == (2, 3)
    assert [r["id"] for r in vendor.rows("cdc.companies__deleted", ["id"])] == [105]
    back = statements(company(105, "Zeta Again", updated=ts(5)))
    assert back - updated == 2
    assert vendor.rows("cdc.companies__deleted", ["id"]) == []
    assert vendor.verify() == {t: (0, 0, 0) for t in vendor.verify()}

"""Stateful property test of mappings/vendor.yml on a real PostgreSQL.

A hypothesis state machine stages random source changes (inserts, updates, NULL
transitions, lookup re-pointing, qualification flips, soft deletes, op-column hard
deletes, snapshot losses, duplicates, ties, stale versions, NULL keys, failed
checks, empty batches) and runs cycles. A Python model (tests/reference_model.py)
predicts every run; after each cycle the invariant is checked: baselines equal the
model, the change log replays to the baseline, LSNs are 1..N, fact_vendor equals
its independent Python evaluation, every fact equals its ``__full`` view, the
fact change log names exactly what changed, and a second run writes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.pipeline_harness import REPO, Pipeline
from tests.reference_model import (
    VENDOR_COLUMNS,
    Figures,
    SourceModel,
    SourceRules,
    run_and_check,
    table_rows,
    vendor_fact_rows,
)
from tests.strategies_pipeline import (
    budget,
    bump,
    deployed_database,
    postgres_rendering,
    reset,
    soak_variant,
    with_whole_path_pct,
)

SPEC = REPO / "mappings" / "vendor.yml"
T0 = dt.datetime(2024, 1, 1)

CHECKS = {
    "companies": (
        ("valid_status", lambda r: None if r["status"] is None else r["status"] in (0, 1, 2, 3)),
        ("non_negative_credit_limit",
         lambda r: True if r["credit_limit"] is None else r["credit_limit"] >= 0),
    ),
    "buyer_seller_company_mappings": (
        ("has_both_companies",
         lambda r: r["client_company_id"] is not None and r["dealing_with_company_id"] is not None),
    ),
}
LOADED_AT = {"taggings": "_loaded_at", "team_members": "_loaded_at"}
SNAPSHOTS = ("countries", "product_categories")


def vendor_rules(p: Pipeline) -> dict[str, SourceRules]:
    rules = {}
    for s in p.manifest["sources"]:
        staging = next(o for o in p.manifest["objects"] if o["name"] == s["staging"])
        base = next(o for o in p.manifest["objects"] if o["name"] == s["baseline"])
        rules[s["name"]] = SourceRules(
            name=s["name"], key=tuple(s["key"]),
            staging_columns=tuple(c for c, _ in staging["columns"]),
            columns=tuple(c for c, _ in base["columns"]),
            loaded_at=LOADED_AT.get(s["name"]), mode=s["mode"], deletes=s["deletes"],
            when=(lambda r: r["deleted_at"] is not None) if s["deletes"] == "when" else None,
            op_column="op" if s["deletes"] == "op_column" else None,
            checks=CHECKS.get(s["name"], ()),
        )
    return rules


names = st.sampled_from(["Acme", "Beta", "Gamma", "Ünïcode", ""]) | st.none()
maybe = lambda s: s | st.none()  # noqa: E731

company_fields = st.fixed_dictionaries({
    "name": names,
    "status": st.sampled_from([0, 1, 1, 1, 2, 3]) | st.none(),
    "category": st.sampled_from([1, 2, 3, 4]) | st.none(),
    "city_id": maybe(st.integers(1, 4)),
    "primary_contact_id": maybe(st.integers(1, 4)),
    "created_by": maybe(st.integers(1, 3)),
    "primary_category_id": maybe(st.integers(1, 3)),
    "email": maybe(st.sampled_from(["a@x.io", "b@y.io"])),
    "address_line1": maybe(st.just("1 Main St")),
    "postal_code": maybe(st.sampled_from(["75001", "10115"])),
    "employee_count": maybe(st.sampled_from([0, 49, 50, 999, 1000])),
})
city_fields = st.fixed_dictionaries({
    "name": maybe(st.sampled_from(["Paris", "Lyon", "Berlin"])),
    "country_id": maybe(st.integers(1, 4)),
})
user_fields = st.fixed_dictionaries({
    "first_name": maybe(st.sampled_from(["Alice", "Bob"])),
    "last_name": maybe(st.sampled_from(["Smith", "Li"])),
    "email": maybe(st.sampled_from(["alice@x.io", "bob@x.io"])),
    "phone": maybe(st.just("+33 1")),
    "mobile_phone": maybe(st.just("+33 6")),
})
mapping_fields = st.fixed_dictionaries({
    "client_company_id": st.sampled_from([12855, 12855, 12855, 999]),
    "dealing_with_company_id": st.integers(1, 6),
    "status": maybe(st.sampled_from([1, 2, 7, 3])),
    "source": maybe(st.sampled_from([0, 1, 2])),
    "invited_by": maybe(st.integers(1, 3)),
})
country_fields = st.fixed_dictionaries({
    "name": maybe(st.sampled_from(["France", "Germany", "Italia"])),
    "iso2": maybe(st.sampled_from(["FR", "DE", "IT"])),
    "is_eu_member": maybe(st.booleans()),
})
category_fields = st.fixed_dictionaries({
    "name": maybe(st.sampled_from(["Steel", "Wood"])),
    "code": maybe(st.sampled_from(["STL", "WD"])),
})
FIELDS = {"companies": company_fields, "cities": city_fields, "users": user_fields,
          "buyer_seller_company_mappings": mapping_fields}
IDS = {"companies": st.integers(1, 6), "cities": st.integers(1, 4), "users": st.integers(1, 4),
       "buyer_seller_company_mappings": st.integers(1, 8)}
WINDOW_SOURCES = st.sampled_from(sorted(FIELDS))

FIGURES = Figures()


class VendorMachine(RuleBasedStateMachine):
    pipeline: ClassVar[Pipeline]

    def __init__(self) -> None:
        super().__init__()
        self.p = self.pipeline
        reset(self.p)
        self.models = {n: SourceModel(r) for n, r in vendor_rules(self.p).items()}
        self.staging: dict[str, list[dict[str, Any]]] = {n: [] for n in self.models}
        self.clock = T0
        self.snapshot: dict[str, dict[int, dict[str, Any]]] = {s: {} for s in SNAPSHOTS}
        self.lost: set[str] = set()
        bump("vendor.examples")

    # -- helpers -------------------------------------------------------------
    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=1)
        return self.clock

    def full_row(self, source: str, values: dict[str, Any]) -> dict[str, Any]:
        return {c: values.get(c) for c in self.models[source].rules.staging_columns}

    def stage(self, source: str, values: dict[str, Any]) -> None:
        row = self.full_row(source, values)
        self.staging[source].append(row)
        self.p.stage(source, row)

    def version(self, source: str, id_: Any, fields: dict[str, Any], updated: dt.datetime,
                **extra: Any) -> dict[str, Any]:
        return {"id": id_, **fields, "created_at": T0, "updated_at": updated, **extra}

    # -- rules -----------------------------------------------------------------
    @initialize()
    def seed(self) -> None:
        """A small world where some companies are vendors (as in test_scenarios_vendor)."""
        self.snapshot["countries"] = {
            1: {"id": 1, "name": "France", "iso2": "FR", "is_eu_member": True, "created_at": T0, "updated_at": T0},
            2: {"id": 2, "name": "Germany", "iso2": "DE", "is_eu_member": True, "created_at": T0, "updated_at": T0},
        }
        self.snapshot["product_categories"] = {
            1: {"id": 1, "name": "Steel", "code": "STL", "created_at": T0, "updated_at": T0}}
        for i, (name, country) in enumerate([("Paris", 1), ("Lyon", 1), ("Berlin", 2)], 1):
            self.stage("cities", self.version("cities", i, {"name": name, "country_id": country}, T0))
        self.stage("users", self.version("users", 1, {"first_name": "Alice", "last_name": "Smith"}, T0))
        for i in range(1, 5):
            self.stage("companies", self.version(
                "companies", i, {"name": f"C{i}", "status": 1, "category": 1 + (i % 2), "city_id": i % 3 + 1,
                                 "primary_contact_id": 1, "primary_category_id": 1}, T0))
            self.stage("buyer_seller_company_mappings", self.version(
                "buyer_seller_company_mappings", i,
                {"client_company_id": 12855, "dealing_with_company_id": i, "status": 1, "source": 0,
                 "invited_by": 1}, T0))
        self.run_cycle(clear=True)

    @rule(source=WINDOW_SOURCES, data=st.data())
    def upsert(self, source: str, data: st.DataObject) -> None:
        """Insert or update (any column may go to or from NULL; lookups re-point)."""
        id_ = data.draw(IDS[source], label="id")
        fields = data.draw(FIELDS[source], label="fields")
        self.stage(source, self.version(source, id_, fields, self.tick()))

    @rule(source=WINDOW_SOURCES, data=st.data())
    def soft_delete(self, source: str, data: st.DataObject) -> None:
        id_ = data.draw(IDS[source], label="id")
        fields = data.draw(FIELDS[source], label="fields")
        now = self.tick()
        self.stage(source, self.version(source, id_, fields, now, deleted_at=now))

    @rule(data=st.data())
    def flip_company(self, data: st.DataObject) -> None:
        """Change exactly one qualifying/lookup column of a live company."""
        live = self.models["companies"].rows
        if not live:
            return
        key = data.draw(st.sampled_from(sorted(live)), label="company")
        column, value = data.draw(st.sampled_from([
            ("status", 0), ("status", 1), ("category", 3), ("category", 4), ("city_id", 2),
            ("city_id", None), ("primary_contact_id", 2), ("primary_category_id", None), ("name", None),
        ]), label="flip")
        row = {**live[key], column: value, "updated_at": self.tick()}
        self.stage("companies", row)

    @rule(data=st.data())
    def flip_mapping(self, data: st.DataObject) -> None:
        live = self.models["buyer_seller_company_mappings"].rows
        if not live:
            return
        key = data.draw(st.sampled_from(sorted(live)), label="mapping")
        column, value = data.draw(st.sampled_from([
            ("client_company_id", 999), ("client_company_id", 12855), ("status", 3), ("status", 7),
            ("source", 2), ("source", 1), ("invited_by", None), ("invited_by", 2),
        ]), label="flip")
        self.stage("buyer_seller_company_mappings", {**live[key], column: value, "updated_at": self.tick()})

    @rule(source=WINDOW_SOURCES, data=st.data())
    def stale_version(self, source: str, data: st.DataObject) -> None:
        """An older version of a live key arrives late (it must be skipped)."""
        live = self.models[source].rows
        if not live:
            return
        key = data.draw(st.sampled_from(sorted(live)), label="key")
        fields = data.draw(FIELDS[source], label="fields")
        old = live[key]["updated_at"] - dt.timedelta(seconds=data.draw(st.integers(1, 90), label="age"))
        self.stage(source, self.version(source, key[0], fields, old))

    @rule(source=WINDOW_SOURCES, data=st.data())
    def two_versions_one_batch(self, source: str, data: st.DataObject) -> None:
        """Two versions of one key in one batch, newer first or tied on updated_at."""
        id_ = data.draw(IDS[source], label="id")
        tie = data.draw(st.booleans(), label="tie")
        first = self.tick()
        second = first if tie else self.tick()
        self.stage(source, self.version(source, id_, data.draw(FIELDS[source]), second))
        self.stage(source, self.version(source, id_, data.draw(FIELDS[source]), first))

    @rule(source=WINDOW_SOURCES)
    def exact_duplicate(self, source: str) -> None:
        if self.staging[source]:
            self.stage(source, dict(self.staging[source][-1]))

    @rule(source=WINDOW_SOURCES, data=st.data())
    def null_key(self, source: str, data: st.DataObject) -> None:
        self.stage(source, self.version(source, None, data.draw(FIELDS[source]), self.tick()))

    @rule(data=st.data())
    def failing_check(self, data: st.DataObject) -> None:
        bad = data.draw(st.sampled_from([("status", 9), ("credit_limit", Decimal("-1.00"))]))
        fields = {**data.draw(company_fields), bad[0]: bad[1]}
        self.stage("companies", self.version("companies", data.draw(IDS["companies"]), fields, self.tick()))

    @rule(data=st.data())
    def null_updated_at(self, data: st.DataObject) -> None:
        self.stage("cities", self.version("cities", data.draw(IDS["cities"]), data.draw(city_fields), None))

    @rule(id_=st.integers(1, 3), op=st.sampled_from(["I", "U", "D", "d"]), taggable=st.integers(1, 6),
          stale=st.booleans())
    def tagging(self, id_: int, op: str, taggable: int, stale: bool) -> None:
        """The append-mode op-column feed: staging accumulates, the watermark picks new rows."""
        loaded = self.tick()
        updated = loaded - dt.timedelta(hours=2) if stale else loaded
        self.stage("taggings", {"id": id_, "tag_id": 7, "taggable_id": taggable, "taggable_type": "Company",
                                "created_at": T0, "updated_at": updated, "op": op, "_loaded_at": loaded})

    @rule(id_=st.integers(1, 3))
    def tagging_without_load_time(self, id_: int) -> None:
        """An append-mode row with no load time, at any run: dead-lettered once, never dropped."""
        self.stage("taggings", {"id": id_, "tag_id": 7, "taggable_id": 1, "taggable_type": "Company",
                                "created_at": T0, "updated_at": self.tick(), "op": "U", "_loaded_at": None})

    @rule(source=st.sampled_from(SNAPSHOTS), id_=st.integers(1, 4), data=st.data())
    def snapshot_upsert(self, source: str, id_: int, data: st.DataObject) -> None:
        fields = data.draw(country_fields if source == "countries" else category_fields)
        self.snapshot[source][id_] = {"id": id_, **fields, "created_at": T0, "updated_at": self.tick()}

    @rule(source=st.sampled_from(SNAPSHOTS), data=st.data())
    def snapshot_loses_row(self, source: str, data: st.DataObject) -> None:
        if self.snapshot[source]:
            del self.snapshot[source][data.draw(st.sampled_from(sorted(self.snapshot[source])))]

    @rule(source=st.sampled_from(SNAPSHOTS))
    def snapshot_load_missing(self, source: str) -> None:
        """The next cycle's snapshot load is empty: not a mass delete."""
        self.lost.add(source)

    @rule(clear=st.booleans())
    def run_cycle(self, clear: bool) -> None:
        for source in SNAPSHOTS:  # full snapshots are re-staged every cycle
            self.p.clear_staging(source)
            self.staging[source] = []
            if source not in self.lost:
                for row in self.snapshot[source].values():
                    self.stage(source, row)
        run_and_check(self.p, self.models, self.staging, FIGURES)
        facts = table_rows(self.p.conn, "staging_public.fact_vendor", VENDOR_COLUMNS, ["vendor_id"])
        expected = {(k,): v for k, v in vendor_fact_rows(self.models).items()}
        if facts != expected:
            diff = {k: (facts.get(k), expected.get(k)) for k in set(facts) | set(expected)
                    if facts.get(k) != expected.get(k)}
            raise AssertionError(f"fact_vendor != independent evaluation (db, model): {diff}")
        self.lost.clear()
        if clear:  # the window-mode ETL reloads; otherwise staging re-delivers the same rows
            for source in FIELDS:
                self.p.clear_staging(source)
                self.staging[source] = []

    @rule()
    def run_cycle_and_verify(self) -> None:
        """Another cycle (re-delivering window staging), then the verify procedure agrees."""
        self.run_cycle(clear=False)
        assert all(v == (0, 0, 0) for v in self.p.verify().values())
        found = {k: v for k, v in self.p.checks().items() if v[0]}
        assert not found, f"verify's audit-trail checks report a sound history: {found}"


@pytest.fixture(scope="module", params=["shipped", "whole_path"])
def vendor_pipeline(pg_admin_dsn: str, request: pytest.FixtureRequest):
    """As shipped, and built to take the whole path (path by cost) whenever a key is affected."""
    files = postgres_rendering(SPEC)
    if request.param == "whole_path":
        files = with_whole_path_pct(files, 0)
    with deployed_database(pg_admin_dsn, files) as p:
        yield p


def _run(p: Pipeline) -> None:
    VendorMachine.pipeline = p
    run_state_machine_as_test(VendorMachine, settings=budget(8, 1000, stateful_step_count=15))
    print(f"\nvendor state machine: {FIGURES}")


def test_vendor_state_machine(vendor_pipeline: Pipeline) -> None:
    _run(vendor_pipeline)


@soak_variant
def test_vendor_state_machine_soak(vendor_pipeline: Pipeline) -> None:
    _run(vendor_pipeline)

"""Benchmark data for the vendor pipeline: a supplier network at a chosen scale, and
one batch of changes at a chosen rate.

It reuses the demo's generator (:mod:`cdcgen.demo.data`) where it fits: its reference
data (countries, the category tree, tags, the four buyers), its name lists and its
:class:`~cdcgen.demo.data.ColumnFaker`. The demo builds every supplier row through the
faker and checks names for uniqueness, which is quadratic and takes minutes at 10,000
companies, and it has a fixed list of 43 cities. So here:

- cities grow with the scale (``CITIES_PER_SCALE``), real ones first;
- every supplier-side row starts from one of a few hundred faker-made *templates* per
  source (so the 300+ filler columns look like the demo's), then its structural
  columns (keys, foreign keys, names, the codes fact_vendor qualifies on) are set;
- proportions follow the demo's ``supplier()`` (users, mappings, teams, tags, items).

Scale 1 is 10,000 suppliers (~110,000 source rows). Everything derives from one
seeded :class:`random.Random`, so a seed gives the same data and the same batch.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cdcgen.demo.data import (
    CLIENT_ID,
    COMPANY_STEMS,
    COMPANY_TRADES,
    EPOCH,
    FIRST_COMPANY_ID,
    FIRST_NAMES,
    JOB_TITLES,
    LAST_NAMES,
    OTHER_CLIENT_IDS,
    VENDOR_CATEGORIES,
    ColumnFaker,
    Row,
    World,
    WorldBuilder,
    slugify,
)

COMPANIES_PER_SCALE = 10_000
CITIES_PER_SCALE = 1_000
TEMPLATES_PER_SOURCE = 200
TOWN_SUFFIXES = ("ville", "ford", "burg", "ton", "field", "haven", "port", "dale", "stead")
SNAPSHOT_SOURCES = ("countries", "product_categories")
APPEND_SOURCES = ("team_members", "taggings")


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class FastBuilder:
    """Builds supplier-side rows from faker templates: fast enough for 100k+ rows."""

    def __init__(self, world: World, rng: random.Random):
        self.world = world
        self.rng = rng
        self.demo = WorldBuilder(world, rng)
        faker = ColumnFaker(rng)
        self.templates = {
            source: [
                faker.fill({"name": "Template", "created_at": None, "updated_at": None}, types)
                for _ in range(TEMPLATES_PER_SOURCE)
            ]
            for source, types in world.types.items()
        }
        self.client_staff: list[int] = []
        self.city_ids: list[int] = []
        self.leaf_ids: list[int] = []

    def on(self, world: World, rng: random.Random) -> FastBuilder:
        """The same builder (templates, id lists) writing into another world."""
        clone = copy.copy(self)
        clone.world, clone.rng = world, rng
        return clone

    # -- helpers

    def row(self, table: str, /, **values: Any) -> Row:
        """A template copy with ``values`` set, stored in the world."""
        row = {**self.rng.choice(self.templates[table]), **values}
        self.world.table(table)[row["id"]] = row
        return row

    def history(self, oldest_days: int = 1500) -> tuple[dt.datetime, dt.datetime]:
        created = EPOCH - dt.timedelta(
            days=self.rng.randint(2, oldest_days), minutes=self.rng.randint(0, 1439)
        )
        span = int((EPOCH - created).total_seconds()) - 60
        return created, created + dt.timedelta(seconds=self.rng.randint(0, span))

    # -- reference data and buyers (the demo's own builders: small)

    def reference(self, n_cities: int) -> None:
        self.demo.countries()
        self.demo.cities()
        self.demo.product_categories()
        self.demo.tags()
        self.demo.buyers()
        self.extra_cities(n_cities - len(self.world.table("cities")))
        self.city_ids = list(self.world.table("cities"))
        self.leaf_ids = [
            c["id"] for c in self.world.alive("product_categories") if c.get("is_leaf")
        ]
        self.client_staff = [u["id"] for u in self.world.users_of(CLIENT_ID)]

    def extra_cities(self, n: int) -> None:
        countries = list(self.world.table("countries").values())
        first = max(self.world.table("cities")) + 1
        for number in range(max(n, 0)):
            stem = COMPANY_STEMS[number % len(COMPANY_STEMS)]
            suffix = TOWN_SUFFIXES[(number // len(COMPANY_STEMS)) % len(TOWN_SUFFIXES)]
            round_ = number // (len(COMPANY_STEMS) * len(TOWN_SUFFIXES))
            name = f"{stem}{suffix}" + (f" {round_ + 1}" if round_ else "")
            country = self.rng.choice(countries)
            created, updated = self.history()
            self.row(
                "cities",
                id=first + number,
                country_id=country["id"],
                name=name,
                ascii_name=name,
                slug=slugify(name),
                time_zone=self.rng.choice(("Europe/Paris", "America/Chicago", "Asia/Tokyo")),
                latitude=Decimal(str(round(self.rng.uniform(-50, 65), 6))),
                longitude=Decimal(str(round(self.rng.uniform(-150, 150), 6))),
                population=self.rng.randint(5_000, 900_000),
                status=1,
                tier=3,
                created_at=created,
                updated_at=updated,
                deleted_at=None,
            )

    # -- suppliers

    def supplier(self, company_id: int) -> Row:
        rng = self.rng
        company = self.company(company_id)
        people = [self.user(company) for _ in range(rng.randint(1, 4))]
        company["primary_contact_id"] = rng.choice(people)["id"]
        if rng.random() < 0.1 and company_id > FIRST_COMPANY_ID:
            company["parent_company_id"] = rng.randint(FIRST_COMPANY_ID, company_id - 1)
        for person in people:
            self.user_company_mapping(person)
        if company["category"] in VENDOR_CATEGORIES and rng.random() < 0.85:
            self.mapping(company_id, CLIENT_ID)
        if rng.random() < 0.25:
            self.mapping(company_id, rng.choice(OTHER_CLIENT_IDS))
        if rng.random() < 0.45:
            self.team(company, people)
        for _ in range(rng.choice((0, 1, 1, 2))):
            self.tagging(company_id)
        if company["category"] in VENDOR_CATEGORIES:
            for _ in range(rng.randint(0, 3)):
                self.item(company_id)
        return company

    def company(self, company_id: int, **given: Any) -> Row:
        rng = self.rng
        city = self.world.table("cities")[rng.choice(self.city_ids)]
        name = f"{rng.choice(COMPANY_STEMS)} {rng.choice(COMPANY_TRADES)} {company_id}"
        created, updated = given.pop("history", None) or self.history()
        creator = rng.choice(self.client_staff)
        return self.row(
            "companies",
            id=company_id,
            name=name,
            legal_name=f"{name} Ltd",
            display_name=name,
            email=f"info@{slugify(name)}.example",
            status=_weighted(rng, {1: 72, 0: 10, 2: 8, 3: 10}),
            category=_weighted(rng, {1: 30, 2: 25, 4: 20, 3: 15, 5: 10}),
            city_id=city["id"],
            state_code=city["state_code"],
            primary_category_id=rng.choice(self.leaf_ids),
            parent_company_id=None,
            employee_count=rng.choice(
                (None, rng.randint(3, 49), rng.randint(50, 999), rng.randint(1000, 50_000))
            ),
            credit_limit=Decimal(rng.randrange(10_000, 2_000_000, 5_000)),
            created_by=creator,
            updated_by=creator,
            created_at=created,
            updated_at=updated,
            deleted_at=None,
            **given,
        )

    def user(self, company: Row, **given: Any) -> Row:
        rng = self.rng
        user_id = self.world.new_id("users", 1001)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created, updated = given.pop("history", None) or self.history(1200)
        return self.row(
            "users",
            id=user_id,
            company_id=company["id"],
            first_name=first,
            last_name=last,
            display_name=f"{first} {last}",
            email=f"{slugify(first)}.{slugify(last)}{user_id}@{slugify(company['name'])[:40]}.example",
            job_title=rng.choice(JOB_TITLES),
            city_id=company["city_id"],
            is_active=rng.random() < 0.9,
            created_at=created,
            updated_at=updated,
            deleted_at=None,
            **given,
        )

    def user_company_mapping(self, person: Row) -> Row:
        return self.row(
            "user_company_mappings",
            id=self.world.new_id("user_company_mappings", 700_001),
            user_id=person["id"],
            company_id=person["company_id"],
            created_at=person["created_at"],
            updated_at=person["updated_at"],
            deleted_at=None,
        )

    def mapping(self, company_id: int, client_id: int, **given: Any) -> Row:
        rng = self.rng
        created, updated = given.pop("history", None) or self.history(900)
        status = given.pop("status", None) or _weighted(rng, {1: 62, 2: 18, 7: 8, 3: 12})
        return self.row(
            "buyer_seller_company_mappings",
            id=self.world.new_id("buyer_seller_company_mappings", 500_001),
            client_company_id=client_id,
            dealing_with_company_id=company_id,
            status=status,
            source=given.pop("source", None) or _weighted(rng, {0: 55, 1: 38, 2: 7}),
            invited_by=rng.choice(self.client_staff) if rng.random() < 0.95 else None,
            invited_at=created,
            accepted_at=created + dt.timedelta(hours=rng.randint(1, 400))
            if status in (1, 2, 7)
            else None,
            created_at=created,
            updated_at=updated,
            deleted_at=None,
            **given,
        )

    def team(self, company: Row, people: list[Row]) -> None:
        created, updated = self.history(700)
        team = self.row(
            "teams",
            id=self.world.new_id("teams", 800_001),
            company_id=company["id"],
            lead_user_id=people[0]["id"],
            member_count=len(people),
            created_at=created,
            updated_at=updated,
            deleted_at=None,
        )
        for person in people:
            created, updated = self.history(600)
            self.row(
                "team_members",
                id=self.world.new_id("team_members", 900_001),
                team_id=team["id"],
                user_id=person["id"],
                created_at=created,
                updated_at=updated,
                deleted_at=None,
                _loaded_at=EPOCH,
            )

    def tagging(self, company_id: int) -> None:
        created, updated = self.history(500)
        self.row(
            "taggings",
            id=self.world.new_id("taggings", 1_000_001),
            tag_id=self.rng.randint(1, len(self.world.table("tags"))),
            taggable_id=company_id,
            taggable_type="Company",
            tenant_company_id=CLIENT_ID,
            created_at=created,
            updated_at=updated,
            op="I",
            _loaded_at=EPOCH,
        )

    def item(self, vendor_id: int) -> None:
        created, updated = self.history(800)
        self.row(
            "preferred_vendor_item_mappings",
            id=self.world.new_id("preferred_vendor_item_mappings", 1_100_001),
            client_company_id=CLIENT_ID,
            vendor_company_id=vendor_id,
            product_category_id=self.rng.choice(self.leaf_ids),
            created_at=created,
            updated_at=updated,
            deleted_at=None,
        )


def generate(
    types: dict[str, dict[str, str]], scale: float, seed: int
) -> tuple[World, FastBuilder]:
    """The initial world at ``scale`` (1 = 10,000 suppliers, 1,000 cities)."""
    rng = random.Random(seed)
    world = World({source: dict(columns) for source, columns in types.items()})
    builder = FastBuilder(world, rng)
    builder.reference(max(60, round(CITIES_PER_SCALE * scale)))
    total = max(50, round(COMPANIES_PER_SCALE * scale))
    for number in range(total):
        builder.supplier(FIRST_COMPANY_ID + number)
    world.next_id["companies"] = FIRST_COMPANY_ID + total
    return world, builder


# --------------------------------------------------------------------------- a batch


@dataclass
class Batch:
    """One cycle's changes: rows per source as the ETL stages them, and what they are."""

    rate: float
    rows: dict[str, list[Row]]
    changed: dict[str, int] = field(default_factory=dict)  # source -> rows changed

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


class BatchMaker:
    """Changes ``rate`` of companies, cities, users and buyer-seller mappings (a realistic
    mix: renames, moves, qualification flips, soft deletes, new vendors), and renames
    ``rate`` of the countries in the full snapshot."""

    def __init__(self, base: World, builder: FastBuilder, rate: float, seed: int):
        self.world = fork(base)
        self.rng = random.Random(seed)
        self.builder = builder.on(self.world, self.rng)
        self.rate = rate
        self.changed: dict[str, dict[int, Row]] = {}
        self._ticks = 0

    def tick(self) -> dt.datetime:
        self._ticks += 1
        return EPOCH + dt.timedelta(seconds=self._ticks)

    def touch(self, table: str, row: Row, /, **changes: Any) -> None:
        new = {**row, **changes, "updated_at": self.tick()}
        self.world.table(table)[row["id"]] = new
        self.changed.setdefault(table, {})[row["id"]] = new

    def count(self, source: str) -> int:
        """At least one row per source at any positive rate; none at 0 (a no-op cycle)."""
        if self.rate <= 0:
            return 0
        return max(1, round(self.rate * len(self.world.table(source))))

    @staticmethod
    def planned(world: World, rate: float) -> int:
        """The source rows :meth:`make` changes at ``rate`` on ``world`` (before it runs;
        exact unless a source runs out of rows to change)."""
        if rate <= 0:
            return 0

        def count(source: str, extra: int = 0) -> int:
            return max(1, round(rate * (len(world.table(source)) + extra)))

        companies = count("companies")
        new = max(1, companies // 10)  # new vendors: a company, a user and a mapping each
        return (
            companies
            + 3 * new
            + count("cities")
            + round(rate * len(world.table("countries")))
            + count("users", new)
            + count("buyer_seller_company_mappings", new)
        )

    @classmethod
    def rate_for(cls, world: World, rows: int) -> float:
        """The smallest rate whose batch changes at least ``rows`` source rows (the same
        mix of changes as a rate-based batch, so scales compare like for like)."""
        if rows <= 0:
            return 0.0
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = (low + high) / 2
            if cls.planned(world, middle) >= rows:
                high = middle
            else:
                low = middle
        return high

    def sample(self, source: str, n: int) -> list[Row]:
        alive = [r for r in self.world.alive(source) if r["id"] not in self.changed.get(source, {})]
        return self.rng.sample(alive, min(n, len(alive)))

    def make(self) -> Batch:
        self.companies()
        self.new_vendors()
        self.cities()
        self.countries()
        self.users()
        self.mappings()
        return self.batch()

    def companies(self) -> None:
        rng = self.rng
        for company in self.sample("companies", self.count("companies")):
            kind = _weighted(
                rng,
                {
                    "attrs": 40,
                    "rename": 20,
                    "move": 10,
                    "status": 10,
                    "category": 5,
                    "delete": 5,
                    "poc": 10,
                },
            )
            if kind == "attrs":
                self.touch(
                    "companies",
                    company,
                    phone=f"+1 555 {rng.randint(1000, 9999)}",
                    rating=Decimal(str(round(rng.uniform(1, 5), 2))),
                    employee_count=rng.randint(3, 5000),
                )
            elif kind == "rename":
                name = f"{company['name']} {rng.choice(('Group', 'Holdings', 'Global'))}"[:255]
                self.touch("companies", company, name=name, display_name=name)
            elif kind == "move":
                city = self.world.table("cities")[rng.choice(self.builder.city_ids)]
                self.touch("companies", company, city_id=city["id"], state_code=city["state_code"])
            elif kind == "status":
                self.touch("companies", company, status=2 if company["status"] == 1 else 1)
            elif kind == "category":
                self.touch(
                    "companies",
                    company,
                    category=3 if company["category"] in VENDOR_CATEGORIES else 1,
                )
            elif kind == "delete":
                self.touch("companies", company, deleted_at=self.tick())
            else:
                people = self.world.users_of(company["id"]) if rng.random() < 0.1 else []
                self.touch(
                    "companies",
                    company,
                    primary_contact_id=rng.choice(people)["id"]
                    if people
                    else rng.choice(list(self.world.table("users"))),
                )

    def new_vendors(self) -> None:
        """New companies (created_at = updated_at) with a contact and a client mapping."""
        for _ in range(max(1 if self.rate > 0 else 0, self.count("companies") // 10)):
            stamp = self.tick()
            company_id = self.world.new_id("companies", FIRST_COMPANY_ID)
            company = self.builder.company(company_id, history=(stamp, stamp))
            company["status"], company["category"] = 1, self.rng.choice(VENDOR_CATEGORIES)
            contact = self.builder.user(company, history=(stamp, stamp))
            company["primary_contact_id"] = contact["id"]
            mapping = self.builder.mapping(
                company_id, CLIENT_ID, history=(stamp, stamp), status=1, source=1
            )
            for source, row in (
                ("companies", company),
                ("users", contact),
                ("buyer_seller_company_mappings", mapping),
            ):
                self.changed.setdefault(source, {})[row["id"]] = row

    def cities(self) -> None:
        for city in self.sample("cities", self.count("cities")):
            if self.rng.random() < 0.1:
                country = self.rng.choice(list(self.world.table("countries")))
                self.touch("cities", city, country_id=country)
            else:
                self.touch(
                    "cities",
                    city,
                    name=f"{city['name']} (new)"[:150],
                    population=self.rng.randint(5_000, 900_000),
                )

    def countries(self) -> None:
        n = round(self.rate * len(self.world.table("countries")))
        for country in self.sample("countries", n):
            self.touch("countries", country, name=f"{country['name']} (renamed)")

    def users(self) -> None:
        for user in self.sample("users", self.count("users")):
            last = self.rng.choice(LAST_NAMES)
            self.touch(
                "users",
                user,
                last_name=last,
                display_name=f"{user['first_name']} {last}",
                mobile_phone=f"+44 7{self.rng.randint(100, 999)} {self.rng.randint(100000, 999999)}",
            )

    def mappings(self) -> None:
        rng = self.rng
        for mapping in self.sample(
            "buyer_seller_company_mappings", self.count("buyer_seller_company_mappings")
        ):
            kind = _weighted(
                rng, {"status": 50, "source": 15, "inviter": 15, "delete": 10, "notes": 10}
            )
            if kind == "status":
                self.touch(
                    "buyer_seller_company_mappings",
                    mapping,
                    status=3 if mapping["status"] in (1, 2, 7) else 1,
                )
            elif kind == "source":
                self.touch(
                    "buyer_seller_company_mappings",
                    mapping,
                    source=2 if mapping["source"] in (0, 1) else 0,
                )
            elif kind == "inviter":
                inviter = None if mapping["invited_by"] else rng.choice(self.builder.client_staff)
                self.touch("buyer_seller_company_mappings", mapping, invited_by=inviter)
            elif kind == "delete":
                self.touch("buyer_seller_company_mappings", mapping, deleted_at=self.tick())
            else:
                self.touch(
                    "buyer_seller_company_mappings",
                    mapping,
                    notes="renegotiated",
                    vendor_code=f"VC-{rng.randint(1000, 9999)}",
                )

    def batch(self) -> Batch:
        """What the ETL stages: changed rows of window sources, snapshots in full,
        nothing new for the append feeds (their staging keeps the bootstrap rows)."""
        rows: dict[str, list[Row]] = {}
        for source in self.world.types:
            if source in SNAPSHOT_SOURCES:
                rows[source] = list(self.world.table(source).values())
            elif source not in APPEND_SOURCES:
                rows[source] = list(self.changed.get(source, {}).values())
        changed = {s: len(r) for s, r in self.changed.items()}
        return Batch(self.rate, rows, changed)


def fork(world: World) -> World:
    """A copy of ``world`` that a batch can change (rows are replaced, never mutated)."""
    rows = {source: dict(table) for source, table in world.rows.items()}
    return World(world.types, rows, dict(world.next_id))


def live_rows(world: World, source: str) -> list[Row]:
    """The rows a correct baseline holds after the batch: not soft-deleted, not 'D'."""
    return [
        r for r in world.table(source).values() if not r.get("deleted_at") and r.get("op") != "D"
    ]

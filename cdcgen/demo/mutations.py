"""What happens in the operational database between two CDC cycles, and what the ETL
then loads into staging.

Each cycle applies a few named mutations to the :class:`~cdcgen.demo.data.World`
(renames, moves, qualification flips, soft deletes, …) and records the changed rows.
:meth:`CycleBuilder.staging` then answers what an ETL would have loaded, per source
mode (DESIGN §2):

- window mode: staging is cleared and reloaded with the rows changed in the window;
- snapshot sources (countries, product_categories): their full table, every cycle, so a
  missing key is a delete;
- append mode (team_members, taggings): staging accumulates; the new rows carry a
  ``_loaded_at`` beyond the previous load, which is what the run's watermark picks.

The batch also carries the untidy things real feeds deliver — two versions of one key,
a row older than the warehouse's copy, a row with a NULL key, a row failing a check —
so the demo shows the run deduplicating, skipping and dead-lettering them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cdcgen.demo.data import (
    CLIENT_ID,
    CYCLE_MINUTES,
    EPOCH,
    FIRST_COMPANY_ID,
    VENDOR_CATEGORIES,
    Row,
    World,
    WorldBuilder,
)

SNAPSHOT_SOURCES = ("countries", "product_categories")
APPEND_SOURCES = ("team_members", "taggings")

#: Renames a reader recognises (local spellings, official names).
CITY_RENAMES = {
    "Munich": "München",
    "Gothenburg": "Göteborg",
    "Turin": "Torino",
    "Milan": "Milano",
    "Rome": "Roma",
    "Bengaluru": "Bangalore",
    "Zurich": "Zürich",
    "Geneva": "Genève",
    "Montreal": "Montréal",
    "Warsaw": "Warszawa",
    "Paris": "Paris-Centre",
    "Lyon": "Grand Lyon",
}
COUNTRY_RENAMES = {
    "Netherlands": "The Netherlands",
    "United States": "USA",
    "United Kingdom": "UK",
    "Germany": "Deutschland",
    "Spain": "España",
    "Italy": "Italia",
    "Japan": "Nippon",
    "Mexico": "México",
    "Poland": "Polska",
    "Sweden": "Sverige",
    "France": "République française",
}
NAME_SUFFIXES = ("Group", "Holdings", "International", "& Co", "Global", "Partners")


@dataclass
class Staged:
    """What the ETL loads for one cycle: rows per source, and whether staging is first
    cleared (window mode) or appended to (append mode)."""

    rows: dict[str, list[Row]]
    cleared: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@dataclass
class CycleBuilder:
    """Mutations of one cycle, with a clock so every change is newer than the last."""

    world: World
    rng: random.Random
    number: int
    mutations: list[str] = field(default_factory=list)
    changed: dict[str, dict[int, Row]] = field(default_factory=dict)
    extras: dict[str, list[Row]] = field(default_factory=dict)
    _ticks: int = 0

    @property
    def builder(self) -> WorldBuilder:
        return WorldBuilder(self.world, self.rng)

    @property
    def loaded_at(self) -> dt.datetime:
        """When the ETL loaded this cycle's batch: the end of the cycle's window."""
        return EPOCH + dt.timedelta(minutes=CYCLE_MINUTES * self.number)

    def tick(self) -> dt.datetime:
        """A new change time inside this cycle's window, later than every earlier one."""
        self._ticks += 1
        start = self.loaded_at - dt.timedelta(minutes=CYCLE_MINUTES)
        return start + dt.timedelta(seconds=7 * self._ticks)

    # -- recording changes

    def touch(self, source: str, key: int, **changes: object) -> Row:
        """The application updated a row: a new version with a newer updated_at."""
        row = {**self.world.table(source)[key], **changes, "updated_at": self.tick()}
        if source in APPEND_SOURCES:
            row["_loaded_at"] = self.loaded_at
        self.world.table(source)[key] = row
        self.changed.setdefault(source, {})[key] = row
        return row

    def inserted(self, source: str, row: Row) -> Row:
        self.changed.setdefault(source, {})[row["id"]] = row
        return row

    def fresh(self) -> tuple[dt.datetime, dt.datetime]:
        """(created_at, updated_at) of a brand-new row: equal, the seeds' INSERT mark."""
        now = self.tick()
        return now, now

    def note(self, sentence: str | None) -> None:
        if sentence:
            self.mutations.append(sentence)

    # -- what the ETL loads

    def staging(self) -> Staged:
        rows: dict[str, list[Row]] = {}
        for source in self.world.types:
            if source in SNAPSHOT_SOURCES:
                rows[source] = list(self.world.table(source).values())
            else:
                rows[source] = list(self.changed.get(source, {}).values())
            rows[source] += self.extras.get(source, [])
        cleared = tuple(s for s in self.world.types if s not in APPEND_SOURCES)
        return Staged(rows, cleared)

    # -- picking

    def vendors(self) -> list[Row]:
        related = self.world.related_ids()
        return [c for c in self.world.alive("companies") if self.world.is_vendor(c, related)]

    def unchanged(self, rows: list[Row], source: str = "companies") -> list[Row]:
        done = self.changed.get(source, {})
        return [r for r in rows if r["id"] not in done]

    def pick(self, rows: list[Row], n: int = 1) -> list[Row]:
        return self.rng.sample(rows, min(n, len(rows)))

    # --------------------------------------------------------------------- the mutations

    def rename_companies(self, n: int = 2) -> str | None:
        picked = self.pick(self.unchanged(self.vendors()), n)
        renames = []
        for company in picked:
            new = f"{company['name']} {self.rng.choice(NAME_SUFFIXES)}"[:255]
            self.touch("companies", company["id"], name=new, display_name=new)
            renames.append(f"{company['name']} → {new}")
        return (
            f"renamed {_plural(len(renames), 'company')} ({', '.join(renames)})"
            if renames
            else None
        )

    def rename_city(self) -> str | None:
        per_city: dict[int, int] = {}
        for vendor in self.vendors():
            per_city[vendor["city_id"]] = per_city.get(vendor["city_id"], 0) + 1
        cities = [c for c in self.world.alive("cities") if c["name"] in CITY_RENAMES]
        if not cities:
            return None
        city = max(cities, key=lambda c: (per_city.get(c["id"], 0), -c["id"]))
        new = CITY_RENAMES[city["name"]]
        self.touch("cities", city["id"], name=new, ascii_name=new)
        vendors = per_city.get(city["id"], 0)
        return f"city {city['name']} renamed {new} ({_plural(vendors, 'vendor')} there)"

    def move_company(self) -> str | None:
        (company,) = self.pick(self.unchanged(self.vendors())) or (None,)
        if company is None:
            return None
        here = self.world.table("cities")[company["city_id"]]
        elsewhere = [c for c in self.world.alive("cities") if c["country_id"] != here["country_id"]]
        city = self.rng.choice(elsewhere)
        self.touch("companies", company["id"], city_id=city["id"], state_code=city["state_code"])
        return f"{company['name']} moved from {here['name']} to {city['name']}"

    def rename_country(self) -> str | None:
        countries = [c for c in self.world.alive("countries") if c["name"] in COUNTRY_RENAMES]
        if not countries:
            return None
        vendors_in = self._vendors_per_country()
        country = max(countries, key=lambda c: (vendors_in.get(c["id"], 0), -c["id"]))
        new = COUNTRY_RENAMES[country["name"]]
        self.touch("countries", country["id"], name=new)
        return (
            f"country {country['name']} renamed {new} in the full snapshot "
            f"(two hops away from {_plural(vendors_in.get(country['id'], 0), 'vendor')})"
        )

    def _vendors_per_country(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for vendor in self.vendors():
            city = self.world.table("cities").get(vendor["city_id"])
            if city:
                counts[city["country_id"]] = counts.get(city["country_id"], 0) + 1
        return counts

    def suspend_vendor(self) -> str | None:
        (company,) = self.pick(self.unchanged(self.vendors())) or (None,)
        if company is None:
            return None
        self.touch("companies", company["id"], status=2)
        return f"{company['name']} suspended (status 1 → 2: leaves fact_vendor)"

    def accept_vendor(self) -> str | None:
        """A company that is active and of a vendor category, but not (yet) a vendor of
        the client, gets an accepted relationship: it starts qualifying."""
        related = self.world.related_ids()
        candidates = [
            c
            for c in self.unchanged(self.world.alive("companies"))
            if c["id"] >= FIRST_COMPANY_ID
            and c["status"] == 1
            and c["category"] in VENDOR_CATEGORIES
            and not self.world.is_vendor(c, related)
        ]
        (company,) = self.pick(candidates) or (None,)
        if company is None:
            return None
        created, updated = self.fresh()
        inviter = self.rng.choice(self.world.users_of(CLIENT_ID))
        self.inserted(
            "buyer_seller_company_mappings",
            self.builder.vendor_mapping(
                company["id"],
                status=1,
                source=0,
                invited_by=inviter["id"],
                history=(created, updated),
            ),
        )
        return f"Northwind accepted {company['name']} as a vendor (a new relationship: joins fact_vendor)"

    def reactivate(self) -> str | None:
        related = self.world.related_ids()
        candidates = [
            c
            for c in self.unchanged(self.world.alive("companies"))
            if c["status"] in (0, 2)
            and c["category"] in VENDOR_CATEGORIES
            and self.world.is_vendor({**c, "status": 1}, related)
        ]
        (company,) = self.pick(candidates) or (None,)
        if company is None:
            return None
        self.touch("companies", company["id"], status=1)
        return (
            f"{company['name']} reactivated (status {company['status']} → 1: back in fact_vendor)"
        )

    def soft_delete(self, n: int = 2) -> str | None:
        picked = self.pick(
            self.unchanged(
                [c for c in self.world.alive("companies") if c["id"] >= FIRST_COMPANY_ID]
            ),
            n,
        )
        for company in picked:
            self.touch("companies", company["id"], deleted_at=self.tick())
        names = ", ".join(c["name"] for c in picked)
        return f"soft-deleted {_plural(len(picked), 'company')} ({names})" if picked else None

    def drop_category(self) -> str | None:
        """A snapshot source losing a row: the category vanishes from the full reload."""
        used: dict[int, int] = {}
        for company in self.world.alive("companies"):
            used[company["primary_category_id"]] = used.get(company["primary_category_id"], 0) + 1
        leaves = [c for c in self.world.alive("product_categories") if c.get("is_leaf")]
        if len(leaves) < 2:
            return None
        category = max(leaves, key=lambda c: (used.get(c["id"], 0), -c["id"]))
        del self.world.table("product_categories")[category["id"]]
        return (
            f"category '{category['name']}' is missing from the product_categories snapshot "
            f"(deleted; {_plural(used.get(category['id'], 0), 'company', 'companies')} lose its name)"
        )

    def duplicate_versions(self) -> str | None:
        (company,) = self.pick(self.unchanged(self.vendors())) or (None,)
        if company is None:
            return None
        first = self.touch(
            "companies", company["id"], phone=f"+44 20 7946 {self.rng.randint(1000, 9999)}"
        )
        self.extras.setdefault("companies", []).append(dict(first))
        self.touch("companies", company["id"], website=f"https://www.{company['id']}.example/new")
        return f"{company['name']} arrives twice in the batch (two versions: the newer wins)"

    def stale_row(self) -> str | None:
        (company,) = self.pick(self.unchanged(self.vendors())) or (None,)
        if company is None:
            return None
        stale = {
            **company,
            "name": f"{company['name']} (old)",
            "updated_at": company["updated_at"] - dt.timedelta(days=3),
        }
        self.extras.setdefault("companies", []).append(stale)
        return f"a stale copy of {company['name']} (older than the baseline) is re-delivered"

    def bad_rows(self) -> str | None:
        created, updated = self.fresh()
        template = {column: None for column in self.world.types["companies"]}
        self.extras.setdefault("companies", []).extend(
            [
                {
                    **template,
                    "id": None,
                    "name": "Unnamed upload",
                    "status": 1,
                    "category": 1,
                    "created_at": created,
                    "updated_at": updated,
                },
                {
                    **template,
                    "id": self.world.new_id("companies", FIRST_COMPANY_ID),
                    "name": "Glitch Ltd",
                    "status": 9,
                    "category": 1,
                    "created_at": created,
                    "updated_at": updated,
                },
            ]
        )
        return "a company row with a NULL id and one with status 9 go to the dead letter"

    def rename_contact(self) -> str | None:
        vendors = self.vendors()
        contacts = [self.world.table("users").get(v["primary_contact_id"]) for v in vendors]
        people = [u for u in contacts if u and not u.get("deleted_at")]
        (person,) = self.pick(self.unchanged(people, "users")) or (None,)
        if person is None:
            return None
        surname = self.rng.choice(
            [
                n
                for n in ("Okafor", "Lindqvist", "Moreno", "Kaur", "Haddad")
                if n != person["last_name"]
            ]
        )
        self.touch(
            "users",
            person["id"],
            last_name=surname,
            display_name=f"{person['first_name']} {surname}",
        )
        return f"contact {person['first_name']} {person['last_name']} is now {person['first_name']} {surname}"

    def new_vendors(self, n: int = 2) -> str | None:
        names = []
        inviter = self.rng.choice(self.world.users_of(CLIENT_ID))
        for _ in range(n):
            stamp = self.fresh()
            company_id = self.world.new_id("companies", FIRST_COMPANY_ID)
            company = self.inserted(
                "companies",
                self.builder.company(
                    company_id,
                    status=1,
                    category=self.rng.choice(VENDOR_CATEGORIES),
                    history=stamp,
                    created_by=inviter["id"],
                    updated_by=inviter["id"],
                ),
            )
            contact = self.inserted("users", self.builder.user(company_id, history=stamp))
            company["primary_contact_id"] = contact["id"]
            self.inserted("user_company_mappings", self.builder.user_company_mapping(contact))
            self.inserted(
                "buyer_seller_company_mappings",
                self.builder.vendor_mapping(
                    company_id,
                    status=1,
                    source=1,
                    invited_by=inviter["id"],
                    history=stamp,
                ),
            )
            names.append(company["name"])
        return f"{_plural(n, 'new vendor')} signed up and were accepted ({', '.join(names)})"

    def reprice_items(self, n: int = 3) -> str | None:
        items = self.pick(self.world.alive("preferred_vendor_item_mappings"), n)
        for item in items:
            self.touch(
                "preferred_vendor_item_mappings",
                item["id"],
                unit_price=(item["unit_price"] * 105 / 100).quantize(item["unit_price"]),
            )
        return f"{_plural(len(items), 'negotiated item')} repriced +5%" if items else None

    def team_feed(self) -> str | None:
        teams = self.world.alive("teams")
        if not teams:
            return None
        joined = 0
        for team in self.pick(teams, 2):
            people = self.world.users_of(team["company_id"])
            if people:
                member = self.builder.team_member(
                    team["id"],
                    self.rng.choice(people)["id"],
                    loaded_at=self.loaded_at,
                    history=self.fresh(),
                )
                self.inserted("team_members", member)
                joined += 1
        leaving = self.pick(self.unchanged(self.world.alive("team_members"), "team_members"))
        for member in leaving:
            self.touch("team_members", member["id"], deleted_at=self.tick(), status=0)
        return f"team feed (append): {_plural(joined, 'member')} joined, {len(leaving)} left"

    def tagging_feed(self) -> str | None:
        added = 0
        for company in self.pick(self.vendors(), 2):
            tagging = self.builder.tagging(
                company["id"], loaded_at=self.loaded_at, history=self.fresh()
            )
            self.inserted("taggings", tagging)
            added += 1
        removed = self.pick(self.unchanged(self.world.alive("taggings"), "taggings"))
        for tagging in removed:
            self.touch("taggings", tagging["id"], op="D")
            del self.world.table("taggings")[tagging["id"]]  # a hard delete upstream
        return f"tag feed (append, op column): {_plural(added, 'tag')} added, {len(removed)} removed (op D)"


Mutation = Callable[[CycleBuilder], "str | None"]

#: The scripted first cycles: each shows a different kind of change.
SCRIPT: tuple[tuple[Mutation, ...], ...] = (
    (
        CycleBuilder.rename_companies,
        CycleBuilder.rename_city,
        CycleBuilder.move_company,
        CycleBuilder.new_vendors,
        CycleBuilder.reprice_items,
        CycleBuilder.team_feed,
        CycleBuilder.tagging_feed,
    ),
    (
        CycleBuilder.rename_country,
        CycleBuilder.suspend_vendor,
        CycleBuilder.accept_vendor,
        CycleBuilder.soft_delete,
        CycleBuilder.team_feed,
    ),
    (
        CycleBuilder.drop_category,
        CycleBuilder.duplicate_versions,
        CycleBuilder.stale_row,
        CycleBuilder.bad_rows,
        CycleBuilder.rename_contact,
        CycleBuilder.tagging_feed,
    ),
    (
        CycleBuilder.reactivate,
        CycleBuilder.rename_companies,
        CycleBuilder.rename_city,
        CycleBuilder.move_company,
        CycleBuilder.team_feed,
        CycleBuilder.tagging_feed,
    ),
)
#: Later cycles draw a few everyday changes from here.
EVERYDAY: tuple[Mutation, ...] = (
    CycleBuilder.rename_companies,
    CycleBuilder.move_company,
    CycleBuilder.suspend_vendor,
    CycleBuilder.accept_vendor,
    CycleBuilder.reactivate,
    CycleBuilder.soft_delete,
    CycleBuilder.new_vendors,
    CycleBuilder.rename_contact,
    CycleBuilder.reprice_items,
    CycleBuilder.duplicate_versions,
    CycleBuilder.stale_row,
    CycleBuilder.team_feed,
    CycleBuilder.tagging_feed,
)


def mutate(world: World, rng: random.Random, number: int) -> CycleBuilder:
    """Apply cycle ``number``'s mutations (1-based) to ``world``; the returned builder
    holds the sentences describing them and what to stage."""
    cycle = CycleBuilder(world, rng, number)
    plan = SCRIPT[number - 1] if number <= len(SCRIPT) else tuple(rng.sample(EVERYDAY, 4))
    for mutation in plan:
        cycle.note(mutation(cycle))
    return cycle


def initial_staging(world: World) -> Staged:
    """The bootstrap load: every source in full (window staging holding a full snapshot
    loads everything as inserts; append feeds carry the epoch as their load time)."""
    rows = {source: list(world.table(source).values()) for source in world.types}
    return Staged(rows, cleared=tuple(world.types))


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or _pluralize(word)}"


def _pluralize(word: str) -> str:
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    return word + "s"

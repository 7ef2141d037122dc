"""Sample data for the vendor pipeline (mappings/vendor.yml): a small, believable
supplier network, generated from a seeded :class:`random.Random` so ``--seed`` makes
every run identical.

The generator keeps the *operational* world — what the application's database holds
right now — as ``{source: {id: row}}``. Staging is then loaded from it: all of it for
the bootstrap, and only what each cycle changed afterwards (see ``mutations``).

Two layers fill a row:

- entity builders set what the facts depend on: keys, foreign keys consistent with
  the spec's joins (companies.city_id → cities, cities.country_id → countries, …),
  names, and the status/category codes of fact_vendor's qualification rules, skewed
  so that a good share of companies qualify;
- :class:`ColumnFaker` fills every other column from its name (email, phone, slug,
  latitude, …) or else its type (``varchar(n)`` never exceeds n, ``numeric(p,s)``
  always fits), so a new column in the spec needs no change here.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
ColumnTypes = Mapping[str, str]

#: The buyer whose vendor network fact_vendor reports (its ``exists`` rule).
CLIENT_ID = 12855
#: Other buyers: their mappings never make a company a vendor of the client.
OTHER_CLIENT_IDS = (12856, 12857, 12858)
#: Generated companies start above the fixed buyers, so ids never collide at any scale.
FIRST_COMPANY_ID = 20001
COMPANIES_AT_SCALE_1 = 300
MIN_COMPANIES = 12

#: fact_vendor's rules, mirrored here to skew the data and to describe mutations.
VENDOR_STATUS = 1
VENDOR_CATEGORIES = (1, 2, 4)
QUALIFYING_MAPPING_STATUSES = (1, 2, 7)
QUALIFYING_MAPPING_SOURCES = (0, 1)

#: All data lives before this instant; cycle n happens ``n * CYCLE_MINUTES`` after it.
EPOCH = dt.datetime(2024, 3, 1, 9, 0)
CYCLE_MINUTES = 30

# --------------------------------------------------------------------------- reference data

# fmt: off

# name, official name, iso2, iso3, numeric, phone, capital, currency, currency name,
# symbol, region, subregion, continent, EU member, latitude, longitude, population
COUNTRIES: tuple[tuple[Any, ...], ...] = (
    ('France', 'French Republic', 'FR', 'FRA', 250, '+33', 'Paris', 'EUR', 'Euro', '€', 'Europe', 'Western Europe', 'EU', True, 46.2276, 2.2137, 68000000),
    ('Germany', 'Federal Republic of Germany', 'DE', 'DEU', 276, '+49', 'Berlin', 'EUR', 'Euro', '€', 'Europe', 'Western Europe', 'EU', True, 51.1657, 10.4515, 84000000),
    ('Spain', 'Kingdom of Spain', 'ES', 'ESP', 724, '+34', 'Madrid', 'EUR', 'Euro', '€', 'Europe', 'Southern Europe', 'EU', True, 40.4637, -3.7492, 48000000),
    ('Italy', 'Italian Republic', 'IT', 'ITA', 380, '+39', 'Rome', 'EUR', 'Euro', '€', 'Europe', 'Southern Europe', 'EU', True, 41.8719, 12.5674, 59000000),
    ('Netherlands', 'Kingdom of the Netherlands', 'NL', 'NLD', 528, '+31', 'Amsterdam', 'EUR', 'Euro', '€', 'Europe', 'Western Europe', 'EU', True, 52.1326, 5.2913, 17800000),
    ('Poland', 'Republic of Poland', 'PL', 'POL', 616, '+48', 'Warsaw', 'PLN', 'Zloty', 'zł', 'Europe', 'Eastern Europe', 'EU', True, 51.9194, 19.1451, 37600000),
    ('Sweden', 'Kingdom of Sweden', 'SE', 'SWE', 752, '+46', 'Stockholm', 'SEK', 'Swedish krona', 'kr', 'Europe', 'Northern Europe', 'EU', True, 60.1282, 18.6435, 10500000),
    ('United Kingdom', 'United Kingdom of Great Britain and Northern Ireland', 'GB', 'GBR', 826, '+44', 'London', 'GBP', 'Pound sterling', '£', 'Europe', 'Northern Europe', 'EU', False, 55.3781, -3.436, 67000000),
    ('Switzerland', 'Swiss Confederation', 'CH', 'CHE', 756, '+41', 'Bern', 'CHF', 'Swiss franc', 'Fr', 'Europe', 'Western Europe', 'EU', False, 46.8182, 8.2275, 8800000),
    ('United States', 'United States of America', 'US', 'USA', 840, '+1', 'Washington', 'USD', 'US dollar', '$', 'Americas', 'Northern America', 'NA', False, 37.0902, -95.7129, 333000000),
    ('Canada', 'Canada', 'CA', 'CAN', 124, '+1', 'Ottawa', 'CAD', 'Canadian dollar', '$', 'Americas', 'Northern America', 'NA', False, 56.1304, -106.3468, 39000000),
    ('Mexico', 'United Mexican States', 'MX', 'MEX', 484, '+52', 'Mexico City', 'MXN', 'Mexican peso', '$', 'Americas', 'Central America', 'NA', False, 23.6345, -102.5528, 128000000),
    ('Brazil', 'Federative Republic of Brazil', 'BR', 'BRA', 76, '+55', 'Brasília', 'BRL', 'Brazilian real', 'R$', 'Americas', 'South America', 'SA', False, -14.235, -51.9253, 215000000),
    ('India', 'Republic of India', 'IN', 'IND', 356, '+91', 'New Delhi', 'INR', 'Indian rupee', '₹', 'Asia', 'Southern Asia', 'AS', False, 20.5937, 78.9629, 1420000000),
    ('Japan', 'Japan', 'JP', 'JPN', 392, '+81', 'Tokyo', 'JPY', 'Yen', '¥', 'Asia', 'Eastern Asia', 'AS', False, 36.2048, 138.2529, 125000000),
    ('Australia', 'Commonwealth of Australia', 'AU', 'AUS', 36, '+61', 'Canberra', 'AUD', 'Australian dollar', '$', 'Oceania', 'Australia and New Zealand', 'OC', False, -25.2744, 133.7751, 26000000),
)

# city, country iso2, state, state code, time zone, latitude, longitude, population, capital
CITIES: tuple[tuple[Any, ...], ...] = (
    ('Paris', 'FR', 'Île-de-France', 'IDF', 'Europe/Paris', 48.8566, 2.3522, 2100000, True),
    ('Lyon', 'FR', 'Auvergne-Rhône-Alpes', 'ARA', 'Europe/Paris', 45.764, 4.8357, 520000, False),
    ('Toulouse', 'FR', 'Occitanie', 'OCC', 'Europe/Paris', 43.6047, 1.4442, 490000, False),
    ('Berlin', 'DE', 'Berlin', 'BE', 'Europe/Berlin', 52.52, 13.405, 3700000, True),
    ('Hamburg', 'DE', 'Hamburg', 'HH', 'Europe/Berlin', 53.5511, 9.9937, 1900000, False),
    ('Munich', 'DE', 'Bavaria', 'BY', 'Europe/Berlin', 48.1351, 11.582, 1500000, False),
    ('Stuttgart', 'DE', 'Baden-Württemberg', 'BW', 'Europe/Berlin', 48.7758, 9.1829, 630000, False),
    ('Madrid', 'ES', 'Community of Madrid', 'MD', 'Europe/Madrid', 40.4168, -3.7038, 3300000, True),
    ('Barcelona', 'ES', 'Catalonia', 'CT', 'Europe/Madrid', 41.3874, 2.1686, 1600000, False),
    ('Valencia', 'ES', 'Valencian Community', 'VC', 'Europe/Madrid', 39.4699, -0.3763, 790000, False),
    ('Milan', 'IT', 'Lombardy', 'LOM', 'Europe/Rome', 45.4642, 9.19, 1400000, False),
    ('Turin', 'IT', 'Piedmont', 'PIE', 'Europe/Rome', 45.0703, 7.6869, 850000, False),
    ('Rome', 'IT', 'Lazio', 'LAZ', 'Europe/Rome', 41.9028, 12.4964, 2800000, True),
    ('Amsterdam', 'NL', 'North Holland', 'NH', 'Europe/Amsterdam', 52.3676, 4.9041, 920000, True),
    ('Rotterdam', 'NL', 'South Holland', 'ZH', 'Europe/Amsterdam', 51.9244, 4.4777, 650000, False),
    ('Eindhoven', 'NL', 'North Brabant', 'NB', 'Europe/Amsterdam', 51.4416, 5.4697, 240000, False),
    ('Warsaw', 'PL', 'Masovia', 'MZ', 'Europe/Warsaw', 52.2297, 21.0122, 1800000, True),
    ('Wrocław', 'PL', 'Lower Silesia', 'DS', 'Europe/Warsaw', 51.1079, 17.0385, 640000, False),
    ('Gdańsk', 'PL', 'Pomerania', 'PM', 'Europe/Warsaw', 54.352, 18.6466, 470000, False),
    ('Stockholm', 'SE', 'Stockholm County', 'AB', 'Europe/Stockholm', 59.3293, 18.0686, 980000, True),
    ('Gothenburg', 'SE', 'Västra Götaland', 'O', 'Europe/Stockholm', 57.7089, 11.9746, 600000, False),
    ('London', 'GB', 'England', 'ENG', 'Europe/London', 51.5072, -0.1276, 8900000, True),
    ('Manchester', 'GB', 'England', 'ENG', 'Europe/London', 53.4808, -2.2426, 550000, False),
    ('Glasgow', 'GB', 'Scotland', 'SCT', 'Europe/London', 55.8642, -4.2518, 630000, False),
    ('Zurich', 'CH', 'Zurich', 'ZH', 'Europe/Zurich', 47.3769, 8.5417, 420000, False),
    ('Geneva', 'CH', 'Geneva', 'GE', 'Europe/Zurich', 46.2044, 6.1432, 200000, False),
    ('New York', 'US', 'New York', 'NY', 'America/New_York', 40.7128, -74.006, 8300000, False),
    ('Chicago', 'US', 'Illinois', 'IL', 'America/Chicago', 41.8781, -87.6298, 2700000, False),
    ('Houston', 'US', 'Texas', 'TX', 'America/Chicago', 29.7604, -95.3698, 2300000, False),
    ('San Jose', 'US', 'California', 'CA', 'America/Los_Angeles', 37.3382, -121.8863, 1000000, False),
    ('Toronto', 'CA', 'Ontario', 'ON', 'America/Toronto', 43.6532, -79.3832, 2800000, False),
    ('Montreal', 'CA', 'Quebec', 'QC', 'America/Toronto', 45.5019, -73.5674, 1800000, False),
    ('Monterrey', 'MX', 'Nuevo León', 'NL', 'America/Monterrey', 25.6866, -100.3161, 1100000, False),
    ('Guadalajara', 'MX', 'Jalisco', 'JA', 'America/Mexico_City', 20.6597, -103.3496, 1400000, False),
    ('São Paulo', 'BR', 'São Paulo', 'SP', 'America/Sao_Paulo', -23.5558, -46.6396, 12300000, False),
    ('Curitiba', 'BR', 'Paraná', 'PR', 'America/Sao_Paulo', -25.4284, -49.2733, 1900000, False),
    ('Bengaluru', 'IN', 'Karnataka', 'KA', 'Asia/Kolkata', 12.9716, 77.5946, 8400000, False),
    ('Pune', 'IN', 'Maharashtra', 'MH', 'Asia/Kolkata', 18.5204, 73.8567, 3100000, False),
    ('Chennai', 'IN', 'Tamil Nadu', 'TN', 'Asia/Kolkata', 13.0827, 80.2707, 4600000, False),
    ('Osaka', 'JP', 'Osaka', '27', 'Asia/Tokyo', 34.6937, 135.5023, 2700000, False),
    ('Nagoya', 'JP', 'Aichi', '23', 'Asia/Tokyo', 35.1815, 136.9066, 2300000, False),
    ('Sydney', 'AU', 'New South Wales', 'NSW', 'Australia/Sydney', -33.8688, 151.2093, 5300000, False),
    ('Melbourne', 'AU', 'Victoria', 'VIC', 'Australia/Melbourne', -37.8136, 144.9631, 5000000, False),
)

# root category → leaves (a two-level nested-set tree)
CATEGORY_TREE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('Industrial Supplies', ('Fasteners', 'Bearings', 'Gaskets & Seals', 'Hand Tools', 'Abrasives')),
    ('Electrical', ('Cables & Wiring', 'Switchgear', 'Lighting', 'Motors & Drives')),
    ('IT & Telecom', ('Laptops', 'Networking', 'Software Licences', 'Cloud Services')),
    ('Facilities', ('Cleaning Services', 'Security Services', 'Office Furniture', 'Catering')),
    ('Logistics', ('Freight Forwarding', 'Warehousing', 'Packaging', 'Courier')),
    ('Professional Services', ('Legal', 'Consulting', 'Recruitment', 'Translation')),
)
FIRST_NAMES = (
    'Alice', 'Amara', 'Anders', 'Ana', 'Ben', 'Carlos', 'Chen', 'Chloé', 'Daniel', 'Diego', 'Elena',
    'Emma', 'Fatima', 'Felix', 'Giulia', 'Hannah', 'Hiroshi', 'Ines', 'Isaac', 'Jan', 'Julia',
    'Karim', 'Katarzyna', 'Lars', 'Laura', 'Léa', 'Lucas', 'Maja', 'Marco', 'Maria', 'Mateo', 'Mei',
    'Mohammed', 'Nadia', 'Noah', 'Olivia', 'Omar', 'Pablo', 'Priya', 'Rafael', 'Ravi', 'Sara',
    'Sofia', 'Sven', 'Tomás', 'Wei', 'Yuki', 'Zoe',
)
LAST_NAMES = (
    'Almeida', 'Andersson', 'Bauer', 'Bernard', 'Brown', 'Costa', 'Dubois', 'Fischer', 'García',
    'Gonzalez', 'Hansen', 'Ito', 'Jansen', 'Kowalski', 'Kumar', 'Lambert', 'Lee', 'Lopez', 'Martin',
    'Meyer', 'Moreau', 'Müller', 'Nakamura', 'Nowak', "O'Brien", 'Patel', 'Rossi', 'Schmidt',
    'Silva', 'Singh', 'Smith', 'Tanaka', 'Taylor', 'Visser', 'Wagner', 'Wang', 'Wilson', 'Wójcik',
    'Zhang',
)
COMPANY_STEMS = (
    'Acme', 'Apex', 'Arbor', 'Atlas', 'Aurora', 'Beacon', 'Bluewater', 'Boreal', 'Cascade', 'Cedar',
    'Cobalt', 'Crescent', 'Delta', 'Ember', 'Evergreen', 'Falcon', 'Fjord', 'Granite', 'Harbor',
    'Helix', 'Horizon', 'Iron', 'Juniper', 'Keystone', 'Lumen', 'Maple', 'Meridian', 'Nimbus',
    'Northstar', 'Oakridge', 'Orion', 'Pinnacle', 'Polar', 'Quartz', 'Redwood', 'Ridge', 'Sable',
    'Sierra', 'Silverline', 'Solstice', 'Summit', 'Tidal', 'Titan', 'Vector', 'Vertex', 'Willow',
    'Zenith',
)
COMPANY_TRADES = (
    'Industrial', 'Supply', 'Components', 'Logistics', 'Electric', 'Systems', 'Tooling',
    'Facility Services', 'Consulting', 'Packaging', 'Networks', 'Engineering', 'Trading',
)
LEGAL_FORMS = {
    'FR': 'SAS', 'DE': 'GmbH', 'ES': 'S.L.', 'IT': 'S.r.l.', 'NL': 'B.V.', 'PL': 'Sp. z o.o.',
    'SE': 'AB', 'GB': 'Ltd', 'CH': 'AG', 'US': 'Inc.', 'CA': 'Inc.', 'MX': 'S.A. de C.V.',
    'BR': 'Ltda.', 'IN': 'Pvt. Ltd.', 'JP': 'K.K.', 'AU': 'Pty Ltd',
}
JOB_TITLES = (
    'Account Manager', 'Sales Director', 'Procurement Lead', 'Operations Manager', 'CFO',
    'Supply Chain Analyst', 'Key Account Executive', 'Managing Director',
    'Customer Success Manager', 'Buyer', 'Category Manager', 'Finance Controller',
)
DEPARTMENTS = (
    'Sales', 'Procurement', 'Finance', 'Operations', 'Legal', 'IT', 'Customer Success',
)
TAG_NAMES = (
    'strategic', 'preferred', 'local', 'diverse-owned', 'iso-9001', 'iso-14001', 'at-risk',
    'single-source', 'new-supplier', 'under-review', 'sustainable', 'critical', 'low-cost',
    'high-quality', 'fast-delivery', 'long-term-contract', 'audit-due', 'on-hold', 'innovative',
    'regional', 'global', 'certified', 'escalated', 'top-spend',
)
TEAM_NAMES = (
    'Procurement', 'Sales EMEA', 'Sales Americas', 'Key Accounts', 'Finance', 'Operations',
    'Onboarding', 'Quality', 'Logistics', 'Customer Success',
)
STREETS = (
    'Main Street', 'Station Road', 'Industrial Park', 'Harbour Way', 'Market Square', 'Mill Lane',
    'Park Avenue', 'Riverside', 'Commerce Drive', 'Technology Park',
)
UNITS = (
    'EA', 'BOX', 'KG', 'M', 'L', 'PACK', 'HOUR', 'DAY',
)
LOCALES = (
    'en-GB', 'en-US', 'fr-FR', 'de-DE', 'es-ES', 'it-IT', 'nl-NL', 'pl-PL', 'sv-SE', 'ja-JP',
)

# fmt: on


# --------------------------------------------------------------------------- column types


@dataclass(frozen=True)
class ColumnType:
    """``varchar(255)`` → base ``varchar``, length 255; ``numeric(14,2)`` → precision 14, scale 2."""

    base: str
    length: int | None = None
    scale: int = 0

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        match = re.fullmatch(r"\s*([a-z ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?\s*", text.lower())
        if not match:
            return cls(text.lower())
        base, length, scale = match.groups()
        return cls(base, int(length) if length else None, int(scale) if scale else 0)

    @property
    def max_magnitude(self) -> Decimal:
        """Largest absolute value a numeric(p,s) holds, keeping one digit of headroom."""
        digits = (self.length or 18) - self.scale
        return Decimal(10) ** max(digits - 1, 0) - 1 if digits > 1 else Decimal("0.9")


@functools.lru_cache(maxsize=512)
def column_type(text: str) -> ColumnType:
    return ColumnType.parse(text)


# --------------------------------------------------------------------------- the faker


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class ColumnFaker:
    """Values for the columns an entity builder did not set, by column name then type."""

    rng: random.Random

    def fill(self, row: Row, types: ColumnTypes) -> Row:
        kinds = {column: column_type(text) for column, text in types.items()}
        for column, kind in kinds.items():
            if column not in row:
                row[column] = self.value(column, kind, row)
        return {column: _fit(row[column], kind) for column, kind in kinds.items()}

    def value(self, column: str, kind: ColumnType, row: Row) -> Any:
        by_name = self._by_name(column, kind, row)
        if by_name is not _NO_RULE:
            return by_name
        return self._by_type(column, kind, row)

    # -- by name: what a data engineer would expect to see in such a column

    def _by_name(self, column: str, kind: ColumnType, row: Row) -> Any:
        rng = self.rng
        name = str(row.get("name") or row.get("display_name") or "item")
        if column in ("deleted_at", "op", "_loaded_at"):
            return None  # set by the builders and mutations, never invented
        if column.endswith(("archived_at", "locked_at", "deactivated_at", "left_at")):
            return None
        if column == "email" or column.endswith("_email"):
            return f"{slugify(name)[:30] or 'info'}@{_domain(row)}"
        if column in ("phone", "mobile_phone") or column.endswith("_phone"):
            return f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        if column.endswith("_url") or column == "website":
            return f"https://{_domain(row)}/{column.removesuffix('_url')}"
        if column in ("slug",):
            return slugify(name)
        if column.endswith("_ip"):
            return f"{rng.randint(10, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if column in ("time_zone",):
            return rng.choice([c[4] for c in CITIES])
        if column in ("locale",):
            return rng.choice(LOCALES)
        if column.endswith("currency_code") or column in ("budget_currency", "approval_currency"):
            return rng.choice(("EUR", "USD", "GBP", "CHF", "SEK", "PLN"))
        if column == "country_of_origin":
            return rng.choice(COUNTRIES)[2]
        if column in ("postal_code",):
            return f"{rng.randint(10000, 99999)}"
        if column in ("latitude",):
            return Decimal(str(round(rng.uniform(-60, 70), 6)))
        if column in ("longitude",):
            return Decimal(str(round(rng.uniform(-170, 170), 6)))
        if column in (
            "external_ref",
            "vendor_code",
            "item_code",
            "vendor_item_code",
            "contract_number",
        ):
            return f"{column[:3].upper()}-{rng.randint(100000, 999999)}"
        if column in ("tax_id", "registration_number"):
            return f"{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}{rng.randint(10**8, 10**9 - 1)}"
        if column == "duns_number":
            return f"{rng.randint(10**8, 10**9 - 1)}"
        if column in ("gtin",):
            return f"{rng.randint(10**12, 10**13 - 1)}"
        if column in ("color",):
            return "#" + "".join(rng.choice("0123456789abcdef") for _ in range(6))
        if column in (
            "description",
            "notes",
            "item_description",
            "alternate_names",
            "address_format",
        ):
            return f"{name}: {rng.choice(COMPANY_TRADES).lower()} for {rng.choice(CATEGORY_TREE)[0].lower()}"
        if column in ("job_title", "title"):
            return rng.choice(JOB_TITLES)
        if column in ("department",):
            return rng.choice(DEPARTMENTS)
        if column in ("unit_of_measure",):
            return rng.choice(UNITS)
        if column in ("cost_center", "gl_account", "tax_code"):
            return f"{rng.randint(1000, 9999)}-{rng.randint(10, 99)}"
        if column in ("status",):
            return rng.choice((1, 1, 1, 1, 2))
        if column.startswith(("is_", "has_", "can_")) or column.endswith(("_enabled", "_required")):
            return rng.random() < 0.3
        if column in ("rating",):
            return Decimal(str(round(rng.uniform(2.5, 5.0), 2)))
        if column.endswith(("_pct", "_rate")):
            return Decimal(str(round(rng.uniform(0, 25), 2)))
        return _NO_RULE

    # -- by type: plausible and always within the declared width

    def _by_type(self, column: str, kind: ColumnType, row: Row) -> Any:
        rng = self.rng
        if kind.base in ("bigint", "integer", "int", "int4", "int8"):
            return (
                rng.randint(1, 5_000)
                if kind.base in ("integer", "int", "int4")
                else rng.randint(1, 10**7)
            )
        if kind.base in ("smallint", "int2"):
            return rng.randint(0, 5)
        if kind.base in ("boolean", "bool"):
            return rng.random() < 0.5
        if kind.base in ("numeric", "decimal"):
            top = float(min(kind.max_magnitude, Decimal(1_000_000)))
            return Decimal(str(round(rng.uniform(0, top), kind.scale)))
        if kind.base in ("real", "double precision", "float", "float4", "float8"):
            return round(rng.uniform(0, 1000), 3)
        if kind.base == "date":
            return (EPOCH - dt.timedelta(days=rng.randint(30, 3000))).date()
        if kind.base in ("timestamp", "timestamp without time zone", "timestamptz"):
            return _between(rng, row.get("created_at"), row.get("updated_at"))
        if kind.base in ("char", "character", "bpchar"):
            return "".join(rng.choice(string.ascii_uppercase) for _ in range(kind.length or 1))
        return " ".join(rng.choice(COMPANY_TRADES) for _ in range(2)).lower()


_NO_RULE = object()


def _domain(row: Row) -> str:
    base = slugify(str(row.get("_domain") or row.get("name") or "example"))[:40]
    return f"{base or 'example'}.example"


def _between(rng: random.Random, start: Any, end: Any) -> dt.datetime | None:
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime) or end <= start:
        return None if rng.random() < 0.3 else EPOCH - dt.timedelta(days=rng.randint(1, 900))
    seconds = int((end - start).total_seconds())
    return start + dt.timedelta(seconds=rng.randint(0, seconds))


def _fit(value: Any, kind: ColumnType) -> Any:
    """Clip a value to its column: a demo must never fail on a too-long string."""
    if (
        isinstance(value, str)
        and kind.length
        and kind.base in ("varchar", "character varying", "char", "character", "bpchar")
    ):
        return value[: kind.length]
    if isinstance(value, Decimal) and kind.base in ("numeric", "decimal"):
        top = kind.max_magnitude
        clipped = max(min(value, top), -top)
        return clipped.quantize(Decimal(1).scaleb(-kind.scale))
    return value


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """The operational database the ETL copies from: ``{source: {id: row}}``.

    ``types`` are the staging column types per source (the manifest's), so every row
    has exactly the staging table's columns.
    """

    types: dict[str, dict[str, str]]
    rows: dict[str, dict[int, Row]] = field(default_factory=dict)
    next_id: dict[str, int] = field(default_factory=dict)

    def table(self, source: str) -> dict[int, Row]:
        return self.rows.setdefault(source, {})

    def new_id(self, source: str, start: int = 1) -> int:
        value = self.next_id.get(source, start)
        self.next_id[source] = value + 1
        return value

    def alive(self, source: str) -> list[Row]:
        """Rows the application still shows (not soft-deleted), in key order."""
        # Insertion order: deterministic for a seed, and no sort on every call.
        return [r for r in self.table(source).values() if not r.get("deleted_at")]

    def counts(self) -> dict[str, int]:
        return {source: len(rows) for source, rows in self.rows.items()}

    # -- fact_vendor's qualification, as the generated SQL computes it

    def is_vendor(self, company: Row, related: set[int] | None = None) -> bool:
        """``related``: :meth:`related_ids`, passed in when asking about many companies."""
        related = self.related_ids() if related is None else related
        return (
            not company.get("deleted_at")
            and company.get("status") == VENDOR_STATUS
            and company.get("category") in VENDOR_CATEGORIES
            and company["id"] in related
        )

    def related_ids(self) -> set[int]:
        """Companies with a relationship that qualifies them (one pass over the mappings,
        so asking about every company stays linear)."""
        return {
            m["dealing_with_company_id"]
            for m in self.alive("buyer_seller_company_mappings")
            if self._qualifying(m)
        }

    @staticmethod
    def _qualifying(mapping: Row) -> bool:
        return (
            mapping["client_company_id"] == CLIENT_ID
            and mapping.get("status") in QUALIFYING_MAPPING_STATUSES
            and mapping.get("source") in QUALIFYING_MAPPING_SOURCES
            and mapping.get("invited_by") is not None
        )

    def users_of(self, company_id: int) -> list[Row]:
        return [u for u in self.alive("users") if u["company_id"] == company_id]

    def city_name(self, city_id: int | None) -> str:
        city = self.table("cities").get(city_id or -1)
        return str(city["name"]) if city else "?"


def company_count(scale: float) -> int:
    return max(MIN_COMPANIES, round(COMPANIES_AT_SCALE_1 * scale))


class WorldBuilder:
    """Builds the initial world; also used by the mutations to add new entities."""

    def __init__(self, world: World, rng: random.Random):
        self.world = world
        self.rng = rng
        self.faker = ColumnFaker(rng)
        self._staff: dict[int, list[Row]] = {}  # buyers' people, asked for per supplier

    # -- helpers

    def add(self, source: str, row: Row) -> Row:
        filled = self.faker.fill(row, self.world.types[source])
        self.world.table(source)[filled["id"]] = filled
        return filled

    def history(
        self, *, oldest_days: int = 1500, newest_days: int = 1
    ) -> tuple[dt.datetime, dt.datetime]:
        """(created_at, updated_at) of a row that has lived a while before the epoch."""
        created = EPOCH - dt.timedelta(
            days=self.rng.randint(newest_days + 1, oldest_days), minutes=self.rng.randint(0, 1439)
        )
        updated = created + dt.timedelta(
            seconds=self.rng.randint(0, int((EPOCH - created).total_seconds()) - 60)
        )
        return created, updated

    def _weighted(self, choices: Mapping[Any, int]) -> Any:
        return self.rng.choices(list(choices), weights=list(choices.values()))[0]

    # -- reference data

    def countries(self) -> None:
        for number, c in enumerate(COUNTRIES, start=1):
            created, updated = self.history()
            (
                name,
                official,
                iso2,
                iso3,
                numeric,
                phone,
                capital,
                currency,
                currency_name,
                symbol,
                region,
                subregion,
                continent,
                eu,
                lat,
                lon,
                population,
            ) = c
            self.add(
                "countries",
                {
                    "id": number,
                    "name": name,
                    "official_name": official,
                    "native_name": name,
                    "iso2": iso2,
                    "iso3": iso3,
                    "numeric_code": numeric,
                    "phone_code": phone,
                    "capital": capital,
                    "currency_code": currency,
                    "currency_name": currency_name,
                    "currency_symbol": symbol,
                    "region": region,
                    "subregion": subregion,
                    "continent_code": continent,
                    "tld": "." + iso2.lower(),
                    "is_eu_member": eu,
                    "is_sanctioned": False,
                    "latitude": Decimal(str(lat)),
                    "longitude": Decimal(str(lon)),
                    "population": population,
                    "nationality": name,
                    "status": 1,
                    "sort_order": number,
                    "created_at": created,
                    "updated_at": updated,
                },
            )

    def cities(self) -> None:
        country_ids = {row["iso2"]: cid for cid, row in self.world.table("countries").items()}
        for number, c in enumerate(CITIES, start=1):
            name, iso2, state, state_code, tz, lat, lon, population, capital = c
            created, updated = self.history()
            self.add(
                "cities",
                {
                    "id": 100 + number,
                    "country_id": country_ids[iso2],
                    "name": name,
                    "ascii_name": name,
                    "state_name": state,
                    "state_code": state_code,
                    "metro_area": f"{name} metropolitan area",
                    "time_zone": tz,
                    "latitude": Decimal(str(lat)),
                    "longitude": Decimal(str(lon)),
                    "population": population,
                    "is_capital": capital,
                    "status": 1,
                    "tier": 1 if population > 2_000_000 else 2,
                    "is_serviced": True,
                    "created_at": created,
                    "updated_at": updated,
                },
            )

    def product_categories(self) -> None:
        next_id, position = 1, 1
        for root_name, leaves in CATEGORY_TREE:
            root_id, root_lft = next_id, position
            next_id, position = next_id + 1, position + 1
            children = []
            for leaf in leaves:
                children.append((next_id, leaf, position))
                next_id, position = next_id + 1, position + 2
            self._category(root_id, None, root_name, root_name, 0, root_lft, position, leaf=False)
            position += 1
            for leaf_id, leaf_name, lft in children:
                self._category(
                    leaf_id,
                    root_id,
                    leaf_name,
                    f"{root_name} / {leaf_name}",
                    1,
                    lft,
                    lft + 1,
                    leaf=True,
                )

    def _category(
        self,
        id_: int,
        parent: int | None,
        name: str,
        path: str,
        depth: int,
        lft: int,
        rgt: int,
        *,
        leaf: bool,
    ) -> None:
        created, updated = self.history()
        self.add(
            "product_categories",
            {
                "id": id_,
                "parent_id": parent,
                "name": name,
                "slug": slugify(name),
                "code": "".join(w[0] for w in re.findall(r"[A-Za-z]+", name)).upper()
                + f"{id_:03d}",
                "path": path,
                "depth": depth,
                "lft": lft,
                "rgt": rgt,
                "is_leaf": leaf,
                "status": 1,
                "requires_approval": name in ("Software Licences", "Legal", "Security Services"),
                "created_at": created,
                "updated_at": updated,
            },
        )

    # -- companies and people

    def buyers(self) -> None:
        names = {
            CLIENT_ID: "Northwind Procurement",
            12856: "Contoso Manufacturing",
            12857: "Fabrikam Retail",
            12858: "Tailspin Airlines",
        }
        for company_id, name in names.items():
            self.company(company_id, name=name, status=1, category=3)
        for company_id in names:
            people = [self.user(company_id) for _ in range(4)]
            buyer = self.world.table("companies")[company_id]
            buyer["primary_contact_id"] = buyer["created_by"] = buyer["updated_by"] = people[0][
                "id"
            ]
            for person in people:
                self.user_company_mapping(person)

    def company(self, company_id: int, **given: Any) -> Row:
        rng = self.rng
        city = rng.choice(list(self.world.table("cities").values()))
        country = self.world.table("countries")[city["country_id"]]
        name = given.pop("name", None) or self.company_name(country["iso2"])
        created, updated = given.pop("history", None) or self.history()
        row: Row = {
            "id": company_id,
            "name": name,
            "legal_name": f"{name} {LEGAL_FORMS[country['iso2']]}",
            "display_name": name,
            "_domain": name,
            "status": self._weighted({1: 72, 0: 10, 2: 8, 3: 10}),
            "category": self._weighted({1: 30, 2: 25, 4: 20, 3: 15, 5: 10}),
            "company_type": rng.choice((1, 2, 3)),
            "city_id": city["id"],
            "address_line1": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
            "address_line2": rng.choice((None, None, f"Building {rng.choice('ABCDE')}")),
            "state_code": city["state_code"],
            "currency_code": country["currency_code"],
            "primary_category_id": rng.choice(self.leaf_categories())["id"],
            "parent_company_id": None,
            "employee_count": rng.choice(
                (None, rng.randint(3, 49), rng.randint(50, 999), rng.randint(1000, 50_000))
            ),
            "annual_revenue": Decimal(rng.randint(100_000, 900_000_000)),
            "credit_limit": Decimal(rng.randrange(10_000, 2_000_000, 5_000)),
            "payment_terms_days": rng.choice((15, 30, 30, 45, 60, 90)),
            "onboarding_status": rng.choice((0, 1, 2, 3, 3, 3)),
            "incorporation_date": (created - dt.timedelta(days=rng.randint(200, 9000))).date(),
            "fiscal_year_end_month": rng.choice((3, 6, 12, 12, 12)),
            "signup_source": rng.choice((0, 1, 2)),
            "primary_contact_id": None,
            "created_by": None,
            "updated_by": None,
            "created_at": created,
            "updated_at": updated,
            "deleted_at": None,
        }
        row["onboarded_at"] = (
            created + dt.timedelta(days=rng.randint(1, 60))
            if row["onboarding_status"] == 3
            else None
        )
        row.update(given)
        return self.add("companies", row)

    def company_name(self, iso2: str) -> str:
        taken = {c["name"] for c in self.world.table("companies").values()}
        for _ in range(50):
            name = f"{self.rng.choice(COMPANY_STEMS)} {self.rng.choice(COMPANY_TRADES)}"
            if name not in taken:
                return name
        return f"{self.rng.choice(COMPANY_STEMS)} {iso2} {len(taken)}"

    def leaf_categories(self) -> list[Row]:
        return [c for c in self.world.alive("product_categories") if c.get("is_leaf")]

    def user(self, company_id: int, **given: Any) -> Row:
        rng = self.rng
        company = self.world.table("companies")[company_id]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created, updated = given.pop("history", None) or self.history(oldest_days=1200)
        user_id = self.world.new_id("users", 1001)
        row: Row = {
            "id": user_id,
            "company_id": company_id,
            "first_name": first,
            "last_name": last,
            "display_name": f"{first} {last}",
            "name": f"{first}.{last}",
            "_domain": company["name"],
            "city_id": company["city_id"],
            "role": rng.choice((1, 2, 3)),
            "status": 1,
            "user_type": rng.choice((1, 2)),
            "is_active": rng.random() < 0.9,
            "email_verified": rng.random() < 0.85,
            "sign_in_count": rng.randint(0, 800),
            "employee_number": f"E{user_id:06d}",
            "created_at": created,
            "updated_at": updated,
            "deleted_at": None,
        }
        if rng.random() < 0.6:
            row["mobile_phone"] = (
                f"+{rng.randint(1, 99)} 7{rng.randint(10, 99)} {rng.randint(100000, 999999)}"
            )
        row.update(given)
        filled = self.add("users", row)
        filled["email"] = (
            f"{slugify(first)}.{slugify(last)}{user_id}@{_domain({'name': company['name']})}"[:255]
        )
        return filled

    def staff(self, buyer_id: int) -> list[Row]:
        if buyer_id not in self._staff:
            self._staff[buyer_id] = self.world.users_of(buyer_id)
        return self._staff[buyer_id]

    def vendor_mapping(self, company_id: int, client_id: int = CLIENT_ID, **given: Any) -> Row:
        rng = self.rng
        inviters = self.staff(client_id)
        created, updated = given.pop("history", None) or self.history(oldest_days=900)
        row: Row = {
            "id": self.world.new_id("buyer_seller_company_mappings", 500_001),
            "client_company_id": client_id,
            "dealing_with_company_id": company_id,
            "status": self._weighted({1: 62, 2: 18, 7: 8, 3: 12}),
            "source": self._weighted({0: 55, 1: 38, 2: 7}),
            "invited_by": rng.choice(inviters)["id"] if inviters and rng.random() < 0.95 else None,
            "invited_at": created,
            "relationship_type": rng.choice((1, 2)),
            "created_at": created,
            "updated_at": updated,
            "deleted_at": None,
        }
        row["accepted_at"] = (
            created + dt.timedelta(hours=rng.randint(1, 400))
            if row["status"] in (1, 2, 7)
            else None
        )
        row.update(given)
        return self.add("buyer_seller_company_mappings", row)

    def supplier(self, company_id: int, **given: Any) -> Row:
        """A company with its people, relationships, teams, tags and items."""
        rng = self.rng
        company = self.company(company_id, **given)
        people = [self.user(company_id) for _ in range(rng.randint(1, 4))]
        company["primary_contact_id"] = rng.choice(people)["id"]
        company["created_by"] = rng.choice(self.staff(CLIENT_ID))["id"]
        company["updated_by"] = company["created_by"]
        if rng.random() < 0.1:
            others = [
                c
                for c in self.world.alive("companies")
                if c["id"] >= FIRST_COMPANY_ID and c["id"] != company_id
            ]
            company["parent_company_id"] = rng.choice(others)["id"] if others else None
        for person in people:
            self.user_company_mapping(person)
        if company["category"] in VENDOR_CATEGORIES and rng.random() < 0.85:
            self.vendor_mapping(company_id)
        if rng.random() < 0.25:
            self.vendor_mapping(company_id, rng.choice(OTHER_CLIENT_IDS))
        if rng.random() < 0.45:
            self.team(company, people)
        for _ in range(rng.choice((0, 1, 1, 2))):
            self.tagging(company_id, loaded_at=EPOCH)
        if company["category"] in VENDOR_CATEGORIES:
            for _ in range(rng.randint(0, 3)):
                self.item(company_id)
        return company

    def user_company_mapping(self, person: Row) -> Row:
        created, updated = person["created_at"], person["updated_at"]
        return self.add(
            "user_company_mappings",
            {
                "id": self.world.new_id("user_company_mappings", 700_001),
                "user_id": person["id"],
                "company_id": person["company_id"],
                "is_primary": True,
                "is_default_company": True,
                "status": 1,
                "role": person["role"],
                "title": person.get("job_title"),
                "department": person.get("department"),
                "invited_at": created,
                "accepted_at": created,
                "last_active_at": updated,
                "created_at": created,
                "updated_at": updated,
                "deleted_at": None,
            },
        )

    def team(self, company: Row, people: list[Row]) -> None:
        rng = self.rng
        created, updated = self.history(oldest_days=700)
        team = self.add(
            "teams",
            {
                "id": self.world.new_id("teams", 800_001),
                "company_id": company["id"],
                "name": rng.choice(TEAM_NAMES),
                "lead_user_id": people[0]["id"],
                "status": 1,
                "category": rng.choice((1, 2)),
                "team_type": rng.choice((1, 2, 3)),
                "member_count": len(people),
                "open": rng.random() < 0.3,
                "location_city_id": company["city_id"],
                "created_by": people[0]["id"],
                "created_at": created,
                "updated_at": updated,
                "deleted_at": None,
            },
        )
        for person in people:
            self.team_member(team["id"], person["id"], loaded_at=EPOCH, is_lead=person is people[0])

    def team_member(
        self, team_id: int, user_id: int, *, loaded_at: dt.datetime, **given: Any
    ) -> Row:
        created, updated = given.pop("history", None) or self.history(oldest_days=600)
        row: Row = {
            "id": self.world.new_id("team_members", 900_001),
            "team_id": team_id,
            "user_id": user_id,
            "role": self.rng.choice((1, 2)),
            "status": 1,
            "joined_at": created,
            "created_at": created,
            "updated_at": updated,
            "deleted_at": None,
            "_loaded_at": loaded_at,
        }
        row.update(given)
        return self.add("team_members", row)

    def tags(self) -> None:
        for number, name in enumerate(TAG_NAMES, start=1):
            created, updated = self.history()
            self.add(
                "tags",
                {
                    "id": number,
                    "company_id": CLIENT_ID,
                    "name": name,
                    "slug": name,
                    "category": self.rng.choice((1, 2, 3)),
                    "status": 1,
                    "is_system": number <= 4,
                    "merged_into_id": None,
                    "parent_id": None,
                    "created_at": created,
                    "updated_at": updated,
                    "deleted_at": None,
                },
            )

    def tagging(self, company_id: int, *, loaded_at: dt.datetime, **given: Any) -> Row:
        created, updated = given.pop("history", None) or self.history(oldest_days=500)
        row: Row = {
            "id": self.world.new_id("taggings", 1_000_001),
            "tag_id": self.rng.randint(1, len(TAG_NAMES)),
            "taggable_id": company_id,
            "taggable_type": "Company",
            "tagger_type": "User",
            "context": "tags",
            "tenant_company_id": CLIENT_ID,
            "tagger_id": None,
            "confidence": Decimal(str(round(self.rng.uniform(0.5, 1), 3))),
            "created_at": created,
            "updated_at": updated,
            "op": "I",
            "_loaded_at": loaded_at,
        }
        row.update(given)
        return self.add("taggings", row)

    def item(self, vendor_id: int) -> Row:
        rng = self.rng
        category = rng.choice(self.leaf_categories())
        created, updated = self.history(oldest_days=800)
        price = Decimal(rng.randint(100, 500_000)) / 100
        return self.add(
            "preferred_vendor_item_mappings",
            {
                "id": self.world.new_id("preferred_vendor_item_mappings", 1_100_001),
                "client_company_id": CLIENT_ID,
                "vendor_company_id": vendor_id,
                "product_category_id": category["id"],
                "item_name": f"{category['name']} item {rng.randint(100, 999)}",
                "manufacturer_name": self.world.table("companies")[vendor_id]["name"],
                "unit_price": price,
                "list_price": price * Decimal("1.15"),
                "pack_size": rng.choice((1, 1, 10, 50)),
                "status": 1,
                "contract_start_date": created.date(),
                "contract_end_date": (created + dt.timedelta(days=730)).date(),
                "created_at": created,
                "updated_at": updated,
                "deleted_at": None,
            },
        )


def generate_world(
    types: Mapping[str, Mapping[str, str]],
    *,
    scale: float = 1.0,
    rng: random.Random,
    progress: Callable[[int, int], None] | None = None,
) -> World:
    """The initial world: reference data, four buyers, then ``company_count(scale)``
    suppliers with everything hanging off them. ``progress(done, total)`` is called as
    suppliers are made (the slow part at large scales)."""
    world = World({source: dict(columns) for source, columns in types.items()})
    builder = WorldBuilder(world, rng)
    builder.countries()
    builder.cities()
    builder.product_categories()
    builder.tags()
    builder.buyers()
    total = company_count(scale)
    for number in range(total):
        builder.supplier(FIRST_COMPANY_ID + number)
        if progress is not None and ((number + 1) % 25 == 0 or number + 1 == total):
            progress(number + 1, total)
    world.next_id["companies"] = FIRST_COMPANY_ID + total
    return world

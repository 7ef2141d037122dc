"""A Python model of what one run must do, written from DESIGN.md §3 (not from the
generator), and the invariant checks run after every cycle of the property tests.

:class:`SourceModel` keeps a source's expected baseline and watermark and applies
one run's staging rows with the documented semantics: the append-mode watermark,
dead letters (NULL key, NULL updated_at, failed check), de-duplication (newest
updated_at; ties by loaded_at, then the rest of the row, descending, NULLs last),
stale rows, the three delete rules, I/U/D/no-op classification.

:func:`vendor_fact_rows` evaluates fact_vendor (qualification, exists, the lookup
chain and a representative set of columns) from the models alone;
:func:`pipeline_fact_rows` does the same for any random pipeline of
``tests/strategies_pipeline.py``.

:func:`check_cycle` checks a finished run against the database: baselines equal the
models, the change log replays to the baseline with correct before-images, LSNs are
1..N, each fact equals its ``__full`` view, and the fact change log names exactly
the rows and columns that changed (compared with snapshots taken around the run).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg import sql

from tests.pipeline_harness import Pipeline

Row = dict[str, Any]
Key = tuple[Any, ...]


@dataclass
class SourceRules:
    name: str
    key: tuple[str, ...]
    staging_columns: tuple[str, ...]
    columns: tuple[str, ...]  # baseline columns (staging minus op column and loaded_at)
    updated_at: str = "updated_at"
    loaded_at: str | None = None
    mode: str = "window"
    deletes: str = "none"  # none | when | op_column | snapshot
    when: Callable[[Row], bool | None] | None = None
    op_column: str | None = None
    checks: tuple[tuple[str, Callable[[Row], bool | None]], ...] = ()
    #: baseline column -> declared type; a staged value the type cannot hold is dead-lettered
    types: dict[str, str] = field(default_factory=dict)

    def misfit(self, row: Row) -> bool:
        return any(row.get(c) is not None and not fits(row[c], t) for c, t in self.types.items())

    @property
    def watermark_column(self) -> str | None:
        return (self.loaded_at or self.updated_at) if self.mode == "append" else None


#: what the docs (staging.md, castability) say a text value of a date/time column may be
_DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_NUMBER_TEXT = re.compile(r"-?\d+(\.\d+)?")


def from_text(value: str, type_: str) -> Any:
    """A value staged as text for a typed column, read as that type; None when it is not
    castable by the documented rules (DESIGN: the row is dead-lettered)."""
    t = type_.lower().replace(" ", "")
    if t in ("timestamp", "date"):
        if not _DATETIME_TEXT.fullmatch(value):
            return None
        try:  # a real calendar day and time of day (no Feb 30, no 24:00)
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.date() if t == "date" else parsed
    if _NUMBER_TEXT.fullmatch(value):
        return Decimal(value)
    return None


def fits(value: Any, type_: str) -> bool:
    """Can a column of ``type_`` hold ``value``? PostgreSQL's rules: VARCHAR(n) counts
    characters; NUMERIC(p,s) rounds half away from zero to s places first. Text staged
    for a date/time or number column must first be castable (:func:`from_text`)."""
    t = type_.lower().replace(" ", "")
    if m := re.fullmatch(r"(?:varchar|char|character|charactervarying)\((\d+)\)", t):
        return len(value) <= int(m.group(1))
    if isinstance(value, str):
        typed = from_text(value, type_)
        if typed is None:
            return False
        if t in INTEGER_RANGES:  # a fraction rounds half away from zero when stored
            typed = typed.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return fits(typed, type_)
    if t in INTEGER_RANGES:
        low, high = INTEGER_RANGES[t]
        return low <= value <= high
    if m := re.fullmatch(r"(?:numeric|decimal)\((\d+),(\d+)\)", t):
        p, s = int(m.group(1)), int(m.group(2))
        rounded = Decimal(value).quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP)
        return abs(rounded) < Decimal(10) ** (p - s)
    return True


def stored(value: Any, type_: str | None) -> Any:
    """A value as a column of ``type_`` holds it: NUMERIC(p,s) rounds half away from zero."""
    if value is None or type_ is None:
        return value
    t = type_.lower().replace(" ", "")
    if isinstance(value, str) and not re.match(r"(?:varchar|char|character)", t):
        value = from_text(value, type_)
        if t in INTEGER_RANGES:
            return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if m := re.fullmatch(r"(?:numeric|decimal)\((\d+),(\d+)\)", type_.lower().replace(" ", "")):
        return Decimal(value).quantize(Decimal(1).scaleb(-int(m.group(2))), rounding=ROUND_HALF_UP)
    return value


INTEGER_RANGES = {"smallint": (-32768, 32767), "int2": (-32768, 32767),
                  "integer": (-2147483648, 2147483647), "int": (-2147483648, 2147483647),
                  "int4": (-2147483648, 2147483647)}


def _desc_nulls_last(a: Any, b: Any) -> int:
    if a is None and b is None:
        return 0
    if a is None:
        return 1
    if b is None:
        return -1
    return -1 if a > b else (1 if a < b else 0)


@dataclass
class RunExpectation:
    ops: dict[Key, str] = field(default_factory=dict)  # I/U/D per key
    stale: int = 0
    dead_lettered: int = 0  # rejected staged rows this run
    new_dead_letters: int = 0  # rows written to dead_letter (first time seen)
    read: int = 0  # staged rows the run read
    superseded: int = 0  # valid rows beaten by a newer version of their key in the batch

    @property
    def applied(self) -> int:
        """Rows that won their key and were not stale: applied, possibly as a no-op."""
        return self.read - self.dead_lettered - self.superseded - self.stale

    def counts(self) -> tuple[int, int, int]:
        vals = list(self.ops.values())
        return (vals.count("I"), vals.count("U"), vals.count("D"))


@dataclass
class SourceModel:
    rules: SourceRules
    rows: dict[Key, Row] = field(default_factory=dict)
    watermark: Any = None
    dead: set[tuple[Any, ...]] = field(default_factory=set)
    #: deleted keys -> the version that deleted them (a later-arriving older version is stale)
    tombstones: dict[Key, Any] = field(default_factory=dict)

    def key_of(self, row: Row) -> Key:
        return tuple(row.get(k) for k in self.rules.key)

    def rejected(self, row: Row) -> bool:
        r = self.rules
        if any(row.get(k) is None for k in r.key) or row.get(r.updated_at) is None:
            return True
        if r.mode == "append" and r.loaded_at and row.get(r.loaded_at) is None:
            return True  # no load time: cannot be placed against the watermark
        if r.misfit(row):
            return True
        return any(check(row) is False for _, check in r.checks)

    def is_delete(self, row: Row) -> bool:
        r = self.rules
        if r.deletes == "when" and r.when is not None:
            return r.when(row) is True
        if r.deletes == "op_column" and r.op_column:
            op = row.get(r.op_column)
            return op is not None and op.strip().upper() == "D"
        return False

    def _order(self, a: Row, b: Row) -> int:
        r = self.rules
        cols = [r.updated_at] + ([r.loaded_at] if r.loaded_at else [])
        cols += [c for c in r.staging_columns if c not in r.key and c not in cols]
        for c in cols:
            o = _desc_nulls_last(a.get(c), b.get(c))
            if o:
                return o
        return 0

    def staged(self, staging: Iterable[Row]) -> list[Row]:
        wm = self.rules.watermark_column
        rows = [dict(r) for r in staging]
        if wm is None or self.watermark is None:
            return rows
        # strictly past the watermark; a row with no watermark value is read by every run
        # (and dead-lettered once), never dropped unseen
        return [r for r in rows if r.get(wm) is None or r[wm] > self.watermark]

    def apply(self, staging: Iterable[Row], *, commit: bool = True) -> RunExpectation:
        """One run over this source's staging table; returns what the run must report."""
        r = self.rules
        staged = self.staged(staging)
        out = RunExpectation()
        seen_before = set(self.dead)
        winners: dict[Key, Row] = {}
        for row in staged:
            if self.rejected(row):
                out.dead_lettered += 1
                ident = tuple(row.get(c) for c in r.staging_columns)
                if ident not in seen_before:
                    out.new_dead_letters += 1
                    if commit:
                        self.dead.add(ident)
                continue
            k = self.key_of(row)
            if k not in winners or self._order(row, winners[k]) < 0:
                winners[k] = row
        out.read = len(staged)
        out.superseded = len(staged) - out.dead_lettered - len(winners)
        new_rows = dict(self.rows)
        tombstones = dict(self.tombstones)
        for k, n in winners.items():
            b = self.rows.get(k)
            deleting = self.is_delete(n)
            if b is None and deleting:
                continue
            if b is not None and n[r.updated_at] < b[r.updated_at]:
                out.stale += 1
                continue
            if b is None and k in tombstones and n[r.updated_at] <= tombstones[k]:
                out.stale += 1
                continue
            if deleting:
                out.ops[k] = "D"
                del new_rows[k]
                tombstones[k] = n[r.updated_at]
                continue
            image = {c: stored(n.get(c), r.types.get(c)) for c in r.columns}
            if b is None:
                out.ops[k] = "I"
                tombstones.pop(k, None)
            elif image != b:
                out.ops[k] = "U"
            else:
                continue
            new_rows[k] = image
        if r.deletes == "snapshot" and any(not self.rejected(x) for x in staged):
            present = {self.key_of(x) for x in staged}
            for k in self.rows:
                if k not in present:
                    out.ops[k] = "D"
                    new_rows.pop(k, None)
        if commit:
            self.rows = new_rows
            self.tombstones = tombstones
            wm = r.watermark_column
            if wm is not None:
                marks = [x[wm] for x in staged if x.get(wm) is not None]
                if marks:
                    self.watermark = max(marks)
        return out


# ---------------------------------------------------------------------------
# independent fact evaluation

def trim(s: str) -> str:
    return s.strip(" ")


def _cat(*parts: Any) -> str | None:
    if any(p is None for p in parts):
        return None
    return "".join(str(p) for p in parts)


VENDOR_COLUMNS = (
    "vendor_id", "vendor_name", "vendor_label", "vendor_email", "vendor_status",
    "vendor_status_label", "vendor_category", "vendor_category_label", "address_line1",
    "postal_code", "full_address", "city_id", "city_name", "country_id", "country_name",
    "country_iso2", "is_eu_vendor", "primary_category_id", "primary_category_name",
    "poc_user_id", "poc_first_name", "poc_last_name", "poc_full_name", "poc_email", "poc_phone",
    "created_by_user_id", "created_by_name", "created_by_email", "employee_count", "employee_band",
)


def vendor_fact_rows(m: dict[str, SourceModel]) -> dict[int, Row]:
    """fact_vendor from the models: where + exists + five LEFT JOIN lookups."""
    cities = {k[0]: r for k, r in m["cities"].rows.items()}
    countries = {k[0]: r for k, r in m["countries"].rows.items()}
    users = {k[0]: r for k, r in m["users"].rows.items()}
    categories = {k[0]: r for k, r in m["product_categories"].rows.items()}
    vendors_of_client = {
        r["dealing_with_company_id"]
        for r in m["buyer_seller_company_mappings"].rows.values()
        if r["client_company_id"] == 12855 and r["status"] in (1, 2, 7)
        and r["source"] in (0, 1) and r["invited_by"] is not None
    }
    status_label = {0: "pending", 1: "active", 2: "suspended", 3: "inactive"}
    category_label = {1: "manufacturer", 2: "distributor", 4: "service provider"}
    out: dict[int, Row] = {}
    for (cid,), c in m["companies"].rows.items():
        if not (c["status"] == 1 and c["category"] in (1, 2, 4)):
            continue
        if cid not in vendors_of_client:
            continue
        city = cities.get(c["city_id"]) if c["city_id"] is not None else None
        country = None
        if city is not None and city["country_id"] is not None:
            country = countries.get(city["country_id"])
        poc = users.get(c["primary_contact_id"]) if c["primary_contact_id"] is not None else None
        creator = users.get(c["created_by"]) if c["created_by"] is not None else None
        cat = categories.get(c["primary_category_id"]) if c["primary_category_id"] is not None else None
        g = lambda row, col: None if row is None else row[col]  # noqa: E731
        emp = c["employee_count"]
        out[cid] = {
            "vendor_id": cid,
            "vendor_name": c["name"],
            "vendor_label": _cat(c["name"], " / ", g(city, "name") if g(city, "name") is not None else "?"),
            "vendor_email": c["email"],
            "vendor_status": c["status"],
            "vendor_status_label": status_label.get(c["status"], "unknown"),
            "vendor_category": c["category"],
            "vendor_category_label": category_label.get(c["category"], "other"),
            "address_line1": c["address_line1"],
            "postal_code": c["postal_code"],
            "full_address": _cat(c["address_line1"] or "", ", ", g(city, "name") or "", " ",
                                 c["postal_code"] or "", ", ", g(country, "iso2") or ""),
            "city_id": c["city_id"],
            "city_name": g(city, "name"),
            "country_id": g(city, "country_id"),
            "country_name": g(country, "name"),
            "country_iso2": g(country, "iso2"),
            "is_eu_vendor": bool(g(country, "is_eu_member")),
            "primary_category_id": c["primary_category_id"],
            "primary_category_name": g(cat, "name"),
            "poc_user_id": c["primary_contact_id"],
            "poc_first_name": g(poc, "first_name"),
            "poc_last_name": g(poc, "last_name"),
            "poc_full_name": trim((g(poc, "first_name") or "") + " " + (g(poc, "last_name") or "")),
            "poc_email": g(poc, "email"),
            "poc_phone": g(poc, "mobile_phone") if g(poc, "mobile_phone") is not None else g(poc, "phone"),
            "created_by_user_id": c["created_by"],
            "created_by_name": trim((g(creator, "first_name") or "") + " " + (g(creator, "last_name") or "")),
            "created_by_email": g(creator, "email"),
            "employee_count": emp,
            "employee_band": ("unknown" if emp is None else "small" if emp < 50
                              else "medium" if emp < 1000 else "large"),
        }
    return out


def _pipeline_rows(pdef: Any, target: Any, m: dict[str, SourceModel]) -> Iterable[tuple[Row, Row]]:
    """(grain row, target row) for every grain row that qualifies for ``target``."""
    from tests.strategies_pipeline import eval_expr

    for grain_row in m[target.grain].rows.values():
        env: dict[str, Row | None] = {target.grain: grain_row}
        for joined, via in target.joins:
            via_row = env.get(via)
            fk = [None if via_row is None else via_row.get(c) for c in pdef.sources[via].fks[joined]]
            env[joined] = None if None in fk else m[joined].rows.get(tuple(fk))
        if target.where is not None and eval_expr(target.where, env) is not True:
            continue
        if target.exists is not None:
            other, pred = target.exists
            fk_cols = pdef.sources[target.grain].fks[other]
            fk = tuple(grain_row.get(c) for c in fk_cols)
            hit = m[other].rows.get(fk) if None not in fk else None
            if hit is None or eval_expr(pred, {other: hit}) is not True:
                continue
        yield grain_row, {c: eval_expr(e, env) for c, e in target.columns.items()}


def pipeline_fact_rows(pdef: Any, fact: Any, m: dict[str, SourceModel]) -> dict[Key, Row]:
    """Any random pipeline's fact (tests/strategies_pipeline.py) evaluated from the models."""
    return {tuple(row[k] for k in fact.key): row for _, row in _pipeline_rows(pdef, fact, m)}


def pipeline_dimension_rows(pdef: Any, dim: Any, m: dict[str, SourceModel]) -> dict[Key, tuple[Row, Any]]:
    """A random pipeline's dimension: per qualifying key, its columns and the grain's
    version timestamp (``updated_at``)."""
    return {tuple(row[k] for k in dim.key): (row, grain_row["updated_at"])
            for grain_row, row in _pipeline_rows(pdef, dim, m)}


# ---------------------------------------------------------------------------
# SCD Type 2 dimensions (DESIGN §3.4, "dimensions" in §3 step 5)

@dataclass
class Version:
    sk: int
    row: Row
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    is_current: bool
    is_deleted: bool

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.sk, self.row, self.valid_from, self.valid_to, self.is_current, self.is_deleted)


@dataclass
class DimensionModel:
    """Every version of an SCD2 dimension, written from the contract:

    - a key that qualifies and has no current version opens one (I) at its grain's
      ``updated_at`` — but never before the ``valid_to`` of its last closed version, so a
      key that comes back after ``on_delete: invalidate`` cannot overlap its past;
    - a change to a ``history`` column, or a key coming back after a ``deleted`` version,
      closes the current version and opens a new one (H) at the change time: the grain's
      ``updated_at`` when it moved past the current ``valid_from``, else the run's
      timestamp (a change reached through a lookup, or a late timestamp) — and never
      before the current ``valid_from``, so validity stays monotonic;
    - a change to any other column overwrites the current version (U);
    - a key that stops qualifying (X): ``ignore`` keeps the version open, ``invalidate``
      closes it, ``new_version`` closes it and opens a version flagged ``is_deleted``
      with the last known values — at the run's timestamp (never before ``valid_from``).

    Surrogate keys are max + 1, 2, … over the opened versions in key order."""

    key: tuple[str, ...]
    columns: tuple[str, ...]
    history: frozenset[str]
    on_delete: str
    versions: dict[Key, list[Version]] = field(default_factory=dict)
    #: how often each path was taken, over the model's life (the histories must reach them)
    paths: dict[str, int] = field(default_factory=dict)

    def _bump(self, path: str) -> None:
        self.paths[path] = self.paths.get(path, 0) + 1

    def current(self, k: Key) -> Version | None:
        vs = self.versions.get(k, [])
        return vs[-1] if vs and vs[-1].is_current else None

    def apply(self, rows: dict[Key, tuple[Row, Any]], run_ts: dt.datetime) -> dict[Key, str]:
        """One run: ``rows`` are the keys that qualify now (columns, grain timestamp).
        Returns the op per changed key (I, H, U, X)."""
        ops: dict[Key, str] = {}
        opened: list[tuple[Key, Row, dt.datetime, bool]] = []
        for k in sorted(set(rows) | {k for k in self.versions if self.current(k)}):
            cur = self.current(k)
            new = rows.get(k)
            if cur is None:
                if new is None:
                    continue
                row, src = new
                closed = [v.valid_to for v in self.versions.get(k, []) if v.valid_to is not None]
                start = src
                if closed and max(closed) > src:
                    start = max(closed)
                    self._bump("reopened before its close")
                if closed:
                    self._bump("requalified")
                ops[k] = "I"
                opened.append((k, row, start, False))
                continue
            if new is None:
                if cur.is_deleted or self.on_delete == "ignore":
                    if not cur.is_deleted:
                        self._bump("stopped, kept open (ignore)")
                    continue
                self._bump(f"stopped ({self.on_delete})")
                ops[k] = "X"
                end = max(run_ts, cur.valid_from)
                cur.valid_to, cur.is_current = end, False
                if self.on_delete == "new_version":
                    opened.append((k, dict(cur.row), end, True))
                continue
            row, src = new
            history = cur.is_deleted or any(row[c] != cur.row[c] for c in self.history)
            if cur.is_deleted:
                self._bump("requalified after a deleted version")
            if not history:
                if row != cur.row:
                    ops[k] = "U"
                    cur.row = dict(row)
                continue
            if src > cur.valid_from:
                ts = src
            else:
                ts = max(run_ts, cur.valid_from)
                self._bump("history change at the run's time")
            ops[k] = "H"
            cur.valid_to, cur.is_current = ts, False
            opened.append((k, row, ts, False))
        sk = max((v.sk for vs in self.versions.values() for v in vs), default=0)
        for k, row, start, deleted in opened:
            sk += 1
            self.versions.setdefault(k, []).append(Version(sk, dict(row), start, None, True, deleted))
        return ops

    def counts(self, ops: dict[Key, str]) -> tuple[int, int, int]:
        vals = list(ops.values())
        removed = vals.count("X") if self.on_delete != "ignore" else 0
        return (vals.count("I"), vals.count("U") + vals.count("H"), removed)


def orders_dim_customer(m: dict[str, SourceModel]) -> dict[Key, tuple[Row, Any]]:
    """mappings/orders.yml dim_customer from the models: customers LEFT JOIN addresses."""
    addresses = {k[0]: r for k, r in m["addresses"].rows.items()}
    out: dict[Key, tuple[Row, Any]] = {}
    for (cid,), c in m["customers"].rows.items():
        home = addresses.get(c["default_address_id"]) if c["default_address_id"] is not None else None
        full_name = ((c["first_name"] or "") + " " + (c["last_name"] or "")).strip(" ")
        out[(cid,)] = ({"customer_id": cid, "email": c["email"], "full_name": full_name,
                        "segment": c["segment"], "plan": c["plan"],
                        "country_code": None if home is None else home["country_code"]},
                       c["updated_at"])
    return out


def orders_dimension_model() -> DimensionModel:
    return DimensionModel(("customer_id",), ("customer_id", "email", "full_name", "segment", "plan",
                                             "country_code"),
                          frozenset({"segment", "plan"}), "new_version")


def as_of_version(dim: DimensionModel, key: Key, at: dt.datetime | None) -> Version | None:
    """The version valid at ``at``: valid_from <= at < valid_to (an open version has no
    end); none for a NULL time, a NULL key, or a time outside every version."""
    if at is None or None in key:
        return None
    found = [v for v in dim.versions.get(key, [])
             if v.valid_from <= at and (v.valid_to is None or at < v.valid_to)]
    assert len(found) <= 1, f"key {key}: {len(found)} versions valid at {at}"
    return found[0] if found else None


def orders_fact_order_customer(m: dict[str, SourceModel], dim: DimensionModel) -> dict[Key, Row]:
    """mappings/orders.yml fact_order_customer from the models: every order, with the
    dim_customer version (from the dimension model) valid at its placed_at."""
    out: dict[Key, Row] = {}
    for (oid,), o in m["orders"].rows.items():
        v = as_of_version(dim, (o["customer_id"],), o["placed_at"])
        out[(oid,)] = {
            "order_id": oid, "customer_id": o["customer_id"], "placed_at": o["placed_at"],
            "customer_sk": None if v is None else v.sk,
            "customer_email": None if v is None else v.row["email"],
            "customer_segment": None if v is None else v.row["segment"],
            "customer_plan": None if v is None else v.row["plan"],
            "customer_deleted": None if v is None else v.is_deleted,
        }
    return out


def check_point_in_time(p: Pipeline, m: dict[str, SourceModel], dim: DimensionModel) -> dict[str, int]:
    """fact_order_customer in the database equals its independent evaluation (after
    ``check_dimension`` has applied the run to ``dim``). Returns path figures."""
    want = orders_fact_order_customer(m, dim)
    got = table_rows(p.conn, "analytics.fact_order_customer", ORDER_CUSTOMER_COLUMNS, ["order_id"])
    if got != want:
        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
        raise AssertionError(f"fact_order_customer != model (db, model): {diff}")
    figures = {"matched": 0, "no time": 0, "no version": 0, "closed version": 0, "deleted version": 0}
    for (oid,), row in want.items():
        o = m["orders"].rows[(oid,)]
        if row["customer_sk"] is not None:
            figures["matched"] += 1
            v = as_of_version(dim, (o["customer_id"],), o["placed_at"])
            figures["closed version"] += v is not None and v.valid_to is not None
            figures["deleted version"] += bool(row["customer_deleted"])
        elif o["placed_at"] is None:
            figures["no time"] += 1
        else:
            figures["no version"] += 1
    return figures


ORDER_CUSTOMER_COLUMNS = ("order_id", "customer_id", "placed_at", "customer_sk", "customer_email",
                          "customer_segment", "customer_plan", "customer_deleted")


def dimension_versions(p: Pipeline, table: str, key: Iterable[str], columns: Iterable[str],
                       sk: str) -> dict[Key, list[Version]]:
    """Every version in the database, per key, in surrogate-key order."""
    keys, cols = list(key), list(columns)
    q = sql.SQL("SELECT {sk}, {cols}, valid_from, valid_to, is_current, is_deleted FROM {t} "
                "ORDER BY {sk}").format(
        sk=sql.Identifier(sk), cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        t=sql.Identifier(*table.split(".")))
    out: dict[Key, list[Version]] = {}
    n = len(cols)
    for r in p.conn.execute(q).fetchall():
        row = dict(zip(cols, r[1:1 + n], strict=True))
        out.setdefault(tuple(row[c] for c in keys), []).append(Version(r[0], row, *r[1 + n:]))
    return out


def check_validity(versions: dict[Key, list[Version]], on_delete: str) -> None:
    """Independent of the model: per key, versions in time order never overlap, each closed
    version ends no earlier than it starts, exactly the last one is open and current, and —
    unless ``invalidate`` (a key that is gone has no version) — they leave no gap."""
    for k, vs in versions.items():
        timeline = sorted(vs, key=lambda v: (v.valid_from, v.sk))
        assert [v.sk for v in timeline] == sorted(v.sk for v in vs), f"key {k}: validity not monotonic {vs}"
        for v in timeline[:-1]:
            assert not v.is_current and v.valid_to is not None, f"key {k}: an earlier version is open: {vs}"
        for a, b in itertools.pairwise(timeline):
            assert a.valid_from <= a.valid_to, f"key {k}: version {a.sk} ends before it starts"  # type: ignore[operator]
            assert a.valid_to <= b.valid_from, f"key {k}: versions {a.sk} and {b.sk} overlap"  # type: ignore[operator]
            if on_delete != "invalidate":
                assert a.valid_to == b.valid_from, f"key {k}: gap between versions {a.sk} and {b.sk}"
        last = timeline[-1]
        assert last.is_current == (last.valid_to is None), f"key {k}: is_current disagrees with valid_to"
        if last.valid_to is not None:
            assert last.valid_from <= last.valid_to, f"key {k}: version {last.sk} ends before it starts"


def check_dimension(p: Pipeline, name: str, model: DimensionModel,
                    rows: dict[Key, tuple[Row, Any]], run_id: int) -> dict[Key, str]:
    """Apply one run to the model and compare every version with the database: columns,
    valid_from, valid_to, is_current, is_deleted and surrogate key. Then the validity rules,
    one current version per live key, and the dimension's run_counts."""
    run_ts = p.conn.execute("SELECT started_at FROM cdc.run_log WHERE run_id = %s", [run_id]).fetchone()[0]
    ops = model.apply(rows, run_ts)
    t = next(t for t in p.manifest["targets"] if t["name"] == name)
    got = dimension_versions(p, t["table"], model.key, model.columns, f"{name}_sk")
    want = {k: vs for k, vs in model.versions.items() if vs}
    if got != want:
        diff = {k: ([v.as_tuple() for v in got.get(k, [])], [v.as_tuple() for v in want.get(k, [])])
                for k in set(got) | set(want) if got.get(k) != want.get(k)}
        raise AssertionError(f"{name} versions != model (db, model), run {run_id} at {run_ts}: {diff}")
    check_validity(got, model.on_delete)
    for k in rows:
        live = [v for v in got[k] if v.is_current and not v.is_deleted]
        assert len(live) == 1, f"{name} key {k}: {len(live)} current versions"
    counts = p.conn.execute(
        "SELECT inserted, updated, deleted FROM cdc.run_counts WHERE run_id = %s AND object_name = %s",
        [run_id, name]).fetchone()
    assert counts is None or tuple(counts) == model.counts(ops), (
        f"run_counts {name}: {counts} != {model.counts(ops)}")
    return ops


# ---------------------------------------------------------------------------
# database-side checks

def table_rows(conn: psycopg.Connection, table: str, columns: Iterable[str], key: Iterable[str]) -> dict[Key, Row]:
    cols = list(columns)
    keys = list(key)
    q = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier(*table.split(".")))
    out: dict[Key, Row] = {}
    for values in conn.execute(q).fetchall():
        row = dict(zip(cols, values, strict=True))
        k = tuple(row[c] for c in keys)
        assert k not in out, f"{table}: duplicate key {k}"
        out[k] = row
    return out


def obj(p: Pipeline, name: str) -> dict[str, Any]:
    return next(o for o in p.manifest["objects"] if o["name"] == name)


def facts_of(p: Pipeline) -> list[dict[str, Any]]:
    return [t for t in p.manifest["targets"] if t.get("kind", "fact") == "fact"]


def fact_snapshot(p: Pipeline) -> dict[str, dict[Key, Row]]:
    snap = {}
    for t in facts_of(p):
        o = obj(p, t["table"])
        snap[t["name"]] = table_rows(p.conn, t["table"], [c for c, _ in o["columns"]], t["key"])
    return snap


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str)) if v is not None else None


def check_baselines(p: Pipeline, models: dict[str, SourceModel]) -> None:
    for s in p.manifest["sources"]:
        model = models[s["name"]]
        got = table_rows(p.conn, s["baseline"], model.rules.columns, model.rules.key)
        if got != model.rows:
            missing = set(model.rows) - set(got)
            extra = set(got) - set(model.rows)
            diff = {k: (got[k], model.rows[k]) for k in set(got) & set(model.rows) if got[k] != model.rows[k]}
            raise AssertionError(f"baseline {s['name']} != model: missing {missing}, extra {extra}, "
                                 f"different (db, model) {diff}")


# A row image as one flat object: images of rows wider than 50 columns are nested in
# parts {"cdc__1": {...}, "cdc__2": {...}} (cdcgen.sql.nodes.payload_parts).
_FLAT = (
    "CASE WHEN {image} ? 'cdc__1' THEN (SELECT jsonb_object_agg(e.key, e.value) "
    "FROM jsonb_each({image}) part, jsonb_each(part.value) e) ELSE {image} END"
)


def check_change_log(p: Pipeline) -> int:
    """LSNs are 1..N; replaying the log from empty reproduces every baseline, and every
    U/D before-image is the replayed row it replaces. Returns N."""
    lsns = [r[0] for r in p.conn.execute("SELECT lsn FROM cdc.change_log ORDER BY lsn").fetchall()]
    assert lsns == list(range(1, len(lsns) + 1)), f"LSNs not gapless: {lsns}"
    runs = [r[0] for r in p.conn.execute("SELECT run_id FROM cdc.change_log ORDER BY lsn").fetchall()]
    assert runs == sorted(runs), "LSN order differs from run order"
    for s in p.manifest["sources"]:
        o = obj(p, s["baseline"])
        cols = [c for c, _ in o["columns"]]
        key = s["key"]
        rel = sql.Identifier(*s["baseline"].split("."))
        q = sql.SQL(
            "SELECT c.lsn, c.op, c.key_text, c.changed_columns, {b}, {a} FROM cdc.change_log c "
            "LEFT JOIN LATERAL jsonb_populate_record(NULL::{rel}, " + _FLAT.format(image="c.before_row") + ") b "
            "ON c.before_row IS NOT NULL "
            "LEFT JOIN LATERAL jsonb_populate_record(NULL::{rel}, " + _FLAT.format(image="c.after_row") + ") a "
            "ON c.after_row IS NOT NULL "
            "WHERE c.pipeline = %s AND c.source = %s ORDER BY c.lsn"
        ).format(
            rel=rel,
            b=sql.SQL(", ").join(sql.SQL("b.{}").format(sql.Identifier(c)) for c in cols),
            a=sql.SQL(", ").join(sql.SQL("a.{}").format(sql.Identifier(c)) for c in cols),
        )
        state: dict[Key, Row] = {}
        n = len(cols)
        for rec in p.conn.execute(q, [p.name, s["name"]]).fetchall():
            lsn, op, key_text, changed = rec[:4]
            before = dict(zip(cols, rec[4:4 + n], strict=True))
            after = dict(zip(cols, rec[4 + n:], strict=True))
            if op == "I":
                k = tuple(after[c] for c in key)
                assert k not in state, f"{s['name']} lsn {lsn}: insert of existing key {k}"
                state[k] = after
            elif op == "U":
                k = tuple(after[c] for c in key)
                assert state.get(k) == before, f"{s['name']} lsn {lsn}: before-image {before} != {state.get(k)}"
                listed = set((changed or "").split(",")) - {""}
                actual = {c for c in cols if before[c] != after[c]}
                assert listed == actual, f"{s['name']} lsn {lsn}: changed_columns {listed} != {actual}"
                state[k] = after
            elif op == "D":
                k = tuple(before[c] for c in key)
                assert state.get(k) == before, f"{s['name']} lsn {lsn}: delete before-image {before} != {state.get(k)}"
                del state[k]
            else:
                raise AssertionError(f"bad op {op}")
            if all(isinstance(v, int) for v in k):
                assert key_text == "|".join(str(v) for v in k), f"{s['name']} lsn {lsn}: key_text {key_text}"
        got = table_rows(p.conn, s["baseline"], cols, key)
        assert state == got, f"replaying change_log does not reproduce baseline {s['name']}"
    return len(lsns)


def check_facts_equal_full(p: Pipeline) -> None:
    for t in facts_of(p):
        cols = [c for c, _ in obj(p, t["table"])["columns"]]
        clist = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        full = sql.Identifier(p.schemas["cdc"], f"{t['name']}__full")
        fact = sql.Identifier(*t["table"].split("."))
        q = sql.SQL(
            "SELECT (SELECT count(*) FROM (SELECT {c} FROM {f} EXCEPT ALL SELECT {c} FROM {v}) x), "
            "(SELECT count(*) FROM (SELECT {c} FROM {v} EXCEPT ALL SELECT {c} FROM {f}) y)"
        ).format(c=clist, f=fact, v=full)
        extra, missing = p.conn.execute(q).fetchone()
        assert (extra, missing) == (0, 0), f"{t['name']}: {extra} rows not in __full, {missing} missing"


def check_fact_change_log(p: Pipeline, run_id: int, before: dict[str, dict[Key, Row]],
                          after: dict[str, dict[Key, Row]]) -> int:
    """The run's fact_change_log rows are exactly the fact rows that changed, with exact
    changed_columns and before/after images. Returns the number of changed fact rows."""
    total = 0
    logged = p.fact_changes(run_id)
    by_target: dict[str, dict[str, Row]] = {}
    for r in logged:
        assert r["key_text"] not in by_target.setdefault(r["target"], {}), f"fact row logged twice: {r}"
        by_target[r["target"]][r["key_text"]] = r
    for t in facts_of(p):
        name = t["name"]
        b, a = before[name], after[name]
        expected: dict[str, tuple[str, Row | None, Row | None]] = {}
        for k in set(b) | set(a):
            if b.get(k) == a.get(k):
                continue
            op = "I" if k not in b else "D" if k not in a else "U"
            expected["|".join(str(v) for v in k)] = (op, b.get(k), a.get(k))
        got = by_target.get(name, {})
        assert set(got) == set(expected), (
            f"{name}: fact_change_log keys {sorted(got)} != changed rows {sorted(expected)}")
        for kt, (op, brow, arow) in expected.items():
            r = got[kt]
            assert r["op"] == op, f"{name} {kt}: op {r['op']} != {op}"
            if op == "U":
                assert brow is not None and arow is not None
                listed = set((r["changed_columns"] or "").split(",")) - {""}
                actual = {c for c in arow if brow[c] != arow[c]}
                assert listed == actual, f"{name} {kt}: changed_columns {listed} != {actual}"
                jb, ja = r["before_row"], r["after_row"]
                json_diff = {c for c in ja if jb.get(c) != ja.get(c)}
                assert listed == json_diff, f"{name} {kt}: changed_columns {listed} != jsonb diff {json_diff}"
            if op == "I":
                assert r["before_row"] is None and r["after_row"] is not None
            if op == "D":
                assert r["after_row"] is None and r["before_row"] is not None
        total += len(expected)
    return total


def check_run_counts(p: Pipeline, run_id: int, expected: dict[str, RunExpectation],
                     fact_changes: dict[str, tuple[int, int, int]] | None = None) -> None:
    rows = p.conn.execute(
        "SELECT object_kind, object_name, inserted, updated, deleted, stale, dead_lettered, "
        "read_rows, applied, superseded, rejected FROM cdc.run_counts WHERE run_id = %s",
        [run_id]).fetchall()
    got = {(r[0], r[1]): r[2:7] for r in rows}
    accounting = {r[1]: r[7:] for r in rows if r[0] == "source"}
    for name, e in expected.items():
        i, u, d = e.counts()
        want = (i, u, d, e.stale, e.new_dead_letters)
        assert got.get(("source", name)) == want, f"run_counts {name}: {got.get(('source', name))} != {want}"
        # every staged row read is accounted for exactly once
        read, applied, superseded, rejected = accounting[name]
        assert read == applied + e.stale + superseded + rejected, f"{name}: rows lost in the count"
        want_rows = (e.read, e.applied, e.superseded, e.dead_lettered)
        assert (read, applied, superseded, rejected) == want_rows, (
            f"run_counts {name} (read, applied, superseded, rejected): "
            f"{(read, applied, superseded, rejected)} != {want_rows}")
    if fact_changes is not None:
        for name, c in fact_changes.items():
            assert got.get(("fact", name), (0, 0, 0, 0, 0))[:3] == c, f"run_counts {name}: {got.get(('fact', name))} != {c}"


def diff_counts(before: dict[Key, Row], after: dict[Key, Row]) -> tuple[int, int, int]:
    ins = len(set(after) - set(before))
    dels = len(set(before) - set(after))
    upd = sum(1 for k in set(before) & set(after) if before[k] != after[k])
    return (ins, upd, dels)


@dataclass
class Figures:
    cycles: int = 0
    source_changes: int = 0
    fact_changes: int = 0
    reruns: int = 0


def run_and_check(p: Pipeline, models: dict[str, SourceModel], staging: dict[str, list[Row]],
                  figures: Figures | None = None, *, rerun: bool = True) -> int:
    """One cycle: predict with the models, run, check the invariant, then a second run over
    the same staging rows must write nothing. Returns the run id."""
    expected = {name: models[name].apply(staging.get(name, [])) for name in models}
    before = fact_snapshot(p)
    lsn_before = p.conn.execute("SELECT COALESCE(MAX(lsn), 0) FROM cdc.change_log").fetchone()[0]
    run_id = p.run()
    assert p.last_run()["status"] == "succeeded"
    after = fact_snapshot(p)
    check_baselines(p, models)
    n = check_change_log(p)
    assert n - lsn_before == sum(len(e.ops) for e in expected.values()), "change_log rows != model changes"
    check_facts_equal_full(p)
    changed = check_fact_change_log(p, run_id, before, after)
    check_run_counts(p, run_id, expected,
                     {t: diff_counts(before[t], after[t]) for t in before})
    dl = p.conn.execute("SELECT count(*) FROM cdc.dead_letter WHERE run_id = %s", [run_id]).fetchone()[0]
    assert dl == sum(e.new_dead_letters for e in expected.values()), "dead_letter rows != model"
    if figures is not None:
        figures.cycles += 1
        figures.source_changes += n - lsn_before
        figures.fact_changes += changed
    if rerun:
        again = {name: models[name].apply(staging.get(name, []), commit=False) for name in models}
        assert all(not e.ops for e in again.values()), "model: rerun would change something"
        rerun_id = p.run()
        assert p.counts(rerun_id) == {}, f"second run changed something: {p.counts(rerun_id)}"
        assert p.change_log(rerun_id) == []
        assert p.fact_changes(rerun_id) == []
        assert p.last_run()["rows_changed"] == 0
        assert fact_snapshot(p) == after
        assert p.conn.execute("SELECT count(*) FROM cdc.dead_letter WHERE run_id = %s",
                              [rerun_id]).fetchone()[0] == 0
        for m in models.values():  # the rerun advances nothing either
            m.apply(staging.get(m.rules.name, []))
        if figures is not None:
            figures.reruns += 1
    return run_id


def order_rows(rows: list[Row], model: SourceModel) -> list[Row]:
    return sorted(rows, key=functools.cmp_to_key(model._order))


# ---------------------------------------------------------------------------
# feeding staging like the ETL, mirrored for the model

T0 = dt.datetime(2024, 1, 1)


def rules_of(s: Any) -> SourceRules:
    meta = {"op", s.loaded_at}
    return SourceRules(
        name=s.name, key=tuple(s.key), staging_columns=tuple(s.columns),
        columns=tuple(c for c in s.columns if c not in meta), loaded_at=s.loaded_at, mode=s.mode,
        deletes=s.deletes,
        when=(lambda r: r["deleted_at"] is not None) if s.deletes == "when" else None,
        op_column="op" if s.deletes == "op_column" else None,
        checks=(("valid_row", lambda r: None if r["id"] is None else r["id"] > 0),) if s.check else (),
        types={c: t for c, t in s.columns.items() if c not in meta},
    )


class History:
    """Feeds staging the way the ETL would, mirrored in Python for the model."""

    def __init__(self, p: Pipeline, rules: dict[str, SourceRules]) -> None:
        self.p = p
        self.rules = rules
        self.models = {n: SourceModel(r) for n, r in rules.items()}
        self.staging: dict[str, list[dict[str, Any]]] = {n: [] for n in rules}
        self.snapshot: dict[str, dict[tuple, dict[str, Any]]] = {
            n: {} for n, r in rules.items() if r.deletes == "snapshot"}
        self.clock = T0

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=1)
        return self.clock

    def stage(self, source: str, *rows: dict[str, Any]) -> None:
        for row in rows:
            full = {c: row.get(c) for c in self.rules[source].staging_columns}
            self.staging[source].append(full)
            self.p.stage(source, full)

    def stage_snapshots(self, lost: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Full-snapshot sources carry their whole table in every load (``lost``: a failed,
        empty load)."""
        for source, rows in self.snapshot.items():
            self.p.clear_staging(source)
            self.staging[source] = []
            if source not in lost:
                for row in rows.values():
                    self.stage(source, row)

    def cycle(self, figures: Figures, *, clear_window: bool, lost: set[str] = frozenset(),  # type: ignore[assignment]
              rerun: bool = True) -> int:
        """One run (and its idempotent rerun) checked against the models; returns the run id."""
        self.stage_snapshots(lost)
        run_id = run_and_check(self.p, self.models, self.staging, figures, rerun=rerun)
        if clear_window:
            for source, r in self.rules.items():
                if r.mode == "window" and r.deletes != "snapshot":
                    self.p.clear_staging(source)
                    self.staging[source] = []
        return run_id


ORDER_CHECKS = {
    "orders": (("non_negative_subtotal", lambda r: None if r["subtotal"] is None else r["subtotal"] >= 0),),
    "order_items": (("positive_quantity", lambda r: None if r["quantity"] is None else r["quantity"] > 0),),
}


def orders_rules(p: Pipeline) -> dict[str, SourceRules]:
    out = {}
    for s in p.manifest["sources"]:
        staging = next(o for o in p.manifest["objects"] if o["name"] == s["staging"])
        base = next(o for o in p.manifest["objects"] if o["name"] == s["baseline"])
        out[s["name"]] = SourceRules(
            name=s["name"], key=tuple(s["key"]), staging_columns=tuple(c for c, _ in staging["columns"]),
            columns=tuple(c for c, _ in base["columns"]),
            loaded_at="_loaded_at" if s["name"] == "order_items" else None, mode=s["mode"],
            deletes=s["deletes"], when=(lambda r: r["deleted_at"] is not None) if s["deletes"] == "when" else None,
            op_column="op" if s["deletes"] == "op_column" else None, checks=ORDER_CHECKS.get(s["name"], ()),
            types=dict((c, t) for c, t in base["columns"]),
        )
    return out

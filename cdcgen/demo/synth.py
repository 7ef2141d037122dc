"""Synthetic staging data for any spec: ``cdcgen demo SPEC``.

No data module per pipeline: everything comes from the validated spec.

- **Columns.** Each value fits its column's type and width (``varchar(n)`` never
  exceeds n, ``numeric(p,s)`` always fits). Names guide the values where they can
  (e-mail, phone, currency code, … through the vendor demo's
  :class:`~cdcgen.demo.data.ColumnFaker`). About 5% of plain attributes are NULL.
- **Keys** are unique. A key column that a join or ``exists`` ties to another
  source (``order_items.order_id``) takes an existing parent's key, so a composite
  key such as ``(order_id, line_number)`` numbers the lines of each order.
- **Relations.** Every ``join`` and ``exists`` condition of every fact and dimension
  is read for ``alias.column = alias.column`` pairs. A column that matches another
  source's key takes the key of an existing row of that source, so lookups hit.
  About 4% point nowhere (dangling) and 5% are NULL. Parents are generated first,
  where the keys need them; other references are filled once every source has rows,
  so cycles (companies ↔ users) and self-references work.
- **Filters and checks.** Literals compared with a column anywhere (``where``,
  ``exists``, ``checks``: ``status IN (0, 1, 2, 3)``, ``subtotal >= 0``) are drawn
  half the time, so filters pass about half the time rather than never. Rows are
  then made to pass their ``checks``; each cycle also stages a few rows failing
  them, which the run dead-letters.
- **Delete rules.** ``when``: live rows keep the predicate false, a delete makes it
  true (``deleted_at`` set). ``op_column``: ``I``, ``U`` and ``D``. ``snapshot``: the
  whole table every cycle, a deleted row simply missing (never an empty table).
- **Modes.** Window staging is cleared and reloaded with the cycle's rows; append
  staging accumulates, each cycle's rows carrying a ``loaded_at`` past the last.
- **Cycles.** Updates on every source (lookup-only changes reach facts through
  their joins), moves to another parent, history-column changes of SCD2
  dimensions, inserts, deletes per rule, and the untidy rows real feeds deliver: two
  versions of one key in one batch, a row older than the warehouse's copy, a NULL
  key, a row failing a check.

The same seed gives the same data and changes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from cdcgen.demo import predicates as pred
from cdcgen.demo.data import EPOCH, ColumnFaker, ColumnType, column_type
from cdcgen.demo.mutations import Staged

if TYPE_CHECKING:
    from cdcgen.validate import ValidatedSpec

Row = dict[str, Any]
Key = tuple[Any, ...]
Progress = Callable[[int, int], None]

#: Rows of a main source at scale 1; lookup-only and snapshot sources get a quarter,
#: sources keyed through a parent (order lines) twice as many.
ROWS_AT_SCALE_1 = 200
MIN_ROWS = 3
NULL_SHARE = 0.05
DANGLING_SHARE = 0.04
HINT_SHARE = 0.5
CYCLE_MINUTES = 30
_INTEGERS = {"smallint": 32_767, "integer": 2_147_483_647, "bigint": 9_223_372_036_854_775_807}
_TEXT = ("varchar", "char", "character varying", "character", "bpchar", "text")


# --------------------------------------------------------------------------- the spec, read


@dataclass(frozen=True)
class Reference:
    """``child.child_cols`` hold the values of ``parent.parent_cols`` of some parent row."""

    child: str
    child_cols: tuple[str, ...]
    parent: str
    parent_cols: tuple[str, ...]


@dataclass
class SourcePlan:
    name: str
    columns: dict[str, str]  # canonical types, staging order
    key: tuple[str, ...]
    updated_at: str
    created_at: str | None
    loaded_at: str | None
    mode: str
    delete_rule: str | None  # when | op_column | snapshot
    when: exp.Expr | None
    op_column: str | None
    checks: list[tuple[str, exp.Expr]]
    hints: dict[str, list[Any]] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)  # columns a target reads
    history: set[str] = field(default_factory=set)  # SCD2 history inputs
    references: list[Reference] = field(default_factory=list)  # this source as child
    when_columns: set[str] = field(default_factory=set)

    def kind(self, column: str) -> ColumnType:
        return column_type(self.columns[column])

    @property
    def key_references(self) -> list[Reference]:
        return [r for r in self.references if set(r.child_cols) <= set(self.key)]

    @property
    def other_references(self) -> list[Reference]:
        return [r for r in self.references if not set(r.child_cols) & set(self.key)]

    @property
    def roles(self) -> set[str]:
        """Columns the generator sets itself: keys, versions, feed metadata."""
        named = {self.updated_at, self.created_at, self.loaded_at, self.op_column}
        return set(self.key) | {c for c in named if c}

    @property
    def attributes(self) -> list[str]:
        taken = self.roles | {c for r in self.other_references for c in r.child_cols}
        return [c for c in self.columns if c not in taken]


def plan_sources(vspec: ValidatedSpec) -> dict[str, SourcePlan]:
    """What the generator needs to know about each source, from the whole spec."""
    spec = vspec.spec
    plans: dict[str, SourcePlan] = {}
    for name, source in spec.sources.items():
        deletes = source.deletes
        rule = None
        when = None
        if deletes is not None:
            rule = "when" if deletes.when else "op_column" if deletes.op_column else "snapshot"
            when = pred.parse(deletes.when) if deletes.when else None
        plan = SourcePlan(
            name=name,
            columns=dict(vspec.source_columns[name]),
            key=tuple(source.key),
            updated_at=source.updated_at,
            created_at=source.created_at,
            loaded_at=source.loaded_at,
            mode=source.mode,
            delete_rule=rule,
            when=when,
            op_column=deletes.op_column if deletes else None,
            checks=[(n, pred.parse(text)) for n, text in source.checks.items()],
        )
        if when is not None:
            plan.when_columns = {c.name for c in pred.columns_of(when)}
        for _, check in plan.checks:
            _add_hints(plan, {None: name, name: name}, check, plans_of={name: plan})
        plans[name] = plan
    _read_targets(vspec, plans)
    return plans


def _read_targets(vspec: ValidatedSpec, plans: dict[str, SourcePlan]) -> None:
    from cdcgen.spec.model import column_expr

    spec = vspec.spec
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for target in spec.targets().values():
        aliases: dict[str | None, str] = {target.from_: target.from_}
        for join in target.join:
            aliases[join.alias] = join.source
        exists = getattr(target, "exists", ())
        for semi in exists:
            aliases[semi.alias] = semi.source
        expressions = [column_expr(v) for v in target.columns.values()]
        for text in expressions:
            for column in pred.columns_of(pred.parse(text)):
                _mark_read(plans, aliases, column)
        if target.where:
            where = pred.parse(target.where)
            _add_hints(None, aliases, where, plans_of=plans)
            for column in pred.columns_of(where):
                _mark_read(plans, aliases, column)
        for join in target.join:
            _relate(plans, aliases, join.alias, pred.parse(join.on), seen, semi=False)
        for semi in exists:
            _relate(plans, aliases, semi.alias, pred.parse(semi.on), seen, semi=True)
        history = getattr(target, "history", ())
        for name in history:
            value = target.columns.get(name)
            if value is None:
                continue
            for column in pred.columns_of(pred.parse(column_expr(value))):
                source = aliases.get(column.table)
                if source == target.from_:
                    plans[source].history.add(column.name)


def _mark_read(
    plans: dict[str, SourcePlan], aliases: dict[str | None, str], column: exp.Column
) -> None:
    source = aliases.get(column.table)
    if source in plans and column.name in plans[source].columns:
        plans[source].read.add(column.name)


def _add_hints(
    plan: SourcePlan | None,
    aliases: dict[str | None, str],
    node: exp.Expr,
    *,
    plans_of: dict[str, SourcePlan],
) -> None:
    for column, values in pred.literal_hints(node):
        source = (
            aliases.get(column.table or None) if column.table else (plan.name if plan else None)
        )
        target = plans_of.get(source or "")
        if target is None or column.name not in target.columns:
            continue
        kind = target.kind(column.name)
        pool = target.hints.setdefault(column.name, [])
        for value in values:
            try:
                fitted = coerce(kind, value, strict=True)
            except (ValueError, TypeError, InvalidOperation):
                continue
            if fitted not in pool:
                pool.append(fitted)


def _relate(
    plans: dict[str, SourcePlan],
    aliases: dict[str | None, str],
    alias: str,
    on: exp.Expr,
    seen: set[tuple[str, tuple[str, ...]]],
    *,
    semi: bool,
) -> None:
    """References out of one join or exists condition."""
    joined = aliases[alias]
    pairs: dict[str, list[tuple[str, str]]] = {}  # other alias -> [(other col, joined col)]
    for part in pred.conjuncts(on):
        if isinstance(part, exp.EQ):
            a, b = part.this, part.expression
            if isinstance(a, exp.Column) and isinstance(b, exp.Column):
                if b.table == alias and a.table != alias:
                    a, b = b, a
                if a.table == alias and b.table != alias and b.table in aliases:
                    pairs.setdefault(b.table, []).append((b.name, a.name))
                    plans[joined].read.add(a.name)
                    plans[aliases[b.table]].read.add(b.name)
                    continue
        _add_hints(None, aliases, part, plans_of=plans)
        for column in pred.columns_of(part):
            _mark_read(plans, aliases, column)
    for other, columns in pairs.items():
        other_source = aliases[other]
        other_cols = tuple(c for c, _ in columns)
        joined_cols = tuple(c for _, c in columns)
        if set(plans[joined].key) <= set(joined_cols) or not semi:
            ref = Reference(other_source, other_cols, joined, joined_cols)
        elif set(plans[other_source].key) <= set(other_cols):
            ref = Reference(joined, joined_cols, other_source, other_cols)
        else:  # a semi-join on non-key columns: share the grain's values
            ref = Reference(joined, joined_cols, other_source, other_cols)
        _add_reference(plans, ref, seen)


def _add_reference(
    plans: dict[str, SourcePlan], ref: Reference, seen: set[tuple[str, tuple[str, ...]]]
) -> None:
    child = plans[ref.child]
    taken = {c for r in child.references for c in r.child_cols}
    if (ref.child, ref.child_cols) in seen or taken & set(ref.child_cols):
        return
    if set(ref.child_cols) & set(child.key) and not set(ref.child_cols) <= set(child.key):
        return  # half in the key, half out: leave both halves to their own rules
    if ref.child == ref.parent and set(ref.child_cols) & set(child.key):
        return  # a key that references its own table is just a key
    roles = {child.updated_at, child.created_at, child.loaded_at, child.op_column}
    if roles & set(ref.child_cols):
        return
    seen.add((ref.child, ref.child_cols))
    child.references.append(ref)


# --------------------------------------------------------------------------- values


def coerce(kind: ColumnType, value: Any, *, strict: bool = False) -> Any:
    """``value`` as the Python value of a ``kind`` column (raises when it cannot be)."""
    if value is None:
        return None
    base = kind.base
    if base in _INTEGERS:
        if isinstance(value, bool):
            raise TypeError(value)
        number = int(Decimal(str(value)))
        if Decimal(str(value)) != number or abs(number) > _INTEGERS[base]:
            raise ValueError(value)
        return number
    if base in ("numeric", "decimal"):
        if isinstance(value, bool):
            raise TypeError(value)
        fixed = Decimal(str(value)).quantize(Decimal(1).scaleb(-kind.scale))
        if abs(fixed) > kind.max_magnitude:
            raise ValueError(value)
        return fixed
    if base in ("real", "double precision", "float"):
        if isinstance(value, bool):
            raise TypeError(value)
        return float(value)
    if base in ("boolean", "bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "t", "f"):
            return value.lower() in ("true", "t")
        raise TypeError(value)
    if base in _TEXT:
        if isinstance(value, bool):
            raise TypeError(value)
        text = str(value)
        if kind.length and len(text) > kind.length:
            if strict:
                raise ValueError(value)
            text = text[: kind.length]
        return text
    if base == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value)[:10])
    if base in ("timestamp", "timestamptz"):
        moment = value if isinstance(value, dt.datetime) else None
        if moment is None and isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        if moment is None:
            moment = dt.datetime.fromisoformat(str(value))
        if base == "timestamptz":
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return moment.replace(tzinfo=None)
    if base in ("time", "timetz"):
        if isinstance(value, dt.time):
            return value
        return dt.time.fromisoformat(str(value))
    if base == "super":
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return value


class Clock:
    """Versions and load times: monotonic within and across cycles."""

    def __init__(self) -> None:
        self.cycle = 0
        self.moment = EPOCH
        self.counter = 1_000

    def start_cycle(self, number: int) -> None:
        self.cycle = number
        self.moment = max(self.moment, EPOCH + dt.timedelta(minutes=CYCLE_MINUTES * (number - 1)))

    def tick(self) -> None:
        self.moment += dt.timedelta(seconds=1)
        self.counter += 1

    def stamp(self, kind: ColumnType) -> Any:
        """The current instant as a value of a version or load-time column."""
        if kind.base in _INTEGERS:
            return min(self.counter, _INTEGERS[kind.base])
        if kind.base == "date":
            return EPOCH.date() + dt.timedelta(days=self.cycle)
        return coerce(kind, self.moment)

    def past(self, kind: ColumnType, rng: random.Random) -> Any:
        """A version from before the first load."""
        if kind.base in _INTEGERS:
            return rng.randint(1, 999)
        seconds = rng.randint(3_600, 3 * 365 * 86_400)
        return coerce(kind, EPOCH - dt.timedelta(seconds=seconds))


# --------------------------------------------------------------------------- the world


@dataclass
class CycleChanges:
    """What one cycle changed upstream, as a reader would tell it, and its staging."""

    mutations: tuple[str, ...]
    staged: Staged


class SynthWorld:
    """The operational tables of a spec's sources: ``{source: {key: row}}``."""

    def __init__(self, vspec: ValidatedSpec, *, rng: random.Random, scale: float = 1.0):
        self.spec = vspec
        self.rng = rng
        self.scale = scale
        self.plans = plan_sources(vspec)
        self.rows: dict[str, dict[Key, Row]] = {name: {} for name in self.plans}
        self.used: dict[str, set[Key]] = {name: set() for name in self.plans}
        self.counters: dict[tuple[str, Key], int] = {}
        self.clock = Clock()
        self.faker = ColumnFaker(rng)
        self.null_key_sent = False

    # -- sizes and order

    def target_size(self, source: str) -> int:
        plan = self.plans[source]
        base = max(MIN_ROWS, round(ROWS_AT_SCALE_1 * self.scale))
        parents = {ref.parent for p in self.plans.values() for ref in p.references}
        if plan.key_references:
            size = base * 2
        elif plan.delete_rule == "snapshot" or (source in parents and not plan.references):
            size = max(MIN_ROWS, base // 4)
        else:
            size = base
        return size

    def key_order(self) -> list[str]:
        """Sources whose keys hold a parent's key come after that parent."""
        order: list[str] = []
        pending = list(self.plans)
        while pending:
            for name in pending:
                parents = {r.parent for r in self.plans[name].key_references} - {name}
                if parents <= set(order) or not parents & set(pending):
                    order.append(name)
                    pending.remove(name)
                    break
            else:  # a cycle through keys: break it where it starts
                order.append(pending.pop(0))
        return order

    def counts(self) -> dict[str, int]:
        return {source: len(rows) for source, rows in self.rows.items()}

    # -- generation

    def generate(self, progress: Progress | None = None) -> None:
        sizes = {name: self.target_size(name) for name in self.plans}
        total = sum(sizes.values())
        done = 0
        for name in self.key_order():
            for _ in range(sizes[name]):
                self.insert(name, past=True)
                done += 1
                if progress is not None and done % 50 == 0:
                    progress(done, total)
        for name, plan in self.plans.items():  # references once every source has rows
            for row in self.rows[name].values():
                for ref in plan.other_references:
                    self._point(row, ref)
                self._settle(plan, row)
        if progress is not None:
            progress(total, total)

    def insert(self, source: str, *, past: bool = False) -> Row | None:
        plan = self.plans[source]
        key = self._new_key(plan)
        if key is None:
            return None
        row: Row = dict(zip(plan.key, key, strict=True))
        self._version(plan, row, past=past, new=True)
        for column in plan.attributes:
            row[column] = self.attribute(plan, column, row=row)
        if not past:
            for ref in plan.other_references:
                self._point(row, ref)
        else:
            for ref in plan.other_references:
                for column in ref.child_cols:
                    row[column] = None
        if plan.op_column:
            row[plan.op_column] = "I"
        if plan.loaded_at:
            row[plan.loaded_at] = None  # set when staged
        self._settle(plan, row)
        ordered = {column: row.get(column) for column in plan.columns}
        self.rows[source][key] = ordered
        self.used[source].add(key)
        return ordered

    def _new_key(self, plan: SourcePlan) -> Key | None:
        for _ in range(8):
            values: Row = {}
            for ref in plan.key_references:
                parents = list(self.rows[ref.parent].values())
                if not parents:
                    return None
                parent = self.rng.choice(parents)
                for child, column in zip(ref.child_cols, ref.parent_cols, strict=True):
                    values[child] = coerce(plan.kind(child), parent[column])
            scope = tuple(values.get(k) for k in plan.key)
            free = [k for k in plan.key if k not in values]
            for i, column in enumerate(free):
                kind = plan.kind(column)
                if i == 0:
                    number = self.counters.get((plan.name, scope), 0) + 1
                    self.counters[(plan.name, scope)] = number
                    values[column] = unique_value(kind, number)
                else:
                    values[column] = self._random(kind, column, values)
            key = tuple(values[k] for k in plan.key)
            if None not in key and key not in self.used[plan.name]:
                return key
        return None

    def _version(self, plan: SourcePlan, row: Row, *, past: bool, new: bool) -> None:
        kind = plan.kind(plan.updated_at)
        row[plan.updated_at] = self.clock.past(kind, self.rng) if past else self.clock.stamp(kind)
        if not past:
            self.clock.tick()
        if plan.created_at and new:
            created = plan.kind(plan.created_at)
            if past and created.base == kind.base:
                row[plan.created_at] = min(row[plan.updated_at], self.clock.past(created, self.rng))
            elif created.base == kind.base:
                row[plan.created_at] = row[plan.updated_at]  # created = updated: a new row
            else:
                row[plan.created_at] = self.clock.past(created, self.rng)

    def attribute(
        self, plan: SourcePlan, column: str, avoid: Iterable[Any] = (), row: Row | None = None
    ) -> Any:
        """A value for a plain column: NULL now and then, a literal the spec compares
        it with half the time, else a plausible value of its name and type."""
        kind = plan.kind(column)
        avoid = set(avoid)
        for _ in range(6):
            if (
                None not in avoid
                and self.rng.random() < NULL_SHARE
                and column not in plan.when_columns
            ):
                value = None
            elif plan.hints.get(column) and self.rng.random() < HINT_SHARE:
                value = self.rng.choice(plan.hints[column])
            else:
                value = self._random(kind, column, row or {})
            if value not in avoid:
                return value
        return self._random(kind, column, row or {})

    def _random(self, kind: ColumnType, column: str, row: Row) -> Any:
        if kind.base in ("time", "timetz"):
            value: Any = dt.time(self.rng.randint(0, 23), self.rng.randint(0, 59))
            return value.replace(tzinfo=dt.UTC) if kind.base == "timetz" else value
        if kind.base == "super":
            return json.dumps({"n": self.rng.randint(0, 99)})
        for candidate in (
            self._amount(kind, column),
            self.faker.value(column, kind, row),
            self.faker._by_type(column, kind, row),
        ):
            try:
                value = coerce(kind, candidate)
            except (ValueError, TypeError, InvalidOperation):
                continue
            if value is not None or kind.base in ("timestamp", "timestamptz"):
                return value if value is not None else self.clock.past(kind, self.rng)
        return (
            self.clock.past(kind, self.rng)
            if kind.base in ("timestamp", "timestamptz", "date")
            else None
        )

    def _amount(self, kind: ColumnType, column: str) -> Any:
        """Numbers of a plausible size by name (a quantity of 3, a price of 24.90), or
        ``None`` to leave it to the faker."""
        numeric = kind.base in _INTEGERS or kind.base in ("numeric", "decimal")
        if not numeric:
            return None
        words = set(column.split("_"))
        rng = self.rng
        if words & {"quantity", "qty", "count", "line", "position", "rank", "order", "number"}:
            return rng.randint(1, 12)
        if words & {"rate", "pct", "percent", "vat", "discount"} and kind.base not in _INTEGERS:
            return Decimal(rng.randint(0, 2500)) / 100
        if words & {"price", "amount", "total", "cost", "value", "fee", "subtotal", "tax", "spend"}:
            return Decimal(rng.randint(100, 50_000)) / 100
        if words & {"weight", "kg"}:
            return Decimal(rng.randint(10, 50_000)) / 1000
        return None

    def draw(self, plan: SourcePlan) -> pred.Draw:
        def draw(column: str, avoid: tuple[Any, ...]) -> Any:
            kind = plan.kind(column)
            if kind.base in ("timestamp", "timestamptz", "date"):
                return (
                    self.clock.stamp(kind)
                    if kind.base != "date"
                    else self.clock.past(kind, self.rng)
                )
            for _ in range(10):
                value = self._random(kind, column, {})
                if value is not None and value not in avoid:
                    return value
            return self._random(kind, column, {})

        return draw

    def _point(self, row: Row, ref: Reference) -> None:
        """Set a reference: an existing parent mostly, now and then none or a dangling one."""
        plan = self.plans[ref.child]
        parents = self.rows[ref.parent]
        roll = self.rng.random()
        if roll < NULL_SHARE or not parents:
            values: list[Any] = [None] * len(ref.child_cols)
        elif roll < NULL_SHARE + DANGLING_SHARE:
            values = [self._dangling(plan.kind(c)) for c in ref.child_cols]
        else:
            hinted = [c for c in ref.child_cols if plan.hints.get(c)]
            if hinted and len(ref.child_cols) == 1 and self.rng.random() < HINT_SHARE / 2:
                values = [self.rng.choice(plan.hints[hinted[0]])]
            else:
                parent = parents[self.rng.choice(list(parents))]
                values = [parent.get(c) for c in ref.parent_cols]
        for column, value in zip(ref.child_cols, values, strict=True):
            try:
                row[column] = coerce(plan.kind(column), value, strict=True)
            except (ValueError, TypeError, InvalidOperation):
                row[column] = None

    def _dangling(self, kind: ColumnType) -> Any:
        if kind.base in _INTEGERS:
            return min(_INTEGERS[kind.base], 30_000 + self.rng.randint(0, 2_000))
        if kind.base in ("numeric", "decimal"):
            return coerce(kind, min(kind.max_magnitude, Decimal(30_000 + self.rng.randint(0, 999))))
        if kind.base in _TEXT:
            return coerce(
                kind, "~" + "".join(self.rng.choice(string.ascii_lowercase) for _ in range(6))
            )
        return None

    def make(self, plan: SourcePlan, node: exp.Expr, want: bool, row: Row) -> bool:
        """:func:`predicates.make`, but never by changing a key, a version or feed
        metadata: a predicate over those stays as it is."""
        kept = {c: row.get(c) for c in plan.roles}
        pred.make(node, want, row, self.draw(plan), self.rng)
        row.update(kept)
        return _truth(node, row) is want

    def _settle(self, plan: SourcePlan, row: Row) -> None:
        """A live row: its delete predicate false, its checks passing (where they can)."""
        for _ in range(2):
            for _, check in plan.checks:
                if _truth(check, row) is False:
                    self.make(plan, check, True, row)
            if plan.when is not None and _truth(plan.when, row) is not False:
                self.make(plan, plan.when, False, row)
        for column in plan.columns:
            if column in row:
                row[column] = coerce(plan.kind(column), row[column])

    # -- cycles

    def initial_staging(self) -> Staged:
        """The bootstrap load: every source in full; append feeds carry one load time."""
        rows: dict[str, list[Row]] = {}
        for name, plan in self.plans.items():
            staged = [dict(r) for r in self.rows[name].values()]
            if plan.loaded_at:
                stamp = self.clock.stamp(plan.kind(plan.loaded_at))
                for r in staged:
                    r[plan.loaded_at] = stamp
            rows[name] = staged
        self.clock.tick()
        return Staged(rows, cleared=tuple(self.plans))

    def cycle(self, number: int) -> CycleChanges:
        return _Cycle(self, number).run()


def unique_value(kind: ColumnType, number: int) -> Any:
    """The ``number``-th distinct value of a key column's type."""
    base = kind.base
    if base in _INTEGERS or base in ("numeric", "decimal"):
        return coerce(kind, number)
    if base in ("real", "double precision", "float"):
        return float(number)
    if base in _TEXT:
        width = kind.length or 12
        letters = []
        n = number - 1
        while True:
            n, digit = divmod(n, 26)
            letters.append(string.ascii_uppercase[digit])
            if n == 0:
                break
        text = "".join(reversed(letters))
        if len(text) > width:
            return None
        return text.rjust(width, "A") if base in ("char", "character", "bpchar") else text
    if base == "date":
        return EPOCH.date() - dt.timedelta(days=number)
    if base in ("timestamp", "timestamptz"):
        return coerce(kind, EPOCH - dt.timedelta(seconds=number))
    if base in ("boolean", "bool"):
        return (None, False, True)[number] if number <= 2 else None
    if base in ("time", "timetz"):
        return dt.time(number // 60 % 24, number % 60) if number < 1440 else None
    return str(number)


def _truth(node: exp.Expr, row: Row) -> bool | None:
    try:
        return pred.evaluate(node, row)
    except pred.Unsupported:
        return None


@dataclass
class _Cycle:
    world: SynthWorld
    number: int
    notes: list[str] = field(default_factory=list)
    changed: dict[str, dict[Key, Row]] = field(default_factory=dict)
    extras: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def rng(self) -> random.Random:
        return self.world.rng

    def run(self) -> CycleChanges:
        world = self.world
        world.clock.start_cycle(self.number)
        for name, plan in world.plans.items():
            self._source(name, plan)
        self._history()
        self._untidy()
        return CycleChanges(tuple(self.notes), self._staging())

    # -- per source

    def _share(self, name: str, share: float) -> int:
        size = len(self.world.rows[name])
        return max(1, round(size * share)) if size else 0

    def _source(self, name: str, plan: SourcePlan) -> None:
        rows = self.world.rows[name]
        told: list[str] = []
        updated_columns: dict[str, int] = {}
        moved = 0
        for key in self.rng.sample(list(rows), min(len(rows), self._share(name, 0.05))):
            change = self._update(plan, key)
            if change == "moved":
                moved += 1
            elif change:
                updated_columns[change] = updated_columns.get(change, 0) + 1
        if updated_columns:
            listed = ", ".join(f"{c} ({n})" if n > 1 else c for c, n in updated_columns.items())
            told.append(f"{sum(updated_columns.values())} updated ({listed})")
        if moved:
            told.append(f"{moved} moved to another parent")
        new = 0
        for _ in range(self._share(name, 0.03)):
            row = self.world.insert(name)
            if row is not None:
                self.changed.setdefault(name, {})[tuple(row[k] for k in plan.key)] = row
                new += 1
        if new:
            told.append(f"{new} new")
        deleted = self._deletes(name, plan)
        if deleted:
            told.append(deleted)
        if told:
            self.notes.append(f"{name}: " + ", ".join(told))

    def _update(self, plan: SourcePlan, key: Key) -> str | None:
        candidates = [c for c in plan.attributes if c in plan.read | plan.history]
        candidates = candidates or plan.attributes
        references = [r for r in plan.other_references]
        row = dict(self.world.rows[plan.name][key])
        if references and (not candidates or self.rng.random() < 0.3):
            ref = self.rng.choice(references)
            before = tuple(row.get(c) for c in ref.child_cols)
            self.world._point(row, ref)
            if tuple(row.get(c) for c in ref.child_cols) == before:
                return None
            self._touch(plan, key, row)
            return "moved"
        if not candidates:
            return None
        column = self.rng.choice(candidates)
        row[column] = self.world.attribute(plan, column, avoid=(row.get(column),), row=row)
        self._touch(plan, key, row)
        return column

    def _touch(self, plan: SourcePlan, key: Key, row: Row) -> Row:
        """A new version of a live row, newer than every earlier one."""
        self.world._settle(plan, row)
        self.world._version(plan, row, past=False, new=False)
        if plan.op_column:
            row[plan.op_column] = "U"
        self.world.rows[plan.name][key] = row
        self.changed.setdefault(plan.name, {})[key] = row
        return row

    def _deletes(self, name: str, plan: SourcePlan) -> str | None:
        rows = self.world.rows[name]
        if plan.delete_rule is None or len(rows) <= MIN_ROWS:
            return None
        keys = self.rng.sample(list(rows), min(len(rows) - MIN_ROWS, self._share(name, 0.02)))
        done = 0
        for key in keys:
            row = dict(rows[key])
            if plan.delete_rule == "snapshot":
                del rows[key]
                done += 1
                continue
            self.world._version(plan, row, past=False, new=False)
            if plan.delete_rule == "op_column":
                assert plan.op_column is not None
                row[plan.op_column] = "D"
            else:
                assert plan.when is not None
                if not self.world.make(plan, plan.when, True, row):
                    continue
                for column in plan.when_columns & set(plan.columns):
                    row[column] = coerce(plan.kind(column), row[column])
            del rows[key]
            self.changed.setdefault(name, {})[key] = row
            done += 1
        if not done:
            return None
        how = {
            "snapshot": "missing from the snapshot",
            "op_column": f"{plan.op_column} = 'D'",
            "when": "soft-deleted",
        }[plan.delete_rule]
        return f"{done} deleted ({how})"

    def _history(self) -> None:
        """SCD2: change history columns of a few grain rows of each dimension."""
        for dimension_name, dimension in self.world.spec.spec.dimensions.items():
            plan = self.world.plans[dimension.from_]
            columns = [c for c in plan.history if c in plan.attributes]
            rows = self.world.rows[plan.name]
            if not columns or not rows:
                continue
            changed = 0
            for key in self.rng.sample(list(rows), min(len(rows), 2)):
                row = dict(rows[key])
                column = self.rng.choice(columns)
                row[column] = self.world.attribute(plan, column, avoid=(row.get(column), None))
                self._touch(plan, key, row)
                changed += 1
            self.notes.append(
                f"{plan.name}: {changed} history change{'s' if changed > 1 else ''} "
                f"({', '.join(sorted(columns))}) for {dimension_name}"
            )

    # -- what real feeds deliver too

    def _untidy(self) -> None:
        world = self.world
        windows = [
            p for p in world.plans.values() if p.mode == "window" and p.delete_rule != "snapshot"
        ]
        ordered = [p for p in windows if p.kind(p.updated_at).base != "date"]
        # two versions of one key in one batch: the newest must win
        for plan in ordered:
            live = [k for k in self.changed.get(plan.name, {}) if k in world.rows[plan.name]]
            if live and plan.attributes:
                key = self.rng.choice(live)
                final = world.rows[plan.name][key]
                older = dict(final)
                column = self.rng.choice(plan.attributes)
                older[column] = world.attribute(plan, column, avoid=(final.get(column),))
                world._settle(plan, older)
                older[plan.updated_at] = _earlier(
                    plan.kind(plan.updated_at), final[plan.updated_at]
                )
                self.extras.setdefault(plan.name, []).append(older)
                self.notes.append(f"{plan.name}: two versions of one key in the batch")
                break
        # a row older than the warehouse's copy: counted stale, not applied
        for plan in reversed(ordered):
            unchanged = [
                k for k in world.rows[plan.name] if k not in self.changed.get(plan.name, {})
            ]
            if unchanged and plan.attributes:
                row = dict(world.rows[plan.name][self.rng.choice(unchanged)])
                column = self.rng.choice(plan.attributes)
                row[column] = world.attribute(plan, column, avoid=(row.get(column),))
                world._settle(plan, row)
                row[plan.updated_at] = _earlier(plan.kind(plan.updated_at), row[plan.updated_at])
                if plan.op_column:
                    row[plan.op_column] = "U"
                self.extras.setdefault(plan.name, []).append(row)
                self.notes.append(f"{plan.name}: a row older than the warehouse's copy (stale)")
                break
        # a row failing a check: dead-lettered
        for plan in world.plans.values():
            if not plan.checks or not world.rows[plan.name]:
                continue
            name, check = self.rng.choice(plan.checks)
            row = dict(world.rows[plan.name][self.rng.choice(list(world.rows[plan.name]))])
            world._version(plan, row, past=False, new=False)
            if plan.op_column:
                row[plan.op_column] = "U"
            if world.make(plan, check, False, row):
                for column in plan.columns:
                    row[column] = coerce(plan.kind(column), row[column])
                if _truth(check, row) is False:
                    self.extras.setdefault(plan.name, []).append(row)
                    self.notes.append(f"{plan.name}: a row failing check {name} (dead letter)")
                    break
        # a NULL key, once
        if not world.null_key_sent and windows:
            plan = windows[0]
            if world.rows[plan.name]:
                row = dict(next(iter(world.rows[plan.name].values())))
                row[plan.key[0]] = None
                world._version(plan, row, past=False, new=False)
                self.extras.setdefault(plan.name, []).append(row)
                self.notes.append(f"{plan.name}: a row with a NULL {plan.key[0]} (dead letter)")
                world.null_key_sent = True

    def _staging(self) -> Staged:
        world = self.world
        world.clock.tick()
        rows: dict[str, list[Row]] = {}
        for name, plan in world.plans.items():
            if plan.delete_rule == "snapshot":
                staged = [dict(r) for r in world.rows[name].values()]
            else:
                staged = [dict(r) for r in self.changed.get(name, {}).values()]
            staged += [dict(r) for r in self.extras.get(name, [])]
            if plan.loaded_at:
                stamp = world.clock.stamp(plan.kind(plan.loaded_at))
                for r in staged:
                    r[plan.loaded_at] = stamp
            rows[name] = [{c: r.get(c) for c in plan.columns} for r in staged]
        world.clock.tick()
        cleared = tuple(n for n, p in world.plans.items() if p.mode != "append")
        return Staged(rows, cleared)


def _earlier(kind: ColumnType, value: Any) -> Any:
    if isinstance(value, int):
        return value - 1
    return value - dt.timedelta(seconds=1 if kind.base != "date" else 86_400)


def generate(
    vspec: ValidatedSpec,
    *,
    scale: float = 1.0,
    rng: random.Random,
    progress: Progress | None = None,
) -> SynthWorld:
    """The initial operational tables of every source of ``vspec``."""
    world = SynthWorld(vspec, rng=rng, scale=scale)
    world.generate(progress)
    return world

"""Approach 3: the seeds' Python processor (seed 000's plan, seed 001's
``complete_cdc_processor.py``), written reasonably.

Phase 1, detect: per source, read the staged rows (append feeds: beyond a watermark),
keep the newest version per key, read the baseline rows of those keys, compare column
by column in Python: INSERT (absent, or ``created_at = updated_at``), UPDATE (the
columns that differ), DELETE (the source's delete rule; a full snapshot's missing
keys), stale versions skipped.

Phase 2, update facts through the dictionary (``expanded_dictionary.py``):
``source.column → {fact: fact_column}``, derived here from the spec's plain column
references. An UPDATE of a grain row sets the mapped columns ``WHERE <fact key> =
id``; a lookup row is routed through the fact column that holds its key when the fact
has one (``cities.name → fact_vendor.city_name WHERE city_id = id``) — better than
the seeds, which only knew the grain. An INSERT of a grain row inserts its mapped
columns; a DELETE of a grain row deletes the fact row. Statements with the same text
are sent together (psycopg pipelines ``executemany``).

What it cannot do, by construction: computed columns (labels, ``full_address``,
``poc_full_name`` …) are not in a column-to-column dictionary; ``where`` and
``exists`` are never evaluated, so a vendor suspended, re-categorised or losing its
qualifying relationship stays in fact_vendor, a new company lands in it whatever its
status, and relationship changes reach nothing; lookups the fact holds no key for
(countries in fact_company_profile) are missed; lookup columns of inserted rows stay
NULL.

Phase 3, sync the baseline row by row (delete + insert). One transaction overall,
which is kinder than the seeds (they were not atomic).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cdcgen.demo.data import Row
from cdcgen.spec.model import Fact, Source, column_expr
from psycopg import sql
from psycopg.rows import dict_row

from full_refresh import WATERMARK
from pipeline import Pipeline

_REF = re.compile(r"^\s*(\w+)\.(\w+)\s*$")
_EQ = re.compile(r"^\s*(\w+)\.(\w+)\s*=\s*(\w+)\.(\w+)\s*$")


@dataclass(frozen=True)
class Route:
    """Where a source column lands: ``table.column WHERE link = <source key>``."""

    table: str
    column: str
    link: str


@dataclass
class Dictionary:
    """The seeds' expanded dictionary, plus the link column of each route."""

    routes: dict[str, dict[str, list[Route]]] = field(default_factory=dict)
    grains: dict[str, list[tuple[str, str, dict[str, str]]]] = field(default_factory=dict)

    @classmethod
    def from_pipeline(cls, pipe: Pipeline) -> Dictionary:
        out = cls()
        for _, fact, table, key in pipe.facts:
            out._add_fact(fact, table, key)
        return out

    def _add_fact(self, fact: Fact, table: str, key: str) -> None:
        plain = {
            name: m.groups()
            for name, value in fact.columns.items()
            if (m := _REF.match(column_expr(value)))
        }
        by_expr = {f"{a}.{c}": name for name, (a, c) in plain.items()}
        aliases = {fact.from_: (fact.from_, key)}
        for join in fact.join:
            link = _join_link(join.alias, join.on, by_expr)
            if link:
                aliases[join.alias] = (join.source, link)
        grain_columns: dict[str, str] = {}
        for name, (alias, column) in plain.items():
            if alias not in aliases:
                continue  # a lookup this fact holds no key for: the dictionary cannot route it
            source, link = aliases[alias]
            self.routes.setdefault(source, {}).setdefault(column, []).append(
                Route(table, name, link)
            )
            if alias == fact.from_:
                grain_columns[column] = name
        self.grains.setdefault(fact.from_, []).append((table, key, grain_columns))


def _join_link(alias: str, on: str, by_expr: dict[str, str]) -> str | None:
    """The fact column holding a joined row's key: ``a.id = b.col`` → the column of ``b.col``."""
    match = _EQ.match(on)
    if not match:
        return None
    left, right = f"{match[1]}.{match[2]}", f"{match[3]}.{match[4]}"
    other = right if match[1] == alias else left
    return by_expr.get(other)


@dataclass
class Detected:
    inserts: list[Row] = field(default_factory=list)
    updates: list[tuple[Row, list[str]]] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)


@dataclass
class Statements:
    """Fact statements grouped by text, so each group is one pipelined executemany."""

    groups: dict[str, list[list[Any]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, statement: str, params: list[Any]) -> None:
        self.groups[statement].append(params)

    def run(self, conn: psycopg.Connection) -> int:
        with conn.cursor() as cursor:
            for statement, params in self.groups.items():
                cursor.executemany(statement, params)
        return sum(len(p) for p in self.groups.values())


class SeedProcessor:
    def __init__(self, conn: psycopg.Connection, pipe: Pipeline):
        self.conn = conn
        self.pipe = pipe
        self.dictionary = Dictionary.from_pipeline(pipe)

    def process(self) -> int:
        """Detect, update facts, sync the baseline; returns fact statements issued."""
        with self.conn.transaction():
            detected = {
                name: self.detect(name, rule, staging, baseline)
                for name, rule, staging, baseline in self.pipe.sources
            }
            statements = Statements()
            for name, found in detected.items():
                self.fact_statements(name, self.pipe.spec.sources[name], found, statements)
            issued = statements.run(self.conn)
            for (name, rule, _, baseline), found in zip(
                self.pipe.sources, detected.values(), strict=True
            ):
                self.sync(rule, baseline, found)
                if rule.mode == "append":
                    self._advance_watermark(name, rule)
        return issued

    # -- phase 1

    def detect(self, name: str, rule: Source, staging: str, baseline: str) -> Detected:
        (key,) = rule.key
        columns = self.pipe.columns(baseline)
        staged = self._newest(self._read_staging(name, rule, staging), key, rule)
        old = self._read_baseline(baseline, key, list(staged) if not _is_snapshot(rule) else None)
        found = Detected()
        for k, row in staged.items():
            before = old.get(k)
            if before is not None and row[rule.updated_at] < before[rule.updated_at]:
                continue  # stale
            if _is_deleted(rule, row):
                if before is not None:
                    found.deletes.append(k)
            elif before is None or (
                rule.created_at and row[rule.created_at] == row[rule.updated_at]
            ):
                found.inserts.append(row)
            else:
                changed = [c for c in columns if row.get(c) != before.get(c)]
                if changed:
                    found.updates.append((row, changed))
        if _is_snapshot(rule):
            found.deletes += [k for k in old if k not in staged]
        return found

    def _read_staging(self, name: str, rule: Source, staging: str) -> list[Row]:
        query = sql.SQL("SELECT * FROM {}").format(_ident(staging))
        params: list[Any] = []
        if rule.mode == "append":
            query += sql.SQL(" WHERE {} > (SELECT loaded_at FROM {} WHERE source = %s)").format(
                sql.Identifier(rule.loaded_at or ""), sql.SQL(WATERMARK)
            )
            params.append(name)
        with self.conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(query, params).fetchall()

    @staticmethod
    def _newest(rows: list[Row], key: str, rule: Source) -> dict[Any, Row]:
        newest: dict[Any, Row] = {}
        for row in rows:
            k = row[key]
            if k is not None and (
                k not in newest or row[rule.updated_at] >= newest[k][rule.updated_at]
            ):
                newest[k] = row
        return newest

    def _read_baseline(self, baseline: str, key: str, keys: list[Any] | None) -> dict[Any, Row]:
        query = sql.SQL("SELECT * FROM {}").format(_ident(baseline))
        if keys is not None:
            query += sql.SQL(" WHERE {} = ANY(%s)").format(sql.Identifier(key))
        with self.conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(query, [keys] if keys is not None else []).fetchall()
        return {row[key]: row for row in rows}

    # -- phase 2

    def fact_statements(self, name: str, rule: Source, found: Detected, out: Statements) -> None:
        routes = self.dictionary.routes.get(name, {})
        (key,) = rule.key
        for row, changed in found.updates:
            per_target: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
            for column in changed:
                for route in routes.get(column, []):
                    per_target[(route.table, route.link)][route.column] = row[column]
            for (table, link), values in per_target.items():
                out.add(_update(table, link, list(values)), [*values.values(), row[key]])
        for table, fact_key, mapped in self.dictionary.grains.get(name, []):
            for row in found.inserts:
                out.add(
                    _insert(table, fact_key, list(mapped.values())), [row.get(c) for c in mapped]
                )
            for k in found.deletes:
                out.add(_delete(table, fact_key), [k])

    # -- phase 3

    def sync(self, rule: Source, baseline: str, found: Detected) -> None:
        (key,) = rule.key
        columns = self.pipe.columns(baseline)
        rows = found.inserts + [row for row, _ in found.updates]
        gone = found.deletes + [row[key] for row in rows]
        with self.conn.cursor() as cursor:
            if gone:
                cursor.executemany(_delete(baseline, key), [[k] for k in gone])
            if rows:
                insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    _ident(baseline),
                    _names(columns),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                )
                cursor.executemany(insert, [[row.get(c) for c in columns] for row in rows])

    def _advance_watermark(self, name: str, rule: Source) -> None:
        self.conn.execute(
            sql.SQL(
                "UPDATE {} SET loaded_at = COALESCE((SELECT MAX({}) FROM {}), loaded_at) WHERE source = %s"
            ).format(
                sql.SQL(WATERMARK),
                sql.Identifier(rule.loaded_at or ""),
                _ident(self.pipe.staging(name)),
            ),
            [name],
        )


def _is_snapshot(rule: Source) -> bool:
    return bool(rule.deletes and rule.deletes.snapshot)


def _is_deleted(rule: Source, row: Row) -> bool:
    """The delete rule, in Python: every ``when`` of the vendor spec is ``<col> IS NOT NULL``."""
    if rule.deletes and rule.deletes.when:
        match = re.fullmatch(r"\s*(\w+)\s+IS\s+NOT\s+NULL\s*", rule.deletes.when, re.IGNORECASE)
        if not match:
            raise ValueError(
                f"the seed processor understands only '<column> IS NOT NULL', not {rule.deletes.when!r}"
            )
        return row.get(match[1]) is not None
    if rule.deletes and rule.deletes.op_column:
        return row.get(rule.deletes.op_column) == "D"
    return False


def _update(table: str, link: str, columns: list[str]) -> str:
    sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
    return (
        sql.SQL("UPDATE {} SET {} WHERE {} = %s")
        .format(_ident(table), sets, sql.Identifier(link))
        .as_string(None)
    )


def _insert(table: str, key: str, columns: list[str]) -> str:
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING")
        .format(
            _ident(table),
            _names(columns),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.Identifier(key),
        )
        .as_string(None)
    )


def _delete(table: str, key: str) -> str:
    return (
        sql.SQL("DELETE FROM {} WHERE {} = %s")
        .format(_ident(table), sql.Identifier(key))
        .as_string(None)
    )


def _names(columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))


def seed_processor(conn: psycopg.Connection, pipe: Pipeline) -> int:
    return SeedProcessor(conn, pipe).process()

"""Impact analysis: which target columns a change to a source column can alter.

This is the inverse view of a spec, in the shape of the seeds' ``expanded_dictionary.py``
(``source -> column -> {target: [target columns]}``). Computing it from the spec means
it can never drift from what the generated SQL does.

A source column reaches a target in one of two ways:

- it appears in a target column's expression: it feeds that column;
- it appears in a ``where``, a ``join[].on`` or an ``exists[].on``, or in the
  ``deletes.when`` rule of a source the target reads: a change can make a row appear
  or disappear, or make a lookup return another row (or none), so it affects every
  column of the target.

Ordering is deterministic: sources, their columns, targets (facts, then dimensions)
and target columns all follow the order written in the spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from cdcgen.errors import CdcgenError
from cdcgen.spec.model import Dimension, Fact, Spec, column_expr

#: ``source -> column -> {target: [target columns]}``
ImpactDictionary = dict[str, dict[str, dict[str, list[str]]]]


class ImpactError(CdcgenError):
    """The question cannot be answered from the spec (unknown column, unparsable SQL)."""

    exit_code = 1


@dataclass(frozen=True, order=True)
class ColumnRef:
    source: str
    column: str

    def __str__(self) -> str:
        return f"{self.source}.{self.column}"


# --------------------------------------------------------------------------- analysis


def impact_dictionary(
    spec: Spec, source_columns: Mapping[str, Iterable[str]] | None = None
) -> ImpactDictionary:
    """The impact dictionary of one spec.

    ``source_columns`` is the column universe per source (``ValidatedSpec.source_columns``
    includes catalog columns); without it the spec's own ``columns`` are used, and a
    source without any lists the columns the spec references.
    """
    reach = {name: _target_reach(spec, name, target) for name, target in spec.targets().items()}
    universe = _column_universe(spec, source_columns, reach.values())
    return {
        source: {
            column: {
                target: list(affected[ref])
                for target, affected in reach.items()
                if (ref := ColumnRef(source, column)) in affected
            }
            for column in columns
        }
        for source, columns in universe.items()
    }


def impact_for(
    spec: Spec, qualified_column: str, source_columns: Mapping[str, Iterable[str]] | None = None
) -> dict[str, list[str]]:
    """``{target: [target columns]}`` for one ``source.column``; ImpactError if unknown."""
    return lookup(impact_dictionary(spec, source_columns), qualified_column)


def lookup(dictionary: ImpactDictionary, qualified_column: str) -> dict[str, list[str]]:
    ref = parse_column_ref(qualified_column)
    if ref.source not in dictionary:
        known = ", ".join(dictionary) or "none"
        raise ImpactError(f"unknown source '{ref.source}' (known sources: {known})")
    if ref.column not in dictionary[ref.source]:
        raise ImpactError(
            f"unknown column '{ref}': '{ref.source}' has no column '{ref.column}' in the spec"
        )
    return dictionary[ref.source][ref.column]


def select(dictionary: ImpactDictionary, qualified_column: str) -> ImpactDictionary:
    """The dictionary narrowed to one column, same shape (for machine-readable output)."""
    ref = parse_column_ref(qualified_column)
    return {ref.source: {ref.column: lookup(dictionary, qualified_column)}}


def parse_column_ref(text: str) -> ColumnRef:
    source, dot, column = text.strip().lower().partition(".")
    if not dot or not source or not column or "." in column:
        raise ImpactError(f"expected SOURCE.COLUMN such as companies.name, got {text!r}")
    return ColumnRef(source, column)


def merge(dictionaries: Iterable[ImpactDictionary]) -> ImpactDictionary:
    """One dictionary across pipelines: a source shared by two specs lists both's targets."""
    merged: ImpactDictionary = {}
    for dictionary in dictionaries:
        for source, columns in dictionary.items():
            merged_columns = merged.setdefault(source, {})
            for column, targets in columns.items():
                merged_targets = merged_columns.setdefault(column, {})
                for target, target_columns in targets.items():
                    have = merged_targets.setdefault(target, [])
                    have.extend(c for c in target_columns if c not in have)
    return merged


def target_columns(spec: Spec) -> dict[str, list[str]]:
    """Every target's columns in spec order (lets the text view say "every column")."""
    return {name: list(target.columns) for name, target in spec.targets().items()}


def _target_reach(spec: Spec, name: str, target: Fact | Dimension) -> dict[ColumnRef, list[str]]:
    """For one target: each source column it reads -> the target columns it affects."""
    scope = _scope(target)
    known = _known_columns(spec)
    all_columns = list(target.columns)
    affected: dict[ColumnRef, set[str]] = {}

    for column, value in target.columns.items():
        for ref in _references(column_expr(value), scope, target.from_, known, f"{name}.{column}"):
            affected.setdefault(ref, set()).add(column)

    # These decide which rows exist and which lookup row each one sees, hence every column.
    for ref in _row_shaping_references(spec, name, target, scope, known):
        affected.setdefault(ref, set()).update(all_columns)

    # Point-in-time lookups: the grain columns of ``on`` and ``at`` pick the version (every
    # column); a source column reaches a fact column through the dimension column it
    # reads, and the version's bookkeeping (surrogate key, valid_from, is_deleted) through
    # the dimension's history columns.
    for a in getattr(target, "as_of", ()):
        for part, sql in (("on", a.on), ("at", a.at)):
            where = f"{name}.as_of[{a.alias}].{part}"
            for ref in _references(sql, scope, target.from_, known, where):
                affected.setdefault(ref, set()).update(all_columns)
        dimension = spec.dimensions.get(a.dimension)
        if dimension is None:
            continue
        bookkeeping = {f"{a.dimension}_sk", "valid_from", "is_deleted"}
        reads: dict[str, set[str]] = {}  # dimension column -> fact columns reading it
        for column, value in target.columns.items():
            for node in sqlglot.parse_one(column_expr(value), read="redshift").find_all(exp.Column):
                if node.table.lower() == a.alias:
                    reads.setdefault(node.name.lower(), set()).add(column)
        bookkept = set().union(*(reads.get(c, set()) for c in bookkeeping))
        for ref, dim_columns in _target_reach(spec, a.dimension, dimension).items():
            reached = set().union(*(reads.get(c, set()) for c in dim_columns))
            if any(c in dimension.history for c in dim_columns):
                reached |= bookkept
            if reached:
                affected.setdefault(ref, set()).update(reached)

    # Target columns in spec order, not set order: the output must be byte-stable.
    return {ref: [c for c in all_columns if c in cols] for ref, cols in affected.items()}


def _row_shaping_references(
    spec: Spec,
    name: str,
    target: Fact | Dimension,
    scope: Mapping[str, str],
    known: Mapping[str, frozenset[str]],
) -> list[ColumnRef]:
    refs: list[ColumnRef] = []
    if target.where:
        refs += _references(target.where, scope, target.from_, known, f"{name}.where")
    lookups: Sequence[tuple[str, str, str]] = [
        *(("join", j.alias, j.on) for j in target.join),
        *(("exists", e.alias, e.on) for e in getattr(target, "exists", ())),
    ]
    for kind, alias, on in lookups:
        refs += _references(on, scope, target.from_, known, f"{name}.{kind}[{alias}].on")
    # A source's delete rule decides whether its row still exists in the baseline: a
    # deleted grain row drops the target row, a deleted lookup row turns the join NULL.
    for source in dict.fromkeys(scope.values()):
        rule = spec.sources[source].deletes if source in spec.sources else None
        if rule is not None and rule.when:
            refs += _references(rule.when, {source: source}, source, known, f"{source}.deletes")
    return refs


def _scope(target: Fact | Dimension) -> dict[str, str]:
    """Alias -> source for every relation a target's expressions may name."""
    scope = {target.from_: target.from_}
    for relation in (*target.join, *getattr(target, "exists", ())):
        scope[relation.alias] = relation.source
    return scope


def _known_columns(spec: Spec) -> dict[str, frozenset[str]]:
    return {name: frozenset(source.columns or ()) for name, source in spec.sources.items()}


def _references(
    sql: str,
    scope: Mapping[str, str],
    grain: str,
    known: Mapping[str, frozenset[str]],
    where: str,
) -> list[ColumnRef]:
    """Source columns an expression reads, in the order they appear."""
    try:
        tree = sqlglot.parse_one(sql, read="redshift")
    except SqlglotError as exc:
        raise ImpactError(f"{where}: cannot parse SQL expression {sql!r}: {exc}") from None
    refs: list[ColumnRef] = []
    # Depth-first is left to right: catalog-only sources list columns as first read.
    for node in tree.find_all(exp.Column, bfs=False):
        ref = _resolve(node, scope, grain, known)
        if ref is not None and ref not in refs:
            refs.append(ref)
    return refs


def _resolve(
    node: exp.Column, scope: Mapping[str, str], grain: str, known: Mapping[str, frozenset[str]]
) -> ColumnRef | None:
    # Redshift folds identifiers to lowercase (quoted ones too, by default).
    qualifier, column = node.table.lower(), node.name.lower()
    if qualifier:
        # An alias outside the scope is a spec error that cdcgen.validate reports.
        return ColumnRef(scope[qualifier], column) if qualifier in scope else None
    owners = [s for s in dict.fromkeys(scope.values()) if column in known.get(s, frozenset())]
    return ColumnRef(owners[0] if len(owners) == 1 else grain, column)


def _column_universe(
    spec: Spec,
    source_columns: Mapping[str, Iterable[str]] | None,
    reaches: Iterable[Mapping[ColumnRef, object]],
) -> dict[str, list[str]]:
    referenced: dict[str, list[str]] = {}
    for reach in reaches:
        for ref in reach:
            columns = referenced.setdefault(ref.source, [])
            if ref.column not in columns:
                columns.append(ref.column)
    universe: dict[str, list[str]] = {}
    for name, source in spec.sources.items():
        if source_columns is not None and name in source_columns:
            universe[name] = list(source_columns[name])
        elif source.columns is not None:
            universe[name] = list(source.columns)
        else:
            # Types come from a catalog we were not given: list what the spec reads.
            universe[name] = referenced.get(name, [])
    return universe


# --------------------------------------------------------------------------- rendering


def render_text(
    dictionary: ImpactDictionary, all_columns: Mapping[str, Sequence[str]] | None = None
) -> str:
    """An indented tree, one ``source.column -> target.column, ...`` line per column.

    When ``all_columns`` is given, a target whose every column is affected prints as
    ``target.*`` instead of its full column list.
    """
    lines: list[str] = []
    for source, columns in dictionary.items():
        lines.append(source)
        for column, targets in columns.items():
            lines.append(f"  {source}.{column} -> {describe(targets, all_columns)}")
    return "\n".join(lines) + "\n"


def render_line(
    qualified_column: str,
    targets: Mapping[str, Sequence[str]],
    all_columns: Mapping[str, Sequence[str]] | None = None,
) -> str:
    return f"{qualified_column} -> {describe(targets, all_columns)}\n"


def describe(
    targets: Mapping[str, Sequence[str]], all_columns: Mapping[str, Sequence[str]] | None = None
) -> str:
    if not targets:
        return "(nothing)"
    parts: list[str] = []
    for target, columns in targets.items():
        every = (all_columns or {}).get(target)
        if every is not None and len(every) > 1 and list(columns) == list(every):
            parts.append(f"{target}.* (every column)")
        else:
            parts.extend(f"{target}.{column}" for column in columns)
    return ", ".join(parts)


def render_json(dictionary: ImpactDictionary) -> str:
    return json.dumps(dictionary, indent=2) + "\n"


def seeds_view(dictionary: ImpactDictionary) -> dict[str, dict[str, dict[str, str | list[str]]]]:
    """The seeds' shape: ``{source: {column: {fact: fact_column}}}``.

    A source column feeding several columns of one target has no single ``fact_column``;
    it keeps the list. Columns that feed nothing are left out, as in the seeds.
    """
    view: dict[str, dict[str, dict[str, str | list[str]]]] = {}
    for source, columns in dictionary.items():
        for column, targets in columns.items():
            if targets:
                view.setdefault(source, {})[column] = {
                    target: cols[0] if len(cols) == 1 else list(cols)
                    for target, cols in targets.items()
                }
    return view


def render_python(dictionary: ImpactDictionary, origin: str = "the spec") -> str:
    """A drop-in ``expanded_dictionary.py`` (read back by ``cdcgen import-dictionary``)."""
    body = _python_literal(seeds_view(dictionary), indent=0)
    return (
        f'"""Source column -> {{fact: fact column}}, generated by `cdcgen impact` from {origin}.\n\n'
        "Do not edit by hand: change the spec and regenerate.\n"
        '"""\n\n'
        f"EXPANDED_DICTIONARY = {body}\n"
    )


def _python_literal(value: object, indent: int) -> str:
    """Black-style literal: one key per line, lists of names kept on one line."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = " " * (indent + 4)
        items = "".join(
            f"{pad}{json.dumps(k)}: {_python_literal(v, indent + 4)},\n" for k, v in value.items()
        )
        return "{\n" + items + " " * indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    # json string escapes are valid Python string escapes.
    return json.dumps(value)

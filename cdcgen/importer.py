"""Draft a spec from a seeds-style dictionary (``expanded_dictionary.py`` or JSON).

The dictionary only says which source column feeds which fact column
(``{source: {column: {fact: fact_column}}}``). A spec needs much more: keys, the
sequence column, each fact's grain, how sources join, which rows qualify, types. The
draft fills those with guesses or placeholders and marks every one with a ``TODO``
comment that says what was guessed and why, so a reviewer knows exactly what to check.

A Python dictionary file is read with :mod:`ast` and never executed or imported: it
must be a plain literal.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdcgen.errors import Diagnostic, SpecError
from cdcgen.spec import yamlread
from cdcgen.spec.model import IDENT_PATTERN

#: ``source -> column -> {fact: [fact columns]}``: the seeds' shape, leaves as lists.
SourceDictionary = dict[str, dict[str, dict[str, list[str]]]]

PLACEHOLDER_TYPE = "varchar(256)"
GUESSED_KEY = "id"
GUESSED_UPDATED_AT = "updated_at"

_PathT = tuple[str, ...]


class DictionaryError(SpecError):
    """The dictionary file cannot be read; ``diagnostics`` say where and why."""


# --------------------------------------------------------------------------- reading


def read_dictionary(path: str | Path) -> SourceDictionary:
    """Read ``.py`` (a dict literal, optionally assigned to a name) or ``.json``."""
    file = str(path)
    text = yamlread.read_text(path)  # not UTF-8: a located error, not a traceback
    yamlread.refuse_control_characters(text, file)
    positions: dict[_PathT, tuple[int, int]] = {}
    try:
        if Path(path).suffix.lower() == ".json":
            data = _read_json(text, file)
        else:
            data, positions = _read_python(text, file)
    except (RecursionError, MemoryError):
        raise DictionaryError(
            [Diagnostic(file, 1, 1, "nested too deeply to be a dictionary of columns")]
        ) from None
    return _checked(data, file, positions)


def _read_json(text: str, file: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DictionaryError(
            [Diagnostic(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")]
        ) from None


def _read_python(text: str, file: str) -> tuple[Any, dict[_PathT, tuple[int, int]]]:
    try:
        module = ast.parse(text, filename=file)
    except SyntaxError as exc:
        line, col = exc.lineno or 1, exc.offset or 1
        raise DictionaryError([Diagnostic(file, line, col, f"invalid Python: {exc.msg}")]) from None
    node = _dictionary_node(module, file)
    try:
        data = ast.literal_eval(node)
    except ValueError:
        raise DictionaryError(
            [
                Diagnostic(
                    file,
                    node.lineno,
                    node.col_offset + 1,
                    "the dictionary must be a plain literal (strings, dicts, lists): "
                    "the file is read, never run, so names, calls and comprehensions "
                    "cannot be evaluated",
                )
            ]
        ) from None
    return data, _positions(node)


def _dictionary_node(module: ast.Module, file: str) -> ast.Dict:
    """The top-level dict literal: bare, or assigned to a name (preferring *dictionary*)."""
    candidates: list[tuple[str, ast.Dict]] = []
    for stmt in module.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
            names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
            candidates.append((names[0] if names else "", stmt.value))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Dict):
            name = stmt.target.id if isinstance(stmt.target, ast.Name) else ""
            candidates.append((name, stmt.value))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Dict):
            candidates.append(("", stmt.value))
    if len(candidates) > 1:
        named = [c for c in candidates if "dictionary" in c[0].lower()]
        candidates = named or candidates
    if len(candidates) == 1:
        return candidates[0][1]
    if not candidates:
        message = "no top-level dict literal found (expected e.g. EXPANDED_DICTIONARY = {...})"
    else:
        listed = ", ".join(name or "<unnamed>" for name, _ in candidates)
        message = f"several top-level dict literals ({listed}): cannot tell which is the dictionary"
    raise DictionaryError([Diagnostic(file, 1, 1, message)])


def _positions(node: ast.Dict) -> dict[_PathT, tuple[int, int]]:
    """(line, col) of every nested dict key by its path, for located shape errors."""
    found: dict[_PathT, tuple[int, int]] = {}

    def walk(current: ast.Dict, path: _PathT) -> None:
        for key, value in zip(current.keys, current.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                child = (*path, key.value)
                found[child] = (key.lineno, key.col_offset + 1)
                if isinstance(value, ast.Dict):
                    walk(value, child)

    found[()] = (node.lineno, node.col_offset + 1)
    walk(node, ())
    return found


def _checked(data: Any, file: str, positions: dict[_PathT, tuple[int, int]]) -> SourceDictionary:
    """Normalise leaves to lists and collect every shape problem at once."""
    problems: list[Diagnostic] = []

    def problem(path: _PathT, message: str) -> None:
        probe = path
        while probe not in positions and probe:
            probe = probe[:-1]
        line, col = positions.get(probe, (1, 1))
        where = ".".join(path) or "the dictionary"
        problems.append(Diagnostic(file, line, col, f"{where}: {message}"))

    result: SourceDictionary = {}
    if not isinstance(data, dict) or not data:
        problem((), "expected a non-empty {source: {column: {fact: fact_column}}} mapping")
        raise DictionaryError(problems)
    for source, columns in data.items():
        if not isinstance(columns, dict):
            problem((str(source),), "expected {column: {fact: fact_column}}")
            continue
        for column, facts in columns.items():
            path = (str(source), str(column))
            if not isinstance(facts, dict):
                problem(path, "expected {fact: fact_column}")
                continue
            for fact, target in facts.items():
                leaf = _leaf_columns(target)
                if leaf is None:
                    problem((*path, str(fact)), "expected a fact column name or a list of them")
                    continue
                result.setdefault(str(source), {}).setdefault(str(column), {})[str(fact)] = leaf
    if problems:
        raise DictionaryError(problems)
    return result


def _leaf_columns(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class Feed:
    """One source column feeding a fact."""

    source: str
    column: str

    def __str__(self) -> str:
        return f"{self.source}.{self.column}"


@dataclass
class FactDraft:
    name: str
    columns: dict[str, Feed] = field(default_factory=dict)
    #: other source columns that also feed a fact column (an expression combines them)
    also_fed_by: dict[str, list[Feed]] = field(default_factory=dict)
    #: source columns that feed every column: a filter or join condition, not a value
    row_shaping: list[Feed] = field(default_factory=list)
    grain: str = ""
    grain_share: int = 0
    lookups: list[str] = field(default_factory=list)


def infer_facts(dictionary: SourceDictionary) -> list[FactDraft]:
    """Each fact's columns, grain guess and other sources, in dictionary order."""
    feeds: dict[str, dict[str, list[Feed]]] = {}
    for source, columns in dictionary.items():
        for column, facts in columns.items():
            for fact, fact_columns in facts.items():
                for fact_column in fact_columns:
                    feeds.setdefault(fact, {}).setdefault(fact_column, []).append(
                        Feed(source, column)
                    )
    return [_draft_fact(name, columns) for name, columns in feeds.items()]


def _draft_fact(name: str, feeds: dict[str, list[Feed]]) -> FactDraft:
    draft = FactDraft(name)
    fan_out = Counter(feed for candidates in feeds.values() for feed in candidates)
    # A source column that feeds every column of a fact is how impact views (and
    # careful hand-written dictionaries) record a where/join/exists column.
    if len(feeds) > 1:
        draft.row_shaping = [f for f in dict.fromkeys(fan_out) if fan_out[f] == len(feeds)]
    for fact_column, candidates in feeds.items():
        # The most specific candidate is the likeliest value: a column that feeds
        # only this column beats one that feeds them all.
        chosen = min(candidates, key=lambda f: (fan_out[f], candidates.index(f)))
        draft.columns[fact_column] = chosen
        others = [f for f in candidates if f != chosen and f not in draft.row_shaping]
        if others:
            draft.also_fed_by[fact_column] = others
    share = Counter(feed.source for feed in draft.columns.values())
    draft.grain, draft.grain_share = share.most_common(1)[0]  # ties: first seen wins
    seen = [f.source for f in (*draft.columns.values(), *draft.row_shaping)]
    draft.lookups = [s for s in dict.fromkeys(seen) if s != draft.grain]
    return draft


def singular(name: str) -> str:
    """A crude singular for guessing foreign keys: cities -> city, users -> user."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes")):
        return name[:-2]
    return name.removesuffix("s")


def guess_join(source: str, draft: FactDraft, dictionary: SourceDictionary) -> str:
    """``<source>.id = <other>.<source singular>_id``, preferring a table that has it."""
    foreign_key = f"{singular(source)}_id"
    for other in (draft.grain, *draft.lookups):
        if other != source and foreign_key in dictionary.get(other, {}):
            return f"{source}.{GUESSED_KEY} = {other}.{foreign_key}"
    return f"{source}.{GUESSED_KEY} = {draft.grain}.{foreign_key}"


# --------------------------------------------------------------------------- writing


def draft_spec_from_dictionary(path: str | Path) -> str:
    """A draft YAML spec for the dictionary at ``path``; every guess carries a TODO."""
    return draft_spec(read_dictionary(path), origin=str(path), pipeline=_pipeline_name(path))


def draft_spec(dictionary: SourceDictionary, origin: str, pipeline: str = "draft") -> str:
    facts = infer_facts(dictionary)
    lines = [
        f"# Draft spec generated by `cdcgen import-dictionary` from {origin}.",
        "#",
        "# The dictionary says only which source column feeds which fact column. Keys,",
        "# sequence columns, grains, joins, filters and types are not in it: each guess",
        "# below is marked TODO. Resolve them all, then run `cdcgen validate` on this file.",
        "",
        f"pipeline: {pipeline}  # TODO: name the pipeline",
        "schemas: {staging: staging, baseline: public, target: staging_public, cdc: cdc}",
        "",
        "sources:",
    ]
    for source, columns in dictionary.items():
        lines += _source_lines(source, list(columns))
    lines += ["", "facts:"]
    for draft in facts:
        lines += _fact_lines(draft, dictionary)
    return "\n".join(lines) + "\n"


def _source_lines(source: str, seen: list[str]) -> list[str]:
    lines = [
        f"  {_name(source)}:{_rename_note(source)}",
        f"    key: [{GUESSED_KEY}]  # TODO: not in the dictionary, guessed",
        f"    updated_at: {GUESSED_UPDATED_AT}  # TODO: not in the dictionary, guessed: "
        "the column whose newest value wins",
        "    # TODO: deletes: how does this source signal a delete? e.g. "
        '{when: "deleted_at IS NOT NULL"}, {op_column: op} or {snapshot: full}',
        "    columns:  # TODO: types are placeholders; take them from the DDL or `cdcgen introspect`",
    ]
    lines += [f"      {_name(c)}: {PLACEHOLDER_TYPE}{_rename_note(c)}" for c in seen]
    if GUESSED_KEY not in seen:
        lines.append(
            f"      {GUESSED_KEY}: {PLACEHOLDER_TYPE}  # TODO: not in the dictionary, added for the guessed key"
        )
    if GUESSED_UPDATED_AT not in seen:
        lines.append(
            f"      {GUESSED_UPDATED_AT}: timestamp  # TODO: not in the dictionary, added for updated_at"
        )
    return lines


def _fact_lines(draft: FactDraft, dictionary: SourceDictionary) -> list[str]:
    total = len(draft.columns)
    lines = [f"  {_name(draft.name)}:{_rename_note(draft.name)}", *_fact_key_lines(draft)]
    lines.append(
        f"    from: {_name(draft.grain)}  # TODO: guessed: {draft.grain} feeds {draft.grain_share} "
        f"of {total} columns; the grain is the source with one {draft.name} row per row"
    )
    lines.append(
        f"    # TODO: which rows qualify? add where: and exists: if {draft.name} is filtered"
    )
    for feed in draft.row_shaping:
        lines.append(
            f"    # TODO: {feed} feeds every column: likely used in a where, join or exists condition"
        )
    for source in draft.lookups:
        on = guess_join(source, draft, dictionary)
        lines.append(
            f"    # TODO: how does {source} join to {draft.grain}? add "
            f'join: [{{source: {source}, on: "{on}"}}] (or exists: if it only filters rows)'
        )
    lines.append("    columns:")
    for fact_column, feed in draft.columns.items():
        note = _rename_note(fact_column)
        others = draft.also_fed_by.get(fact_column)
        if others:
            fed = ", ".join(str(f) for f in others)
            note += f"  # TODO: also fed by {fed}: write the expression that combines them"
        lines.append(f"      {_name(fact_column)}: {_expression(feed)}{note}")
    return lines


def _fact_key_lines(draft: FactDraft) -> list[str]:
    # A fact key must come from the grain's key, so the column mapped from it is the key.
    keyed = [c for c, f in draft.columns.items() if f == Feed(draft.grain, GUESSED_KEY)]
    if keyed:
        return [
            f"    key: [{_name(keyed[0])}]  # TODO: not in the dictionary, guessed: "
            f"it maps {draft.grain}.{GUESSED_KEY}"
        ]
    first = next(iter(draft.columns))
    return [
        f"    key: [{_name(first)}]  # TODO: not in the dictionary, guessed: no column maps "
        f"{draft.grain}.{GUESSED_KEY}; the fact key must come from the grain's key"
    ]


def _name(name: str) -> str:
    """A YAML-safe scalar: identifiers stay plain, anything else is double-quoted."""
    return name if re.fullmatch(IDENT_PATTERN, name) else json.dumps(name)


def _expression(feed: Feed) -> str:
    # A non-identifier name is not valid SQL unquoted; the rename TODO covers it, and
    # quoting the whole scalar keeps the draft loadable YAML meanwhile.
    text = str(feed)
    return (
        text
        if re.fullmatch(IDENT_PATTERN, feed.source) and re.fullmatch(IDENT_PATTERN, feed.column)
        else json.dumps(text)
    )


def _rename_note(name: str) -> str:
    if re.fullmatch(IDENT_PATTERN, name):
        return ""
    return f"  # TODO: {name!r} is not a plain lowercase identifier; rename it"


def _pipeline_name(path: str | Path) -> str:
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(path).stem.lower()).strip("_")
    return stem if re.fullmatch(IDENT_PATTERN, stem) else "draft"

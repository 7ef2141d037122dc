"""Properties of validation over random specs.

1. Every generated valid spec loads and validates, and its target columns keep
   the spec's order with a canonical type each.
2. One corruption of a valid spec's YAML makes validation fail with an error
   located on the corrupted node's line, at a column inside that line.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdcgen.errors import SpecError
from cdcgen.spec.loader import load_spec_text
from cdcgen.validate import validate_loaded
from cdcgen.validate.types import canonical_type
from tests.strategies import render_yaml, spec_documents

FILE = "generated.yml"
#: Marks the corrupted node so the test can find its line in the rendered YAML.
MARK = "zq"

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def validate_text(text: str) -> Any:
    return validate_loaded(load_spec_text(text, FILE))


@PROPERTY_SETTINGS
@given(spec_documents())
def test_generated_specs_validate(doc: dict[str, Any]) -> None:
    validated = validate_text(render_yaml(doc))
    targets = {**doc.get("facts", {}), **doc.get("dimensions", {})}
    for name, target in targets.items():
        assert list(validated.target_columns[name]) == list(target["columns"])
        for type_ in validated.target_columns[name].values():
            assert canonical_type(type_) == type_  # already canonical
    for name, source in doc["sources"].items():
        assert list(validated.source_columns[name]) == list(source["columns"])


# Each corruption edits the document in place; the first line of the rendered
# YAML holding MARK is the corrupted node.
Corruption = Callable[[st.DrawFn, dict[str, Any]], None]


def _fact(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    return doc["facts"][draw(st.sampled_from(sorted(doc["facts"])))]


def _source(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    return doc["sources"][draw(st.sampled_from(sorted(doc["sources"])))]


def unknown_key(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    node = draw(st.sampled_from([_source(draw, doc), _fact(draw, doc), doc]))
    node[f"{MARK}_key"] = "x"


def bad_identifier(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    _source(draw, doc)["columns"][f"Bad{MARK.upper()}-col"] = "bigint"


def unknown_column(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    fact["columns"][f"col_{MARK}"] = f"{fact['from']}.{MARK}_missing"


def unknown_alias(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    fact["where"] = f"{MARK}_alias.id = 1"


def non_key_join(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    grain = fact["from"]
    fact.setdefault("join", [])
    names = list(doc["sources"])
    candidates = [
        n for n in names[names.index(grain) + 1 :] if n not in [j["source"] for j in fact["join"]]
    ]
    if candidates:
        fact["join"].append(
            {
                "source": candidates[0],
                "on": f"{candidates[0]}.id > {grain}.id AND '{MARK}' = '{MARK}'",
            }
        )
    else:
        on = f"selfjoin.updated_at = {grain}.updated_at AND '{MARK}' = '{MARK}'"
        fact["join"].append({"source": grain, "as": "selfjoin", "on": on})


def statement_smuggling(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    fact["where"] = draw(
        st.sampled_from(
            [
                f"1 = 1; DROP TABLE {MARK}",
                f"{fact['from']}.id IN (SELECT id FROM {MARK})",
                f"{fact['from']}.id > 0 -- {MARK}",
            ]
        )
    )


def bad_type(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    bad = draw(
        st.sampled_from(["jsonb", "uuid", "varchar", "serial", "int[]", "interval", "money"])
    )
    _source(draw, doc)["columns"][f"{MARK}_col"] = bad


def unknown_source(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    fact.setdefault("join", []).append(
        {"source": f"{MARK}_src", "on": f"{MARK}_src.id = {fact['from']}.id"}
    )


def bad_key(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    _source(draw, doc)["key"].append(f"{MARK}_keycol")


def aggregate(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    fact = _fact(draw, doc)
    fact["columns"][f"total_{MARK}"] = f"SUM({fact['from']}.id)"


CORRUPTIONS: list[Corruption] = [
    unknown_key,
    bad_identifier,
    unknown_column,
    unknown_alias,
    non_key_join,
    statement_smuggling,
    bad_type,
    unknown_source,
    bad_key,
    aggregate,
]


@st.composite
def corrupted_specs(draw: st.DrawFn) -> tuple[str, str, int]:
    """(YAML text, corruption name, 1-based line of the corrupted node)."""
    doc = copy.deepcopy(draw(spec_documents()))
    corruption = draw(st.sampled_from(CORRUPTIONS))
    corruption(draw, doc)
    text = render_yaml(doc)
    lines = [i + 1 for i, line in enumerate(text.split("\n")) if MARK in line.lower()]
    # The corrupted node is the first marked line (a join's source comes before its on).
    return text, corruption.__name__, lines[0]


@PROPERTY_SETTINGS
@given(corrupted_specs())
def test_a_corruption_is_reported_on_its_line(case: tuple[str, str, int]) -> None:
    text, corruption, line = case
    try:
        validate_text(text)
    except SpecError as exc:
        diagnostics = exc.diagnostics
    else:
        raise AssertionError(f"{corruption}: the corrupted spec validated")
    width = len(text.split("\n")[line - 1])
    located = [d for d in diagnostics if d.line == line and 1 <= d.col <= width]
    assert located, f"{corruption}: no error on line {line}; got " + "; ".join(
        map(str, diagnostics)
    )

"""The loader's shape errors: located at the right node, worded for the user."""

from __future__ import annotations

import pytest

from cdcgen.errors import SpecError
from cdcgen.spec.loader import load_spec_text

BASE = """\
pipeline: p
sources:
  companies:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, updated_at: timestamp}
"""


def errors(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "spec.yml")
    return [(d.line, d.col, d.message) for d in info.value.diagnostics]


def test_bad_column_name_is_located_at_the_key() -> None:
    text = BASE.replace("{id: bigint,", "{id: bigint, BadName: bigint,")
    [(line, col, message)] = errors(text)
    assert (line, col) == (6, 27)
    assert "'BadName' is not a plain lowercase identifier" in message
    assert "did you mean 'badname'" in message


def test_unknown_key_is_located_at_the_key() -> None:
    assert errors(BASE + "    kye: 1\n") == [(7, 5, "unknown key 'kye'")]


def test_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    text = BASE.replace("    updated_at: updated_at\n", "")
    assert errors(text) == [(3, 3, "missing required key 'updated_at'")]


def test_column_value_of_the_wrong_shape_gets_one_message() -> None:
    text = BASE + "facts:\n  f:\n    key: [id]\n    from: companies\n    columns: {id: 5}\n"
    [(_, _, message)] = errors(text)
    assert (
        message
        == "column 'id' must be an SQL expression (text) or {expr: ..., type: ...}, got 5 (a number)"
    )


def test_type_cut_at_a_comma_in_flow_style_is_explained() -> None:
    text = BASE.replace("updated_at: timestamp}", "updated_at: timestamp, amt: numeric(12,2)}")
    [(line, _, message)] = errors(text)
    assert line == 6
    assert "quoted" in message and "numeric(12,2)" in message


def test_positions_point_inside_one_line_expressions() -> None:
    from cdcgen.validate import validate_loaded

    text = BASE + (
        "facts:\n  f:\n    key: [k]\n    from: companies\n"
        '    columns: {k: companies.id, n: "companies.id + companies.nmae"}\n'
    )
    with pytest.raises(SpecError) as info:
        validate_loaded(load_spec_text(text, "spec.yml"))
    [diagnostic] = info.value.diagnostics
    line = text.split("\n")[diagnostic.line - 1]
    assert line[diagnostic.col - 1 :].startswith("companies.nmae")

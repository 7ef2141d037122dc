"""import-dictionary: a seeds-style dictionary becomes a draft spec with honest TODOs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cdcgen.errors import SpecError
from cdcgen.importer import (
    DictionaryError,
    draft_spec,
    draft_spec_from_dictionary,
    infer_facts,
    read_dictionary,
    singular,
)
from cdcgen.spec.loader import load_spec_text
from cdcgen.validate import validate_loaded

FIXTURE = Path(__file__).parent / "fixtures" / "dictionary" / "expanded_dictionary.py"


@pytest.fixture(scope="module")
def draft() -> str:
    return draft_spec_from_dictionary(FIXTURE)


def test_reads_the_fixture_without_running_it() -> None:
    dictionary = read_dictionary(FIXTURE)
    assert dictionary["companies"]["name"] == {
        "fact_vendor": ["vendor_name"],
        "fact_company_profile": ["company_name"],
    }
    assert list(dictionary) == [
        "companies", "cities", "countries", "users", "buyer_seller_company_mappings",
    ]  # fmt: skip


def test_the_draft_is_yaml_that_passes_the_shape_checks(draft: str) -> None:
    data = YAML(typ="safe").load(draft)
    assert data["facts"]["fact_vendor"]["columns"]["vendor_name"] == "companies.name"
    assert data["facts"]["fact_company_profile"]["columns"]["company_name"] == "companies.name"
    assert data["sources"]["cities"]["columns"]["name"] == "varchar(256)"
    spec = load_spec_text(draft, "draft.yml").spec
    assert spec.facts["fact_vendor"].key == ("vendor_id",)
    assert spec.facts["fact_vendor"].from_ == "companies"


def test_the_draft_says_what_it_guessed(draft: str) -> None:
    assert "key: [id]  # TODO: not in the dictionary, guessed" in draft
    assert "updated_at: updated_at  # TODO: not in the dictionary, guessed" in draft
    assert "# TODO: types are placeholders" in draft
    assert "from: companies  # TODO: guessed: companies feeds 6 of 14 columns" in draft
    assert (
        "# TODO: how does cities join to companies? add "
        'join: [{source: cities, on: "cities.id = companies.city_id"}]'
    ) in draft
    assert "# TODO: which rows qualify?" in draft


def test_the_draft_fails_validation_only_where_it_says_todo(draft: str) -> None:
    """Unresolved joins are the draft's open questions; validation points at them."""
    with pytest.raises(SpecError) as caught:
        validate_loaded(load_spec_text(draft, "draft.yml"))
    diagnostics = caught.value.diagnostics
    assert diagnostics
    # Each one points at a fact column reading a source the TODOs ask to join.
    lines = draft.splitlines()
    lookups = ("cities.", "countries.", "users.", "buyer_seller_company_mappings.")
    pipeline = next(line for line in lines if line.startswith("pipeline:"))
    assert "TODO: name the pipeline" in pipeline
    for diagnostic in diagnostics:
        # The placeholder pipeline name (a TODO) can make derived names too long.
        if "(with pipeline 'expanded_dictionary')" in diagnostic.message:
            continue
        assert any(s in lines[diagnostic.line - 1] for s in lookups), str(diagnostic)


def test_a_completed_draft_validates(draft: str) -> None:
    """Following the TODOs of a small dictionary gives a valid spec."""
    small = {"companies": {"id": {"fact_x": "x_id"}, "city_id": {"fact_x": "city_ref"}},
             "cities": {"name": {"fact_x": "city_name"}}}  # fmt: skip
    text = draft_spec({s: {c: {f: [v] for f, v in fs.items()} for c, fs in cs.items()}
                       for s, cs in small.items()}, "small")  # fmt: skip
    completed = text.replace(
        "    columns:\n      x_id:",
        '    join: [{source: cities, on: "cities.id = companies.city_id"}]\n'
        "    columns:\n      x_id:",
    ).replace("varchar(256)", "bigint")
    validate_loaded(load_spec_text(completed, "small.yml"))


def test_json_dictionaries_and_list_leaves(tmp_path: Path) -> None:
    path = tmp_path / "dictionary.json"
    path.write_text(
        json.dumps(
            {"orders": {"id": {"fact_order": "order_id"}, "total": {"fact_order": ["a", "b"]}}}
        )
    )
    text = draft_spec_from_dictionary(path)
    assert "pipeline: dictionary  # TODO" in text
    assert "      a: orders.total\n" in text and "      b: orders.total\n" in text


def test_an_impact_python_view_round_trips_to_the_same_columns(tmp_path: Path) -> None:
    """Columns feeding every fact column are recognised as filter/join columns."""
    path = tmp_path / "expanded_dictionary.py"
    path.write_text(
        "EXPANDED_DICTIONARY = {\n"
        '    "companies": {\n'
        '        "id": {"fact_vendor": "vendor_id"},\n'
        '        "name": {"fact_vendor": "vendor_name"},\n'
        '        "status": {"fact_vendor": ["vendor_id", "vendor_name"]},\n'
        "    },\n"
        "}\n"
    )
    facts = infer_facts(read_dictionary(path))
    assert {c: str(f) for c, f in facts[0].columns.items()} == {
        "vendor_id": "companies.id",
        "vendor_name": "companies.name",
    }
    text = draft_spec_from_dictionary(path)
    assert "# TODO: companies.status feeds every column: likely used in a where" in text


def test_names_that_are_not_identifiers_are_quoted_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "d.py"
    path.write_text('{"Companies": {"Vendor Name": {"fact_vendor": "vendor_name"}}}\n')
    text = draft_spec_from_dictionary(path)
    data = YAML(typ="safe").load(text)  # still loadable YAML
    assert data["facts"]["fact_vendor"]["columns"]["vendor_name"] == "Companies.Vendor Name"
    assert "TODO: 'Companies' is not a plain lowercase identifier; rename it" in text


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("D = {'a': {'b': {'f': 'c'}}}\nE = {'x': {}}\n", "several top-level dict literals"),
        ("import os\n", "no top-level dict literal"),
        ("D = {'a': {'b': {'f': os.getcwd()}}}\n", "must be a plain literal"),
        ("D = {'a': {'b': {'f': 'c'}}\n", "invalid Python"),
        ("D = {'a': {'b': 'fact_col'}}\n", "a.b: expected {fact: fact_column}"),
        ("D = {'a': {'b': {'f': 3}}}\n", "a.b.f: expected a fact column name"),
    ],
)
def test_unreadable_dictionaries_are_located_errors(
    tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "d.py"
    path.write_text(source)
    with pytest.raises(DictionaryError) as caught:
        read_dictionary(path)
    rendered = str(caught.value)
    assert rendered.startswith(f"{path}:")
    assert message in rendered


def test_shape_errors_point_at_the_key(tmp_path: Path) -> None:
    path = tmp_path / "d.py"
    path.write_text("D = {\n    'a': {\n        'b': 'oops',\n    },\n}\n")
    with pytest.raises(DictionaryError) as caught:
        read_dictionary(path)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.col) == (3, 9)


def test_invalid_json_is_located(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{\n  "a": ,\n}')
    with pytest.raises(DictionaryError, match=r"d\.json:2:8: error: invalid JSON"):
        read_dictionary(path)


@pytest.mark.parametrize(
    ("plural", "one"),
    [("cities", "city"), ("users", "user"), ("companies", "company"), ("addresses", "address")],
)
def test_singular(plural: str, one: str) -> None:
    assert singular(plural) == one

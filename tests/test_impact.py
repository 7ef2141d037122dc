"""Impact dictionary semantics, the graph and the JSON Schema, on small specs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from cdcgen.graph import mermaid
from cdcgen.impact import (
    ImpactError,
    impact_dictionary,
    impact_for,
    merge,
    render_python,
    render_text,
    seeds_view,
    target_columns,
)
from cdcgen.jsonschema import spec_json_schema
from cdcgen.spec.loader import load_spec_text
from cdcgen.spec.model import Spec

REPO = Path(__file__).resolve().parent.parent

VENDOR_LIKE = """
pipeline: vendor
sources:
  companies:
    key: [id]
    updated_at: updated_at
    deletes: {when: "deleted_at IS NOT NULL"}
    columns: {id: bigint, name: varchar(255), status: smallint, city_id: bigint,
              fax: varchar(20), updated_at: timestamp, deleted_at: timestamp}
  cities:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(100), country_id: bigint, updated_at: timestamp}
  countries:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(100), updated_at: timestamp}
  mappings:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, dealing_with_company_id: bigint, client_company_id: bigint,
              note: varchar(50), updated_at: timestamp}
facts:
  fact_vendor:
    key: [vendor_id]
    from: companies
    where: "companies.status = 1"
    exists:
      - {source: mappings, as: m, on: "m.dealing_with_company_id = companies.id AND m.client_company_id = 12855"}
    join:
      - {source: cities, on: "cities.id = companies.city_id"}
      - {source: countries, on: "countries.id = cities.country_id"}
    columns:
      vendor_id: companies.id
      vendor_name: companies.name
      country_name: countries.name
      vendor_label: "companies.name || ' / ' || COALESCE(cities.name, '?')"
  fact_company_profile:
    key: [company_id]
    from: companies
    columns:
      company_id: companies.id
      company_name: {expr: "UPPER(companies.name)", type: varchar(255)}
"""

EVERY_VENDOR_COLUMN = ["vendor_id", "vendor_name", "country_name", "vendor_label"]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec_text(VENDOR_LIKE, "vendor.yml").spec


def test_a_column_feeds_every_target_column_that_reads_it(spec: Spec) -> None:
    assert impact_for(spec, "companies.name") == {
        "fact_vendor": ["vendor_name", "vendor_label"],
        # inside a function call: still companies.name
        "fact_company_profile": ["company_name"],
    }
    assert impact_for(spec, "cities.name") == {"fact_vendor": ["vendor_label"]}


def test_a_where_column_affects_every_column_of_that_target_only(spec: Spec) -> None:
    assert impact_for(spec, "companies.status") == {"fact_vendor": EVERY_VENDOR_COLUMN}


def test_join_on_columns_affect_every_column(spec: Spec) -> None:
    # both sides of each join, along the whole chain companies -> cities -> countries
    for column in ("companies.city_id", "cities.id", "cities.country_id", "countries.id"):
        assert impact_for(spec, column) == {"fact_vendor": EVERY_VENDOR_COLUMN}, column


def test_exists_on_columns_resolve_the_alias_and_affect_every_column(spec: Spec) -> None:
    for column in ("mappings.dealing_with_company_id", "mappings.client_company_id"):
        assert impact_for(spec, column) == {"fact_vendor": EVERY_VENDOR_COLUMN}, column
    assert impact_for(spec, "mappings.note") == {}


def test_a_delete_rule_column_affects_every_target_reading_the_source(spec: Spec) -> None:
    assert impact_for(spec, "companies.deleted_at") == {
        "fact_vendor": EVERY_VENDOR_COLUMN,
        "fact_company_profile": ["company_id", "company_name"],
    }


def test_unused_columns_are_listed_with_no_targets(spec: Spec) -> None:
    assert impact_for(spec, "companies.fax") == {}


def test_order_follows_the_spec(spec: Spec) -> None:
    dictionary = impact_dictionary(spec)
    assert list(dictionary) == ["companies", "cities", "countries", "mappings"]
    assert list(dictionary["companies"]) == [
        "id", "name", "status", "city_id", "fax", "updated_at", "deleted_at",
    ]  # fmt: skip
    assert impact_dictionary(spec) == dictionary


def test_unknown_columns_and_malformed_names_are_errors(spec: Spec) -> None:
    with pytest.raises(ImpactError, match=r"unknown column 'companies\.nope'"):
        impact_for(spec, "companies.nope")
    with pytest.raises(ImpactError, match="unknown source 'nope'"):
        impact_for(spec, "nope.name")
    with pytest.raises(ImpactError, match=r"SOURCE\.COLUMN"):
        impact_for(spec, "companies")


def test_catalog_only_sources_list_the_columns_the_spec_reads() -> None:
    spec = load_spec_text(
        """
pipeline: p
catalog: catalog.yml
sources:
  orders: {key: [id], updated_at: updated_at}
facts:
  fact_order:
    key: [order_id]
    from: orders
    where: "orders.state <> 'void'"
    columns: {order_id: orders.id, total: orders.amount}
""",
        "p.yml",
    ).spec
    assert impact_dictionary(spec) == {
        "orders": {
            "id": {"fact_order": ["order_id"]},
            "amount": {"fact_order": ["total"]},
            "state": {"fact_order": ["order_id", "total"]},
        }
    }
    # with the resolved catalog, its columns are the universe
    universe = {"orders": {"id": "bigint", "state": "varchar(8)", "amount": "numeric", "x": "int"}}
    assert list(impact_dictionary(spec, universe)["orders"]) == ["id", "state", "amount", "x"]


def test_text_view_collapses_whole_target_impacts(spec: Spec) -> None:
    text = render_text(impact_dictionary(spec), target_columns(spec))
    assert "  companies.status -> fact_vendor.* (every column)\n" in text
    assert (
        "  companies.name -> fact_vendor.vendor_name, fact_vendor.vendor_label, "
        "fact_company_profile.company_name\n"
    ) in text
    assert "  companies.fax -> (nothing)\n" in text


def test_python_view_is_the_seeds_shape_and_a_plain_literal(spec: Spec) -> None:
    source = render_python(impact_dictionary(spec), "vendor.yml")
    module = ast.parse(source)
    assign = next(s for s in module.body if isinstance(s, ast.Assign))
    data = ast.literal_eval(assign.value)
    assert data["companies"]["name"] == {
        "fact_vendor": ["vendor_name", "vendor_label"],
        "fact_company_profile": "company_name",
    }
    assert "fax" not in data["companies"]  # feeds nothing: left out, as in the seeds
    assert data == seeds_view(impact_dictionary(spec))


def test_merge_unions_targets_of_shared_sources() -> None:
    merged = merge(
        [
            {"companies": {"name": {"fact_a": ["a"]}}},
            {"companies": {"name": {"fact_b": ["b"]}, "id": {}}},
        ]
    )
    assert merged == {"companies": {"name": {"fact_a": ["a"], "fact_b": ["b"]}, "id": {}}}


def test_mermaid_draws_from_join_and_exists_edges(spec: Spec) -> None:
    chart = mermaid(spec)
    assert chart.startswith("flowchart LR\n")
    assert "  src_companies -->|from| tgt_fact_vendor\n" in chart
    assert "  src_cities -->|join| tgt_fact_vendor\n" in chart
    assert "  src_mappings -.->|exists as m| tgt_fact_vendor\n" in chart
    assert "  tgt_fact_company_profile[fact_company_profile]:::fact\n" in chart
    assert mermaid([spec, spec]) == chart  # merged specs share nodes and edges


def test_json_schema_describes_the_spec_for_editors() -> None:
    schema = spec_json_schema()
    json.dumps(schema)  # serialisable
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] and schema["description"]
    assert "sources" in schema["properties"]
    assert "from" in schema["$defs"]["Fact"]["properties"]  # aliases, not field names


def test_json_schema_accepts_the_examples_and_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    for path in sorted((REPO / "mappings").glob("*.yml")):
        data = load_spec_text(path.read_text(encoding="utf-8"), str(path)).data
        assert not list(validator.iter_errors(data)), path
    bad = load_spec_text(VENDOR_LIKE, "v.yml").data
    bad["sources"]["Companies"] = bad["sources"].pop("companies")
    assert list(validator.iter_errors(bad))

"""JSON Schema of the spec language, for editor completion and hover help.

Generated from the pydantic models, so it cannot disagree with the loader. Point an
editor at it with a first line such as::

    # yaml-language-server: $schema=../cdcgen.schema.json

The schema checks shape only (keys, types, identifier syntax); ``cdcgen validate``
checks the rest (references, join keys, cycles, expression safety).
"""

from __future__ import annotations

from typing import Any

from cdcgen.spec.model import Spec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Hover help for the keys users most often ask about; the model docstrings cover the
# rest. Keyed by (definition title, property) as pydantic names them.
_DESCRIPTIONS: dict[tuple[str, str], str] = {
    (
        "Spec",
        "pipeline",
    ): "Pipeline name: names the procedures (cdc.sp_<pipeline>_run) and the output folder.",
    (
        "Spec",
        "schemas",
    ): "Schemas for staging (recent changes), baseline (full copy), targets and cdc state.",
    (
        "Spec",
        "catalog",
    ): "Column types from `cdcgen introspect`, for sources that do not list columns.",
    ("Spec", "sources"): "Source tables, by name: how to detect their changes.",
    ("Spec", "facts"): "Denormalised fact tables, by name, each with one row per grain row.",
    ("Spec", "dimensions"): "SCD Type 2 dimensions, by name.",
    ("Source", "key"): "Primary key columns: one staging row per key is applied per run.",
    (
        "Source",
        "updated_at",
    ): "Sequence column: the newest version of a key wins; older rows are stale.",
    ("Source", "created_at"): "Optional; created_at = updated_at marks an INSERT.",
    (
        "Source",
        "loaded_at",
    ): "Load time; breaks updated_at ties and drives the append-mode watermark.",
    (
        "Source",
        "mode",
    ): "window: staging holds recent rows, reloaded by the ETL; append: staging accumulates.",
    ("Source", "columns"): "Column name -> Redshift type (e.g. bigint, varchar(255)).",
    (
        "Source",
        "staging_types",
    ): "any: dates/numbers may arrive as text (cast-checked); declared: staging holds the types.",
    (
        "Spec",
        "staging_types",
    ): "Default for every source: any (text cast-checked) or declared (staging holds the types).",
    (
        "Source",
        "checks",
    ): "Name -> predicate; rows failing one go to dead_letter instead of being applied.",
    ("Fact", "key"): "Fact key columns, derived from the grain source's key.",
    ("Fact", "from"): "The grain: one fact row per qualifying row of this source.",
    ("Fact", "where"): "Row filter over the grain (and joined sources): which rows qualify.",
    ("Fact", "exists"): "Qualification through other sources (semi-joins); adds no columns.",
    (
        "Fact",
        "join",
    ): "Many-to-one lookups (LEFT JOIN); `on` must equate the joined source's whole key.",
    (
        "Fact",
        "as_of",
    ): "Point-in-time lookups: the SCD2 dimension version valid at a grain date/timestamp.",
    ("AsOf", "dimension"): "An SCD2 dimension of this spec (one with history columns).",
    ("AsOf", "as"): "Alias of the dimension in this fact's columns.",
    ("AsOf", "on"): "Equates the dimension's whole key with grain columns.",
    (
        "AsOf",
        "at",
    ): "Grain date/timestamp column: valid_from <= at < valid_to; NULL matches nothing.",
    ("Fact", "columns"): "Fact column -> SQL expression over the grain and joined sources.",
    ("Dimension", "from"): "The grain: one current dimension row per row of this source.",
    (
        "Dimension",
        "history",
    ): "Columns whose change closes the current version and opens a new one.",
    ("Dimension", "on_delete"): "What a deleted grain row does to the current version.",
    ("Join", "as"): "Alias, when the same source is joined more than once.",
    ("Join", "on"): "Join condition, e.g. cities.id = companies.city_id.",
    (
        "Exists",
        "on",
    ): "Condition a matching row must meet, e.g. m.dealing_with_company_id = companies.id.",
}


def spec_json_schema() -> dict[str, Any]:
    """The spec's JSON Schema (draft 2020-12), with hover descriptions."""
    schema = Spec.model_json_schema(by_alias=True)
    _describe(schema, "Spec")
    for title, definition in schema.get("$defs", {}).items():
        _describe(definition, title)
    _close_name_maps(schema)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "cdcgen mapping spec",
        "description": (
            "One cdcgen pipeline (mappings/<pipeline>.yml): sources, facts and dimensions "
            "compiled to pure-SQL CDC for Amazon Redshift. Shape only; run `cdcgen validate` "
            "for references, join keys and expression checks."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }


def _describe(definition: dict[str, Any], title: str) -> None:
    for name, prop in definition.get("properties", {}).items():
        text = _DESCRIPTIONS.get((title, name))
        if text is not None:
            prop.setdefault("description", text)


def _close_name_maps(node: Any) -> None:
    """Reject names that are not plain identifiers in the editor too, as the loader does.

    pydantic renders ``dict[Ident, X]`` as ``patternProperties`` without closing the
    object, so a key like ``Companies`` would pass the editor yet fail the loader.
    """
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_name_maps(value)
    elif isinstance(node, list):
        for value in node:
            _close_name_maps(value)

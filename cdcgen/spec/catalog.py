"""Column catalogs: the staging schema's column types, kept in a YAML file.

``cdcgen introspect`` writes one from information_schema so nobody types 359
columns by hand; a spec points at it with ``catalog: <path>`` (relative to the
spec) and lists ``columns`` only where it wants to override it. Format::

    schema: staging
    tables:
      companies:
        id: bigint
        name: varchar(255)

Column order is kept: it is the order of the generated tables' columns.
Types are returned as written; ``cdcgen.validate`` normalises and checks them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from cdcgen.errors import SpecError
from cdcgen.spec.loader import Positions, read_yaml_file

Catalog = dict[str, dict[str, str]]


@dataclass(frozen=True)
class LoadedCatalog:
    """A catalog with the position of every node, to locate problems in the catalog file."""

    schema: str
    tables: Catalog
    positions: Positions


def load_catalog(path: str | Path) -> Catalog:
    """``{table: {column: type}}`` from a catalog file; raises ``SpecError`` when malformed."""
    return load_catalog_located(path).tables


def load_catalog_located(path: str | Path) -> LoadedCatalog:
    data, positions = read_yaml_file(path)
    problems = []
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise SpecError(
            [positions.diagnostic((), "a catalog must be a mapping with 'schema' and 'tables'")]
        )
    for key in data:
        if key not in ("schema", "tables"):
            problems.append(positions.diagnostic((key,), f"unknown key '{key}'", key=True))
    tables: Catalog = {}
    for table, columns in data["tables"].items():
        if not isinstance(columns, dict):
            problems.append(
                positions.diagnostic(
                    ("tables", table), f"table '{table}' must map column names to types"
                )
            )
            continue
        tables[table] = {}
        for column, type_text in columns.items():
            if not isinstance(type_text, str):
                problems.append(
                    positions.diagnostic(
                        ("tables", table, column),
                        f"type of {table}.{column} must be text such as bigint or varchar(255)",
                    )
                )
                continue
            tables[table][column] = type_text
    if problems:
        raise SpecError(problems)
    return LoadedCatalog(str(data.get("schema") or ""), tables, positions)


def dump_catalog(schema: str, tables: Mapping[str, Mapping[str, str]]) -> str:
    """Catalog YAML text for ``tables`` (order kept), as ``load_catalog`` reads it back."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # one column per line, never wrapped
    out = io.StringIO()
    out.write(f"# Written by cdcgen introspect: column types of schema {schema}.\n")
    yaml.dump({"schema": schema, "tables": {t: dict(cols) for t, cols in tables.items()}}, out)
    return out.getvalue()

"""Shared hypothesis strategies: random valid specs, rendered as YAML text.

A generated spec is plain data (``dict``) shaped like ``mappings/*.yml``:

- sources ``s0 .. sN`` (2-5), each with a key of one or two columns, an
  ``updated_at``, a few typed attribute columns, and a foreign key to every
  later source (``s3_id``, plus ``s3_part`` when s3's key is composite), so
  lookup chains ``s0 -> s1 -> s3`` always exist;
- every delete mode and both staging modes;
- facts over a grain source with chained joins on the joined source's whole
  key, an optional ``exists`` and ``where``, and columns that are plain
  references or expressions (concatenation, COALESCE, CASE, arithmetic);
- optionally an SCD2 dimension with history columns.

``render_yaml`` writes one scalar per line (strings double-quoted), so a test
can find the line of any node by its text.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

ATTRIBUTE_TYPES = (
    "varchar(20)",
    "varchar(255)",
    "char(2)",
    "integer",
    "smallint",
    "bigint",
    "numeric(12,2)",
    "boolean",
    "date",
    "timestamp",
)
NUMBERS = ("integer", "smallint", "bigint", "numeric(12,2)")
TEXTS = ("varchar(20)", "varchar(255)", "char(2)")


@st.composite
def source_specs(draw: st.DrawFn, index: int, count: int) -> dict[str, Any]:
    composite = draw(st.booleans())
    columns: dict[str, str] = {"id": "bigint"}
    if composite:
        columns["part"] = draw(st.sampled_from(["integer", "char(2)"]))
    for n in range(draw(st.integers(1, 4))):
        columns[f"a{n}"] = draw(st.sampled_from(ATTRIBUTE_TYPES))
    columns["updated_at"] = draw(st.sampled_from(["timestamp", "timestamptz", "bigint"]))
    source: dict[str, Any] = {
        "key": ["id", "part"] if composite else ["id"],
        "updated_at": "updated_at",
    }
    mode = draw(st.sampled_from(["window", "append"]))
    deletes = draw(
        st.sampled_from(["none", "when", "op_column"] + (["snapshot"] if mode == "window" else []))
    )
    if deletes == "when":
        columns["deleted_at"] = "timestamp"
        source["deletes"] = {
            "when": draw(
                st.sampled_from(["deleted_at IS NOT NULL", f"s{index}.deleted_at IS NOT NULL"])
            )
        }
    elif deletes == "op_column":
        columns["op"] = "char(1)"
        source["deletes"] = {"op_column": "op"}
    elif deletes == "snapshot":
        source["deletes"] = {"snapshot": "full"}
    if mode == "append":
        source["mode"] = "append"
        if draw(st.booleans()):
            columns["loaded_at"] = "timestamp"
            source["loaded_at"] = "loaded_at"
    if draw(st.booleans()):
        source["checks"] = {"id_positive": "id > 0"}
    source["columns"] = columns
    return source


def _add_foreign_keys(sources: dict[str, dict[str, Any]]) -> None:
    """Give every source a reference to the key of each later source."""
    names = list(sources)
    for i, name in enumerate(names):
        for later in names[i + 1 :]:
            target = sources[later]
            sources[name]["columns"][f"{later}_id"] = "bigint"
            if "part" in target["key"]:
                sources[name]["columns"][f"{later}_part"] = target["columns"]["part"]


def _join_on(alias: str, source: dict[str, Any], via: str) -> str:
    """Equate ``alias``'s whole key with the foreign key held by ``via``."""
    parts = [f"{alias}.{k} = {via}.{alias}_{k}" for k in source["key"]]
    return " AND ".join(parts)


def _attributes(source: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c, t) for c, t in source["columns"].items() if c.startswith("a")]


@st.composite
def fact_specs(draw: st.DrawFn, sources: dict[str, dict[str, Any]], grain: str) -> dict[str, Any]:
    names = list(sources)
    later = names[names.index(grain) + 1 :]
    joined = sorted(
        draw(st.lists(st.sampled_from(later), unique=True, max_size=len(later))) if later else [],
        key=names.index,
    )
    joins = []
    aliases = [grain]
    for name in joined:
        # Any earlier alias holds a foreign key to a later source: chains form naturally.
        via = draw(st.sampled_from(aliases))
        joins.append({"source": name, "on": _join_on(name, sources[name], via)})
        aliases.append(name)
    fact: dict[str, Any] = {"key": [f"k_{k}" for k in sources[grain]["key"]], "from": grain}
    if draw(st.booleans()):
        fact["where"] = draw(
            st.sampled_from(
                [
                    f"{grain}.id > 0",
                    f"{grain}.updated_at IS NOT NULL",
                    f"{grain}.id IN (1, 2, 3) OR {grain}.id > 10",
                ]
            )
        )
    not_joined = [n for n in later if n not in joined]
    if not_joined and draw(st.booleans()):
        other = draw(st.sampled_from(not_joined))
        fact["exists"] = [
            {"source": other, "on": f"{_join_on(other, sources[other], grain)} AND {other}.id > 0"}
        ]
    if joins:
        fact["join"] = joins
    columns: dict[str, Any] = {f"k_{k}": f"{grain}.{k}" for k in sources[grain]["key"]}
    for alias in aliases:
        for column, type_ in _attributes(sources[alias]):
            if draw(st.booleans()):
                columns[f"{alias}_{column}"] = f"{alias}.{column}"
            if type_ in TEXTS and draw(st.booleans()):
                columns[f"{alias}_{column}_label"] = draw(
                    st.sampled_from(
                        [
                            f"{alias}.{column} || ' / ' || COALESCE({alias}.{column}, '?')",
                            f"UPPER({alias}.{column})",
                            f"CASE WHEN {alias}.{column} IS NULL THEN 'none' ELSE {alias}.{column} END",
                        ]
                    )
                )
            if type_ in NUMBERS and draw(st.booleans()):
                columns[f"{alias}_{column}_calc"] = f"COALESCE({alias}.{column}, 0) + 1"
            # Redshift has no boolean -> varchar cast (REDSHIFT.md): only other types are cast.
            if type_ != "boolean" and draw(st.booleans()):
                columns[f"{alias}_{column}_text"] = {
                    "expr": f"CAST({alias}.{column} AS varchar(40))",
                    "type": "varchar(40)",
                }
    fact["columns"] = columns
    if draw(st.booleans()):
        fact["redshift"] = {"distkey": "k_id", "sortkey": list(fact["key"])}
    return fact


@st.composite
def spec_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid spec as plain data."""
    count = draw(st.integers(2, 5))
    sources = {f"s{i}": draw(source_specs(i, count)) for i in range(count)}
    _add_foreign_keys(sources)
    facts = {}
    for n in range(draw(st.integers(1, 2))):
        grain = draw(st.sampled_from(list(sources)[:-1]))
        facts[f"fact_{n}"] = draw(fact_specs(sources, grain))
    doc: dict[str, Any] = {"pipeline": "generated", "sources": sources, "facts": facts}
    if draw(st.booleans()):
        grain = draw(st.sampled_from(list(sources)))
        attributes = [c for c, _ in _attributes(sources[grain])]
        columns = {"member_id": f"{grain}.id"} | {c: f"{grain}.{c}" for c in attributes}
        if "part" in sources[grain]["key"]:
            columns["member_part"] = f"{grain}.part"
        doc["dimensions"] = {
            "dim_member": {
                "key": [k for k in ("member_id", "member_part") if k in columns],
                "from": grain,
                "columns": columns,
                "history": draw(st.lists(st.sampled_from(attributes), unique=True)),
            }
        }
    if draw(st.booleans()):
        doc["schedule"] = {
            "cron": draw(
                st.sampled_from(
                    ["cron(0/30 * * * ? *)", "rate(15 minutes)", "cron(0 2 ? * MON-FRI *)"]
                )
            )
        }
    if draw(st.booleans()):
        doc["freshness"] = {"warn_after": "45m", "error_after": "2h"}
    return doc


def render_yaml(doc: Any, indent: int = 0) -> str:
    """Block-style YAML with one scalar per line; strings double-quoted (JSON escapes are YAML)."""
    return "\n".join(_render_lines(doc, indent)) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(str(value))


def _render_lines(node: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{key}:")
                lines.extend(_render_lines(value, indent + 2))
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"{pad}{key}:")
                for item in value:
                    item_lines = _render_lines(item, indent + 4)
                    lines.append(f"{pad}  - {item_lines[0].lstrip()}")
                    lines.extend(item_lines[1:])
            elif isinstance(value, list):
                lines.append(f"{pad}{key}: [{', '.join(_scalar(v) for v in value)}]")
            elif isinstance(value, dict):
                lines.append(f"{pad}{key}: {{}}")
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines

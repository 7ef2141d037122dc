"""Read a spec file into plain data plus the position of every YAML node.

ruamel.yaml keeps line/column for each mapping key and value; we flatten them
into ``{path: (line, col)}`` so any later stage can point at the node it is
unhappy with, by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cdcgen.errors import Diagnostic, SpecError, shown
from cdcgen.spec import yamlread
from cdcgen.spec.model import Spec

PathT = tuple[str | int, ...]
#: (text of a scalar, 0-based character offset inside it)
Inside = tuple[str, int]


@dataclass(frozen=True)
class Positions:
    """1-based (line, col) of YAML nodes by path; ``key`` positions point at the key."""

    file: str
    values: dict[PathT, tuple[int, int]]
    keys: dict[PathT, tuple[int, int]]
    #: The file's lines, to point inside a scalar (see ``inside`` in ``at``).
    lines: tuple[str, ...] = ()

    def at(
        self, path: PathT, *, key: bool = False, inside: Inside | None = None
    ) -> tuple[int, int]:
        """Position of the node at ``path``, or of its nearest located ancestor.

        ``inside`` = (scalar text, 0-based offset) moves the column to that
        character of the scalar at ``path`` (e.g. the unknown column inside an
        expression) when the file shows the text verbatim on the scalar's first
        line; otherwise the scalar's start is the best honest answer.
        """
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                line, col = table[probe]
                if inside is not None and not key and probe == tuple(path):
                    return line, self._column_inside(line, col, inside)
                return line, col
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return (1, 1)

    def _column_inside(self, line: int, col: int, inside: Inside) -> int:
        scalar, offset = inside
        if not 1 <= line <= len(self.lines) or not 0 <= offset < len(scalar):
            return col
        text = self.lines[line - 1]
        start = col - 1
        if text[start : start + 1] in ("'", '"'):
            start += 1  # a quoted scalar's content starts after its quote
        # Escapes, folding and block scalars change the text between file and
        # value: only trust the offset when everything up to it reads the same.
        if text[start : start + offset + 1] != scalar[: offset + 1]:
            return col
        return start + offset + 1

    def diagnostic(
        self, path: PathT, message: str, *, key: bool = False, inside: Inside | None = None
    ) -> Diagnostic:
        line, col = self.at(path, key=key, inside=inside)
        return Diagnostic(self.file, line, col, message, tuple(path))


@dataclass(frozen=True)
class LoadedSpec:
    """A spec that passed the shape checks, with the positions of its nodes."""

    spec: Spec
    data: Any
    positions: Positions

    @property
    def file(self) -> str:
        return self.positions.file


def parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse YAML text into plain data; every problem (syntax, tags, anchors, depth,
    size) becomes a located diagnostic (see ``cdcgen.spec.yamlread``)."""
    parsed = yamlread.parse(text, file)
    return parsed.data, Positions(file, parsed.values, parsed.keys, parsed.lines)


def read_yaml_file(path: str | Path) -> tuple[Any, Positions]:
    """A YAML file as plain data with positions; unreadable bytes are located errors too."""
    return parse_yaml(yamlread.read_text(path), str(path))


def _describe(value: Any) -> str:
    """A value as a user would recognise it in their YAML."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(value)


def _pydantic_message(err: dict[str, Any]) -> str:
    kind = err["type"]
    path, _ = _error_path(tuple(err["loc"]))
    name = str(path[-1]) if path else "spec"
    given = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key '{name}'"
    if kind == "missing":
        return f"missing required key '{name}'"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if "smhd" in pattern:
            return f"'{name}' must be a duration such as 45m, 2h or 1d, got {shown(given)}"
        if "cron" in pattern:
            return f"'{name}' must be cron(...) or rate(...), got {shown(given)}"
        suggestion = _identifier_like(str(given))
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        return (
            f"{shown(given)} is not a plain lowercase identifier "
            f"(letters a-z, digits, underscores; not starting with a digit){hint}"
        )
    if kind == "string_too_long":
        return f"{shown(given)} is longer than Redshift's 127-character limit for names"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{name}' must be one of {expected}, got {shown(given)}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("too_short", "string_too_short"):
        return f"'{name}' must not be empty"
    if kind in ("tuple_type", "list_type"):
        return f"'{name}' must be a list such as [{name}_1], got {_describe(given)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"'{name}' must be a mapping (key: value lines), got {_describe(given)}"
    if kind == "string_type":
        return f"'{name}' must be text, got {_describe(given)}"
    return f"'{name}': {err['msg']}"


def _identifier_like(text: str) -> str | None:
    """The plain identifier a user probably meant (``Vendor-Name`` -> ``vendor_name``)."""
    candidate = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_")
    if candidate and not candidate[0].isdigit() and candidate != text:
        return candidate
    return None


#: pydantic labels the branches of ``ColumnValue = SqlExpr | ColumnDef`` with these loc parts.
_UNION_TAGS = ("constrained-str", "str", "ColumnDef")


def _error_path(loc: tuple[Any, ...]) -> tuple[PathT, bool]:
    """Map a pydantic error location to (YAML path, whether it is about a mapping key)."""
    path: list[str | int] = []
    on_key = False
    for part in loc:
        if part == "[key]":
            on_key = True  # the key itself is wrong (e.g. a column name), not its value
            continue
        if isinstance(part, str) and ("[" in part or part in _UNION_TAGS):
            continue  # pydantic's union branch labels are not YAML nodes
        if isinstance(part, str) and part.endswith("_") and part[:-1] in ("from", "as"):
            part = part[:-1]
        path.append(part)
    return tuple(path), on_key


def _column_value_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace pydantic's two-branch union report for a column value by the branch meant.

    A target column is an expression string or ``{expr, type}``. pydantic reports
    a failure against both branches; the user wrote one of them, so only the
    errors of that branch (or one plain message) help.
    """
    kept: list[dict[str, Any]] = []
    by_value: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        tags = [i for i, part in enumerate(loc) if part in _UNION_TAGS]
        if not tags:
            kept.append(err)
            continue
        by_value.setdefault(loc[: tags[0]], []).append(err)
    for value_loc, branch_errors in by_value.items():
        given = branch_errors[0].get("input")
        if isinstance(given, dict):
            for err in branch_errors:
                if "ColumnDef" not in err["loc"]:
                    continue
                if err["type"] == "missing":
                    err = {
                        **err,
                        "type": "column_value",
                        "loc": value_loc,
                        "msg": (
                            f"column '{value_loc[-1]}' gives {{expr, type}} without "
                            f"'{err['loc'][-1]}': give both, or write the expression alone as text"
                        ),
                    }
                kept.append(err)
        elif isinstance(given, str):
            kept.extend(e for e in branch_errors if "ColumnDef" not in e["loc"])
        else:
            kept.append(
                {
                    "type": "column_value",
                    "loc": value_loc,
                    "msg": (
                        f"column '{value_loc[-1]}' must be an SQL expression (text) or "
                        f"{{expr: ..., type: ...}}, got {_describe(given)}"
                    ),
                    "input": given,
                }
            )
    return kept


#: What YAML leaves of ``numeric(12,2)`` written inside ``{...}``: the comma ends
#: the entry, so ``2)`` becomes a key of its own with no value.
_SPLIT_TAIL = re.compile(r"^\s*[0-9]+\s*\)$")


def _flow_split_types(node: Any, path: PathT = ()) -> Iterator[tuple[PathT, PathT]]:
    """(path of the cut type, path of the stray key) for types cut in two at a comma."""
    if isinstance(node, dict):
        previous: tuple[str, Any] | None = None
        for key, value in node.items():
            if (
                previous is not None
                and value is None
                and _SPLIT_TAIL.match(str(key))
                and isinstance(previous[1], str)
                and re.search(r"\(\s*[0-9]+$", previous[1])
            ):
                yield (*path, previous[0]), (*path, key)
            previous = (key, value)
            yield from _flow_split_types(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _flow_split_types(item, (*path, i))


def load_spec_text(text: str, file: str) -> LoadedSpec:
    """Parse and shape-check a spec; raise SpecError with every problem found."""
    data, positions = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError([Diagnostic(file, 1, 1, "a spec must be a YAML mapping")])
    diagnostics: list[Diagnostic] = []
    stray_keys: list[PathT] = []
    for cut, stray in _flow_split_types(data):
        stray_keys.append(stray)
        diagnostics.append(
            positions.diagnostic(
                cut,
                f"YAML cut this type at the comma: inside {{...}} write it quoted, "
                f"e.g. '{data_at(data, cut)},{str(stray[-1]).strip()}'",
            )
        )
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        seen = set()
        for err in _column_value_errors([dict(e) for e in exc.errors()]):
            path, on_key = _error_path(tuple(err["loc"]))
            if any(path[: len(stray)] == stray for stray in stray_keys):
                continue  # explained by the cut-type diagnostic
            message = err["msg"] if err["type"] == "column_value" else _pydantic_message(err)
            if err["type"] == "missing":
                # Point at the mapping that lacks the key, not at its first child.
                path, on_key = path[:-1], True
            on_key = on_key or err["type"] == "extra_forbidden"
            diag = positions.diagnostic(path, message, key=on_key)
            if (diag.line, diag.col, diag.message) not in seen:
                seen.add((diag.line, diag.col, diag.message))
                diagnostics.append(diag)
        raise SpecError(diagnostics) from None
    if diagnostics:
        raise SpecError(diagnostics)
    return LoadedSpec(spec, data, positions)


def data_at(data: Any, path: PathT) -> Any:
    """The plain value at ``path`` in loaded YAML data."""
    for part in path:
        data = data[part]
    return data


def load_spec(path: str | Path) -> LoadedSpec:
    """Load a spec file (shape only; see ``cdcgen.validate`` for the full rules)."""
    return load_spec_text(yamlread.read_text(path), str(path))

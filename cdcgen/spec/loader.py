"""Read a spec file into plain data plus the position of every YAML node.

ruamel.yaml keeps line/column for each mapping key and value; we flatten them
into ``{path: (line, col)}`` so any later stage can point at the node it is
unhappy with, by path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from cdcgen.errors import Diagnostic, SpecError
from cdcgen.spec.model import Spec

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """1-based (line, col) of YAML nodes by path; ``key`` positions point at the key."""

    file: str
    values: dict[PathT, tuple[int, int]]
    keys: dict[PathT, tuple[int, int]]

    def at(self, path: PathT, *, key: bool = False) -> tuple[int, int]:
        """Position of the node at ``path``, or of its nearest located ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return (1, 1)

    def diagnostic(self, path: PathT, message: str, *, key: bool = False) -> Diagnostic:
        line, col = self.at(path, key=key)
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


def _walk(node: Any, path: PathT) -> Iterator[tuple[PathT, tuple[int, int], tuple[int, int] | None]]:
    """Yield (path, value position, key position) for every child node."""
    if isinstance(node, CommentedMap):
        for k in node:
            kline, kcol, vline, vcol = node.lc.key(k) + node.lc.value(k)
            child = (*path, str(k))
            yield child, (vline + 1, vcol + 1), (kline + 1, kcol + 1)
            yield from _walk(node[k], child)
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            line, col = node.lc.item(i)
            child = (*path, i)
            yield child, (line + 1, col + 1), None
            yield from _walk(item, child)


def _to_plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_to_plain(v) for v in node]
    return node


def parse_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse YAML text; syntax errors become located diagnostics."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Diagnostic(file, line, col, f"invalid YAML: {problem}")]) from None
    values: dict[PathT, tuple[int, int]] = {(): (1, 1)}
    keys: dict[PathT, tuple[int, int]] = {}
    for path, vpos, kpos in _walk(root, ()):
        values[path] = vpos
        if kpos is not None:
            keys[path] = kpos
    return _to_plain(root), Positions(file, values, keys)


def _pydantic_message(err: dict[str, Any]) -> str:
    kind = err["type"]
    loc = err["loc"]
    name = str(loc[-1]) if loc else "spec"
    if kind == "extra_forbidden":
        return f"unknown key '{name}'"
    if kind == "missing":
        return f"missing required key '{name}'"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if "smhd" in pattern:
            return f"'{name}' must be a duration such as 45m, 2h or 1d, got {err['input']!r}"
        if "cron" in pattern:
            return f"'{name}' must be cron(...) or rate(...), got {err['input']!r}"
        return f"'{err['input']}' is not a plain lowercase identifier ([a-z_][a-z0-9_]*)"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"'{name}' must be one of {expected}, got {err['input']!r}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("too_short",) and isinstance(err.get("input"), list | dict | tuple):
        return f"'{name}' must not be empty"
    return f"'{name}': {err['msg']}"


def _error_path(loc: tuple[Any, ...]) -> tuple[PathT, bool]:
    """Map a pydantic error location to a YAML path (dropping union tags)."""
    path: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in ("str", "ColumnDef")):
            continue  # pydantic's union branch labels are not YAML nodes
        if isinstance(part, str) and part.endswith("_") and part[:-1] in ("from", "as"):
            part = part[:-1]
        path.append(part)
    return tuple(path), False


def load_spec_text(text: str, file: str) -> LoadedSpec:
    """Parse and shape-check a spec; raise SpecError with every problem found."""
    data, positions = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError([Diagnostic(file, 1, 1, "a spec must be a YAML mapping")])
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        diagnostics = []
        seen = set()
        for err in exc.errors():
            path, _ = _error_path(tuple(err["loc"]))
            on_key = err["type"] in ("extra_forbidden",)
            diag = positions.diagnostic(path, _pydantic_message(dict(err)), key=on_key)
            if (diag.line, diag.col, diag.message) not in seen:
                seen.add((diag.line, diag.col, diag.message))
                diagnostics.append(diag)
        raise SpecError(diagnostics) from None
    return LoadedSpec(spec, data, positions)


def load_spec(path: str | Path) -> LoadedSpec:
    """Load a spec file (shape only; see ``cdcgen.validate`` for the full rules)."""
    p = Path(path)
    return load_spec_text(p.read_text(encoding="utf-8"), str(path))

"""Read a YAML file that may be hostile: fast, linear, bounded, every refusal located.

Specs and catalogs are plain data, so this reader builds plain ``dict``/``list``/scalars
(and the ``(line, col)`` of every node) from the parser's *events*, one pass, without
recursion, and refuses what plain data never needs:

- bytes that are not UTF-8, NUL and other control characters;
- tags (``!!python/object/apply:…``, ``!custom``): only ``!!str``, ``!!map``, ``!!seq``;
- anchors and aliases (``&name``, ``*name``): refused outright rather than bounded, so
  an alias bomb cannot expand, and a spec reads the same top to bottom;
- nesting deeper than :data:`MAX_DEPTH`, a value longer than :data:`MAX_SCALAR_CHARS`,
  duplicate keys, keys that are not scalars, more than one document.

The events come from PyYAML's libyaml binding when it is installed (about 40 times
faster than the pure-Python round-trip parser, which took minutes on a 5 MB spec);
scalars are resolved with ruamel's YAML 1.2 rules, as before (``on``, ``yes`` stay text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

from cdcgen.errors import Diagnostic, SpecError, shown

PathT = tuple[str | int, ...]
Position = tuple[int, int]

#: Deeper than any spec needs (about 6), shallow enough for every recursive later stage.
MAX_DEPTH = 64
#: Longer than any sensible expression, short enough for the SQL parser to stay fast.
MAX_SCALAR_CHARS = 100_000

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: ruamel's YAML 1.2 scalar rules: the same values as the round-trip loader used before.
_RUAMEL = YAML(typ="safe", pure=True)
_RESOLVER = _RUAMEL.resolver
_CONSTRUCTOR = _RUAMEL.constructor
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "!",  # the non-specific tag of quoted scalars
}
#: First characters of YAML 1.2 nulls, booleans, numbers and timestamps.
_MAY_NOT_BE_TEXT = frozenset("0123456789+-.~nNtTfF")
#: Characters YAML forbids (c-printable), NUL included; tabs and line breaks are fine.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class Parsed:
    data: Any
    values: dict[PathT, Position]
    keys: dict[PathT, Position]
    lines: tuple[str, ...] = field(default=())


def read_text(path: str | Path, file: str | None = None) -> str:
    """A file's text; not UTF-8, unreadable or holding a NUL: one located SpecError."""
    name = file if file is not None else str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(raw, exc.start)
        message = (
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded "
            "(is this a binary file? save specs as UTF-8)"
        )
        raise SpecError([Diagnostic(name, line, col, message)]) from None


def parse(text: str, file: str) -> Parsed:
    """Plain data and node positions from YAML text, or SpecError with located problems."""
    refuse_control_characters(text, file)
    builder = _Builder(file)
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Diagnostic(file, line, col, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error without a mark
        raise SpecError([Diagnostic(file, 1, 1, f"invalid YAML: {exc}")]) from None
    except _Fatal:
        pass
    if builder.problems:
        raise SpecError(builder.finish())
    return Parsed(builder.root, builder.values, builder.keys, tuple(text.split("\n")))


# --------------------------------------------------------------------------- internals


class _Fatal(Exception):
    """Stop reading: the builder recorded why in ``problems``."""


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: PathT
    #: for a mapping: the key read and waiting for its value, with its position
    pending_key: tuple[str, Position] | None = None
    #: positions of the keys read so far, to locate duplicates
    key_lines: dict[str, Position] = field(default_factory=dict)


class _Builder:
    """Consumes parser events; builds data and positions with an explicit stack."""

    def __init__(self, file: str):
        self.file = file
        self.root: Any = None
        self.stack: list[_Frame] = []
        self.values: dict[PathT, Position] = {(): (1, 1)}
        self.keys: dict[PathT, Position] = {}
        self.problems: list[Diagnostic] = []
        #: kind -> [index of its diagnostic, uses]
        self.seen: dict[str, list[int]] = {}
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self._fatal(
                    event, "invalid YAML: a spec is one YAML document (found a second '---')"
                )
        elif isinstance(event, yaml.AliasEvent):
            self._once("alias", event, f"*{event.anchor}")
            self._add(None, event, placeholder=True)
        elif isinstance(event, yaml.ScalarEvent):
            self._check_node(event)
            self._add(self._scalar(event), event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._check_node(event)
            if len(self.stack) >= MAX_DEPTH:
                self._fatal(
                    event, f"nesting deeper than {MAX_DEPTH} levels: a spec is never this deep"
                )
            container: dict[str, Any] | list[Any] = (
                {} if isinstance(event, yaml.MappingStartEvent) else []
            )
            path = self._add(container, event)
            self.stack.append(_Frame(container, path if path is not None else ()))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self.stack.pop()

    def _add(self, value: Any, event: yaml.Event, *, placeholder: bool = False) -> PathT | None:
        """Place a node; returns its path (None for a key, which is no node of its own)."""
        at = (event.start_mark.line + 1, event.start_mark.column + 1)
        if not self.stack:
            self.root = value
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            path = (*frame.path, len(frame.container))
            frame.container.append(value)
            self.values[path] = at
            return path
        if frame.pending_key is None:
            self._add_key(frame, value, event, at, placeholder)
            return None
        key, key_at = frame.pending_key
        frame.pending_key = None
        path = (*frame.path, key)
        frame.container[key] = value
        self.values[path] = at
        self.keys[path] = key_at
        return path

    def _add_key(
        self, frame: _Frame, value: Any, event: yaml.Event, at: Position, placeholder: bool
    ) -> None:
        if not isinstance(event, yaml.ScalarEvent) and not placeholder:
            self._fatal(event, "a mapping key must be plain text, not a list or a mapping")
        key = str(value)
        if key in frame.key_lines:
            first_line, _ = frame.key_lines[key]
            self._problem(event, f"duplicate key {shown(key)} (first given on line {first_line})")
            key = f"{key}\x00duplicate{len(frame.key_lines)}"  # keep reading; never a real key
        frame.key_lines[key] = at
        frame.pending_key = (key, at)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        value = event.value
        if len(value) > MAX_SCALAR_CHARS:
            self._problem(
                event,
                f"{shown(value)} is longer than the {MAX_SCALAR_CHARS:,} characters cdcgen "
                "accepts in one value",
            )
            return value[:80]
        plain, _ = event.implicit
        if event.tag == "tag:yaml.org,2002:str" or not plain or event.style:
            return value
        if value and value[0] not in _MAY_NOT_BE_TEXT:
            return value  # most scalars are words: skip the resolver's regexes
        resolved = _RESOLVER.resolve(ScalarNode, value, (True, False))
        tag = str(resolved)
        if tag.endswith(":null"):
            return None
        if tag.endswith(":bool"):
            return value.lower() == "true"
        if tag.endswith((":int", ":float", ":timestamp")):
            kind = tag.rsplit(":", 1)[-1]
            node = ScalarNode(resolved, value)
            return getattr(_CONSTRUCTOR, f"construct_yaml_{kind}")(node)
        return value

    def _check_node(self, event: yaml.NodeEvent) -> None:
        if event.anchor is not None:
            self._once("alias", event, f"&{event.anchor}")
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _ALLOWED_TAGS:
            self._once("tag", event, _short_tag(tag))

    def _once(self, kind: str, event: yaml.Event, what: str) -> None:
        """One diagnostic per kind and file, at the first use; later uses are counted."""
        if kind in self.seen:
            self.seen[kind][1] += 1
            return
        self.seen[kind] = [len(self.problems), 1]
        self._problem(event, _ONCE_MESSAGES[kind].format(what=what))

    def finish(self) -> list[Diagnostic]:
        """The problems, each once-per-file one saying how often it occurs."""
        problems = list(self.problems)
        for index, count in self.seen.values():
            problems[index] = _with_count(problems[index], count)
        return problems

    def _problem(self, event: yaml.Event, message: str) -> None:
        mark = event.start_mark
        self.problems.append(Diagnostic(self.file, mark.line + 1, mark.column + 1, message))

    def _fatal(self, event: yaml.Event, message: str) -> None:
        self._problem(event, message)
        raise _Fatal


_ONCE_MESSAGES = {
    "alias": "YAML anchors and aliases ({what}) are not supported: write the value out",
    "tag": "YAML tags ({what}) are not supported: a spec is plain data",
}


def _with_count(diagnostic: Diagnostic, count: int) -> Diagnostic:
    if count <= 1:
        return diagnostic
    return replace(diagnostic, message=f"{diagnostic.message} ({count:,} uses in this file)")


def _short_tag(tag: str) -> str:
    text = tag.replace("tag:yaml.org,2002:", "!!")
    return text if len(text) <= 60 else text[:60] + "…"


def refuse_control_characters(text: str, file: str) -> None:
    bad = _NOT_PRINTABLE.search(text)
    if bad is None:
        return
    line = text.count("\n", 0, bad.start()) + 1
    col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
    char = bad.group()
    what = "a NUL character" if char == "\x00" else f"the control character U+{ord(char):04X}"
    raise SpecError(
        [Diagnostic(file, line, col, f"{what} is not allowed here (is this a binary file?)")]
    )


def _byte_position(raw: bytes, offset: int) -> Position:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    col = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, col

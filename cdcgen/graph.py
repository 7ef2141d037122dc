"""The lineage of a spec as a Mermaid flowchart: sources on the left, targets on the right.

Edges say how a source is read: ``from`` (the grain: one target row per source row),
``join`` (a many-to-one lookup) or ``exists`` (a qualification, drawn dotted because it
contributes no columns). GitHub and most Markdown viewers render the output as is.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdcgen.spec.model import Dimension, Fact, Spec

_STYLES = (
    "  classDef source fill:#eef6ff,stroke:#4a7bb7",
    "  classDef fact fill:#fff4e0,stroke:#c08a2b",
    "  classDef dimension fill:#eef9ee,stroke:#4f9a4f",
)


def mermaid(spec: Spec | Iterable[Spec]) -> str:
    """``flowchart LR`` of one spec, or of several merged (a shared source is one node)."""
    specs = [spec] if isinstance(spec, Spec) else list(spec)
    nodes: dict[str, str] = {}
    edges: list[str] = []
    for one in specs:
        for name in one.sources:
            nodes.setdefault(_source_id(name), f"  {_source_id(name)}[({name})]:::source")
        for name, target in one.targets().items():
            kind = "fact" if isinstance(target, Fact) else "dimension"
            # Facts are boxes, dimensions are stadiums: tell them apart without colour.
            shape = f"[{name}]" if kind == "fact" else f"([{name}])"
            nodes.setdefault(_target_id(name), f"  {_target_id(name)}{shape}:::{kind}")
            edges.extend(_edges(name, target))
    lines = ["flowchart LR", *nodes.values(), *dict.fromkeys(edges), *_STYLES]
    return "\n".join(lines) + "\n"


def _edges(name: str, target: Fact | Dimension) -> list[str]:
    into = _target_id(name)
    edges = [f"  {_source_id(target.from_)} -->|from| {into}"]
    for join in target.join:
        edges.append(
            f"  {_source_id(join.source)} -->|{_label('join', join.source, join.alias)}| {into}"
        )
    for exists in getattr(target, "exists", ()):
        label = _label("exists", exists.source, exists.alias)
        edges.append(f"  {_source_id(exists.source)} -.->|{label}| {into}")
    for lookup in getattr(target, "as_of", ()):
        # a point-in-time lookup reads another target: the dimension's versions
        at = lookup.at.rsplit(".", 1)[-1]
        edges.append(f"  {_target_id(lookup.dimension)} -->|as of {at}| {into}")
    return edges


def _label(kind: str, source: str, alias: str) -> str:
    # The same source joined twice (e.g. buyer and seller) needs the alias to be told apart.
    return kind if alias == source else f"{kind} as {alias}"


# Prefixes keep a source and a target of the same name apart; names are plain
# identifiers, which are valid Mermaid node ids.
def _source_id(name: str) -> str:
    return f"src_{name}"


def _target_id(name: str) -> str:
    return f"tgt_{name}"

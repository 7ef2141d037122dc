"""What the benchmark needs to know about the vendor pipeline: its PostgreSQL build
(tables, columns, procedures) and its spec (source rules, fact definitions)."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from cdcgen.demo.runner import demo_build
from cdcgen.deploy.manifest import Manifest
from cdcgen.render.build import render_pipeline
from cdcgen.spec.model import Fact, Source, Spec
from cdcgen.validate import validate_file

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "mappings" / "vendor.yml"


@dataclass(frozen=True)
class Pipeline:
    manifest: Manifest
    spec: Spec
    #: the procedures of the same spec per lean ``audit`` mode (``keys``, ``changed``):
    #: same tables, leaner row images
    lean_procedures: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, stack: ExitStack) -> Pipeline:
        """The vendor spec and its PostgreSQL build (the committed one when current)."""
        lean = {audit: lean_procedures(stack, audit) for audit in ("keys", "changed")}
        return cls(demo_build(SPEC, stack), validate_file(SPEC).spec, lean)

    def columns(self, table: str) -> list[str]:
        obj = next(o for o in self.manifest.objects if o.name == table)
        return [name for name, _ in obj.columns]

    def staging_types(self) -> dict[str, dict[str, str]]:
        by_table = {o.name: dict(o.columns) for o in self.manifest.objects}
        return {s.name: by_table[s.staging] for s in self.manifest.sources}

    @property
    def sources(self) -> list[tuple[str, Source, str, str]]:
        """``(name, rule, staging table, baseline table)`` per source."""
        return [
            (s.name, self.spec.sources[s.name], s.staging, s.baseline)
            for s in self.manifest.sources
        ]

    @property
    def facts(self) -> list[tuple[str, Fact, str, str]]:
        """``(name, definition, table, key column)`` per fact (dimensions excluded)."""
        out = []
        for target in self.manifest.targets:
            if target.kind == "fact":
                (key,) = target.key
                out.append((target.name, self.spec.facts[target.name], target.table, key))
        return out

    def full_view(self, fact: str) -> str:
        return f"{self.manifest.cdc_schema}.{fact}__full"

    def baseline(self, source: str) -> str:
        return next(s.baseline for s in self.manifest.sources if s.name == source)

    def staging(self, source: str) -> str:
        return next(s.staging for s in self.manifest.sources if s.name == source)


def lean_procedures(stack: ExitStack, audit: str) -> tuple[str, ...]:
    """The vendor spec's PostgreSQL procedures with ``audit: <audit>`` added."""
    text = SPEC.read_text(encoding="utf-8")
    lean = text.replace("\npipeline: vendor\n", f"\npipeline: vendor\naudit: {audit}\n", 1)
    assert lean != text, "mappings/vendor.yml has no 'pipeline: vendor' line"
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    spec = directory / SPEC.name
    spec.write_text(lean, encoding="utf-8")
    files = render_pipeline(validate_file(spec))["postgres"]
    return tuple(files[f] for f in sorted(files) if f.startswith("060_procedure__"))

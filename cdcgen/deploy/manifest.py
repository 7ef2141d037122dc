"""The build output a deploy reads: ``generated/<pipeline>/<dialect>/manifest.json`` and
the ``.sql`` files it lists (one object per file, applied in filename order)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdcgen.deploy.errors import BuildNotFound, UnknownTarget

MANIFEST_FILE = "manifest.json"
#: Where ``cdcgen build`` writes and a pipeline name is looked up, unless told otherwise.
DEFAULT_BUILD_DIR = "generated"
#: The environment variable naming that build root (``--build-dir`` on the command line).
BUILD_DIR_ENV = "CDCGEN_BUILD_DIR"
TABLE_KINDS = frozenset({"state_table", "staging_table", "baseline_table", "target_table"})
CODE_KINDS = frozenset({"view", "procedure"})
KINDS = TABLE_KINDS | CODE_KINDS | {"schema", "index", "staging_index"}


@dataclass(frozen=True)
class BuiltObject:
    """One generated object, as the manifest lists it."""

    name: str
    kind: str
    file: str
    sha256: str
    columns: tuple[tuple[str, str], ...] = ()
    key: tuple[str, ...] = ()
    #: statements a table kept by a deploy also takes (``ALTER TABLE … SET STORAGE``)
    storage: tuple[str, ...] = ()

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    @property
    def schema(self) -> str:
        return self.name if self.kind == "schema" else self.name.partition(".")[0]


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # fact | dimension
    table: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    name: str
    staging: str
    baseline: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    directory: Path
    sha256: str  # of manifest.json itself: identifies the build that was deployed
    pipeline: str
    dialect: str
    tool_version: str
    spec_file: str
    spec_sha256: str
    schemas: dict[str, str]
    objects: tuple[BuiltObject, ...]
    targets: tuple[Target, ...]
    sources: tuple[Source, ...]
    procedures: dict[str, str]

    @property
    def cdc_schema(self) -> str:
        return self.schemas.get("cdc", "cdc")

    def sql(self, obj: BuiltObject) -> str:
        return (self.directory / obj.file).read_text(encoding="utf-8")

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none"
        raise UnknownTarget(f"pipeline {self.pipeline} has no target {name!r} (targets: {known})")

    def target_of_table(self, table: str) -> Target | None:
        return next((t for t in self.targets if t.table == table), None)

    def procedure(self, role: str) -> str:
        try:
            return self.procedures[role]
        except KeyError:
            raise BuildNotFound(
                f"{self.directory / MANIFEST_FILE} names no '{role}' procedure; rebuild with cdcgen build"
            ) from None


def load_manifest(directory: str | Path) -> Manifest:
    """Read and check a build directory: every listed file exists and still has the
    checksum the build wrote (a hand-edited file would otherwise deploy silently)."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BuildNotFound(
            f"{path} not found: run `cdcgen build` for this pipeline first"
        ) from None
    try:
        data = json.loads(raw)
        manifest = _manifest_from_json(directory, hashlib.sha256(raw).hexdigest(), data)
    except (ValueError, KeyError, TypeError) as exc:
        raise BuildNotFound(
            f"{path} is not a cdcgen manifest ({exc}); rebuild with cdcgen build"
        ) from None
    _check_files(manifest)
    return manifest


def _manifest_from_json(directory: Path, sha256: str, data: dict[str, Any]) -> Manifest:
    objects = tuple(sorted((_built_object(o) for o in data["objects"]), key=lambda o: o.file))
    unknown = sorted({o.kind for o in objects} - KINDS)
    if unknown:
        raise ValueError(f"unknown object kinds {unknown}")
    return Manifest(
        directory=directory,
        sha256=sha256,
        pipeline=data["pipeline"],
        dialect=data["dialect"],
        tool_version=str(data.get("tool_version", "")),
        spec_file=str(data.get("spec_file", "")),
        spec_sha256=str(data.get("spec_sha256", "")),
        schemas=dict(data.get("schemas", {})),
        objects=objects,
        targets=tuple(
            Target(t["name"], t["kind"], t["table"], tuple(t.get("key", ())))
            for t in data.get("targets", [])
        ),
        sources=tuple(
            Source(s["name"], s["staging"], s["baseline"], tuple(s.get("key", ())))
            for s in data.get("sources", [])
        ),
        procedures=dict(data.get("procedures", {})),
    )


def _built_object(entry: dict[str, Any]) -> BuiltObject:
    return BuiltObject(
        name=entry["name"],
        kind=entry["kind"],
        file=entry["file"],
        sha256=entry["sha256"],
        columns=tuple((str(c), str(t)) for c, t in entry.get("columns") or ()),
        key=tuple(entry.get("key") or ()),
        storage=tuple(entry.get("storage") or ()),
    )


def _check_files(manifest: Manifest) -> None:
    for obj in manifest.objects:
        path = manifest.directory / obj.file
        if not path.is_file():
            raise BuildNotFound(
                f"{path} is listed in the manifest but missing; rebuild with cdcgen build"
            )
        if hashlib.sha256(path.read_bytes()).hexdigest() != obj.sha256:
            raise BuildNotFound(
                f"{path} differs from the checksum in its manifest (edited after the build?); "
                "change the spec and rebuild with cdcgen build instead of editing generated SQL"
            )


def locate_build(
    where: str | Path,
    dialect: str,
    *,
    build_dir: str | Path | None = None,
    root: Path | None = None,
) -> Path:
    """The build directory for ``where``, by one rule whatever ``build -o`` wrote to:

    - an existing directory is a path: ``DIR/<pipeline>/<dialect>`` (it holds
      ``manifest.json``) or ``DIR/<pipeline>`` (its ``<dialect>`` subdirectory is used);
    - anything else is a pipeline name, looked up under the build root:
      ``<build_dir>/<pipeline>/<dialect>``, where ``build_dir`` defaults to ``generated``
      (the CLI fills it from ``--build-dir`` / ``CDCGEN_BUILD_DIR``, as ``build -o`` does).

    Relative paths are taken from ``root`` (default: the working directory). The error
    lists every place that was tried."""
    base = root or Path.cwd()
    path = Path(where)
    if not path.is_absolute():
        path = base / path
    tried = [path / MANIFEST_FILE, path / dialect / MANIFEST_FILE]
    if path.is_dir():
        for candidate in (path, path / dialect):
            if (candidate / MANIFEST_FILE).is_file():
                return candidate
        hint = _pipelines_under(path, dialect)
        raise BuildNotFound(
            f"{where} holds no build: tried {_listed(tried)}"
            + (
                f"; it is a build root holding {', '.join(hint)}: pass {Path(where) / hint[0]}"
                if hint
                else "; run `cdcgen build` first"
            )
        )
    name = str(where)
    build_root = Path(build_dir) if build_dir else Path(DEFAULT_BUILD_DIR)
    if not build_root.is_absolute():
        build_root = base / build_root
    by_name = build_root / name / dialect
    if (by_name / MANIFEST_FILE).is_file():
        return by_name
    if "/" not in name and "\\" not in name:
        tried = [by_name / MANIFEST_FILE]
    else:
        tried.append(by_name / MANIFEST_FILE)
    raise BuildNotFound(
        f"no build for {name!r}: tried {_listed(tried)}; run `cdcgen build` first, pass the "
        f"build directory (DIR/<pipeline> or DIR/<pipeline>/<dialect>), or name the build root "
        f"with --build-dir / {BUILD_DIR_ENV} (default {DEFAULT_BUILD_DIR}/)"
    )


def _pipelines_under(directory: Path, dialect: str) -> list[str]:
    """The pipelines a build root holds (``<directory>/<pipeline>/<dialect>/manifest.json``)."""
    try:
        children = sorted(directory.iterdir())
    except OSError:
        return []
    return [c.name for c in children if (c / dialect / MANIFEST_FILE).is_file()]


def _listed(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)

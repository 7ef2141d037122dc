"""Every identifier the generator derives from spec names must fit both engines.

Redshift allows 127 bytes per identifier [r_names]; PostgreSQL 63
(NAMEDATALEN - 1) and silently truncates longer ones, so two long names that
share their first 63 bytes become one. Since cdcgen renders every object for
both, a derived name must fit in 63 bytes, or deploy fails on one engine (and
the PostgreSQL tests pass on a truncated, possibly colliding, name).

``generated_names`` lists the names the generator builds from a spec, each with
the spec node it comes from. The patterns mirror the naming helpers of
``cdcgen.plan.model`` (``proc``, ``temp``) and ``cdcgen.sql`` (``old``/``chg``,
``__deleted``, ``__changes``, ``__full``, ``_sk``, ``ix_``...);
``tests/test_validate_names.py`` builds a pipeline and checks that every
identifier in the generated SQL that contains a spec name is listed here, so a
new pattern in the generator cannot slip past this check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cdcgen.spec.loader import PathT
from cdcgen.spec.model import Dimension, Fact, Spec
from cdcgen.validate.report import Report

#: PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes.
POSTGRES_MAX = 63
#: Redshift's identifier limit, in bytes [r_names].
REDSHIFT_MAX = 127

#: The procedures of one pipeline: ``PipelinePlan.proc(step)`` (render/objects.py).
PROCEDURE_STEPS = (
    "run",
    "detect",
    "sync_baseline",
    "apply",
    "rebuild",
    "verify",
    "verify_deep",
    "check_freshness",
    "rollback",
    "rollback_to",
    "undo",
)
#: Per-source procedures of a run (``sp_<pipeline>_<step>__<source>``, render/objects.py).
SOURCE_STEPS = ("detect", "sync")
#: Session temp tables per source / per target: ``PipelinePlan.temp(name, part)``
#: (sql/detect.py, sync.py, facts.py, rollback.py).
SOURCE_TEMPS = ("staged", "delta", "undo")
TARGET_TEMPS = ("keys", "new", "diff", "undo")
#: Columns generated next to each source or target column (sql/builders.py ``old``/``chg``,
#: sql/rollback.py ``NEW``).
COLUMN_PREFIXES = ("", "old__", "chg__", "new__")


@dataclass(frozen=True)
class Name:
    """One generated identifier and the spec node whose name it is built from."""

    text: str
    what: str
    path: PathT
    origin: str  # how the error names the node: "pipeline name 'x'"
    #: objects sharing a namespace; PostgreSQL's truncation can make two of them one
    scope: str
    #: built from the pipeline name too (temp tables, apply procedures)
    with_pipeline: bool = False


def generated_names(spec: Spec, source_columns: Mapping[str, Mapping[str, str]]) -> list[Name]:
    """Every identifier the generator derives from the spec's names.

    ``source_columns``: each source's columns (declared or from the catalog).
    """
    return [
        *_pipeline_names(spec),
        *_source_names(spec, source_columns),
        *_target_names(spec),
    ]


def _pipeline_names(spec: Spec) -> Iterator[Name]:
    p = spec.pipeline
    origin = f"pipeline name '{p}'"
    yield Name(p, "pipeline", ("pipeline",), origin, "pipeline")
    for step in PROCEDURE_STEPS:
        yield Name(f"sp_{p}_{step}", "procedure", ("pipeline",), origin, "cdc")
    for view in ("status", "freshness"):
        yield Name(f"{p}_{view}", "view", ("pipeline",), origin, "cdc")
    for key, schema in spec.schemas.model_dump().items():
        yield Name(schema, "schema", ("schemas", key), f"schema '{schema}'", "schemas")


def _source_names(spec: Spec, source_columns: Mapping[str, Mapping[str, str]]) -> Iterator[Name]:
    p = spec.pipeline
    joined = _join_columns(spec)
    for s, source in spec.sources.items():
        path: PathT = ("sources", s)
        origin = f"source name '{s}'"
        yield Name(s, "table", path, origin, "sources")
        yield Name(f"{s}__changes", "view", path, origin, "cdc")
        yield Name(f"{s}__deleted", "table", path, origin, "cdc")
        yield Name(f"{s}__deleted_log", "table", path, origin, "cdc")
        for step in SOURCE_STEPS:
            yield Name(
                f"sp_{p}_{step}__{s}", "procedure", path, f"{origin} (with pipeline '{p}')", "cdc", True
            )
        for part in SOURCE_TEMPS:
            yield Name(
                f"{p}__{s}__{part}",
                "temp table",
                path,
                f"{origin} (with pipeline '{p}')",
                "temp",
                True,
            )
        if source.mode == "append":  # PostgreSQL index on the watermark column of staging
            field = "loaded_at" if source.loaded_at else "updated_at"
            watermark = source.loaded_at or source.updated_at
            yield Name(
                f"ix_{s}__{watermark}", "index", (*path, field), f"{field} '{watermark}' of {s}", "index"
            )
        for c in source_columns.get(s, {}):
            # Catalog columns have no node in the spec: point at the source.
            column_path: PathT = (*path, "columns", c) if source.columns else path
            for prefix in COLUMN_PREFIXES:
                yield Name(f"{prefix}{c}", "column", column_path, f"column name '{c}'", f"{s}.")
            if (s, c) in joined:  # PostgreSQL indexes on join columns (sql/ddl.py)
                yield Name(
                    f"ix_{s}__{c}", "index", column_path, f"column name '{c}' of {s}", "index"
                )


def _join_columns(spec: Spec) -> set[tuple[str, str]]:
    """(source, column) pairs that join conditions read: each gets an index on PostgreSQL."""
    found: set[tuple[str, str]] = set()
    targets: list[Fact | Dimension] = [*spec.facts.values(), *spec.dimensions.values()]
    for target in targets:
        entries = (*target.join, *getattr(target, "exists", ()))
        sources = {target.from_: target.from_, **{e.alias: e.source for e in entries}}
        for entry in entries:
            try:
                tree = sqlglot.parse_one(entry.on, read="redshift")
            except (ParseError, TokenError):
                continue  # reported with the expression
            for column in tree.find_all(exp.Column):
                if column.table in sources:
                    found.add((sources[column.table], column.name))
    return found


def _target_names(spec: Spec) -> Iterator[Name]:
    p = spec.pipeline
    sections = (("facts", spec.facts), ("dimensions", spec.dimensions))
    for section, targets in sections:
        for t, target in targets.items():
            path: PathT = (section, t)
            origin = f"target name '{t}'"
            yield Name(t, "table", path, origin, "targets")
            yield Name(f"{t}__full", "view", path, origin, "cdc")
            applies = [f"sp_{p}_apply_{t}"] + ([f"sp_{p}_apply_{t}__whole"] if section == "facts" else [])
            for proc in applies:
                yield Name(proc, "procedure", path, f"{origin} (with pipeline '{p}')", "cdc", True)
            for part in TARGET_TEMPS:
                yield Name(
                    f"{p}__{t}__{part}",
                    "temp table",
                    path,
                    f"{origin} (with pipeline '{p}')",
                    "temp",
                    True,
                )
            for kind in ("join", "exists"):
                for i, entry in enumerate(getattr(target, kind, ())):
                    if entry.as_ is not None:
                        where: PathT = (*path, kind, i, "as")
                        yield Name(
                            entry.as_, "alias", where, f"alias '{entry.as_}'", f"{t} aliases"
                        )
            if isinstance(target, Dimension):
                yield Name(f"{t}_sk", "column", path, origin, f"{t}.")
                yield Name(f"{t}__version_log", "table", path, origin, "cdc")
                # PostgreSQL partial index on the current versions (sql/ddl.py)
                yield Name(f"ix_{t}__current", "index", path, origin, "index")
                yield Name(f"ix_{t}__closed", "index", path, origin, "index")
                yield Name(f"ix_{t}__version_log", "index", path, origin, "index")
            for c in target.columns:
                for prefix in COLUMN_PREFIXES:
                    yield Name(
                        f"{prefix}{c}",
                        "column",
                        (*path, "columns", c),
                        f"column name '{c}'",
                        f"{t}.",
                    )


def check_names(
    spec: Spec, source_columns: Mapping[str, Mapping[str, str]], report: Report
) -> None:
    """One error per spec node whose derived names do not fit, at that node."""
    names = generated_names(spec, source_columns)
    too_long = [n for n in names if _bytes(n.text) > POSTGRES_MAX]
    # A long pipeline name overflows every temp table and apply procedure: say it once,
    # at the pipeline; what remains after it is shortened is reported on the next run.
    if any(n.path == ("pipeline",) for n in too_long):
        too_long = [n for n in too_long if not n.with_pipeline or n.path == ("pipeline",)]
    longest: dict[PathT, Name] = {}
    for name in too_long:
        kept = longest.get(name.path)
        if kept is None or _bytes(name.text) > _bytes(kept.text):
            longest[name.path] = name
    for path, name in longest.items():
        report.error(path, _too_long(name, names), key=path[0] != "schemas" and len(path) > 1)


def _too_long(name: Name, names: list[Name]) -> str:
    size = _bytes(name.text)
    message = (
        f"{name.origin} makes the {name.what} name '{name.text}' {size} bytes long; "
        f"PostgreSQL allows {POSTGRES_MAX} (Redshift {REDSHIFT_MAX}): "
        f"shorten it by {size - POSTGRES_MAX} bytes"
    )
    cut = _truncated(name.text)
    twins = sorted(
        {
            other.text
            for other in names
            if other.scope == name.scope
            and other.text != name.text
            and _truncated(other.text) == cut
        }
    )
    if twins:
        message += f" (PostgreSQL would truncate it to the same name as '{twins[0]}')"
    return message


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _truncated(text: str) -> str:
    return text.encode("utf-8")[:POSTGRES_MAX].decode("utf-8", "ignore")

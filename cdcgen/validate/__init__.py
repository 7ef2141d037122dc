"""Semantic validation of a loaded spec: every rule of DESIGN §2, all errors at once.

Public API (stable; the plan stage and the CLI depend on it):

- ``validate_loaded(loaded) -> ValidatedSpec`` raises ``SpecError`` listing every problem.
- ``validate_file(path) -> ValidatedSpec``: load + validate.

The rules live by subject: ``sources`` (column types, catalog, source rules),
``targets`` (aliases, references, join keys, target keys, history, type
inference through ``inference``), ``pipeline`` (schedule, freshness), with
``expressions`` deciding what a spec expression may be and ``types`` what a
column type may be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cdcgen.errors import SpecError
from cdcgen.spec.loader import LoadedSpec, load_spec
from cdcgen.spec.model import Spec
from cdcgen.validate.names import check_names
from cdcgen.validate.pipeline import check_pipeline
from cdcgen.validate.report import Report
from cdcgen.validate.sources import check_source, resolve_source_columns
from cdcgen.validate.targets import check_targets


@dataclass(frozen=True)
class ValidatedSpec:
    """A spec that passed every rule, with the column types resolved.

    ``source_columns``: source -> ordered {column: type} for every staging column
    (spec columns, else the catalog), types canonical lowercase Redshift text such
    as ``bigint``, ``varchar(255)``, ``numeric(12,2)``, ``timestamp``, ``boolean``.
    ``target_columns``: fact/dimension -> ordered {column: type}, explicit or inferred.
    """

    loaded: LoadedSpec
    source_columns: Mapping[str, Mapping[str, str]]
    target_columns: Mapping[str, Mapping[str, str]]

    @property
    def spec(self) -> Spec:
        return self.loaded.spec

    @property
    def file(self) -> str:
        return self.loaded.file


def validate_loaded(loaded: LoadedSpec) -> ValidatedSpec:
    """Apply every rule; raise ``SpecError`` with all problems, sorted by position."""
    spec = loaded.spec
    report = Report(loaded.positions)
    source_columns = resolve_source_columns(spec, loaded.file, report)
    for name, columns in source_columns.items():
        check_source(name, spec.sources[name], columns, report)
    target_columns = check_targets(spec, source_columns, report)
    check_pipeline(spec, report)
    check_names(spec, source_columns, report)
    if report.diagnostics:
        raise SpecError(report.diagnostics)
    return ValidatedSpec(loaded, source_columns, target_columns)


def validate_file(path: str | Path) -> ValidatedSpec:
    return validate_loaded(load_spec(path))

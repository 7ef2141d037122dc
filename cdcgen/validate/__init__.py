"""Semantic validation of a loaded spec: every rule of DESIGN §2, all errors at once.

Public API (stable; the plan stage and the CLI depend on it):

- ``validate_loaded(loaded) -> ValidatedSpec`` raises ``SpecError`` listing every problem.
- ``validate_file(path) -> ValidatedSpec``: load + validate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cdcgen.spec.loader import LoadedSpec, load_spec
from cdcgen.spec.model import Spec


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


def validate_loaded(loaded: LoadedSpec) -> ValidatedSpec:  # pragma: no cover - replaced
    raise NotImplementedError


def validate_file(path: str | Path) -> ValidatedSpec:
    return validate_loaded(load_spec(path))

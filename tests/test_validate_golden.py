"""Error messages are part of the interface: every invalid spec's output is a golden file.

Each ``tests/specs/invalid/<name>.yml`` has ``tests/golden/errors/<name>.txt``
holding exactly what ``cdcgen`` prints for it. Refresh after a deliberate
change with ``pytest --update-golden`` (or ``CDCGEN_UPDATE_GOLDEN=1``) and
review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cdcgen.errors import SpecError
from cdcgen.spec.loader import load_spec
from cdcgen.validate import validate_file, validate_loaded
from tests.golden_plugin import assert_golden

REPO = Path(__file__).resolve().parent.parent
INVALID = sorted((REPO / "tests/specs/invalid").glob("*.yml"))
VALID = sorted((REPO / "tests/specs/valid").glob("*.yml"))
GOLDEN = REPO / "tests/golden/errors"


def error_output(relative: str) -> str:
    try:
        validate_loaded(load_spec(relative))
    except SpecError as exc:
        return "\n".join(str(d) for d in exc.diagnostics) + "\n"
    return ""


@pytest.mark.parametrize("spec", INVALID, ids=lambda p: p.stem)
def test_invalid_spec_errors_match_golden(
    spec: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # diagnostics name the file as given: the repo-relative path
    output = error_output(str(spec.relative_to(REPO)))
    assert output, f"{spec.name} validated without errors; an invalid spec must fail"
    assert_golden(request.config, GOLDEN / f"{spec.stem}.txt", output)


def test_there_are_enough_golden_error_specs() -> None:
    assert len(INVALID) >= 25


def test_every_golden_file_has_its_spec() -> None:
    orphans = {p.stem for p in GOLDEN.glob("*.txt")} - {p.stem for p in INVALID}
    assert not orphans, f"golden files without a spec: {sorted(orphans)}"


@pytest.mark.parametrize("spec", VALID, ids=lambda p: p.stem)
def test_valid_specs_validate(spec: Path) -> None:
    validated = validate_file(spec)
    assert set(validated.target_columns) == set(validated.spec.targets())


def test_vendor_mapping_validates() -> None:
    vendor = REPO / "mappings/vendor.yml"
    if not vendor.exists():
        pytest.skip("mappings/vendor.yml is not written yet")
    validate_file(vendor)

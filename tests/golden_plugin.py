"""``pytest --update-golden``: rewrite golden files instead of comparing against them.

Register in the root conftest.py with ``pytest_plugins = ["tests.golden_plugin"]``.
Until then (or in any environment) ``CDCGEN_UPDATE_GOLDEN=1`` does the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (tests/golden/**) from the current output",
    )


def updating_golden(config: pytest.Config) -> bool:
    """Whether this run rewrites golden files (option or CDCGEN_UPDATE_GOLDEN=1)."""
    option = bool(config.getoption("--update-golden", default=False))
    return option or os.environ.get("CDCGEN_UPDATE_GOLDEN") == "1"


def assert_golden(config: pytest.Config, path: Path, actual: str) -> None:
    """Compare ``actual`` with the golden file, or rewrite it when updating."""
    if updating_golden(config):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {path} is missing; run pytest --update-golden (or CDCGEN_UPDATE_GOLDEN=1)"
        )
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"output differs from {path}; review, then pytest --update-golden"

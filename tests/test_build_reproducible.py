"""The same spec gives byte-identical files wherever the build runs: headers and the
manifest name the spec relative to the directory holding the output, not the shell's."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdcgen.cli import app

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("cwd", [".", "mappings", "tests"])
def test_committed_build_is_fresh_from_any_directory(cwd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO / cwd)
    spec = REPO / "mappings" / "orders.yml"
    result = CliRunner().invoke(app, ["build", str(spec), "-o", str(REPO / "generated"), "--check"])
    assert result.exit_code == 0, result.output


def test_two_working_directories_build_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REPO / "mappings" / "orders.yml"
    outputs = []
    for i, cwd in enumerate([REPO, REPO / "mappings"]):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"copy{i}" / "generated"
        result = CliRunner().invoke(app, ["build", str(spec), "-o", str(out)])
        assert result.exit_code == 0, result.output
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.*"))})
    assert outputs[0] == outputs[1]
    header = outputs[0][Path("orders/redshift/000_schema__cdc.sql")].decode().splitlines()[0]
    assert "from ../../../" in header and header.split(" from ")[1].startswith("../")


@pytest.mark.parametrize("spec", ["mappings/orders.yml", "mappings/vendor.yml"])
def test_console_build_is_fresh(spec: str) -> None:
    """The console script builds with the cyclic collector off (cli.output.ONE_SHOT), and
    as a one-thread process it renders in two processes (a forked child,
    tests/test_build_parallel.py): the same files as in-process builds."""
    result = subprocess.run(
        [sys.executable, "-m", "cdcgen", "build", "--check", spec, "-o", "generated"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_in_process_build_keeps_the_collector(tmp_path: Path) -> None:
    """Only a one-shot process may switch the collector off and freeze what is left:
    a command run in-process (here by CliRunner) leaves both as they were."""
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["build", str(REPO / "mappings" / "orders.yml"), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen

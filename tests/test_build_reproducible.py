"""The same spec gives byte-identical files wherever the build runs: headers and the
manifest name the spec relative to the directory holding the output, not the shell's."""

from __future__ import annotations

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

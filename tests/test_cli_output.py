"""Output people read, without a database: human lag, progress on a terminal only
(drawn on stderr by cdcgen.progress, never with --json nor in a pipe)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdcgen import progress
from cdcgen.cli import app
from cdcgen.cli.db_commands import lag

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (725, "12 min 5 s"),
        (3 * 3600 + 12 * 60 + 59, "3 h 12 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
        (86923330, "1006 d 1 h"),
    ],
)
def test_lag_is_human(seconds: int | None, shown: str) -> None:
    assert lag(seconds) == shown


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setattr("sys.stderr", _Tty())
    assert progress.shown() is True
    assert progress.shown(as_json=True) is False
    monkeypatch.setenv("TERM", "dumb")
    assert progress.shown() is False
    monkeypatch.delenv("TERM")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress.shown() is False


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What progress draws, as if stderr were a terminal."""
    from rich.console import Console

    drawn = io.StringIO()
    monkeypatch.setattr(progress, "shown", lambda as_json=False: not as_json)
    monkeypatch.setattr(
        progress, "stderr_console", lambda: Console(file=drawn, force_terminal=True, width=80)
    )
    return drawn


def test_build_shows_progress_per_spec_on_a_terminal(terminal: io.StringIO, tmp_path: Path) -> None:
    specs = [REPO / "mappings" / "orders.yml", REPO / "mappings" / "vendor.yml"]
    result = CliRunner().invoke(app, ["build", "-o", str(tmp_path), *map(str, specs)])
    assert result.exit_code == 0, result.output
    assert "build orders.yml" in terminal.getvalue()
    assert "0/2" in terminal.getvalue()
    # the progress is transient: the command's own output is unchanged
    assert result.stdout.startswith("built orders, vendor:")


def test_build_json_draws_no_progress(terminal: io.StringIO, tmp_path: Path) -> None:
    spec = REPO / "mappings" / "orders.yml"
    result = CliRunner().invoke(app, ["build", "--json", "-o", str(tmp_path), str(spec)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pipelines"] == ["orders"]
    assert terminal.getvalue() == ""


def test_build_in_a_pipe_draws_no_progress(tmp_path: Path) -> None:
    """CliRunner's stderr is no terminal: the real shown() says no, and nothing is drawn."""
    spec = REPO / "mappings" / "orders.yml"
    result = CliRunner().invoke(app, ["build", "-o", str(tmp_path), str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("built orders:")

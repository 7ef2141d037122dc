"""``cdcgen build`` renders a spec's objects in two processes (a forked child takes
objects from the same counter as the parent). The files must be the same as one
process renders, also when the child dies halfway. (The console build of the committed
specs is checked in tests/test_build_reproducible.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cdcgen.render import build
from cdcgen.render.build import render_pipeline
from cdcgen.validate import validate_file

REPO = Path(__file__).resolve().parent.parent
VENDOR = REPO / "mappings" / "vendor.yml"


@pytest.fixture(scope="module")
def sequential() -> dict[str, dict[str, str]]:
    return render_pipeline(validate_file(VENDOR), REPO)


def _spied_child(
    monkeypatch: pytest.MonkeyPatch, child: Callable[[Callable[[], build.Rendered]], build.Rendered]
) -> list[int]:
    """Fork even under a threaded test runner, and run ``child`` around the child's work;
    returns a list that gets the number of objects the child sent back."""
    sent: list[int] = []
    real = build._forked

    def forked(work: Callable[[], build.Rendered]) -> Callable[[], build.Rendered | None]:
        wait = real(lambda: child(work))

        def waited() -> build.Rendered | None:
            result = wait()
            sent.append(len(result) if result is not None else -1)
            return result

        return waited

    monkeypatch.setattr(build, "_can_fork", lambda: True)
    monkeypatch.setattr(build, "_forked", forked)
    return sent


def test_parallel_render_equals_one_process(
    sequential: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _spied_child(monkeypatch, lambda work: work())
    assert render_pipeline(validate_file(VENDOR), REPO, parallel=True) == sequential
    assert sent and sent[0] > 0, "the child rendered nothing"


def test_a_child_that_dies_halfway_loses_nothing(
    sequential: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child takes and renders its share, then exits without sending it: the parent
    renders that share again."""

    def dies(work: Callable[[], build.Rendered]) -> build.Rendered:
        work()
        os._exit(3)

    sent = _spied_child(monkeypatch, dies)
    assert render_pipeline(validate_file(VENDOR), REPO, parallel=True) == sequential
    assert sent == [-1]


def test_a_failing_child_sends_nothing() -> None:
    def fails() -> build.Rendered:
        raise RuntimeError("boom")

    assert build._forked(fails)() is None


def test_the_child_does_not_repeat_unflushed_output() -> None:
    """A forked child flushes its copy of stdout when it ends: text the parent had not
    flushed yet must not come out twice (multiprocessing flushes before it forks; a
    bare ``os.fork`` would not)."""
    script = (
        "from cdcgen.render import build\n"
        "print('before', end='')\n"
        "assert build._forked(lambda: {})() == {}\n"
        "print('after')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "beforeafter\n"

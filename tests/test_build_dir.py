"""BUILD resolves the same way wherever ``cdcgen build -o DIR`` wrote: a pipeline name
under the build root (``--build-dir`` / ``CDCGEN_BUILD_DIR``, default ``generated``),
``DIR/<pipeline>`` or ``DIR/<pipeline>/<dialect>``; else an error listing what was tried."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.deploy.errors import BuildNotFound
from cdcgen.deploy.manifest import locate_build

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def out_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The mini build as ``cdcgen build -o out`` lays it out, the working directory
    elsewhere (holding no ``generated/``)."""
    shutil.copytree(FIXTURES / "generated_mini", tmp_path / "out" / "mini")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("CDCGEN_BUILD_DIR", raising=False)
    return tmp_path / "out"


def test_every_form_resolves_to_the_same_build(out_build: Path) -> None:
    expected = out_build / "mini" / "postgres"
    assert locate_build("mini", "postgres", build_dir=out_build) == expected
    assert locate_build(out_build / "mini", "postgres") == expected
    assert locate_build(expected, "postgres") == expected
    assert locate_build("../out/mini", "postgres") == Path.cwd() / "../out/mini/postgres"
    assert locate_build("mini", "postgres", root=out_build.parent, build_dir="out") == expected


def test_a_name_is_not_found_outside_the_build_root_and_the_error_says_where(
    out_build: Path,
) -> None:
    with pytest.raises(BuildNotFound) as caught:
        locate_build("mini", "postgres")
    message = str(caught.value)
    assert str(Path.cwd() / "generated" / "mini" / "postgres" / "manifest.json") in message
    assert "--build-dir" in message and "CDCGEN_BUILD_DIR" in message


def test_a_build_root_passed_as_build_names_its_pipelines(out_build: Path) -> None:
    with pytest.raises(BuildNotFound) as caught:
        locate_build(out_build, "postgres")
    message = str(caught.value)
    assert str(out_build / "manifest.json") in message
    assert str(out_build / "postgres" / "manifest.json") in message
    assert "build root holding mini" in message and str(out_build / "mini") in message


@pytest.fixture
def cli(pg_dsn: str, secret_password: str):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None):
        result = runner.invoke(app, [*args, "--dsn", pg_dsn], env=env, catch_exceptions=False)
        assert secret_password not in result.output
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_commands_take_a_name_with_build_dir_or_its_env_and_both_directory_forms(
    cli, out_build: Path
) -> None:
    assert "deployed: deployment 1 of mini" in cli(
        "deploy", "mini", "--with-staging", "--build-dir", str(out_build)
    ).output
    assert "Nothing to do" in cli("deploy", str(out_build / "mini")).output
    assert "Nothing to do" in cli("deploy", str(out_build / "mini" / "postgres")).output
    env = {"CDCGEN_BUILD_DIR": str(out_build)}
    assert "row(s) changed" in cli("bootstrap", "mini", env=env).output
    assert "row(s) changed" in cli("run", "mini", env=env).output
    assert "mini: deployment 1" in cli("status", "mini", env=env).output
    assert "mini: deployment 1" in cli("status", str(out_build / "mini")).output
    cli("verify", "mini", "--build-dir", str(out_build))
    cli("dead-letters", str(out_build / "mini" / "postgres"))
    cli("rebuild", "mini", "fact_item", "--build-dir", str(out_build))


def test_a_missing_build_exits_1_listing_what_was_tried(cli, out_build: Path) -> None:
    result = cli("deploy", "mini", code=1)
    assert "generated/mini/postgres/manifest.json" in result.output
    assert "--build-dir" in result.output
    rooted = cli("deploy", str(out_build), "--json", code=1)
    assert "build root holding mini" in rooted.output

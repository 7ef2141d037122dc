"""The packaged examples and ``cdcgen init``; ``demo --keep`` prints commands unwrapped.

cdcgen/examples/*.yml ship in the wheel so ``cdcgen demo`` and ``cdcgen init
--example`` work outside the repository; they must stay byte-identical to mappings/,
which the other tests, ``cdcgen build --check mappings`` and generated/ are built from.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.starter import EXAMPLES, GITIGNORE_ENTRY, SCHEMA_FILE
from cdcgen.validate import validate_file
from tests.pipeline_harness import REPO


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env=env)
    return result.exit_code, result.output


def test_packaged_examples_are_the_mappings_byte_for_byte() -> None:
    packaged = {p.name: p.read_bytes() for p in EXAMPLES.glob("*.yml")}
    mappings = {p.name: p.read_bytes() for p in (REPO / "mappings").glob("*.yml")}
    assert packaged.keys() == mappings.keys() == {"vendor.yml", "orders.yml"}
    for name, content in mappings.items():
        assert packaged[name] == content, (
            f"cdcgen/examples/{name} differs from mappings/{name}: cp mappings/{name} cdcgen/examples/"
        )


def test_examples_are_package_data() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"examples/*.yml"' in text


def test_init_writes_a_starter_project_that_validates(tmp_path: Path) -> None:
    code, output = cli("init", str(tmp_path / "proj"))
    assert code == 0, output
    project = tmp_path / "proj"
    spec = project / "mappings" / "starter.yml"
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../{SCHEMA_FILE}"
    schema = json.loads((project / SCHEMA_FILE).read_text(encoding="utf-8"))
    assert schema["title"] and "properties" in schema
    assert (project / "mappings" / "catalog.yml").is_file()
    assert GITIGNORE_ENTRY in (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    vspec = validate_file(spec)  # the catalog stub is referenced and valid
    assert vspec.spec.catalog == "catalog.yml" and vspec.spec.dimensions
    assert f"cdcgen demo {spec}" in output

    # a second init changes nothing; a changed file is never overwritten silently
    code, output = cli("init", str(project))
    assert code == 0 and "created" not in output
    assert (project / ".gitignore").read_text(encoding="utf-8").count(GITIGNORE_ENTRY) == 1
    spec.write_text("pipeline: mine\n", encoding="utf-8")
    code, output = cli("init", str(project))
    assert code == 1 and "--force" in output
    assert spec.read_text(encoding="utf-8") == "pipeline: mine\n"
    code, output = cli("init", str(project), "--force")
    assert code == 0 and validate_file(spec)


def test_init_keeps_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log", encoding="utf-8")  # no final newline
    assert cli("init", str(tmp_path))[0] == 0
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "*.log" and GITIGNORE_ENTRY in lines


@pytest.mark.parametrize("name", ["vendor", "orders"])
def test_init_example_copies_the_packaged_spec(tmp_path: Path, name: str) -> None:
    code, output = cli("init", "--example", name, str(tmp_path))
    assert code == 0, output
    copied = tmp_path / "mappings" / f"{name}.yml"
    assert copied.read_bytes() == (REPO / "mappings" / f"{name}.yml").read_bytes()


def test_init_unknown_example(tmp_path: Path) -> None:
    code, output = cli("init", "--example", "nope", str(tmp_path))
    assert code == 1 and "orders, vendor" in output
    assert not (tmp_path / "mappings").exists()


def test_the_starter_spec_demos_clean(pg_dsn: str, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path))[0] == 0
    spec = tmp_path / "mappings" / "starter.yml"
    code, output = cli("demo", str(spec), "--dsn", pg_dsn, "--cycles", "2", "--scale", "0.2", "--json")
    assert code == 0, output
    result = json.loads(output)
    assert result["ok"] and len(result["cycles"]) == 3


def test_demo_keep_prints_commands_on_one_line(tmp_path: Path) -> None:
    """At 40 columns the DSN, psql and stop commands still come out whole, one line each."""
    pytest.importorskip("pgserver")
    data_dir = tmp_path / "pg"
    spec = REPO / "mappings" / "orders.yml"
    output = ""
    try:
        code, output = cli(
            "demo", str(spec), "--keep", "--data-dir", str(data_dir), "--cycles", "0",
            "--scale", "0.05", env={"COLUMNS": "40"},
        )
        assert code == 0, output
        lines = {line.split()[0]: line for line in output.splitlines() if line.startswith("  ") and line.split()}
        dsn = lines["dsn:"].split(None, 1)[1]
        assert dsn.startswith("postgresql://") and " " not in dsn
        assert lines["connect:"].split(None, 1)[1] == f"psql {shlex.quote(dsn)}"
        assert lines["try:"].split(None, 1)[1] == f"cdcgen status orders --dsn '{dsn}'"
        import psycopg

        with psycopg.connect(dsn) as conn:  # still up, and the demo's data is there
            (rows,) = conn.execute("SELECT count(*) FROM analytics.fact_order_item").fetchone()
        assert rows >= 0
    finally:
        stop = next((line for line in output.splitlines() if line.strip().startswith("stop it:")), None)
        if stop is not None:
            subprocess.run(shlex.split(stop.split("stop it:", 1)[1]), check=False, timeout=60)
        if (data_dir / "postmaster.pid").exists():  # the safety net: never leave a server
            import pgserver

            pgserver.get_server(data_dir, cleanup_mode="stop").cleanup()
    assert not (data_dir / "postmaster.pid").exists()

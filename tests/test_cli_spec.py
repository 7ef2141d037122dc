"""The spec commands end to end through Typer's CliRunner: exit codes and output."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from cdcgen.cli import app

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "dictionary" / "expanded_dictionary.py"

SMALL = """\
pipeline: small
sources:
  companies:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(255), status: smallint, city_id: bigint, updated_at: timestamp}
  cities:
    key: [id]
    updated_at: updated_at
    columns: {id: bigint, name: varchar(100), updated_at: timestamp}
facts:
  fact_vendor:
    key: [vendor_id]
    from: companies
    where: "companies.status = 1"
    join:
      - {source: cities, on: "cities.id = companies.city_id"}
    columns:
      vendor_id: companies.id
      vendor_name: companies.name
      city_name: cities.name
  fact_company_profile:
    key: [company_id]
    from: companies
    columns:
      company_id: companies.id
      company_name: companies.name
"""

# Two problems: a misspelled key and a column that does not exist.
BROKEN = SMALL.replace("    updated_at: updated_at\n", "    updatd_at: updated_at\n", 1).replace(
    "city_name: cities.name", "city_name: cities.nmae"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN)
    return path


LOCATED = re.compile(r"^(?P<file>.+\.yml):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)$")


def _located(stderr: str) -> list[re.Match[str]]:
    matches = [LOCATED.match(line) for line in stderr.splitlines()]
    assert all(matches), stderr
    return [m for m in matches if m]


# --------------------------------------------------------------------------- validate


def test_validate_ok(runner: CliRunner, small: Path) -> None:
    result = runner.invoke(app, ["validate", str(small)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {small} (2 sources, 2 facts, 0 dimensions)\n"


def test_validate_reports_every_problem_located(
    runner: CliRunner, small: Path, broken: Path
) -> None:
    result = runner.invoke(app, ["validate", str(small), str(broken)])
    assert result.exit_code == 1
    assert f"ok: {small}" in result.stdout  # the good file is still reported
    errors = _located(result.stderr)
    assert {m["file"] for m in errors} == {str(broken)}
    assert any("updatd_at" in m["message"] and m["line"] == "5" for m in errors), result.stderr


def test_validate_reports_the_unknown_column(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "typo.yml"
    path.write_text(SMALL.replace("city_name: cities.name", "city_name: cities.nmae"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    (error,) = _located(result.stderr)
    line = SMALL.splitlines().index("      city_name: cities.name") + 1
    assert int(error["line"]) == line
    assert "nmae" in error["message"]


def test_validate_missing_file_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yml")])
    assert result.exit_code == 2


# --------------------------------------------------------------------------- impact


def test_impact_one_column_text(runner: CliRunner, small: Path) -> None:
    result = runner.invoke(app, ["impact", "companies.name", "--spec", str(small)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "companies.name -> fact_vendor.vendor_name, fact_company_profile.company_name\n"
    )


def test_impact_where_and_join_columns_reach_every_column(runner: CliRunner, small: Path) -> None:
    for column in ("companies.status", "companies.city_id", "cities.id"):
        result = runner.invoke(app, ["impact", column, "-s", str(small)])
        assert result.stdout == f"{column} -> fact_vendor.* (every column)\n", column


def test_impact_all_columns_text_tree(runner: CliRunner, small: Path) -> None:
    result = runner.invoke(app, ["impact", "--spec", str(small)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("companies\n  companies.id -> ")
    assert "\ncities\n  cities.id -> fact_vendor.* (every column)\n" in result.stdout
    assert "  companies.updated_at -> (nothing)\n" in result.stdout


def test_impact_json_yaml_and_python_agree(runner: CliRunner, small: Path) -> None:
    expected = {"companies": {"name": {"fact_vendor": ["vendor_name"], "fact_company_profile": ["company_name"]}}}  # fmt: skip
    as_json = runner.invoke(app, ["impact", "companies.name", "-s", str(small), "-f", "json"])
    assert json.loads(as_json.stdout) == expected
    as_yaml = runner.invoke(app, ["impact", "companies.name", "-s", str(small), "-f", "yaml"])
    assert YAML(typ="safe").load(as_yaml.stdout) == expected
    as_python = runner.invoke(app, ["impact", "-s", str(small), "-f", "python"])
    assert as_python.exit_code == 0
    tree = ast.parse(as_python.stdout)
    assign = next(s for s in tree.body if isinstance(s, ast.Assign))
    assert ast.literal_eval(assign.value)["companies"]["name"] == {
        "fact_vendor": "vendor_name",
        "fact_company_profile": "company_name",
    }
    whole = json.loads(runner.invoke(app, ["impact", "-s", str(small), "-f", "json"]).stdout)
    assert list(whole) == ["companies", "cities"]


def test_impact_unknown_column_exits_1(runner: CliRunner, small: Path) -> None:
    result = runner.invoke(app, ["impact", "companies.nmae", "--spec", str(small)])
    assert result.exit_code == 1
    assert "unknown column 'companies.nmae'" in result.stderr
    result = runner.invoke(app, ["impact", "vendors.name", "--spec", str(small), "-f", "json"])
    assert result.exit_code == 1
    failure = json.loads(result.stdout)  # with a JSON format, the failure is JSON too
    assert failure["exit_code"] == 1 and "unknown source 'vendors'" in failure["error"]


def test_impact_on_an_invalid_spec_prints_its_errors(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["impact", "--spec", str(broken)])
    assert result.exit_code == 1
    assert _located(result.stderr)


def test_impact_defaults_to_the_mappings_folder(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["impact", "companies.name"])
    assert result.exit_code == 2  # no specs to read: a usage error
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "small.yml").write_text(SMALL)
    result = runner.invoke(app, ["impact", "companies.name"])
    assert result.exit_code == 0, result.output
    assert "fact_vendor.vendor_name" in result.stdout


@pytest.mark.skipif(
    not (REPO / "mappings" / "vendor.yml").exists(), reason="mappings/vendor.yml not written yet"
)
def test_impact_on_the_vendor_pipeline(runner: CliRunner) -> None:
    spec = str(REPO / "mappings" / "vendor.yml")
    result = runner.invoke(app, ["impact", "companies.name", "--spec", spec, "-f", "json"])
    assert result.exit_code == 0, result.output
    targets = json.loads(result.stdout)["companies"]["name"]
    assert "vendor_name" in targets["fact_vendor"]
    text = runner.invoke(app, ["impact", "companies.name", "--spec", spec]).stdout
    assert text.startswith("companies.name -> fact_vendor.vendor_name")


# --------------------------------------------------------------------------- graph, schema


def test_graph_to_stdout_and_file(runner: CliRunner, small: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "--spec", str(small)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flowchart LR\n")
    assert "src_cities -->|join| tgt_fact_vendor" in result.stdout
    out = tmp_path / "lineage.mmd"
    result = runner.invoke(app, ["graph", "--spec", str(small), "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_text() == runner.invoke(app, ["graph", "--spec", str(small)]).stdout


def test_schema_is_json_with_sources(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert "sources" in schema["properties"]
    out = tmp_path / "cdcgen.schema.json"
    assert runner.invoke(app, ["schema", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


# --------------------------------------------------------------------------- import-dictionary


def test_import_dictionary_drafts_a_spec(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import-dictionary", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe").load(result.stdout)
    assert data["facts"]["fact_vendor"]["columns"]["vendor_name"] == "companies.name"
    assert "# TODO: how does cities join to companies?" in result.stdout
    out = tmp_path / "draft.yml"
    assert runner.invoke(app, ["import-dictionary", str(FIXTURE), "-o", str(out)]).exit_code == 0
    assert out.read_text() == result.stdout


def test_import_dictionary_bad_file_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "expanded_dictionary.py"
    path.write_text("EXPANDED_DICTIONARY = {'companies': {'name': build()}}\n")
    result = runner.invoke(app, ["import-dictionary", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:1:23: error: ")

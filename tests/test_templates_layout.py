"""The Jinja procedure templates live in the top-level ``templates/`` folder; the wheel
installs them as ``cdcgen/templates`` (setup.py maps the package, pyproject.toml's
package-data globs ``**/*.sql.j2``). A checkout or an editable install reads them next
to the package."""

from __future__ import annotations

from pathlib import Path

from cdcgen.render.objects import templates_directory

REPO = Path(__file__).resolve().parent.parent


def test_a_checkout_reads_the_top_level_folder() -> None:
    assert templates_directory() == REPO / "templates"
    assert not (REPO / "cdcgen" / "templates").exists()


def test_every_template_is_shipped_by_the_package_data_glob() -> None:
    files = [p for p in (REPO / "templates").rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} == {"common", "postgres", "redshift"}
    assert all(p.name.endswith(".sql.j2") for p in files), files
    assert '"cdcgen.templates" = ["**/*.sql.j2"]' in (REPO / "pyproject.toml").read_text()
    assert 'package_dir={"cdcgen.templates": "templates"}' in (REPO / "setup.py").read_text()

"""Generated identifiers fit PostgreSQL's 63 bytes and Redshift's 127, checked at the spec node."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cdcgen.errors import SpecError
from cdcgen.render.build import render_pipeline
from cdcgen.spec.loader import load_spec
from cdcgen.validate import validate_file, validate_loaded
from cdcgen.validate.names import POSTGRES_MAX, generated_names

REPO = Path(__file__).resolve().parent.parent
# vendor.yml takes ~40 s to render; vendor_small has its shapes (exists, append, deletes).
SPECS = [
    "mappings/orders.yml",
    "tests/specs/valid/vendor_small.yml",
    "tests/specs/valid/single_source.yml",
]
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _identifiers(files: dict[str, dict[str, str]]) -> set[str]:
    words: set[str] = set()
    for rendered in files.values():
        for name, text in rendered.items():
            if name.endswith(".sql"):
                # Words that stand alone in the text (removing literals can glue fragments).
                found = set(_WORD.findall(_LITERAL.sub("", text).lower()))
                words |= found & set(_WORD.findall(text.lower()))
    return words


@pytest.mark.parametrize("spec_file", SPECS)
def test_every_name_derived_from_the_spec_is_listed(spec_file: str) -> None:
    """A naming pattern added to the generator must be added to validate/names.py too."""
    vspec = validate_file(REPO / spec_file)
    spec = vspec.spec
    listed = {n.text for n in generated_names(spec, vspec.source_columns)}
    stems = {spec.pipeline, *spec.sources, *spec.facts, *spec.dimensions}
    derived = {
        w
        for w in _identifiers(render_pipeline(vspec))
        if any(stem in w for stem in stems) or w.startswith(("old__", "chg__", "new__", "ix_"))
    }
    assert derived <= listed, sorted(derived - listed)


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yml"
    path.write_text(text)
    try:
        validate_loaded(load_spec(path))
    except SpecError as exc:
        return [str(d) for d in exc.diagnostics]
    return []


SMALL = """pipeline: {pipeline}
sources:
  {source}:
    key: [id]
    updated_at: updated_at
    columns: {{id: bigint, {column_a}: varchar(10), {column_b}: varchar(10), updated_at: timestamp}}
facts:
  fact_x:
    key: [id]
    from: {source}
    columns: {{id: {source}.id, {column_a}: {source}.{column_a}}}
"""


def _spec(**names: str) -> str:
    values = {"pipeline": "p", "source": "s", "column_a": "a", "column_b": "b", **names}
    return SMALL.format(**values)


def test_a_short_spec_passes(tmp_path: Path) -> None:
    assert _errors(tmp_path, _spec()) == []


def test_a_100_character_pipeline_name_is_one_error_at_the_pipeline(tmp_path: Path) -> None:
    errors = _errors(tmp_path, _spec(pipeline="p" * 100))
    assert len(errors) == 1, errors
    assert ":1:11: error: pipeline name" in errors[0]
    assert "PostgreSQL allows 63 (Redshift 127)" in errors[0]


def test_columns_sharing_a_63_byte_prefix_are_reported_with_the_collision(tmp_path: Path) -> None:
    prefix = "c" * 63
    errors = _errors(tmp_path, _spec(column_a=prefix + "_a", column_b=prefix + "_b"))
    assert any("column name" in e and "truncate it to the same name" in e for e in errors), errors
    assert all(":6:" in e or ":11:" in e for e in errors), errors


def test_a_source_name_is_limited_by_its_longest_derived_name(tmp_path: Path) -> None:
    """Pipeline ``p``: ``<source>__deleted_log`` and ``sp_p_detect__<source>`` are the
    longest names a source makes (its temp tables, ``p__<source>__staged`` and the like,
    are shorter), so 50 characters fit PostgreSQL's 63 bytes exactly and 51 are one
    error at the source."""
    assert _errors(tmp_path, _spec(source="s" * 50)) == []
    errors = _errors(tmp_path, _spec(source="s" * 51))
    assert len(errors) == 1, errors
    assert ":3:3: error: source name" in errors[0], errors
    assert "64 bytes long" in errors[0] and "shorten it by 1 bytes" in errors[0], errors
    assert "temp table" not in errors[0], errors


def test_derived_names_never_exceed_the_limit_after_validation() -> None:
    for spec_file in SPECS:
        vspec = validate_file(REPO / spec_file)
        names = generated_names(vspec.spec, vspec.source_columns)
        assert all(len(n.text.encode()) <= POSTGRES_MAX for n in names)

"""The spec's ``redshift`` hints shape the tables they name (README, spec reference):
a source's hints its baseline, a target's its table. A table is sorted by its key
unless the hints name a sort key: runs read baselines and targets by key, and on
Redshift zone maps are what an index is on PostgreSQL (docs/performance.md)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from tests.pipeline_harness import REPO

GENERATED = REPO / "generated"


def _physical(pipeline: str, dialect: str, file: str) -> dict[str, object]:
    """DISTSTYLE, DISTKEY and SORTKEY of one generated CREATE TABLE, as written."""
    text = (GENERATED / pipeline / dialect / file).read_text(encoding="utf-8")
    create = next(
        s for s in sqlglot.parse(text, read=dialect) if isinstance(s, exp.Create)
    )
    props = create.args.get("properties")
    found: dict[str, object] = {}
    for prop in props.expressions if props else []:
        if isinstance(prop, exp.DistStyleProperty):
            found["diststyle"] = prop.this.name.lower()
        elif isinstance(prop, exp.DistKeyProperty):
            found["distkey"] = prop.this.name
        elif isinstance(prop, exp.SortKeyProperty):
            found["sortkey"] = tuple(c.name for c in prop.this)
    return found


@pytest.mark.parametrize(
    ("pipeline", "file", "expected"),
    [
        # redshift: {distkey: dealing_with_company_id, sortkey: [dealing_with_company_id]}
        ("vendor", "030_baseline__public.buyer_seller_company_mappings.sql",
         {"diststyle": "key", "distkey": "dealing_with_company_id",
          "sortkey": ("dealing_with_company_id",)}),
        # redshift: {distkey: id, sortkey: [id]}
        ("vendor", "030_baseline__public.users.sql",
         {"diststyle": "key", "distkey": "id", "sortkey": ("id",)}),
        # redshift: {diststyle: all, sortkey: [id]}
        ("vendor", "030_baseline__public.cities.sql", {"diststyle": "all", "sortkey": ("id",)}),
        # no hints: sorted by the key
        ("vendor", "030_baseline__public.teams.sql", {"sortkey": ("id",)}),
        # redshift: {diststyle: all}: the key stays the sort key
        ("orders", "030_baseline__public.countries.sql", {"diststyle": "all", "sortkey": ("code",)}),
        # a target's own hints
        ("vendor", "040_target__staging_public.fact_relationship.sql",
         {"diststyle": "key", "distkey": "vendor_company_id", "sortkey": ("relationship_id",)}),
    ],
)
def test_redshift_tables_carry_the_spec_hints(pipeline: str, file: str, expected: dict) -> None:
    assert _physical(pipeline, "redshift", file) == expected


def test_postgres_tables_carry_no_redshift_hints() -> None:
    assert _physical("vendor", "postgres", "030_baseline__public.buyer_seller_company_mappings.sql") == {}


def test_a_dimension_may_be_sorted_by_its_version_columns(tmp_path) -> None:
    """A dimension's table holds the version columns cdcgen adds (``valid_from``, …), so
    its hints may name them: the default sort key is the key and ``valid_from``."""
    from cdcgen.render.build import render_pipeline
    from cdcgen.validate import validate_file

    text = (REPO / "mappings" / "vendor.yml").read_text(encoding="utf-8")
    hints = "redshift: {distkey: company_id, sortkey: [company_id]}\n"
    dimension = text.index("dimensions:")
    assert hints in text[dimension:]
    spec = tmp_path / "vendor.yml"
    spec.write_text(
        text[:dimension]
        + text[dimension:].replace(hints, "redshift: {distkey: company_id, sortkey: [company_id, valid_from]}\n"),
        encoding="utf-8",
    )
    files = render_pipeline(validate_file(spec), tmp_path, dialects=("redshift",))["redshift"]
    ddl = files["040_target__staging_public.dim_company.sql"]
    assert ddl.rstrip().endswith("SORTKEY(company_id, valid_from);"), ddl[-200:]

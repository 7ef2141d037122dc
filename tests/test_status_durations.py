"""cdcgen status: run-duration p50/p95 over the succeeded runs among the last --limit runs
(text and --json), on the real vendor build on a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cdcgen.cli import app
from cdcgen.deploy.ops import percentile
from cdcgen.render import build as build_module

REPO = Path(__file__).resolve().parent.parent


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    values = list(range(1, 21))  # 1..20
    assert percentile(values, 50) == 10 and percentile(values, 95) == 19
    assert percentile([300, 100, 200], 50) == 200 and percentile([300, 100, 200], 95) == 300


@pytest.fixture(scope="module")
def vendor_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    build_module.build([REPO / "mappings" / "vendor.yml"], out)
    return out / "vendor" / "postgres"


def test_status_shows_duration_percentiles(pg_dsn, vendor_build) -> None:
    runner = CliRunner()

    def cdcgen(*args: str) -> str:
        result = runner.invoke(app, [*args, str(vendor_build), "--dsn", pg_dsn])
        assert result.exit_code == 0, result.output
        return result.output

    cdcgen("deploy", "--with-staging")
    data = json.loads(cdcgen("status", "--json"))
    assert data["duration_p50_ms"] is None and data["duration_p95_ms"] is None  # no runs
    for _ in range(5):
        cdcgen("run")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT run_id FROM cdc.run_log ORDER BY run_id")]
        assert len(ids) == 5
        for run_id, ms in zip(ids, (1000, 2000, 3000, 4000, 60000), strict=True):
            conn.execute("UPDATE cdc.run_log SET duration_ms = %s WHERE run_id = %s", (ms, run_id))
        # a failed run is not timed
        conn.execute(
            "UPDATE cdc.run_log SET status = 'failed', error = 'boom' WHERE run_id = %s", (ids[1],)
        )

    data = json.loads(cdcgen("status", "--json"))
    assert (data["duration_p50_ms"], data["duration_p95_ms"], data["duration_runs"]) == (
        3000,
        60000,
        4,
    )
    text = cdcgen("status")
    assert "duration p50 3.0s, p95 60.0s over the last 4 succeeded run(s)" in text
    # over the last 2 runs only (--limit)
    data = json.loads(cdcgen("status", "--json", "--limit", "2"))
    assert (data["duration_p50_ms"], data["duration_p95_ms"]) == (4000, 60000)

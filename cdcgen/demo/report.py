"""The demo's result as plain data: what ``cdcgen demo --json`` prints."""

from __future__ import annotations

from typing import Any

from cdcgen.demo.runner import CycleReport, DemoResult

_COUNTS = ("inserted", "updated", "deleted", "stale", "dead_lettered")


def demo_json(result: DemoResult, seconds: float) -> dict[str, Any]:
    return {
        "pipeline": result.manifest.pipeline,
        "ok": result.ok,
        "seconds": round(seconds, 1),
        "source_rows": result.world_rows,
        "cycles": [_cycle(report) for report in result.cycles],
    }


def _cycle(report: CycleReport) -> dict[str, Any]:
    run = report.run.run
    counts = {
        str(row["object_name"]): {c: int(row.get(c) or 0) for c in _COUNTS}
        for row in report.run.counts
        if any(row.get(c) for c in _COUNTS)
    }
    return {
        "cycle": report.number,
        "mutations": list(report.mutations),
        "staged": report.staged,
        "run_id": run.get("run_id"),
        "status": run.get("status"),
        "counts": counts,
        "fact_changes": report.changes_per_target,
        "target_rows": report.fact_rows,
        "verify": {
            str(row["target"]): {
                "missing": int(row.get("missing_rows") or 0),
                "extra": int(row.get("extra_rows") or 0),
                "different": int(row.get("different_rows") or 0),
            }
            for row in report.verify.rows
        },
        "differences": report.differences,
    }

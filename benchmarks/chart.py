"""Combine the JSON records of several ``run.py --json`` runs into one summary.

    python benchmarks/chart.py OUT.json ... [--png benchmarks/results.png] [--markdown FILE]

Draws time against changed source rows (log axes), one line per approach and scale
(the no-op cycle, 0 changed rows, is drawn at 1 row so it fits a log axis), and writes
a Markdown table per scale: bootstrap, then every change rate and approach.
matplotlib is a bench-only dependency (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Record = dict[str, Any]
STYLE = {
    "cdcgen": "o-",
    "cdcgen_audit_keys": "d-",
    "full_refresh": "s--",
    "dbt": "^:",
    "seed_processor": "x-.",
}


def load(paths: Sequence[Path]) -> list[Record]:
    records: list[Record] = []
    for path in paths:
        records += json.loads(path.read_text())
    return records


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(records: list[Record]) -> list[str]:
    lines: list[str] = []
    for scale in sorted({r["scale"] for r in records}):
        at = [r for r in records if r["scale"] == scale]
        lines += [
            f"### scale {scale:g}",
            "",
            "| changes | changed rows | approach | median | runs | rows written | wrong rows | statements |",
            "| ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |",
        ]
        for r in sorted(at, key=lambda r: (r["changes_pct"] is not None, r["changes_pct"] or 0)):
            changes = "bootstrap" if r["changes_pct"] is None else f"{r['changes_pct']:g} %"
            rows = "" if r["changed_rows"] is None else f"{r['changed_rows']:,}"
            runs = ", ".join(_seconds(s) for s in r["runs_s"])
            statements = "" if r["statements"] is None else str(r["statements"])
            lines.append(
                f"| {changes} | {rows} | {r['approach']} | {_seconds(r['median_s'])} | {runs} | "
                f"{r['rows_written']:,} | {r['wrong_rows']:,} | {statements} |"
            )
        lines.append("")
    return lines


def chart(records: list[Record], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    runs = [r for r in records if r["approach"] != "bootstrap"]
    for scale in sorted({r["scale"] for r in runs}):
        for approach in sorted({r["approach"] for r in runs}):
            points = sorted(
                (max(1, r["changed_rows"]), r["median_s"])
                for r in runs
                if r["scale"] == scale and r["approach"] == approach
            )
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, STYLE.get(approach, "o-"), label=f"{approach}, scale {scale:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("changed source rows (no-op drawn at 1)")
    ax.set_ylabel("median time per cycle (s)")
    ax.set_title("vendor pipeline on PostgreSQL: time per cycle vs changed rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def load_note() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average when summarised {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", type=Path, nargs="+")
    parser.add_argument("--png", type=Path, default=HERE / "results.png")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    records = load(args.inputs)
    chart(records, args.png)
    text = "\n".join(table(records))
    if args.markdown is not None:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"chart: {args.png} ({load_note()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

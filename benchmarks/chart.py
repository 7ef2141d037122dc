"""Combine the JSON records of several ``run.py --json`` (and ``sweep.py --json``) runs
into one summary.

    python benchmarks/chart.py OUT.json ... [--png benchmarks/results.png]
        [--sweep-png benchmarks/sweep.png] [--markdown FILE]

Draws time against changed source rows (log axes), one line per approach and scale
(the no-op cycle, 0 changed rows, is drawn at 1 row so it fits a log axis), and writes
a Markdown table per scale: bootstrap, then every change rate and approach.
Records marked ``"sweep": true`` (``sweep.py``: a fixed number of changed rows at
several scales) are drawn apart, time against scale (log axes), one line per approach,
into ``--sweep-png``, with a table of one line per scale.
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
    "cdcgen_audit_changed": "v-",
    "cdcgen_audit_keys": "d-",
    "full_refresh": "s--",
    "dbt": "^:",
    "seed_processor": "x-.",
}
#: one colour per approach in both charts; in the change-rate chart one marker and line style per scale,
#: so that a dozen lines stay apart (the default colour cycle repeats after ten)
COLOR = {
    "cdcgen": "tab:blue",
    "cdcgen_audit_changed": "tab:orange",
    "cdcgen_audit_keys": "tab:green",
    "full_refresh": "tab:red",
    "dbt": "tab:purple",
    "seed_processor": "tab:brown",
}
SCALE_STYLE = {1: ("o", ":"), 10: ("s", "-"), 30: ("^", "--")}


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


def _median_of(records: list[Record], scale: float, approach: str) -> float | None:
    found = [r["median_s"] for r in records if r["scale"] == scale and r["approach"] == approach]
    return found[0] if found else None


def reference(scales: list[float]) -> float:
    """The scale a sweep compares with: 1 (issue 9's goal) if swept, else the smallest."""
    return 1.0 if 1.0 in scales else scales[0]


def sweep_table(records: list[Record]) -> list[str]:
    """One line per scale of a sweep: each approach's median, cdcgen against the full
    refresh and against cdcgen at the :func:`reference` scale, statements, wrong rows, bootstrap."""
    runs = [r for r in records if r["approach"] != "bootstrap"]
    if not runs:
        return []
    approaches = [a for a in STYLE if any(r["approach"] == a for r in runs)]
    approaches += sorted({r["approach"] for r in runs} - set(approaches))
    scales = sorted({r["scale"] for r in runs})
    first = _median_of(runs, reference(scales), "cdcgen")
    rows = sorted({r["changed_rows"] for r in runs})
    lines = [
        f"### scale sweep: {'/'.join(f'{n:,}' for n in rows)} changed source rows",
        "",
        "| scale | changed rows | "
        + " | ".join(approaches)
        + f" | cdcgen ÷ full refresh | cdcgen vs scale {reference(scales):g} | cdcgen statements"
        " | cdcgen wrong rows | bootstrap |",
        "| ---: | ---: | " + " | ".join("---:" for _ in approaches) + " | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scale in scales:
        at = [r for r in runs if r["scale"] == scale]
        medians = {a: _median_of(at, scale, a) for a in approaches}
        cells = [_seconds(m) if m is not None else "" for m in medians.values()]
        ours, full = medians.get("cdcgen"), medians.get("full_refresh")
        ratio = f"{ours / full:.2f}" if ours and full else ""
        growth = f"{ours / first:.2f}x" if ours and first else ""
        statements = next((r["statements"] for r in at if r["approach"] == "cdcgen"), None)
        boot = _median_of(
            [r for r in records if r["approach"] == "bootstrap"], scale, "bootstrap"
        )
        lines.append(
            f"| {scale:g} | {'/'.join(f'{n:,}' for n in sorted({r['changed_rows'] for r in at}))} | "
            + " | ".join(cells)
            + f" | {ratio} | {growth} | {'' if statements is None else statements} | "
            f"{max((r['wrong_rows'] for r in at if r['approach'] == 'cdcgen'), default=0):,} | "
            f"{'' if boot is None else _seconds(boot)} |"
        )
    lines.append("")
    return lines


def sweep_chart(records: list[Record], png: Path) -> None:
    """Time against scale at a fixed number of changed rows, one line per approach, and
    the issue's goal (cdcgen at most 1.5x its time at the :func:`reference` scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    runs = [r for r in records if r["approach"] != "bootstrap"]
    fig, ax = plt.subplots(figsize=(9, 6))
    for approach in sorted({r["approach"] for r in runs}):
        points = sorted((r["scale"], r["median_s"]) for r in runs if r["approach"] == approach)
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, STYLE.get(approach, "o-"), color=COLOR.get(approach), label=approach)
    scales = sorted({r["scale"] for r in runs})
    first = _median_of(runs, reference(scales), "cdcgen")
    if first is not None:
        ax.axhline(
            1.5 * first, color="grey", linestyle=":", linewidth=1,
            label=f"goal: cdcgen ≤ 1.5x its time at scale {reference(scales):g}",
        )
    rows = "/".join(f"{n:,}" for n in sorted({r["changed_rows"] for r in runs}))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(scales, [f"{s:g}" for s in scales])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("scale (1 = 10,000 companies, ~107,000 source rows)")
    ax.set_ylabel("median time per cycle (s)")
    ax.set_title(f"vendor pipeline on PostgreSQL: {rows} changed source rows at each scale")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


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
            marker, line = SCALE_STYLE.get(scale, ("D", "-."))
            ax.plot(
                xs, ys, marker=marker, linestyle=line, color=COLOR.get(approach, "black"),
                label=f"{approach}, scale {scale:g}",
            )
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
    parser.add_argument("--sweep-png", type=Path, default=HERE / "sweep.png")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    everything = load(args.inputs)
    records = [r for r in everything if not r.get("sweep")]
    swept = [r for r in everything if r.get("sweep")]
    # run.py --rows writes its sweep point without a second bootstrap record: use its own
    booted = {r["scale"] for r in swept if r["approach"] == "bootstrap"}
    swept += [
        r for r in records
        if r["approach"] == "bootstrap" and r["scale"] in {s["scale"] for s in swept} - booted
    ]
    lines: list[str] = []
    if records:
        chart(records, args.png)
        lines += table(records)
        print(f"chart: {args.png} ({load_note()})", file=sys.stderr)
    if swept:
        sweep_chart(swept, args.sweep_png)
        lines += sweep_table(swept)
        print(f"sweep chart: {args.sweep_png} ({load_note()})", file=sys.stderr)
    text = "\n".join(lines)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

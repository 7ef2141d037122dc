"""The results as Markdown: machine, scale, command, then one table per change rate."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from dataclasses import dataclass

from approaches import APPROACHES, Measurement


@dataclass
class RateResult:
    rate_pct: float
    source_rows_changed: dict[str, int]
    measurements: list[Measurement]
    fact_rows: dict[str, int]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kb = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
            memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{memory}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def rate_table(result: RateResult) -> list[str]:
    by = {a.name: [m for m in result.measurements if m.approach == a.name] for a in APPROACHES}
    base = _median([m.seconds for m in by["cdcgen"]])
    changed = ", ".join(f"{n} {s}" for s, n in result.source_rows_changed.items())
    lines = [
        f"### {result.rate_pct:g} % changed — {sum(result.source_rows_changed.values()):,} source rows ({changed})",
        "",
        "| approach | median time | vs cdcgen | rows written | wrong rows: fact_vendor | wrong rows: all 4 facts |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for approach in APPROACHES:
        runs = by[approach.name]
        if not runs:
            continue
        lines.append(_row(approach.label, [m.seconds for m in runs], base, runs))
        if approach.name == "dbt":
            sql_only = [m.extra_seconds["sql_only"] for m in runs]
            lines.append(
                _row("↳ same, SQL only (sync + model time dbt reports)", sql_only, base, runs)
            )
    return [*lines, ""]


def _row(label: str, seconds: list[float], base: float, runs: list[Measurement]) -> str:
    median = _median(seconds)
    written = int(_median([m.rows_written for m in runs]))
    wrong_fv = sorted({m.wrong.get("fact_vendor", 0) for m in runs})
    all_facts = sorted({sum(m.wrong.values()) for m in runs})
    every = (
        "n/a (fact_vendor only)"
        if len(runs[0].wrong) == 1
        else "/".join(f"{n:,}" for n in all_facts)
    )
    return (
        f"| {label} | {_seconds(median)} | {median / base:.1f}x | {written:,} | "
        f"{'/'.join(f'{n:,}' for n in wrong_fv)} | {every} |"
    )


def markdown(
    results: list[RateResult],
    *,
    scale: float,
    repeat: int,
    command: str,
    world_rows: dict[str, int],
    server: str,
    revision: str,
    dbt_note: str,
    elapsed_s: float,
) -> str:
    sizes = ", ".join(f"{source} {n:,}" for source, n in world_rows.items())
    facts = ", ".join(f"{f} {n:,}" for f, n in results[0].fact_rows.items()) if results else ""
    head = [
        "# cdcgen benchmark: incremental vs full refresh vs seed processor vs dbt",
        "",
        f"- date: {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- command: `{command}` (whole run {elapsed_s / 60:.1f} min)",
        f"- cdcgen: commit {revision} (generated PostgreSQL rendering of mappings/vendor.yml)",
        f"- machine: {machine()}",
        f"- server: {server}",
        f"- scale {scale:g}: {sum(world_rows.values()):,} source rows ({sizes})",
        f"- fact rows after bootstrap: {facts}",
        f"- times: median of {repeat} run(s), each on a fresh `CREATE DATABASE … TEMPLATE` clone of the same prepared database",
        f"- dbt: {dbt_note}",
        "",
        "*rows written*: cdcgen, fact and dimension rows inserted/updated/deleted (run_counts); full refresh, "
        "fact rows re-inserted; seed processor, fact statements issued; dbt, rows its merge affected. "
        "*wrong rows*: fact rows missing, extra or different from the fact's full definition evaluated over the "
        "true state of the sources (several values = they varied between runs).",
        "",
    ]
    body = [line for result in results for line in rate_table(result)]
    return "\n".join(head + body)

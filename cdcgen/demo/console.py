"""Print the demo with rich: progress for the slow steps, then per cycle what changed
upstream, the run's counts, a few fact changes (before → after) and the verification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cdcgen.demo.runner import CycleReport, DemoData, FactChange
from cdcgen.demo.runner import Progress as ProgressFn
from cdcgen.deploy.apply import DeployResult
from cdcgen.progress import step

_COUNT_COLUMNS = ("inserted", "updated", "deleted", "stale", "dead_lettered")
#: Short headers so the table fits 80 columns next to the longest source name.
_HEADERS = ("new", "updated", "deleted", "stale", "dead-letter")
_OP_STYLE = {"I": ("+", "green"), "U": ("~", "yellow"), "D": ("-", "red")}
_VALUE_WIDTH = 40


class RichObserver:
    def __init__(self, console: Console):
        self.console = console

    @contextmanager
    def step(self, label: str) -> Iterator[ProgressFn]:
        with step(self.console, label) as advance:
            yield advance

    def deployed(self, result: DeployResult) -> None:
        manifest = result.plan.manifest
        kinds = [t.kind for t in manifest.targets]
        targets = ", ".join(
            f"{kinds.count(k)} {k}{'s' if kinds.count(k) > 1 else ''}" for k in dict.fromkeys(kinds)
        )
        self.console.print(
            f"  deployment {result.deployment_id}: {len(result.plan.changes)} objects of "
            f"{manifest.pipeline} ({len(manifest.sources)} sources; {targets})"
        )

    def generated(self, data: DemoData) -> None:
        counts = data.counts()
        sizes = ", ".join(f"{source} {count:,}" for source, count in counts.items())
        self.console.print(f"  {sum(counts.values()):,} rows: {sizes}")

    def cycle(self, report: CycleReport) -> None:
        title = "bootstrap" if report.number == 0 else f"cycle {report.number}"
        self.console.rule(f"[bold]{title}")
        lead = "Initial load: " if report.number == 0 else "Upstream: "
        self.console.print(Text(lead, style="bold") + Text("; ".join(report.mutations) + "."))
        self._staged(report)
        self._run(report)
        self._changes(report)
        self._verify(report)

    # -- parts

    def _staged(self, report: CycleReport) -> None:
        loaded = {s: n for s, n in report.staged.items() if n}
        listed = ", ".join(f"{s} {n:,}" for s, n in loaded.items())
        self.console.print(f"Staged {sum(loaded.values()):,} rows: {listed}")

    def _run(self, report: CycleReport) -> None:
        run = report.run.run
        seconds = (run.get("duration_ms") or 0) / 1000
        self.console.print(
            f"Run {run['run_id']} [bold]{run['status']}[/] in {seconds:.2f}s, "
            f"{run.get('rows_changed') or 0:,} rows changed"
        )
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        table.add_column("source / target", no_wrap=True, min_width=30)
        for header in _HEADERS:
            table.add_column(header, justify="right")
        table.add_column("rows", justify="right")
        quiet = []
        for count in report.run.counts:
            name = str(count["object_name"])
            values = [int(count.get(c) or 0) for c in _COUNT_COLUMNS]
            is_fact = count["object_kind"] != "source"
            if not any(values) and not is_fact:
                quiet.append(name)
                continue
            label = f"[cyan]{name}[/]" if is_fact else name
            rows_now = f"{report.fact_rows[name]:,}" if name in report.fact_rows else ""
            table.add_row(label, *(f"{v:,}" if v else "·" for v in values), rows_now)
        self.console.print(table)
        if quiet:
            self.console.print(f"[dim]no change: {', '.join(quiet)}[/]")

    def _changes(self, report: CycleReport) -> None:
        total = sum(report.changes_per_target.values())
        if not total:
            self.console.print("Fact changes: none")
            return
        per_target = ", ".join(f"{t} {n:,}" for t, n in report.changes_per_target.items())
        self.console.print(f"Fact changes: {total:,} ({per_target}); for example:")
        shown = report.changes if report.number else report.changes[:3]
        for change in shown:
            self.console.print(Text("  ") + describe_change(change))

    def _verify(self, report: CycleReport) -> None:
        names = ", ".join(str(r["target"]) for r in report.verify.rows)
        if report.verify.ok:
            self.console.print(
                f"[bold green]verify: 0 differences[/] ({names} equal their full definition)"
            )
            return
        self.console.print(f"[bold red]verify: {report.differences} differences[/]")
        for row in report.verify.differing:
            self.console.print(
                f"  {row['target']}: missing {row['missing_rows']}, extra {row['extra_rows']}, "
                f"different {row['different_rows']}"
            )


def describe_change(change: FactChange) -> Text:
    sign, style = _OP_STYLE.get(change.op, ("?", "white"))
    text = Text(f"{sign} {change.target} {change.key}: ", style=style)
    if change.op == "U":
        parts = [f"{c} {_show(b)} → {_show(a)}" for c, b, a in change.columns[:2]]
        more = len(change.columns) - 2
        text.append("; ".join(parts) + (f" (+{more} more)" if more > 0 else ""))
    else:
        label = _label(change.row)
        text.append(
            ("new row" if change.op == "I" else "removed") + (f" ({label})" if label else "")
        )
    return text


def _label(row: dict[str, Any]) -> str:
    for column, value in row.items():
        if column.endswith("name") and value:
            return f"{column} {_show(value)}"
    return ""


def _show(value: Any) -> str:
    if value is None:
        return "NULL"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"

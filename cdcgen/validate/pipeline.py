"""Rules about the pipeline as a whole: schedule and freshness thresholds."""

from __future__ import annotations

import re

from cdcgen.spec.model import Spec, duration_seconds
from cdcgen.validate.report import Report

#: EventBridge cron fields: minutes hours day-of-month month day-of-week year
#: [eventbridge/latest/userguide/eb-scheduled-rule-pattern.html].
_CRON_FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/\-#LW]+$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def check_pipeline(spec: Spec, report: Report) -> None:
    if spec.schedule is not None:
        problem = schedule_problem(spec.schedule.cron)
        if problem:
            report.error(("schedule", "cron"), problem)
    if spec.freshness is not None:
        warn = duration_seconds(spec.freshness.warn_after)
        error = duration_seconds(spec.freshness.error_after)
        if warn >= error:
            report.error(
                ("freshness", "warn_after"),
                f"warn_after ({spec.freshness.warn_after}) must be shorter than "
                f"error_after ({spec.freshness.error_after})",
            )


def schedule_problem(text: str) -> str | None:
    """Why an EventBridge schedule expression would be rejected, or ``None``."""
    if text.startswith("rate("):
        match = _RATE.match(text)
        if match is None:
            return f"'{text}' is not a rate expression; write e.g. rate(30 minutes)"
        value, unit = int(match.group(1)), match.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            return f"'{text}': write rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s) with N > 1"
        return None
    body = text.removeprefix("cron(").removesuffix(")")
    fields = body.split()
    if len(fields) != len(_CRON_FIELDS):
        return (
            f"EventBridge cron needs 6 fields ({' '.join(_CRON_FIELDS)}), got {len(fields)}: "
            "e.g. cron(0/30 * * * ? *)"
        )
    bad = [
        name
        for name, value in zip(_CRON_FIELDS, fields, strict=True)
        if not _CRON_FIELD.match(value)
    ]
    if bad:
        return f"cron field {bad[0]} is not valid in '{text}'"
    if (fields[2] == "?") == (fields[4] == "?"):
        return "EventBridge cron needs '?' in exactly one of day-of-month and day-of-week, e.g. cron(0/30 * * * ? *)"
    return None

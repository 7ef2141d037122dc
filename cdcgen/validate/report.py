"""Collecting located problems: every rule adds to one report, nothing raises midway."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from cdcgen.errors import Diagnostic
from cdcgen.spec.loader import Inside, PathT, Positions
from cdcgen.validate.expressions import ExprProblem, column_refs
from cdcgen.validate.functions import function_of
from cdcgen.validate.inference import InferenceProblem, call_problems, infer_type
from cdcgen.validate.types import UNRESOLVED


@dataclass
class Report:
    """The problems found so far in one spec (and the catalog it reads).

    Mutable on purpose: one report is created per validation run, every rule
    appends to it, and the run raises ``SpecError`` with all of them at the end.
    """

    positions: Positions
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(
        self, path: PathT, message: str, *, key: bool = False, inside: Inside | None = None
    ) -> None:
        self.diagnostics.append(self.positions.diagnostic(path, message, key=key, inside=inside))

    def expr_error(self, path: PathT, text: str, problem: ExprProblem) -> None:
        inside = (text, problem.offset) if problem.offset is not None else None
        self.error(path, str(problem), inside=inside)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)


def suggest(name: str, choices: Iterable[str], *, what: str = "") -> str:
    """`` (did you mean 'x'?)`` for a close match, else the list of valid names."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if not options:
        return ""
    shown = ", ".join(options[:8]) + (", ..." if len(options) > 8 else "")
    return f" ({what + ': ' if what else 'expected one of: '}{shown})"


def report_non_condition(
    path: PathT, tree: exp.Expr, column_types: Mapping[str, Mapping[str, str]], report: Report
) -> None:
    """Filters, join conditions, delete rules and checks must be true/false."""
    unresolved = any(
        column_types.get(ref.table, {}).get(ref.name) == UNRESOLVED for ref in column_refs(tree)
    )
    try:
        inferred = None if unresolved else infer_type(tree, column_types)
    except InferenceProblem:
        return  # unknown is not wrong: Redshift will say if it is not boolean
    if inferred is not None and inferred != "boolean":
        report.error(
            path,
            f"expected a condition (true or false), but this is {inferred}; "
            "compare it with something, e.g. ... = 1 or ... IS NOT NULL",
        )


def report_call_problems(
    path: PathT,
    text: str,
    tree: exp.Expr,
    column_types: Mapping[str, Mapping[str, str]],
    report: Report,
) -> bool:
    """Function arguments of the wrong kind and casts Redshift refuses, located at the call.

    Returns whether any was found (the caller then infers nothing more from the tree).
    """
    problems = call_problems(tree, column_types)
    for node, message in problems:
        offset = _call_offset(text, node)
        report.error(path, message, inside=(text, offset) if offset is not None else None)
    return bool(problems)


def _call_offset(text: str, node: exp.Expr) -> int | None:
    function = function_of(node)
    words = (
        function.spellings if function is not None and function.name != "CAST" else ("CAST", "::")
    )
    for word in words:
        found = re.search(
            rf"\b{re.escape(word)}\b" if word[0].isalpha() else re.escape(word), text, re.IGNORECASE
        )
        if found:
            return found.start()
    return None

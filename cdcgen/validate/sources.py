"""Rules about sources: where their column types come from and which columns they name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sqlglot import exp

from cdcgen.errors import SpecError
from cdcgen.spec.catalog import LoadedCatalog, load_catalog_located
from cdcgen.spec.loader import PathT
from cdcgen.spec.model import IDENT_PATTERN, Source, Spec, TableHints
from cdcgen.validate.expressions import ExprProblem, column_refs, parse_scalar
from cdcgen.validate.report import Report, report_call_problems, report_non_condition, suggest
from cdcgen.validate.types import (
    UNRESOLVED,
    TypeProblem,
    canonical_type,
    is_orderable_sequence,
    is_string,
)

Columns = dict[str, str]

#: Prefixes of the columns cdcgen generates next to source columns (old images,
#: change flags, bookkeeping); a source column with such a name would collide.
RESERVED_PREFIXES = ("cdc__", "old__", "chg__")


def reserved_name_problem(column: str) -> str | None:
    if column.startswith(RESERVED_PREFIXES) or "__" in column:
        return (
            f"column name '{column}' is reserved: names starting with "
            f"{', '.join(RESERVED_PREFIXES)} or containing '__' are used by generated columns"
        )
    return None


def resolve_source_columns(spec: Spec, spec_file: str, report: Report) -> dict[str, Columns]:
    """Canonical ``{source: {column: type}}`` from each source's ``columns`` or the catalog.

    A source whose columns cannot be resolved is left out; the rules that use
    it then stay silent rather than repeat the same root cause.
    """
    catalog = _catalog(spec, spec_file, report) if spec.catalog else None
    resolved: dict[str, Columns] = {}
    for name, source in spec.sources.items():
        if source.columns is not None:
            resolved[name] = _spec_columns(name, source.columns, report)
        elif catalog is not None and name in catalog.tables:
            resolved[name] = _catalog_columns(name, catalog, report)
        elif catalog is not None:
            report.error(
                ("sources", name),
                f"the catalog has no table '{name}'{suggest(name, catalog.tables, what='tables')}; "
                "list its columns under 'columns:' or re-run cdcgen introspect",
                key=True,
            )
        elif spec.catalog is None:
            report.error(
                ("sources", name),
                f"source '{name}' has no column types: list them under 'columns:' "
                "or point 'catalog:' at a file written by cdcgen introspect",
                key=True,
            )
    return resolved


def _catalog(spec: Spec, spec_file: str, report: Report) -> LoadedCatalog | None:
    assert spec.catalog is not None
    path = Path(spec_file).parent / spec.catalog
    if not path.is_file():
        report.error(
            ("catalog",), f"catalog file not found: {path} (paths are relative to the spec file)"
        )
        return None
    try:
        return load_catalog_located(path)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            report.add(diagnostic)
        return None


def _spec_columns(source: str, columns: dict[str, str], report: Report) -> Columns:
    resolved: Columns = {}
    for column, type_text in columns.items():
        path: PathT = ("sources", source, "columns", column)
        problem = reserved_name_problem(column)
        if problem:
            report.error(path, problem, key=True)
        try:
            resolved[column] = canonical_type(type_text)
        except TypeProblem as exc:
            report.error(path, f"{source}.{column}: {exc}")
            resolved[column] = UNRESOLVED
    return resolved


def _catalog_columns(source: str, catalog: LoadedCatalog, report: Report) -> Columns:

    resolved: Columns = {}
    for column, type_text in catalog.tables[source].items():
        path: PathT = ("tables", source, column)
        problem = reserved_name_problem(column)
        if re.fullmatch(IDENT_PATTERN, column) is None:
            problem = f"'{column}' is not a plain lowercase identifier"
        if problem:
            report.add(catalog.positions.diagnostic(path, problem, key=True))
        try:
            resolved[column] = canonical_type(type_text)
        except TypeProblem as exc:
            report.add(catalog.positions.diagnostic(path, f"{source}.{column}: {exc}"))
            resolved[column] = UNRESOLVED
    return resolved


def check_source(name: str, source: Source, columns: Columns, report: Report) -> None:
    """Every column a source names exists; its expressions read only its own row."""
    base: PathT = ("sources", name)

    def require(path: PathT, column: str, role: str) -> bool:
        if column in columns:
            return True
        report.error(
            path,
            f"{role} '{column}' is not a column of {name}{suggest(column, columns, what='columns')}",
        )
        return False

    seen_keys: set[str] = set()
    for i, column in enumerate(source.key):
        require((*base, "key", i), column, "key column")
        if column in seen_keys:
            report.error((*base, "key", i), f"key column '{column}' is listed twice")
        seen_keys.add(column)

    for role in ("updated_at", "created_at", "loaded_at"):
        column = getattr(source, role)
        usable = column is not None and require((*base, role), column, role)
        if usable and not is_orderable_sequence(columns[column]):
            report.error(
                (*base, role),
                f"{role} column {name}.{column} is {columns[column]}; it orders versions, "
                "so it must be a timestamp, date or integer",
            )

    if source.mode == "append" and source.loaded_at is None and source.updated_at not in columns:
        report.error(
            (*base, "mode"),
            "append mode needs a watermark column: give loaded_at (or a valid updated_at)",
        )

    deletes = source.deletes
    if deletes is not None:
        if deletes.op_column is not None:
            path = (*base, "deletes", "op_column")
            if require(path, deletes.op_column, "op_column") and not is_string(
                columns[deletes.op_column]
            ):
                report.error(
                    path,
                    f"op_column {name}.{deletes.op_column} must be char/varchar holding I, U or D, "
                    f"got {columns[deletes.op_column]}",
                )
        if deletes.snapshot == "full" and source.mode != "window":
            report.error(
                (*base, "deletes", "snapshot"),
                "snapshot: full needs mode: window (a full snapshot replaces staging each load; "
                "in append mode absent keys do not mean deleted)",
            )
        if deletes.when is not None:
            check_row_expression(name, columns, (*base, "deletes", "when"), deletes.when, report)

    for check_name, text in source.checks.items():
        check_row_expression(name, columns, (*base, "checks", check_name), text, report)

    if source.redshift is not None:
        # the hints shape the baseline, which keeps neither the load time nor the op column
        op_column = source.deletes.op_column if source.deletes else None
        named = ((source.loaded_at, "the load time"), (op_column, "the op column"))
        staged_only = {column: what for column, what in named if column is not None}
        baseline = {c: t for c, t in columns.items() if c not in staged_only}
        check_hints(f"the baseline {name}", source.redshift, baseline, base, report, staged_only)


def check_row_expression(
    source: str, columns: Columns, path: PathT, text: str, report: Report
) -> exp.Expr | None:
    """An expression over one staging row: columns unqualified or qualified by the source."""
    try:
        tree = parse_scalar(text)
    except ExprProblem as problem:
        report.expr_error(path, text, problem)
        return None
    for ref in column_refs(tree):
        offset = ref.this.meta.get("start") if isinstance(ref.this, exp.Identifier) else None
        inside = (text, offset) if isinstance(offset, int) else None
        if ref.table and (ref.table != source or ref.args.get("db")):
            report.error(
                path,
                f"'{ref.sql()}': this expression reads one {source} row; write '{ref.name}' "
                f"or '{source}.{ref.name}'",
                inside=inside,
            )
        elif ref.name not in columns:
            report.error(
                path,
                f"{source} has no column '{ref.name}'{suggest(ref.name, columns, what='columns')}",
                inside=inside,
            )
        else:
            continue
        return None
    if report_call_problems(path, text, tree, {source: columns, "": columns}, report):
        return None
    report_non_condition(path, tree, {source: columns, "": columns}, report)
    return tree


def check_hints(
    table: str,
    hints: TableHints,
    columns: Mapping[str, object],
    base: PathT,
    report: Report,
    staged_only: Mapping[str, str] | None = None,
) -> None:
    """Redshift DISTKEY/SORTKEY must name columns of the table they are declared on, and
    a DISTKEY goes with DISTSTYLE KEY (given or left out) only. ``staged_only``: columns
    of a source's staging that its baseline leaves out, and what they are."""

    def why_not(column: str) -> str:
        if staged_only and column in staged_only:
            return f": {staged_only[column]} stays in staging"
        return suggest(column, columns, what="columns")

    distkey, sortkey = hints.distkey, hints.sortkey
    if distkey is not None and distkey not in columns:
        report.error(
            (*base, "redshift", "distkey"),
            f"distkey '{distkey}' is not a column of {table}{why_not(distkey)}",
        )
    if distkey is not None and hints.diststyle not in (None, "key"):
        report.error(
            (*base, "redshift", "diststyle"),
            f"diststyle {hints.diststyle} with a distkey: a distkey needs diststyle key (or none)",
        )
    if distkey is None and hints.diststyle == "key":
        report.error((*base, "redshift", "diststyle"), "diststyle key needs a distkey")
    for i, column in enumerate(sortkey):
        if column not in columns:
            report.error(
                (*base, "redshift", "sortkey", i),
                f"sortkey column '{column}' is not a column of {table}{why_not(column)}",
            )

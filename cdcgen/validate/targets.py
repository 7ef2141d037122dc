"""Rules about facts and dimensions: aliases, references, join keys, target keys, types."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from cdcgen.spec.loader import PathT
from cdcgen.spec.model import (
    IS_CURRENT,
    IS_DELETED,
    VALID_FROM,
    VALID_TO,
    ColumnDef,
    Dimension,
    Fact,
    Spec,
    column_expr,
)
from cdcgen.validate.expressions import ExprProblem, column_refs, conjuncts, parse_scalar
from cdcgen.validate.inference import InferenceProblem, infer_type
from cdcgen.validate.report import Report, report_call_problems, report_non_condition, suggest
from cdcgen.validate.sources import Columns, check_hints
from cdcgen.validate.types import UNRESOLVED, TypeProblem, canonical_type, storage_problem

Target = Fact | Dimension


@dataclass(frozen=True)
class Alias:
    """A name a target's expressions use for one of its sources."""

    name: str
    source: str
    columns: Columns
    key: tuple[str, ...]
    kind: str  # "from", "join", "exists" or "as_of"
    index: int  # position in join/exists; 0 for from

    def describe(self) -> str:
        return self.name if self.name == self.source else f"{self.name} ({self.source})"


@dataclass(frozen=True)
class Scope:
    """The aliases one expression may use, and all of the target's, to explain refusals."""

    visible: dict[str, Alias]
    declared: dict[str, Alias]
    target: str
    #: every source of the spec, to tell "not joined" from "does not exist"
    sources: frozenset[str] = frozenset()
    #: aliases whose declaration was already reported (unknown source): stay quiet
    broken: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SourceShape:
    """What a target's rules need to know about one source."""

    columns: Columns
    key: tuple[str, ...]


def check_targets(
    spec: Spec, source_columns: dict[str, Columns], report: Report
) -> dict[str, dict[str, str]]:
    """Check every fact and dimension; return their column types (inferred or explicit)."""
    _check_target_names(spec, report)
    shapes = {
        name: SourceShape(columns, spec.sources[name].key)
        for name, columns in source_columns.items()
    }
    # Declared sources whose columns could not be resolved (a missing catalog, say):
    # that is reported once where it happened, not again at every use.
    unresolved = frozenset(spec.sources) - frozenset(source_columns)
    # Dimensions first: a fact's as_of lookups read their columns.
    dimension_columns = {
        name: _check_target("dimensions", name, target, shapes, report, unresolved)
        for name, target in spec.dimensions.items()
    }
    lookups = AsOfTargets(spec, dimension_columns)
    target_columns: dict[str, dict[str, str]] = {}
    for name, fact in spec.facts.items():
        target_columns[name] = _check_target(
            "facts", name, fact, shapes, report, unresolved, lookups
        )
    target_columns.update(dimension_columns)
    return target_columns


@dataclass(frozen=True)
class AsOfTargets:
    """What a fact's ``as_of`` lookups may name: the spec's dimensions and their columns."""

    spec: Spec
    columns: dict[str, dict[str, str]]


def as_of_columns(name: str, columns: dict[str, str]) -> dict[str, str]:
    """What an as_of alias exposes: the dimension's columns, its surrogate key, the
    version's start and its deleted flag. Not ``valid_to`` nor ``is_current``: they change
    when a later version opens, which is not the dimension "as it was" at that time."""
    return {**columns, f"{name}_sk": "bigint", VALID_FROM: "timestamp", IS_DELETED: "boolean"}


def _check_target_names(spec: Spec, report: Report) -> None:
    for name in spec.dimensions:
        if name in spec.facts:
            report.error(
                ("dimensions", name),
                f"'{name}' is both a fact and a dimension; target names must be unique",
                key=True,
            )
    if spec.schemas.target == spec.schemas.baseline:
        for section, targets in (("facts", spec.facts), ("dimensions", spec.dimensions)):
            for name in targets:
                if name in spec.sources:
                    report.error(
                        (section, name),
                        f"'{name}' is also a source, and schemas.target equals schemas.baseline "
                        f"({spec.schemas.target}): the target would overwrite the source's baseline table",
                        key=True,
                    )


def _check_target(
    section: str,
    name: str,
    target: Target,
    shapes: dict[str, SourceShape],
    report: Report,
    unresolved: frozenset[str] = frozenset(),
    lookups: AsOfTargets | None = None,
) -> dict[str, str]:
    base: PathT = (section, name)
    declared = _declare_aliases(base, name, target, shapes, report, unresolved)
    from_alias = declared.get(target.from_)
    if from_alias is None or from_alias.kind != "from":
        return {}  # without the grain nothing else can be checked meaningfully
    broken = frozenset(
        entry.alias
        for entry in (*target.join, *getattr(target, "exists", ()))
        if entry.source not in shapes
    )

    def scope(visible: dict[str, Alias]) -> Scope:
        return Scope(visible, declared, name, frozenset(shapes), broken)

    grain_and_joins = {a.name: a for a in declared.values() if a.kind in ("from", "join")}
    looked_up: dict[str, Alias] = {}
    unknown: frozenset[str] = frozenset()
    if isinstance(target, Fact) and target.as_of and lookups is not None:
        looked_up, unknown = _check_as_of(base, name, target, from_alias, declared, lookups, report)
        declared.update(looked_up)

    for i, join in enumerate(target.join):
        visible = {
            a.name: a
            for a in declared.values()
            if a.kind == "from" or (a.kind == "join" and a.index <= i)
        }
        tree = _check_condition((*base, "join", i, "on"), join.on, scope(visible), report)
        joined = declared.get(join.alias)
        if tree is not None and joined is not None and joined.kind == "join" and joined.index == i:
            _check_join_covers_key((*base, "join", i, "on"), joined, tree, report)

    exists = getattr(target, "exists", ())
    for i, entry in enumerate(exists):
        visible = dict(grain_and_joins)
        own = declared.get(entry.alias)
        if own is not None and own.kind == "exists" and own.index == i:
            visible[own.name] = own
        _check_condition((*base, "exists", i, "on"), entry.on, scope(visible), report)

    row_scope = scope(grain_and_joins)
    if target.where is not None:
        _check_condition((*base, "where"), target.where, row_scope, report)

    column_scope = row_scope
    if looked_up or unknown:
        column_scope = Scope(
            {**grain_and_joins, **looked_up}, declared, name, frozenset(shapes), broken | unknown
        )
    types = _check_columns(base, name, target, column_scope, report)
    _check_key(base, name, target, from_alias, report)
    if isinstance(target, Dimension):
        _check_history(base, target, report)
    if target.redshift is not None:
        table_columns: dict[str, object] = dict(target.columns)
        if isinstance(target, Dimension):
            # the version columns cdcgen adds are the dimension table's columns too (its
            # default sort key is the key and valid_from)
            versions = (f"{name}_sk", VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED)
            table_columns |= dict.fromkeys(versions, "bookkeeping")
        check_hints(name, target.redshift, table_columns, base, report)
    return types


def _check_as_of(
    base: PathT,
    name: str,
    target: Fact,
    grain: Alias,
    declared: dict[str, Alias],
    lookups: AsOfTargets,
    report: Report,
) -> tuple[dict[str, Alias], frozenset[str]]:
    """Point-in-time lookups: an SCD2 dimension of this spec, its whole key equated with
    grain values, as of a date or timestamp column of the grain. Returns the aliases the
    columns may read, and those whose dimension is unknown (already reported)."""
    looked_up: dict[str, Alias] = {}
    unknown: set[str] = set()
    dimensions = lookups.spec.dimensions
    for i, entry in enumerate(target.as_of):
        path: PathT = (*base, "as_of", i)
        dimension = dimensions.get(entry.dimension)
        if dimension is None:
            if entry.dimension in lookups.spec.facts:
                message = (
                    f"'{entry.dimension}' is a fact; as_of looks up an SCD2 dimension of "
                    "this spec (under 'dimensions')"
                )
            else:
                message = f"unknown dimension '{entry.dimension}'" + suggest(
                    entry.dimension, dimensions, what="dimensions"
                )
            report.error((*path, "dimension"), message)
            unknown.add(entry.alias)
            continue
        if not dimension.history:
            report.error(
                (*path, "dimension"),
                f"dimension '{entry.dimension}' is not SCD2 (it has no history columns): it "
                "keeps one version per key, so there is nothing to look up as of a time; "
                "give it history columns, or join its source under 'join'",
            )
        if entry.alias in declared or entry.alias in looked_up:
            first = declared.get(entry.alias) or looked_up[entry.alias]
            where = "the from source" if first.kind == "from" else f"{first.kind} {first.index}"
            report.error(
                (*path, "as") if entry.as_ is not None else (*path, "dimension"),
                f"alias '{entry.alias}' is already used in {name} by {where}; "
                "give this as_of a distinct 'as'",
            )
            continue
        columns = as_of_columns(entry.dimension, lookups.columns.get(entry.dimension, {}))
        own = Alias(entry.alias, entry.dimension, columns, dimension.key, "as_of", i)
        looked_up[entry.alias] = own
        grain_only = Scope({grain.name: grain}, declared, name)
        _check_as_of_time((*path, "at"), entry.at, grain, grain_only, report)
        on_scope = Scope({grain.name: grain, own.name: own}, {**declared, own.name: own}, name)
        tree = _check_condition((*path, "on"), entry.on, on_scope, report)
        if tree is not None:
            _check_as_of_on((*path, "on"), own, tree, report)
    return looked_up, frozenset(unknown)


def _check_as_of_time(path: PathT, text: str, grain: Alias, scope: Scope, report: Report) -> None:
    tree = _check_expression(path, text, scope, report)
    if tree is None:
        return
    if not isinstance(tree, exp.Column) or tree.table != grain.name:
        report.error(
            path,
            f"as_of 'at' must be a column of the grain {grain.describe()} "
            f"(write {grain.name}.<column>), got '{text}'",
        )
        return
    type_ = grain.columns.get(tree.name, UNRESOLVED)
    if type_ != UNRESOLVED and not (type_ == "date" or type_.startswith("timestamp")):
        report.error(
            path,
            f"as_of 'at' {grain.name}.{tree.name} is {type_}: it must be a date or timestamp",
        )


def _check_as_of_on(path: PathT, own: Alias, on: exp.Expr, report: Report) -> None:
    """Only ``alias.key = <grain value>`` conjuncts, covering the dimension's whole key."""
    for part in conjuncts(on):
        pins = isinstance(part, exp.EQ) and any(
            isinstance(side, exp.Column)
            and side.table == own.name
            and side.name in own.key
            and all(c.table != own.name for c in column_refs(other))
            for side, other in ((part.left, part.right), (part.right, part.left))
        )
        if not pins:
            report.error(
                path,
                f"as_of 'on' may only equate key columns of {own.describe()} with grain "
                f"values ({own.name}.<key> = <grain value>), got '{part.sql(dialect='redshift')}'",
            )
            return
    pinned = {
        side.name
        for part in conjuncts(on)
        if isinstance(part, exp.EQ)
        for side in (part.left, part.right)
        if isinstance(side, exp.Column) and side.table == own.name
    }
    missing = [k for k in own.key if k not in pinned]
    if missing:
        report.error(
            path,
            f"as_of 'on' does not equate the whole key of {own.describe()} "
            f"({', '.join(own.key)}); add "
            + " AND ".join(f"{own.name}.{k} = <grain value>" for k in missing),
        )


def _declare_aliases(
    base: PathT,
    name: str,
    target: Target,
    shapes: dict[str, SourceShape],
    report: Report,
    unresolved: frozenset[str] = frozenset(),
) -> dict[str, Alias]:
    declared: dict[str, Alias] = {}
    entries: list[tuple[str, str, str, int, PathT, bool]] = [
        (target.from_, target.from_, "from", 0, (*base, "from"), False)
    ]
    for kind in ("join", "exists"):
        for i, entry in enumerate(getattr(target, kind, ())):
            has_as = entry.as_ is not None
            entries.append((entry.alias, entry.source, kind, i, (*base, kind, i), has_as))
    for alias, source, kind, index, path, has_as in entries:
        source_path = path if kind == "from" else (*path, "source")
        if source not in shapes:
            if source in unresolved:
                continue  # its columns failed (e.g. a missing catalog), reported there once
            known = shapes.keys()
            report.error(
                source_path, f"unknown source '{source}'{suggest(source, known, what='sources')}"
            )
            continue
        if alias in declared:
            first = declared[alias]
            where = "the from source" if first.kind == "from" else f"{first.kind} {first.index}"
            report.error(
                (*path, "as") if has_as else source_path,
                f"alias '{alias}' is already used in {name} by {where}; "
                f"give this {kind} a distinct 'as'",
            )
            continue
        shape = shapes[source]
        declared[alias] = Alias(alias, source, shape.columns, shape.key, kind, index)
    return declared


def _check_expression(path: PathT, text: str, scope: Scope, report: Report) -> exp.Expr | None:
    """Parse an expression and resolve its columns; ``None`` if anything is wrong."""
    try:
        tree = parse_scalar(text)
    except ExprProblem as problem:
        report.expr_error(path, text, problem)
        return None
    problems = [
        (ref, _reference_problem(ref, scope))
        for ref in column_refs(tree)
        if ref.table not in scope.broken
    ]
    if any(ref.table in scope.broken for ref in column_refs(tree)):
        return None  # the unknown source is reported where it is declared
    for ref, message in problems:
        if message is not None:
            offset = _offset_of(ref)
            report.error(path, message, inside=(text, offset) if offset is not None else None)
    if any(message is not None for _, message in problems):
        return None
    column_types = {a.name: a.columns for a in scope.visible.values()}
    if report_call_problems(path, text, tree, column_types, report):
        return None  # one message per mistake: no inference from a refused call
    return tree


def _check_condition(path: PathT, text: str, scope: Scope, report: Report) -> exp.Expr | None:
    """A filter or join condition: an expression that is true or false for a row."""
    tree = _check_expression(path, text, scope, report)
    if tree is not None:
        report_non_condition(
            path, tree, {a.name: a.columns for a in scope.visible.values()}, report
        )
    return tree


def _offset_of(ref: exp.Column) -> int | None:
    node = ref.args.get("table") or ref.this
    start = node.meta.get("start") if isinstance(node, exp.Identifier) else None
    return start if isinstance(start, int) else None


def _reference_problem(ref: exp.Column, scope: Scope) -> str | None:
    if ref.args.get("db") or ref.args.get("catalog"):
        return f"'{ref.sql()}' has too many parts: write alias.column"
    if not ref.table:
        owners = sorted(a.name for a in scope.visible.values() if ref.name in a.columns)
        hint = (
            f"write {owners[0]}.{ref.name}"
            if len(owners) == 1
            else f"aliases here: {', '.join(sorted(scope.visible))}"
        )
        return f"column '{ref.name}' must be qualified as alias.{ref.name} ({hint})"
    alias = scope.visible.get(ref.table)
    if alias is None:
        return _invisible_alias(ref.table, scope)
    if alias.kind == "as_of" and ref.name in ("valid_to", "is_current"):
        return (
            f"{alias.describe()} is a point-in-time lookup: '{ref.name}' is not available, "
            "it changes when a later version opens (use valid_from, is_deleted, the surrogate "
            "key or the dimension's columns)"
        )
    if ref.name not in alias.columns:
        return f"{alias.describe()} has no column '{ref.name}'{suggest(ref.name, alias.columns, what='columns')}"
    return None


def _invisible_alias(name: str, scope: Scope) -> str:
    declared = scope.declared.get(name)
    if declared is None:
        if name in scope.sources:
            return (
                f"source '{name}' is not joined in {scope.target}: add it under 'join' "
                "(on its whole key) to use its columns"
            )
        return f"unknown alias '{name}'{suggest(name, scope.visible, what='aliases here')}"
    if declared.kind == "as_of":
        return (
            f"'{name}' is an as_of alias: only the fact's columns can read it "
            "(a point-in-time lookup provides columns, it does not filter or join)"
        )
    if declared.kind == "exists":
        return (
            f"'{name}' is an exists alias: it can only be used inside its own exists.on "
            "(exists qualifies rows, it does not provide columns; use a join for lookups)"
        )
    # A join alias that is declared but not visible is a later join.
    return (
        f"forward reference to '{name}' (join {declared.index}): a join's on may use only the "
        "from source, earlier joins and itself; reorder the joins (a cycle cannot be ordered)"
    )


def _check_join_covers_key(path: PathT, joined: Alias, on: exp.Expr, report: Report) -> None:
    """A LEFT JOIN multiplies grain rows unless ``on`` pins every key column of the joined source."""
    key = joined.key
    pinned = set()
    for part in conjuncts(on):
        if not isinstance(part, exp.EQ):
            continue
        for side, other in ((part.left, part.right), (part.right, part.left)):
            if (
                isinstance(side, exp.Column)
                and side.table == joined.name
                and side.name in key
                and all(c.table != joined.name for c in column_refs(other))
            ):
                pinned.add(side.name)
    missing = [k for k in key if k not in pinned]
    if missing:
        report.error(
            path,
            f"join on {joined.describe()} does not equate its whole key ({', '.join(key)}); "
            f"it would multiply fact rows: add "
            + " AND ".join(f"{joined.name}.{k} = <value>" for k in missing)
            + " to 'on'",
        )


def _check_columns(
    base: PathT, name: str, target: Target, scope: Scope, report: Report
) -> dict[str, str]:
    """Check each mapped column's expression and work out its type."""
    types: dict[str, str] = {}
    column_types = {a.name: a.columns for a in scope.visible.values()}
    for column, value in target.columns.items():
        path: PathT = (*base, "columns", column)
        expr_path = (*path, "expr") if isinstance(value, ColumnDef) else path
        text = column_expr(value)
        tree = _check_expression(expr_path, text, scope, report)
        if isinstance(value, ColumnDef):
            try:
                types[column] = canonical_type(value.type)
            except TypeProblem as exc:
                report.error((*path, "type"), f"{name}.{column}: {exc}")
                continue
            if tree is not None and not _reads_unresolved(tree, column_types):
                _check_storable(
                    expr_path, f"{name}.{column}", tree, types[column], column_types, report
                )
            continue
        if tree is None or _reads_unresolved(tree, column_types):
            continue  # the column's bad type is reported at the column
        try:
            types[column] = infer_type(tree, column_types)
        except InferenceProblem as exc:
            report.error(
                path,
                f"cannot infer the type of {name}.{column} ({exc}); "
                f"write it as {{expr: ..., type: ...}}",
            )
    return types


def _check_storable(
    path: PathT,
    where: str,
    tree: exp.Expr,
    declared: str,
    column_types: dict[str, Columns],
    report: Report,
) -> None:
    """An explicit type must hold every value the expression can produce."""
    try:
        inferred = infer_type(tree, column_types)
    except InferenceProblem:
        return  # nothing known to compare; the declared type is the user's word
    problem = storage_problem(inferred, declared)
    if problem is not None:
        report.error(path, f"{where}: {problem}")


def _reads_unresolved(tree: exp.Expr, column_types: dict[str, Columns]) -> bool:
    return any(
        column_types.get(ref.table, {}).get(ref.name) == UNRESOLVED for ref in column_refs(tree)
    )


def _check_key(base: PathT, name: str, target: Target, grain: Alias, report: Report) -> None:
    """Target keys are the grain's key: one target row per grain row, and back."""
    derived: set[str] = set()
    wrong = 0
    for i, column in enumerate(target.key):
        path: PathT = (*base, "key", i)
        if column not in target.columns:
            report.error(
                path,
                f"key column '{column}' is not one of {name}'s columns"
                f"{suggest(column, target.columns, what='columns')}; map it under 'columns:'",
            )
            wrong += 1
            continue
        text = column_expr(target.columns[column])
        try:
            tree = parse_scalar(text)
        except ExprProblem:
            wrong += 1
            continue  # reported with the column
        if (
            isinstance(tree, exp.Column)
            and tree.table == grain.name
            and tree.name in grain.key
            and not tree.args.get("db")
        ):
            derived.add(tree.name)
            continue
        report.error(
            path,
            f"key column '{column}' must be a plain reference to a key column of the grain "
            f"{grain.describe()} ({', '.join(f'{grain.name}.{k}' for k in grain.key)}), got '{text}'",
        )
        wrong += 1
    missing = [k for k in grain.key if k not in derived]
    # When a key column is already wrong, that message says it all.
    if missing and not wrong:
        report.error(
            (*base, "key"),
            f"target keys not derived from the grain's key: {name}'s key must map every key "
            f"column of {grain.describe()} ({', '.join(grain.key)}); missing {', '.join(missing)}",
        )


def _check_history(base: PathT, target: Dimension, report: Report) -> None:
    """SCD2 history columns: mapped, not keys (a key change is a different member), listed once."""
    seen: set[str] = set()
    for i, column in enumerate(target.history):
        path: PathT = (*base, "history", i)
        if column not in target.columns:
            report.error(
                path,
                f"history column '{column}' is not one of the dimension's columns"
                f"{suggest(column, target.columns, what='columns')}",
            )
        elif column in target.key:
            report.error(
                path,
                f"history column '{column}' is a key column; a key identifies the member, "
                "it cannot change within its history",
            )
        elif column in seen:
            report.error(path, f"history column '{column}' is listed twice")
        seen.add(column)

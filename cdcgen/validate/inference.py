"""Types of target columns, inferred from their expressions.

sqlglot's ``annotate_types`` knows the result kind of most functions but not
lengths (``a || b`` is a VARCHAR of unknown size), and Redshift needs a length
for every VARCHAR (without one it silently uses 256 and truncates on INSERT).
So the shapes that decide lengths and precisions are handled here, and
sqlglot answers the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from cdcgen.validate.functions import function_of
from cdcgen.validate.types import (
    NUMERIC_MAX_PRECISION,
    UNRESOLVED,
    VARCHAR_MAX,
    TypeProblem,
    canonical_datatype,
    cast_problem,
    category,
    is_integer,
    is_string,
    numeric_precision_scale,
    string_length,
    text_width,
    wider_integer,
)

#: alias -> {column: canonical type}
ColumnTypes = Mapping[str, Mapping[str, str]]


class InferenceProblem(ValueError):
    """The type cannot be worked out; the message says why."""


def infer_type(tree: exp.Expr, column_types: ColumnTypes) -> str:
    """Canonical type of a checked expression whose columns all resolve in ``column_types``."""
    inferred = _infer(tree, column_types)
    if inferred is None:
        raise InferenceProblem("its type is unknown or has no length")
    return inferred


def _infer(node: exp.Expr, types: ColumnTypes) -> str | None:
    for kinds, rule in _RULES:
        if isinstance(node, kinds):
            return rule(node, types)
    return _annotated(node, types)


def _column(node: exp.Expr, types: ColumnTypes) -> str | None:
    assert isinstance(node, exp.Column)
    return types.get(node.table, {}).get(node.name)


def _literal(node: exp.Expr, types: ColumnTypes) -> str | None:
    assert isinstance(node, exp.Literal)
    if node.is_string:
        return f"varchar({max(1, len(node.this.encode('utf-8')))})"
    try:
        number = Decimal(node.this)
    except InvalidOperation:
        return None
    _sign, digits, exponent = number.as_tuple()
    if isinstance(exponent, int) and exponent >= 0 and "." not in node.this:
        value = int(number)
        if -(2**31) <= value < 2**31:
            return "integer"
        if -(2**63) <= value < 2**63:
            return "bigint"
        return f"numeric({min(len(digits) + exponent, NUMERIC_MAX_PRECISION)},0)"
    scale = -exponent if isinstance(exponent, int) else 0
    precision = max(len(digits), scale, 1)
    return f"numeric({min(precision, NUMERIC_MAX_PRECISION)},{min(scale, precision)})"


def _cast(node: exp.Expr, types: ColumnTypes) -> str | None:
    assert isinstance(node, exp.Cast)
    try:
        return canonical_datatype(node.to)
    except TypeProblem as exc:
        raise InferenceProblem(f"cast to {exc}") from None


def _concat(node: exp.Expr, types: ColumnTypes) -> str | None:
    """``a || b``: Redshift's result is as long as both operands together, as text."""
    parts = [node.left, node.right] if isinstance(node, exp.DPipe) else list(node.expressions)
    total = 0
    for part in parts:
        if isinstance(part, exp.Null):
            continue
        part_type = _infer(part, types)
        width = text_width(part_type) if part_type else None
        if width is None:
            return None
        total += width
    return f"varchar({min(max(total, 1), VARCHAR_MAX)})"


def _branches(node: exp.Expr, types: ColumnTypes) -> str | None:
    """COALESCE, CASE, NULLIF...: the widest branch, so no branch's value is cut."""
    if isinstance(node, exp.Case):
        values = [branch.args["true"] for branch in node.args.get("ifs", [])]
        values += [node.args["default"]] if node.args.get("default") else []
    elif isinstance(node, exp.If):
        values = [node.args["true"]] + ([node.args["false"]] if node.args.get("false") else [])
    elif isinstance(node, exp.Nullif):
        values = [node.this]
    else:
        values = [node.this, *node.expressions]
    branch_types = [_infer(v, types) for v in values if not isinstance(v, exp.Null)]
    if not branch_types or any(t is None for t in branch_types):
        return None
    return widest([t for t in branch_types if t is not None])


def widest(types: list[str]) -> str:
    """The type that holds every value of ``types`` (CASE/COALESCE result)."""
    first = types[0]
    if all(t == first for t in types):
        return first
    if all(is_string(t) for t in types):
        return f"varchar({max(string_length(t) or 0 for t in types)})"
    if all(is_integer(t) for t in types):
        result = first
        for t in types[1:]:
            result = wider_integer(result, t)
        return result
    if all(numeric_precision_scale(t) for t in types):
        shapes = [numeric_precision_scale(t) for t in types]
        scale = max(s for _, s in shapes if True) if shapes else 0  # type: ignore[misc]
        whole = max(p - s for p, s in shapes)  # type: ignore[misc]
        return _numeric(whole + scale, scale)
    if all(t in ("real", "double precision") or numeric_precision_scale(t) for t in types):
        return "double precision"
    if set(types) <= {"date", "timestamp"}:
        return "timestamp"
    if set(types) <= {"date", "timestamp", "timestamptz"}:
        return "timestamptz"
    raise InferenceProblem(f"its branches have different types: {', '.join(dict.fromkeys(types))}")


def _numeric(precision: int, scale: int) -> str:
    """numeric(p,s) capped at Redshift's 38 digits, giving up scale before whole digits."""
    if precision > NUMERIC_MAX_PRECISION:
        scale = max(0, scale - (precision - NUMERIC_MAX_PRECISION))
        precision = NUMERIC_MAX_PRECISION
    return f"numeric({max(precision, 1)},{scale})"


def _arithmetic(node: exp.Expr, types: ColumnTypes) -> str | None:
    """Redshift's result types for + - * / % [r_numeric_computations201]."""
    assert isinstance(node, exp.Binary)
    left, right = _infer(node.left, types), _infer(node.right, types)
    if left is None or right is None:
        return _annotated(node, types)
    if isinstance(node, exp.Sub) and left == right == "date":
        return "integer"  # date - date is a whole number of days on Redshift and PostgreSQL
    if is_integer(left) and is_integer(right):
        return wider_integer(left, right)
    if {left, right} & {"real", "double precision"}:
        return "double precision"
    lhs, rhs = numeric_precision_scale(left), numeric_precision_scale(right)
    if lhs is None or rhs is None:
        return _annotated(node, types)
    (p1, s1), (p2, s2) = lhs, rhs
    if isinstance(node, exp.Add | exp.Sub | exp.Mod):
        scale = max(s1, s2)
        return _numeric(max(p1 - s1, p2 - s2) + scale + 1, scale)
    if isinstance(node, exp.Mul):
        return _numeric(p1 + p2, s1 + s2)
    scale = max(4, s1 + p2 - s2 + 1)
    return _numeric(p1 - s1 + s2 + scale, scale)


def _same_as_first_argument(node: exp.Expr, types: ColumnTypes) -> str | None:
    return _infer(node.this, types)


def _boolean(node: exp.Expr, types: ColumnTypes) -> str | None:
    return "boolean"


def _substring(node: exp.Expr, types: ColumnTypes) -> str | None:
    length = node.args.get("length")
    if isinstance(length, exp.Literal) and length.is_int:
        return f"varchar({max(1, int(length.this))})"
    return _infer(node.this, types)


def _prefix(node: exp.Expr, types: ColumnTypes) -> str | None:
    """LEFT/RIGHT/LPAD/RPAD with a literal length produce exactly that many characters."""
    length = node.args.get("expression")
    if isinstance(length, exp.Literal) and length.is_int:
        return f"varchar({max(1, int(length.this))})"
    return _infer(node.this, types) if not isinstance(node, exp.Pad) else None


def _fixed(result: str) -> Callable[[exp.Expr, ColumnTypes], str | None]:
    def rule(node: exp.Expr, types: ColumnTypes) -> str | None:
        return result

    return rule


def _annotated(node: exp.Expr, types: ColumnTypes) -> str | None:
    """Ask sqlglot, with the aliases' columns as tables, for everything else."""
    select = exp.select(exp.alias_(node.copy(), "v")).from_(exp.to_table(next(iter(types), "t")))
    for alias in list(types)[1:]:
        select = select.join(exp.to_table(alias), join_type="cross")
    schema: dict[str, object] = {alias: dict(columns) for alias, columns in types.items()}
    annotated = annotate_types(select, schema=schema, dialect="redshift")
    datatype = annotated.selects[0].type
    if datatype is None or datatype.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    try:
        return canonical_datatype(datatype)
    except TypeProblem:
        return None


def _moment(node: exp.Expr, types: ColumnTypes) -> str | None:
    """DATE_TRUNC/DATEADD: a timestamp, or a timestamptz from one [r_DATE_TRUNC]."""
    argument = _infer(node.this, types)
    return "timestamptz" if argument == "timestamptz" else "timestamp"


def _replace(node: exp.Expr, types: ColumnTypes) -> str | None:
    """REPLACE grows a string by (new - old) per occurrence; at most width / old occurrences."""
    width = _text_width_of(node.this, types)
    old, new = node.args.get("expression"), node.args.get("replacement")
    if width is None or not _is_text_literal(old) or not _is_text_literal(new):
        return None
    old_bytes = len(old.this.encode("utf-8"))  # type: ignore[union-attr]
    new_bytes = len(new.this.encode("utf-8"))  # type: ignore[union-attr]
    growth = (width // old_bytes) * (new_bytes - old_bytes) if old_bytes else 0
    return f"varchar({min(max(width + max(growth, 0), 1), VARCHAR_MAX)})"


def _text_width_of(node: exp.Expr, types: ColumnTypes) -> int | None:
    inferred = _infer(node, types)
    return text_width(inferred) if inferred else None


def _is_text_literal(node: object) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


#: How each ``functions.Result`` becomes a type.
_RESULTS: dict[str, Callable[[exp.Expr, ColumnTypes], str | None]] = {
    "first": _same_as_first_argument,
    "widest": _branches,
    "concat": _concat,
    "substring": _substring,
    "prefix": _prefix,
    "replace": _replace,
    "moment": _moment,
    "cast": _cast,
    "sqlglot": _annotated,
    "integer": _fixed("integer"),
    "bigint": _fixed("bigint"),
    "date": _fixed("date"),
}


def _call(node: exp.Expr, types: ColumnTypes) -> str | None:
    """A function call: its entry in the table of supported functions says how."""
    function = function_of(node)
    if function is None:
        return _annotated(node, types)
    return _RESULTS[function.returns](node, types)


_RULES: list[
    tuple[
        type[exp.Expr] | tuple[type[exp.Expr], ...],
        Callable[[exp.Expr, ColumnTypes], str | None],
    ]
] = [
    (exp.Paren, _same_as_first_argument),
    (exp.Neg, _same_as_first_argument),
    (exp.Column, _column),
    (exp.Literal, _literal),
    (exp.Boolean, _boolean),
    ((exp.Cast, exp.TryCast), _cast),
    (exp.DPipe, _concat),
    ((exp.Predicate, exp.Connector, exp.Not, exp.Exists), _boolean),
    ((exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod), _arithmetic),
    (exp.Func, _call),
]


def call_problems(tree: exp.Expr, types: ColumnTypes) -> list[tuple[exp.Expr, str]]:
    """Calls whose arguments do not have the documented kinds, and impossible casts."""
    problems: list[tuple[exp.Expr, str]] = []
    for node in tree.walk():
        function = function_of(node) if isinstance(node, exp.Func) else None
        if function is None:
            continue
        if function.name == "CAST":
            problem = _cast_problem(node, types)
            if problem:
                problems.append((node, problem))
            continue
        if isinstance(node, exp.Concat) and len(node.expressions) != 2:
            # sqlglot reads CONCAT(a, b, c); Redshift's takes exactly two [r_CONCAT].
            problems.append(
                (node, "CONCAT takes exactly two arguments [r_CONCAT]; nest it or use ||")
            )
        for arg, kind in function.arguments:
            problem = _argument_problem(node.args.get(arg), kind, types)
            if problem:
                hint = f"; {function.hint}" if function.hint else ""
                signature = f"[{function.doc}: {function.signatures[0]}]"
                problems.append((node, f"{function.name} expects {problem} {signature}{hint}"))
    return problems


def _argument_problem(arg: object, kind: str, types: ColumnTypes) -> str | None:
    if not isinstance(arg, exp.Expr) or kind == "any" or isinstance(arg, exp.Null):
        return None
    try:
        inferred = _infer(arg, types)
    except InferenceProblem:
        return None
    if inferred is None or category(inferred) in (kind, UNRESOLVED):
        return None
    wanted = {"text": "a string", "number": "a number", "datetime": "a date or timestamp"}[kind]
    return f"{wanted}, got {inferred} ('{arg.sql('redshift')}')"


def _cast_problem(node: exp.Expr, types: ColumnTypes) -> str | None:
    try:
        target = canonical_datatype(node.args["to"])
    except TypeProblem as exc:
        return f"CAST to {exc}"  # a type Redshift lacks, or a varchar with no length
    try:
        value = _infer(node.this, types)
    except InferenceProblem:
        return None
    return cast_problem(value, target) if value is not None else None

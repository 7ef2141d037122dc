"""SQL expressions in a spec: parse them and make sure each is one harmless scalar.

A spec is reviewed as data and compiled into procedures that run with the
pipeline's privileges, so an expression must not be able to smuggle anything
else in: no second statement, no subquery, no comment (a comment can hide text
from a reviewer reading a one-line diff), no statement keywords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.redshift import Redshift
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from cdcgen.validate.functions import (
    BY_SPELLING,
    unsupported_message,
    unsupported_node,
    written_calls,
)


class ExprProblem(ValueError):
    """An expression is unusable; ``offset`` is the 0-based character it concerns, if known."""

    def __init__(self, message: str, offset: int | None = None):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class ScalarRules:
    """What a context allows beyond a plain row-level scalar."""

    #: Target columns are one value per grain row: an aggregate or window would
    #: need a GROUP BY or a frame the generator never writes.
    allow_aggregates: bool = False


ROW_SCALAR = ScalarRules()

#: Node types that make an expression more than a scalar over one row.
_STATEMENT_NODES: tuple[type[exp.Expr], ...] = (
    exp.Select,
    exp.Subquery,
    exp.Union,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Grant,
    exp.Use,
    exp.Set,
    exp.Copy,
    exp.Lock,
    exp.TruncateTable,
)


def parse_scalar(text: str, rules: ScalarRules = ROW_SCALAR) -> exp.Expr:
    """Parse one Redshift scalar expression or raise ``ExprProblem`` saying why it is not one."""
    tokens = _tokens(text)
    _reject_comments_and_semicolons(text, tokens)
    try:
        parsed = sqlglot.parse(text, read="redshift")
    except ParseError as exc:
        raise _parse_problem(exc, text) from None
    statements = [e for e in parsed if e is not None]
    if len(statements) != 1:
        raise ExprProblem("expected exactly one SQL expression")
    tree = statements[0]
    _reject_non_scalars(tree, rules)
    _reject_unsupported_functions(text, tokens, tree)
    return tree


def _tokens(text: str) -> list[object]:
    try:
        return list(Redshift().tokenize(text))
    except (TokenError, ParseError):
        raise ExprProblem(
            "cannot read SQL: check for an unterminated string ('...') or quoted name (\"...\")"
        ) from None


def _comment_offset(text: str, tokens: list[object]) -> int | None:
    """Where the first comment starts: the first ``--`` or ``/*`` outside every token."""
    covered: set[int] = set()
    for token in tokens:
        covered.update(range(token.start, token.end + 1))  # type: ignore[attr-defined]
    for i in range(len(text) - 1):
        if i not in covered and text[i : i + 2] in ("--", "/*"):
            return i
    return None


def _reject_comments_and_semicolons(text: str, tokens: list[object]) -> None:
    for token in tokens:
        kind = token.token_type  # type: ignore[attr-defined]
        if kind == TokenType.SEMICOLON:
            raise ExprProblem(
                "';' ends a statement: an expression must be a single scalar, "
                "not a list of statements",
                token.start,  # type: ignore[attr-defined]
            )
        if token.comments:  # type: ignore[attr-defined]
            raise ExprProblem(
                "comments are not allowed inside spec expressions (they can hide text "
                "from review); use a YAML comment (#) outside the string instead",
                _comment_offset(text, tokens),
            )


def _parse_problem(exc: ParseError, text: str) -> ExprProblem:
    detail = exc.errors[0] if exc.errors else {}
    description = str(detail.get("description") or _first_line(str(exc)))
    near = str(detail.get("highlight") or "").strip()
    offset = _offset(text, detail.get("line"), detail.get("col"), len(near))
    if description.startswith("Required keyword") and near:
        # sqlglot names its internal class here; say what the user sees instead.
        return ExprProblem(f"invalid SQL expression: '{near}' is missing an operand", offset)
    if near:
        return ExprProblem(f"invalid SQL expression near '{near}': {description}", offset)
    return ExprProblem(f"invalid SQL expression: {description}", offset)


def _offset(text: str, line: object, col: object, width: int) -> int | None:
    if not isinstance(line, int) or not isinstance(col, int) or line < 1:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return None
    start = sum(len(prior) + 1 for prior in lines[: line - 1])
    # sqlglot's col is the 1-based end of the offending token: step back to its start.
    return max(0, min(start + col - max(width, 1), len(text) - 1))


def _reject_non_scalars(tree: exp.Expr, rules: ScalarRules) -> None:
    if isinstance(tree, exp.Alias):
        raise ExprProblem(
            f"unexpected alias '{tree.alias}': write only the expression "
            "(the YAML key names the column)"
        )
    for node in tree.walk():
        if isinstance(node, _STATEMENT_NODES):
            raise ExprProblem(_statement_message(node))
        starred = isinstance(node, exp.Star) or (isinstance(node, exp.Column) and node.is_star)
        if starred and not isinstance(node.parent, exp.Count):
            raise ExprProblem("'*' is not a scalar expression; name the column")
        if not rules.allow_aggregates:
            if isinstance(node, exp.Window):
                raise ExprProblem(
                    "window functions are not allowed: a target row is computed from one grain row"
                )
            if isinstance(node, exp.AggFunc):
                raise ExprProblem(
                    f"aggregate {node.sql('redshift').split('(')[0]}(...) is not allowed: "
                    "a target row is computed from one grain row"
                )


def _reject_unsupported_functions(text: str, tokens: list[object], tree: exp.Expr) -> None:
    """Only Redshift scalar functions with a matching PostgreSQL rendering (``functions``)."""
    for name, offset in written_calls(tokens):
        if name.upper() not in BY_SPELLING:
            raise ExprProblem(unsupported_message(name), offset)
    node = unsupported_node(tree)
    if node is not None:
        # Written without parentheses (SYSDATE, CURRENT_DATE): find the word itself.
        word = node.sql("redshift").split("(")[0]
        found = re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)
        raise ExprProblem(unsupported_message(word, called=False), found.start() if found else None)


def _statement_message(node: exp.Expr) -> str:
    if isinstance(node, exp.Select | exp.Subquery | exp.Union):
        return (
            "subqueries are not allowed in spec expressions; "
            "use 'join' for lookups and 'exists' for qualification"
        )
    keyword = node.key.upper() if not isinstance(node, exp.Command) else str(node.this).upper()
    return f"{keyword} is a statement, not an expression: a spec expression must be a single scalar"


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0]


def conjuncts(tree: exp.Expr) -> list[exp.Expr]:
    """The AND-ed parts of a condition, parentheses removed."""
    inner = tree.unnest() if isinstance(tree, exp.Paren) else tree
    if isinstance(inner, exp.And):
        return conjuncts(inner.left) + conjuncts(inner.right)
    return [inner]


def column_refs(tree: exp.Expr) -> list[exp.Column]:
    """Every column reference in an expression, in reading order."""
    return [c for c in tree.find_all(exp.Column) if not c.is_star]

"""Keep ``$$`` out of procedure bodies.

Procedure bodies are dollar-quoted (``AS $$ ... $$``) and end at the first ``$$``
whatever surrounds it, so a spec string literal such as ``'a$$b'`` would cut a body
short. AWS documents the Redshift form as ``AS $$ procedure_body $$`` only
(r_CREATE_PROCEDURE); named tags (``$cdc$``) are PostgreSQL syntax that AWS does not
document for Redshift procedures, so by REDSHIFT.md's rule (unconfirmed -> conservative
form) the body keeps ``$$`` and no ``$$`` may occur inside it: a string literal holding
``$$`` is written as a concatenation of pieces that each hold at most one ``$`` at a
seam, ``'a$$b'`` -> ``('a$' || '$b')``, which is the same string in both dialects.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

DOLLAR_QUOTE = "$$"


def split_dollars(text: str) -> list[str]:
    """Cut ``text`` between every two adjacent dollars: 'a$$b' -> ['a$', '$b']."""
    pieces: list[str] = []
    start = 0
    for i in range(1, len(text)):
        if text[i - 1] == "$" and text[i] == "$":
            pieces.append(text[start:i])
            start = i
    pieces.append(text[start:])
    return pieces


def literal_sql(expression: exp.Literal, write: Callable[[exp.Literal], str]) -> str:
    """``write`` (the dialect's own literal writer), unless the string holds ``$$``."""
    if not expression.is_string or DOLLAR_QUOTE not in expression.this:
        return write(expression)
    pieces = [write(exp.Literal.string(p)) for p in split_dollars(expression.this)]
    return "(" + " || ".join(pieces) + ")"


def check_body(name: str, body: str) -> str:
    """A procedure body, after making sure nothing in it ends the $$ quote early."""
    if DOLLAR_QUOTE in body:
        raise ValueError(f"procedure {name}: its body contains {DOLLAR_QUOTE}, which would end it early")
    return body

"""What is in the database now: the catalog (schemas, table columns, view and procedure
sources) and what cdcgen recorded at the last deployment of a pipeline.

Everything is read in a few bulk queries (Redshift round trips are slow) from
catalog views both engines have: ``information_schema.columns``/``tables``,
``pg_views`` and ``pg_proc``/``pg_namespace``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cdcgen.deploy.connect import Database
from cdcgen.validate.types import TypeProblem, canonical_type

Columns = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LiveCatalog:
    """The catalog state of the schemas a build uses."""

    schemas: frozenset[str]
    tables: dict[str, Columns]  # "schema.table" → ((column, canonical type), ...)
    views: dict[str, str]  # "schema.view" → fingerprint
    procedures: dict[str, str]  # "schema.proc" → fingerprint
    indexes: frozenset[str]  # "schema.index"
    #: "schema.proc" → the argument types of each overload, as the catalog prints them
    overloads: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployedObject:
    name: str
    kind: str
    sha256: str
    fingerprint: str | None


@dataclass(frozen=True)
class Deployment:
    deployment_id: int
    manifest_sha256: str
    tool_version: str
    deployed_at: datetime | None
    deployed_by: str
    objects: dict[tuple[str, str], DeployedObject] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> DeployedObject | None:
        return self.objects.get((kind, name))

    def columns_of(self, table: str) -> dict[str, str]:
        """Columns recorded for ``table`` at this deployment: name → canonical type."""
        prefix = table + "."
        return {
            o.name[len(prefix) :]: o.fingerprint or ""
            for (kind, name), o in self.objects.items()
            if kind == "column" and name.startswith(prefix)
        }


def fingerprint(text: str | None) -> str | None:
    """md5 of a view definition or procedure source as the server prints it back.

    The server normalises what it stores, so this is compared only with another
    fingerprint read from a server, never with the generated file.
    """
    if text is None:
        return None
    return hashlib.md5(text.strip().encode("utf-8")).hexdigest()


def statement_fingerprint(sql: str) -> str:
    """md5 of a generated statement without its comment lines and blank space, so a
    changed header comment (e.g. another spec path) does not count as a change."""
    lines = (line.strip() for line in sql.splitlines())
    body = "\n".join(line for line in lines if line and not line.startswith("--"))
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def key_fingerprint(key: Iterable[str]) -> str:
    """Recorded for tables: the key they were deployed with (keys leave no catalog trace
    on Redshift, where constraints are informational)."""
    return hashlib.md5(("key=" + ",".join(key)).encode("utf-8")).hexdigest()


def canonical_column_type(text: str) -> str:
    """A type in the canonical Redshift spelling when it has one; PostgreSQL-only types
    (``jsonb``, ``text``) are kept lowercase as written, so both sides compare."""
    try:
        return canonical_type(text)
    except TypeProblem:
        return " ".join(text.lower().split())


#: Manifest column types are written in Redshift's spelling for both renderings; the
#: postgres rendering stores these types as their PostgreSQL counterparts.
_POSTGRES_TYPE_FOR = {"super": "jsonb"}


def dialect_column_type(built: str, dialect: str) -> str:
    """The type a ``dialect`` table really has for a manifest column type."""
    canonical = canonical_column_type(built)
    if dialect == "postgres" and canonical in _POSTGRES_TYPE_FOR:
        return _POSTGRES_TYPE_FOR[canonical]
    return canonical


# --------------------------------------------------------------------------- catalog


def read_catalog(db: Database, schemas: Iterable[str]) -> LiveCatalog:
    names = sorted(set(schemas))
    if not names:
        return LiveCatalog(frozenset(), {}, {}, {}, frozenset())
    procedures, overloads = _procedures(db, names)
    return LiveCatalog(
        schemas=_existing_schemas(db, names),
        tables=_table_columns(db, names),
        views=_view_fingerprints(db, names),
        procedures=procedures,
        indexes=_indexes(db, names) if db.dialect == "postgres" else frozenset(),
        overloads=overloads,
    )


def _in_list(values: list[str]) -> str:
    return ", ".join(["%s"] * len(values))


def _existing_schemas(db: Database, schemas: list[str]) -> frozenset[str]:
    rows = db.fetchall(
        f"SELECT nspname FROM pg_namespace WHERE nspname IN ({_in_list(schemas)})",
        schemas,
        what="read schemas",
    )
    return frozenset(r[0] for r in rows)


def _table_columns(db: Database, schemas: list[str]) -> dict[str, Columns]:
    rows = db.fetchall(
        f"""
        SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name,
               c.character_maximum_length, c.numeric_precision, c.numeric_scale
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE t.table_type = 'BASE TABLE' AND c.table_schema IN ({_in_list(schemas)})
        ORDER BY c.table_schema, c.table_name, c.ordinal_position
        """,
        schemas,
        what="read table columns",
    )
    tables: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, data_type, udt, length, precision, scale in rows:
        written = information_schema_type(data_type, udt, length, precision, scale)
        tables.setdefault(f"{schema}.{table}", []).append((column, canonical_column_type(written)))
    return {name: tuple(columns) for name, columns in tables.items()}


def information_schema_type(
    data_type: str,
    udt_name: str | None,
    length: int | None,
    precision: int | None,
    scale: int | None,
) -> str:
    """Type text from information_schema.columns, in the spelling a DDL would use.

    >>> information_schema_type("character varying", "varchar", 255, None, None)
    'character varying(255)'
    >>> information_schema_type("numeric", "numeric", None, 12, 2)
    'numeric(12,2)'
    """
    data_type = data_type.lower()
    if data_type in ("character varying", "character") and length:
        return f"{data_type}({length})"
    if data_type == "numeric" and precision is not None:
        return f"numeric({precision},{scale or 0})"
    if data_type in ("user-defined", "array"):
        return (udt_name or data_type).lower()
    return data_type


def _view_fingerprints(db: Database, schemas: list[str]) -> dict[str, str]:
    rows = db.fetchall(
        f"SELECT schemaname, viewname, definition FROM pg_views "
        f"WHERE schemaname IN ({_in_list(schemas)})",
        schemas,
        what="read view definitions",
    )
    return {f"{s}.{v}": fingerprint(d) or "" for s, v, d in rows}


def _procedures(
    db: Database, schemas: list[str]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Each procedure's fingerprint, and the argument types of each of its overloads.

    Redshift's pg_proc predates prokind; both engines list procedures there with prosrc.
    regprocedure prints "name(bigint,character varying)" on both (the AWS admin views
    read Redshift's procedures this way): its argument list is what DROP PROCEDURE takes.
    """
    rows = db.fetchall(
        f"""
        SELECT n.nspname, p.proname, p.prosrc, textin(regprocedureout(p.oid::regprocedure))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ({_in_list(schemas)})
        """,
        schemas,
        what="read procedure sources",
    )
    sources: dict[str, list[str]] = {}
    overloads: dict[str, list[str]] = {}
    for schema, name, source, signature in rows:
        sources.setdefault(f"{schema}.{name}", []).append(source or "")
        arguments = signature[signature.index("(") + 1 : signature.rindex(")")]
        overloads.setdefault(f"{schema}.{name}", []).append(arguments)
    # Overloads (same name, other argument types) fold into one fingerprint.
    return (
        {name: fingerprint("\n".join(sorted(texts))) or "" for name, texts in sources.items()},
        {name: tuple(sorted(lists)) for name, lists in overloads.items()},
    )


def argument_types(arguments: str) -> tuple[str, ...]:
    """The types of an argument list, comparable between a CREATE PROCEDURE's list and the
    catalog's (modes, names and lengths dropped).

    >>> argument_types("p_run_id BIGINT, INOUT p_statements BIGINT, p_target VARCHAR(127)")
    ('bigint', 'bigint', 'varchar')
    >>> argument_types("bigint,bigint,character varying")
    ('bigint', 'bigint', 'varchar')
    """
    return tuple(_argument_type(a) for a in _split_arguments(arguments))


def _split_arguments(arguments: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in arguments:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


_MODES = frozenset({"in", "out", "inout", "variadic"})
#: types the catalog prints without the length canonical_type requires
_UNSIZED = {"character varying": "varchar", "varchar": "varchar", "character": "char", "char": "char"}


def _argument_type(argument: str) -> str:
    words = re.sub(r"\(.*\)", "", argument).lower().split()
    if words and words[0] in _MODES:
        words = words[1:]  # INOUT name type
    elif len(words) > 2 and words[1] in _MODES:
        words = words[2:]  # name INOUT type (Redshift's documented order)
    if len(words) > 1 and not _is_type(" ".join(words)):
        words = words[1:]  # name type
    text = " ".join(words)
    return _UNSIZED.get(text) or canonical_column_type(text)


def _is_type(text: str) -> bool:
    if text in _UNSIZED:
        return True
    try:
        canonical_type(text)
    except TypeProblem:
        return False
    return True


def _indexes(db: Database, schemas: list[str]) -> frozenset[str]:
    rows = db.fetchall(
        f"SELECT schemaname, indexname FROM pg_indexes WHERE schemaname IN ({_in_list(schemas)})",
        schemas,
        what="read indexes",
    )
    return frozenset(f"{s}.{i}" for s, i in rows)


# --------------------------------------------------------------------------- recorded state


def latest_deployment(db: Database, cdc_schema: str, pipeline: str) -> Deployment | None:
    """The newest recorded deployment of ``pipeline`` with its objects, or ``None`` before
    the first deploy (when ``cdc.deployments`` may not exist yet)."""
    if not _table_exists(db, cdc_schema, "deployments"):
        return None
    rows = db.fetchall(
        f"""
        SELECT deployment_id, manifest_sha256, tool_version, deployed_at, deployed_by
        FROM {cdc_schema}.deployments WHERE pipeline = %s
        ORDER BY deployment_id DESC LIMIT 1
        """,
        [pipeline],
        what="read the last deployment",
    )
    if not rows:
        return None
    deployment_id, manifest_sha, tool_version, deployed_at, deployed_by = rows[0]
    objects = db.fetchall(
        f"""
        SELECT object_name, kind, sha256, fingerprint FROM {cdc_schema}.deployed_objects
        WHERE deployment_id = %s AND pipeline = %s
        """,
        [deployment_id, pipeline],
        what="read the deployed objects",
    )
    return Deployment(
        deployment_id=int(deployment_id),
        manifest_sha256=(manifest_sha or "").strip(),
        tool_version=(tool_version or "").strip(),
        deployed_at=deployed_at,
        deployed_by=(deployed_by or "").strip(),
        objects={
            (kind, name): DeployedObject(name, kind, (sha or "").strip(), fp)
            for name, kind, sha, fp in objects
        },
    )


def _table_exists(db: Database, schema: str, table: str) -> bool:
    count = db.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        [schema, table],
        what=f"look for {schema}.{table}",
    )
    return bool(count)


def table_exists(db: Database, qualified: str) -> bool:
    schema, _, table = qualified.partition(".")
    return _table_exists(db, schema, table)

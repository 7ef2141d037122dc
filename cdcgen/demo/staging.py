"""Load a cycle's batch into the staging tables, as the ETL would: one transaction that
clears window-mode staging and bulk-loads the new rows with ``COPY … FROM STDIN``."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from cdcgen.demo.mutations import Staged
from cdcgen.deploy.connect import Database
from cdcgen.deploy.errors import DeployError
from cdcgen.deploy.manifest import Manifest


def staging_tables(manifest: Manifest) -> dict[str, str]:
    return {source.name: source.staging for source in manifest.sources}


def staging_types(manifest: Manifest) -> dict[str, dict[str, str]]:
    """``{source: {column: type}}`` of every staging table in the build."""
    by_table = {o.name: dict(o.columns) for o in manifest.objects if o.kind == "staging_table"}
    missing = [s.name for s in manifest.sources if s.staging not in by_table]
    if missing:
        raise DeployError(f"the build lists no staging table for {', '.join(missing)}")
    return {source.name: by_table[source.staging] for source in manifest.sources}


def load_staging(
    db: Database,
    manifest: Manifest,
    staged: Staged,
    columns: dict[str, dict[str, str]],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Replace window-mode staging and append to append-mode staging, atomically, so a
    run never sees half a load."""
    if db.driver != "psycopg":
        raise DeployError("the demo loads staging with psycopg's COPY: use a postgresql:// DSN")
    tables = staging_tables(manifest)
    with db.transaction():
        for source in staged.cleared:
            db.execute(
                sql.SQL("DELETE FROM {}").format(_identifier(tables[source])).as_string(None),
                what=f"clear {tables[source]}",
            )
        for done, (source, rows) in enumerate(staged.rows.items(), start=1):
            if rows:
                _copy(db, tables[source], list(columns[source]), rows)
            if progress is not None:
                progress(done, len(staged.rows))


def _copy(db: Database, table: str, columns: list[str], rows: list[dict[str, object]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    try:
        with db.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row.get(column) for column in columns])
    except psycopg.Error as exc:
        raise DeployError(f"loading {len(rows)} rows into {table} failed: {exc}") from None


def _identifier(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))

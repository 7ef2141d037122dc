"""The benchmark's PostgreSQL: one throwaway server, and databases cloned from a
prepared template so every approach starts from the identical state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from cdcgen.demo.data import Row
from cdcgen.demo.server import DemoServer
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict


@dataclass
class Cluster:
    """A running server; databases are addressed by name."""

    server: DemoServer

    def dsn(self, dbname: str) -> str:
        """The server's URI with another database (cdcgen's deploy takes URIs only)."""
        parts = urlsplit(self.server.dsn)
        return urlunsplit(parts._replace(path="/" + dbname))

    def params(self) -> dict[str, str]:
        """host/user/password of the server (for dbt's profile)."""
        parts = conninfo_to_dict(self.server.dsn)
        return {k: str(parts.get(k) or "") for k in ("host", "user", "password", "port")}

    def connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def admin(self) -> psycopg.Connection:
        return self.connect("postgres")

    def clone(self, template: str, name: str) -> None:
        """``CREATE DATABASE name TEMPLATE template`` (the template must be idle)."""
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )

    def create(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    @contextmanager
    def copy_of(self, template: str, name: str) -> Iterator[psycopg.Connection]:
        """A fresh clone of ``template``, connected; dropped afterwards."""
        self.clone(template, name)
        try:
            with self.connect(name) as conn:
                yield conn
        finally:
            self.drop(name)


def identifier(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows: list[Row]) -> None:
    """Bulk-load rows with ``COPY … FROM STDIN`` (missing keys are NULL)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row.get(c) for c in columns])


def fact_digests(
    conn: psycopg.Connection, table: str, key: str, columns: list[tuple[str, str]]
) -> dict[str, str]:
    """``{key: md5 of the row}``: what two databases compare rows by. Each column is
    cast to its fact-table type, so a table dbt created from a view compares too."""
    row = sql.SQL("ROW({})::text").format(
        sql.SQL(", ").join(
            sql.SQL("CAST({} AS {})").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns
        )
    )
    query = sql.SQL("SELECT {}::text, md5({}) FROM {}").format(
        sql.Identifier(key), row, identifier(table)
    )
    return dict(conn.execute(query).fetchall())

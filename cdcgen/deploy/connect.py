"""Open a database connection from a DSN and hide the driver behind a small interface.

- ``postgresql://…`` (or ``postgres://``) uses psycopg 3.
- ``redshift://user@host:5439/db?…`` uses AWS's ``redshift-connector``.

Both are opened with autocommit ON: the generated run procedure COMMITs inside its
body to keep a ``failed`` run_log row, and a procedure that commits may not be
CALLed inside a transaction block ([stored-procedure-transaction-management]).
``redshift-connector`` opens with autocommit OFF, so it is switched on right after
connecting. Deploys open an explicit transaction with :meth:`Database.transaction`.

Passwords never come from the command line into logs: they come from the
environment (``CDCGEN_PASSWORD``, then ``PGPASSWORD``) or from IAM
(``redshift://…?iam=true&cluster_identifier=…&profile=…``). A password written in a
DSN still works, but every message this module produces is scrubbed of it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from cdcgen.deploy.errors import ConnectionFailed, DatabaseError

PASSWORD_ENV_VARS = ("CDCGEN_PASSWORD", "PGPASSWORD")
REDSHIFT_DEFAULT_PORT = 5439
REDACTED = "***"

#: ``redshift://`` query parameters passed to ``redshift_connector.connect``, with
#: their types. Secrets (access keys, passwords) are deliberately absent: they
#: belong in the environment or an AWS profile, not in a DSN that ends up in logs.
_REDSHIFT_OPTIONS: dict[str, type] = {
    "iam": bool,
    "cluster_identifier": str,
    "profile": str,
    "region": str,
    "db_user": str,
    "db_groups": list,
    "auto_create": bool,
    "is_serverless": bool,
    "serverless_acct_id": str,
    "serverless_work_group": str,
    "ssl": bool,
    "sslmode": str,
    "timeout": int,
    "application_name": str,
    "unix_sock": str,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Cursor(Protocol):
    description: Any

    def execute(self, operation: str, args: Any = ...) -> Any: ...

    def fetchall(self) -> Any: ...

    def close(self) -> Any: ...


class _Connection(Protocol):
    def cursor(self) -> Any: ...

    def close(self) -> Any: ...


# --------------------------------------------------------------------------- redaction


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with DSN passwords and every given secret replaced by ``***``.

    >>> redact("redshift://ann:s3cret@h:5439/db failed")
    'redshift://ann:***@h:5439/db failed'
    >>> redact("password=abc host=x", ["abc"])
    'password=*** host=x'
    """
    # Up to the LAST @ of the authority: a password may hold an unencoded @.
    text = re.sub(r"(\w+://[^:/?#@\s]*:)[^/\s]*@", rf"\1{REDACTED}@", text)
    text = re.sub(r"(?i)(password=)[^&\s]*", rf"\1{REDACTED}", text)
    # Longest first: a secret's piece must not break the match of the whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def dsn_secrets(dsn: str) -> tuple[str, ...]:
    """Every form in which a password written in ``dsn`` could reach a message.

    Drivers and ``urlsplit`` disagree on DSNs with unencoded ``@``, ``/``, ``:`` or
    ``#`` in the password, and a driver's error may quote only part of it (libpq
    reports ``ss@host`` as the host of ``user:pa@ss@host``). So this takes the
    widest reading (everything between ``user:`` and the last ``@``), its decoded
    form, and its pieces between such characters that are long enough not to be
    ordinary words of a message (4 characters or more).

    >>> sorted(dsn_secrets("postgresql://ann:pa@ss/w0rd@db.example.com/dev"))
    ['pa@ss/w0rd', 'w0rd']
    """
    _, sep, rest = dsn.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return ()
    _, colon, password = rest[:at].partition(":")
    if not colon or not password:
        return ()
    found = {password, unquote(password)}
    with suppress(ValueError):
        found.add(urlsplit(dsn).password or "")
    for whole in list(found):
        found.update(re.split(r"[@/:#?]", whole))
    # Short pieces would scrub ordinary words; the whole password is always kept.
    found = {s for s in found if len(s) >= 4} | {password}
    return tuple(sorted(found, key=len, reverse=True))


def dsn_has_password(dsn: str) -> bool:
    return bool(dsn_secrets(dsn))


# --------------------------------------------------------------------------- the wrapper


@dataclass
class Database:
    """A driver-agnostic connection: statements, rows, transactions.

    ``dialect`` is the SQL the *server* speaks (``postgres`` or ``redshift``), asked
    from the server itself; ``driver`` is the Python driver. They differ in the tests,
    where the real ``redshift_connector`` talks to PostgreSQL.
    """

    raw: _Connection
    driver: str
    dialect: str = "postgres"
    secrets: tuple[str, ...] = field(default=(), repr=False)
    _in_transaction: bool = field(default=False, repr=False)

    def execute(self, sql: str, params: Sequence[Any] | None = None, *, what: str = "") -> None:
        """Run one statement; ``what`` names it in the error (e.g. the file applied)."""
        self._run(sql, params, what=what, fetch=False)

    def fetchall(
        self, sql: str, params: Sequence[Any] | None = None, *, what: str = ""
    ) -> list[tuple[Any, ...]]:
        return self._run(sql, params, what=what, fetch=True)[1]

    def fetch_dicts(
        self, sql: str, params: Sequence[Any] | None = None, *, what: str = ""
    ) -> list[dict[str, Any]]:
        names, rows = self._run(sql, params, what=what, fetch=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def scalar(self, sql: str, params: Sequence[Any] | None = None, *, what: str = "") -> Any:
        rows = self.fetchall(sql, params, what=what)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around the block: committed when it ends, rolled back on error."""
        if self._in_transaction:
            raise RuntimeError("transactions do not nest; use savepoint()")
        self._set_autocommit(False)
        self._in_transaction = True
        try:
            # With autocommit off, both drivers send BEGIN before the first statement.
            yield
            self.raw.commit()  # type: ignore[attr-defined]
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            self._in_transaction = False
            self._set_autocommit(True)

    @contextmanager
    def savepoint(self, name: str = "cdcgen_sp") -> Iterator[None]:
        """A subtransaction inside :meth:`transaction` (PostgreSQL only: Redshift has no
        ``ROLLBACK TO SAVEPOINT`` [c_unsupported-postgresql-features])."""
        if self.dialect != "postgres":
            raise RuntimeError("savepoints exist on PostgreSQL only")
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except DatabaseError:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")

    def close(self) -> None:
        # Closing a broken connection must not hide the error that broke it.
        with suppress(Exception):
            self.raw.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals

    def _run(
        self, sql: str, params: Sequence[Any] | None, *, what: str, fetch: bool
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.raw.cursor()
        try:
            # No params → no placeholder processing, so a literal % in a procedure body is safe.
            if params is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, tuple(params))
            if not fetch:
                return [], []
            names = [column[0] for column in cursor.description or ()]
            rows = [tuple(row) for row in cursor.fetchall() or ()]
            return names, rows
        except Exception as exc:
            if isinstance(exc, DatabaseError) or not _is_driver_error(exc):
                raise
            raise self._database_error(exc, sql, what) from None
        finally:
            cursor.close()

    def _database_error(self, exc: Exception, sql: str, what: str) -> DatabaseError:
        message, sqlstate = _driver_error_text(exc)
        doing = what or _first_line(sql)
        return DatabaseError(redact(f"{doing}: {message}", self.secrets), sqlstate=sqlstate)

    def _set_autocommit(self, on: bool) -> None:
        self.raw.autocommit = on  # type: ignore[attr-defined]

    def _rollback_quietly(self) -> None:
        # The original error matters more than a failed rollback.
        with suppress(Exception):
            self.raw.rollback()  # type: ignore[attr-defined]


def _is_driver_error(exc: Exception) -> bool:
    module = type(exc).__module__
    return module.startswith(("psycopg", "redshift_connector"))


def _driver_error_text(exc: Exception) -> tuple[str, str | None]:
    """(message, sqlstate) from a psycopg or redshift_connector exception."""
    diag = getattr(exc, "diag", None)
    if diag is not None and getattr(diag, "message_primary", None):
        return str(diag.message_primary), getattr(diag, "sqlstate", None)
    # redshift_connector (pg8000 heritage) raises with the server's fields as a dict.
    if exc.args and isinstance(exc.args[0], Mapping):
        fields = exc.args[0]
        return str(fields.get("M", exc)), fields.get("C")
    return str(exc).strip(), None


def _first_line(sql: str) -> str:
    line = next((s.strip() for s in sql.splitlines() if s.strip()), "")
    return line if len(line) <= 80 else line[:77] + "..."


# --------------------------------------------------------------------------- opening


def connect(dsn: str) -> Database:
    """Open ``dsn`` with autocommit on and learn which dialect the server speaks."""
    try:
        scheme = urlsplit(dsn).scheme.lower()
        urlsplit(dsn).port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConnectionFailed(
            redact(f"malformed DSN {dsn!r}: {exc}", dsn_secrets(dsn))
        ) from None
    if scheme in ("postgresql", "postgres"):
        database = _connect_psycopg(dsn)
    elif scheme == "redshift":
        database = _connect_redshift(dsn)
    else:
        raise ConnectionFailed(
            f"unsupported DSN {redact(dsn, dsn_secrets(dsn))!r}: use postgresql://user@host:5432/db "
            "or redshift://user@host:5439/db"
        )
    database.dialect = server_dialect(database)
    return database


def server_dialect(database: Database) -> str:
    """``redshift`` when the server says so in ``version()``, else ``postgres``."""
    version = str(database.scalar("SELECT version()", what="ask the server its version"))
    return "redshift" if "redshift" in version.lower() else "postgres"


def password_from_env() -> str | None:
    for name in PASSWORD_ENV_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _connect_psycopg(dsn: str) -> Database:
    import psycopg

    url_password = urlsplit(dsn).password
    env_password = os.environ.get("CDCGEN_PASSWORD")  # libpq reads PGPASSWORD by itself
    password = env_password if env_password and not url_password else None
    secrets = _secrets(*dsn_secrets(dsn), env_password, os.environ.get("PGPASSWORD"))
    try:
        raw = psycopg.connect(dsn, autocommit=True, password=password)  # None: not passed
    except psycopg.Error as exc:
        raise ConnectionFailed(redact(f"cannot connect to {dsn}: {exc}".strip(), secrets)) from None
    return Database(raw=raw, driver="psycopg", secrets=secrets)


def redshift_connect_arguments(dsn: str) -> dict[str, Any]:
    """``redshift_connector.connect`` keyword arguments for a ``redshift://`` DSN.

    >>> args = redshift_connect_arguments("redshift://ann@c.x.eu-west-1.redshift.amazonaws.com/dev?iam=true&profile=etl&cluster_identifier=c")
    >>> sorted(args.items())  # doctest: +NORMALIZE_WHITESPACE
    [('cluster_identifier', 'c'), ('database', 'dev'), ('db_user', 'ann'),
     ('host', 'c.x.eu-west-1.redshift.amazonaws.com'), ('iam', True), ('port', 5439), ('profile', 'etl')]
    """
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname and "unix_sock" not in parts.query:
        raise ConnectionFailed(
            f"DSN {redact(dsn, dsn_secrets(dsn))!r} names no host: write redshift://user@host:5439/database"
        )
    if not database:
        raise ConnectionFailed(f"DSN {redact(dsn, dsn_secrets(dsn))!r} names no database: add /database")
    args: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or REDSHIFT_DEFAULT_PORT,
        "database": database,
    }
    args.update(_redshift_options(parts.query, dsn))
    user = unquote(parts.username) if parts.username else None
    if args.get("iam"):
        # With IAM the driver fetches temporary credentials for db_user; no password.
        if user and "db_user" not in args:
            args["db_user"] = user
        return args
    if user:
        args["user"] = user
    password = unquote(parts.password) if parts.password else password_from_env()
    if password is None:
        raise ConnectionFailed(
            f"no password for {redact(dsn, dsn_secrets(dsn))!r}: set CDCGEN_PASSWORD (or PGPASSWORD), "
            "or use IAM: ?iam=true&cluster_identifier=…&profile=…"
        )
    args["password"] = password
    return args


def _redshift_options(query: str, dsn: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        kind = _REDSHIFT_OPTIONS.get(name)
        if kind is None:
            allowed = ", ".join(sorted(_REDSHIFT_OPTIONS))
            raise ConnectionFailed(
                f"unknown option {name!r} in DSN {redact(dsn, dsn_secrets(dsn))!r}; allowed: {allowed} "
                "(secrets go in the environment or an AWS profile, never in the DSN)"
            )
        options[name] = _convert_option(name, value, kind)
    return options


def _convert_option(name: str, value: str, kind: type) -> Any:
    if kind is bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConnectionFailed(f"DSN option {name}={value!r} must be true or false")
    if kind is int:
        if not value.isdigit():
            raise ConnectionFailed(f"DSN option {name}={value!r} must be a whole number")
        return int(value)
    if kind is list:
        return [item for item in value.split(",") if item]
    return value


def _connect_redshift(dsn: str) -> Database:
    import redshift_connector

    args = redshift_connect_arguments(dsn)
    secrets = _secrets(
        args.get("password"), *dsn_secrets(dsn), *(os.environ.get(v) for v in PASSWORD_ENV_VARS)
    )
    try:
        raw = redshift_connector.connect(**args)
    except Exception as exc:  # the driver raises many unrelated types while connecting
        message, _ = _driver_error_text(exc)
        raise ConnectionFailed(redact(f"cannot connect to {dsn}: {message}", secrets)) from None
    # Off by default in redshift-connector; CALLs of procedures that COMMIT need it on.
    raw.autocommit = True
    return Database(raw=raw, driver="redshift_connector", secrets=secrets)


def _secrets(*values: str | None) -> tuple[str, ...]:
    return tuple(v for v in values if v)

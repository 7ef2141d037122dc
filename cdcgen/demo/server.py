"""The throwaway PostgreSQL server the demo runs on.

Preferred: PyPI ``pgserver`` (PostgreSQL 16 bundled in a wheel, no system install).
Fallback: ``initdb``/``pg_ctl`` found on PATH. Either way the server listens on a
unix socket only (no TCP port to collide with, nothing reachable from outside),
trusts local connections, and is stopped by :meth:`DemoServer.stop`.

PostgreSQL refuses to run as root, so when the demo runs as root the server runs as
an unprivileged OS user: ``pgserver`` creates its own (``pgserver``); the PATH
fallback uses an existing ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cdcgen.errors import CdcgenError

#: Longest unix socket path the kernel takes (``sun_path`` is 108 bytes on Linux).
_MAX_SOCKET_PATH = 100
_SOCKET_NAME = ".s.PGSQL.5432"
_START_TIMEOUT_S = 60


class ServerFailed(CdcgenError):
    """The embedded server could not be started."""

    exit_code = 2


@dataclass
class DemoServer:
    """A running local server: its DSN, where its data and socket live, how to stop it."""

    dsn: str
    data_dir: Path
    socket_dir: Path
    backend: str  # "pgserver" or the path of the pg_ctl used
    stop_command: list[str]
    _stop: Callable[[], None] = field(repr=False)
    _remove_data_dir: bool = field(default=False, repr=False)

    @property
    def psql_command(self) -> str:
        return f"psql {shlex.quote(self.dsn)}"

    @property
    def stop_hint(self) -> str:
        return shlex.join(self.stop_command)

    def stop(self) -> None:
        """Stop the server and, if the demo created the data directory, remove it."""
        try:
            self._stop()
        finally:
            if self._remove_data_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)


def start_server(data_dir: Path | None = None, *, keep: bool = False) -> DemoServer:
    """Start a local server in ``data_dir`` (a new temporary directory if ``None``).

    With ``keep`` the server must outlive this process, so nothing is registered to
    stop it at exit and a temporary data directory is not removed.
    """
    created = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="cdcgen-demo-")) if data_dir is None else data_dir
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    remove = created and not keep
    try:
        import pgserver  # noqa: F401  (optional dependency: cdcgen[demo])
    except ImportError:
        return _start_from_path(directory, remove=remove)
    return _start_pgserver(directory, keep=keep, remove=remove)


# --------------------------------------------------------------------------- pgserver


def _start_pgserver(directory: Path, *, keep: bool, remove: bool) -> DemoServer:
    import pgserver
    from pgserver._commands import POSTGRES_BIN_PATH

    try:
        # cleanup_mode=None: pgserver would otherwise stop the server at interpreter exit.
        handle: Any = pgserver.get_server(directory, cleanup_mode=None if keep else "stop")
    except Exception as exc:  # pgserver raises CalledProcessError, TimeoutExpired, OSError…
        raise ServerFailed(
            f"could not start the embedded PostgreSQL in {directory}: {exc}\n"
            "Pass --dsn postgresql://… to use another server."
        ) from None
    info = handle.get_postmaster_info()
    socket_dir = Path(info.socket_dir) if info.socket_dir else directory
    os_user = handle.system_user  # set when running as root
    stop = [
        *_as_user(os_user),
        str(POSTGRES_BIN_PATH / "pg_ctl"),
        "-D",
        str(directory),
        "-w",
        "stop",
    ]

    def _stop() -> None:
        # handle.cleanup() stops only in cleanup_mode "stop" (not for a kept server), and
        # only once no other handle in this process is open: pg_ctl makes sure.
        handle.cleanup()
        subprocess.run(stop, check=False, capture_output=True, timeout=_START_TIMEOUT_S)

    return DemoServer(
        dsn=handle.get_uri(),
        data_dir=directory,
        socket_dir=socket_dir,
        backend="pgserver",
        stop_command=stop,
        _stop=_stop,
        _remove_data_dir=remove,
    )


# --------------------------------------------------------------------------- PATH fallback


def _start_from_path(directory: Path, *, remove: bool) -> DemoServer:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServerFailed(
            "no PostgreSQL to start: install the demo extra (pip install 'cdcgen[demo]' "
            "for pgserver), put initdb and pg_ctl on PATH, or pass --dsn postgresql://…"
        )
    os_user = _unprivileged_user()
    socket_dir = _socket_dir(directory)
    if os_user is not None:
        _hand_over(directory, os_user)
        _hand_over(socket_dir, os_user)
    if not (directory / "PG_VERSION").exists():
        _run(
            [initdb, "-D", str(directory), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            os_user,
            "initdb",
        )
    _run(
        [
            pg_ctl,
            "-D",
            str(directory),
            "-l",
            str(directory / "server.log"),
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-o",
            f"-h '' -k {shlex.quote(str(socket_dir))}",
            "start",
        ],
        os_user,
        f"pg_ctl start (log: {directory / 'server.log'})",
    )
    stop = [*_as_user(os_user), pg_ctl, "-D", str(directory), "-w", "-m", "fast", "stop"]

    def _stop() -> None:
        subprocess.run(stop, check=False, capture_output=True, timeout=_START_TIMEOUT_S)

    return DemoServer(
        dsn=f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}",
        data_dir=directory,
        socket_dir=socket_dir,
        backend=pg_ctl,
        stop_command=stop,
        _stop=_stop,
        _remove_data_dir=remove,
    )


def _unprivileged_user() -> str | None:
    """The OS user to run the server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ServerFailed(
            "PostgreSQL does not run as root and there is no 'postgres' OS user to run it as; "
            "install the demo extra (pgserver creates its own user) or pass --dsn"
        ) from None
    return "postgres"


def _socket_dir(directory: Path) -> Path:
    # A deep data directory can exceed the socket path limit: use a short one then.
    if len(str(directory / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
        return directory
    return Path(tempfile.mkdtemp(prefix="cdcgen-sock-"))


def _hand_over(path: Path, os_user: str) -> None:
    entry = pwd.getpwnam(os_user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


def _as_user(os_user: str | None) -> list[str]:
    return ["runuser", "-u", os_user, "--"] if os_user else []


def _run(command: list[str], os_user: str | None, what: str) -> None:
    try:
        subprocess.run(
            [*_as_user(os_user), *command],
            check=True,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        raise ServerFailed(f"{what} failed: {exc.stderr.strip() or exc.stdout.strip()}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerFailed(f"{what} failed: {exc}") from None

"""Test-only shim: make the REAL ``redshift_connector`` driver talk to plain PostgreSQL.

Nothing here ships in the package. Three things stop the unmodified driver against
PostgreSQL 16 (pgserver):

1. Its start-up packet carries Redshift-only parameters (``client_protocol_version``,
   ``driver_version``, ``os_version``, ``driver_discovery_version``, ``plugin_name``…).
   PostgreSQL treats every start-up parameter as a setting and rejects unknown ones
   with ``FATAL: unrecognized configuration parameter``. The packet is built inside
   ``Connection.__init__`` with no hook, so the shim filters it on its way out: the
   socket the driver creates is a subclass whose ``send`` drops those parameters
   from the start-up packet (and only from it).
2. It must be told ``ssl=False`` (PostgreSQL here has no certificate; the driver
   would otherwise insist on Redshift's CA bundle). That is a connect argument.
3. It parses ``server_version`` with ``packaging.version``, which fails on strings such
   as ``16.2 (Debian 16.2-1.pgdg120+2)``. The shim's ``Connection`` subclass passes
   on only the leading version number.

Everything past the start-up (queries, the extended protocol, COMMIT, CALL) is the
driver's own code path. pgserver listens on a unix socket only, so the tests use
the driver's own ``unix_sock`` argument rather than opening a TCP port.

Use :func:`redshift_connector_on_postgres` as a context manager; it undoes every
patch on exit, even when the test fails.
"""

from __future__ import annotations

import re
import socket
import struct
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redshift_connector
import redshift_connector.core as rs_core

#: Start-up parameters PostgreSQL understands; everything else the driver sends is
#: a Redshift extension.
POSTGRES_STARTUP_PARAMETERS = frozenset(
    {b"user", b"database", b"application_name", b"options", b"client_encoding", b"replication"}
)
_PROTOCOL_3_0 = 196608


def strip_redshift_startup_parameters(packet: bytes) -> bytes:
    """The same start-up packet without Redshift-only parameters; any other message
    (an SSL request, a query) is returned unchanged.

    >>> body = struct.pack("!i", 196608) + b"user\\0ann\\0os_version\\0Linux\\0\\0"
    >>> packet = struct.pack("!i", len(body) + 4) + body
    >>> strip_redshift_startup_parameters(packet)[8:]
    b'user\\x00ann\\x00\\x00'
    """
    if len(packet) < 9 or struct.unpack("!ii", packet[:8]) != (len(packet), _PROTOCOL_3_0):
        return packet
    fields = packet[8:].split(b"\0")[:-2]  # the packet ends with an empty name and NUL
    kept = bytearray(struct.pack("!i", _PROTOCOL_3_0))
    for name, value in zip(fields[::2], fields[1::2], strict=True):
        if name in POSTGRES_STARTUP_PARAMETERS:
            kept += name + b"\0" + value + b"\0"
    kept += b"\0"
    return struct.pack("!i", len(kept) + 4) + bytes(kept)


def plain_server_version(value: bytes) -> bytes:
    """``16.2 (Debian 16.2-1.pgdg120+2)`` → ``16.2``; what ``packaging`` can parse.

    >>> plain_server_version(b"16.2 (Debian 16.2-1.pgdg120+2)"), plain_server_version(b"16beta1")
    (b'16.2', b'16')
    """
    match = re.match(rb"\d+(\.\d+)*", value)
    return match.group(0) if match else b"0"


class _StartupFilteringSocket(socket.socket):
    """The driver's socket: the first message it sends is the start-up packet.

    ``socket.makefile`` writes through ``send``, so overriding it here sees every byte.
    """

    _startup_sent = False

    def send(self, data: Any, flags: int = 0) -> int:
        if self._startup_sent:
            return super().send(data, flags)
        original = bytes(data)
        filtered = strip_redshift_startup_parameters(original)
        if filtered is original:  # not the start-up packet (e.g. a partial write)
            return super().send(data, flags)
        self._startup_sent = True
        self.sendall(filtered, flags)
        return len(original)  # the caller accounts for the bytes it handed over


class _PostgresTolerantConnection(rs_core.Connection):
    def handle_PARAMETER_STATUS(self, data: bytes, ps: Any) -> None:
        name, _, rest = data.partition(b"\0")
        if name == b"server_version":
            data = name + b"\0" + plain_server_version(rest.rstrip(b"\0")) + b"\0"
        super().handle_PARAMETER_STATUS(data, ps)


def _socket_module_with_filter() -> types.ModuleType:
    """A stand-in for the ``socket`` module as seen by ``redshift_connector.core``."""
    module = types.ModuleType("socket_for_redshift_connector")
    module.__dict__.update(socket.__dict__)
    module.socket = _StartupFilteringSocket  # type: ignore[attr-defined]
    return module


@contextmanager
def redshift_connector_on_postgres() -> Iterator[None]:
    """Patch ``redshift_connector`` to reach PostgreSQL for the duration of the block."""
    saved_socket, saved_connection = rs_core.socket, redshift_connector.Connection
    rs_core.socket = _socket_module_with_filter()  # type: ignore[assignment]
    # connect() builds ``Connection`` by its name in the package namespace.
    redshift_connector.Connection = _PostgresTolerantConnection  # type: ignore[misc]
    try:
        yield
    finally:
        rs_core.socket = saved_socket
        redshift_connector.Connection = saved_connection  # type: ignore[misc]


def unix_socket_path(pg_uri: str) -> str:
    """The socket file of a pgserver URI such as ``postgresql://postgres:@/postgres?host=/tmp/x``."""
    directory = re.search(r"[?&]host=([^&]+)", pg_uri)
    port = re.search(r"@[^/]*:(\d+)/", pg_uri)
    if directory is None:
        raise ValueError(f"not a unix-socket URI: {pg_uri}")
    return f"{directory.group(1)}/.s.PGSQL.{port.group(1) if port else 5432}"

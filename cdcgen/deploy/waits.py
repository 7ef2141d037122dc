"""Say so when a run waits for another session's lock, instead of hanging silently.

The run procedure starts with ``LOCK TABLE <cdc>.run_log IN EXCLUSIVE MODE`` so two
runs of a pipeline never overlap; the second simply blocks. :func:`notice_when_blocked`
watches the blocked session from a second connection (opened only after ``after``
seconds, so a run that is not blocked costs nothing) and reports who holds the lock.

- PostgreSQL: ``pg_blocking_pids`` and ``pg_stat_activity`` (no special privilege).
- Redshift: ``SVV_TRANSACTIONS``, which a regular user may read but which shows only
  that user's own sessions; a lock held by another user is reported without its holder.
  Untested against a real cluster (the tests run PostgreSQL).

The watcher is best effort: if it cannot connect or query, the run goes on unreported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from cdcgen.deploy.connect import Database

POLL_SECONDS = 1.0


@contextmanager
def notice_when_blocked(
    db: Database,
    open_watcher: Callable[[], Database],
    on_blocked: Callable[[str], None],
    *,
    after: float = 2.0,
) -> Iterator[None]:
    """Around a statement on ``db`` that may wait for a lock: call ``on_blocked(text)``
    once if it is still waiting for one after ``after`` seconds."""
    pid = db.scalar("SELECT pg_backend_pid()", what="ask the session's process id")
    stop = threading.Event()
    thread = threading.Thread(
        target=_watch, args=(pid, db.dialect, open_watcher, on_blocked, stop, after), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _watch(
    pid: int,
    dialect: str,
    open_watcher: Callable[[], Database],
    on_blocked: Callable[[str], None],
    stop: threading.Event,
    after: float,
) -> None:
    if stop.wait(after):
        return
    with suppress(Exception), open_watcher() as watcher:
        while not stop.is_set():
            holder = blocking_holder(watcher, pid, dialect)
            if holder is not None:
                if not stop.is_set():
                    on_blocked(holder)
                return
            if stop.wait(POLL_SECONDS):
                return


def blocking_holder(watcher: Database, pid: int, dialect: str) -> str | None:
    """A description of the session blocking ``pid``, or None when it waits for no lock."""
    if dialect == "redshift":
        return _redshift_holder(watcher, pid)
    rows = watcher.fetch_dicts(
        """
        SELECT a.pid, a.usename, a.xact_start, left(a.query, 80) AS query
        FROM pg_stat_activity a
        WHERE a.pid = ANY (pg_blocking_pids(%s))
        ORDER BY a.xact_start
        """,
        [pid],
        what="look for the session holding the lock",
    )
    if not rows:
        return None
    first = rows[0]
    since = (
        first["xact_start"].isoformat(sep=" ", timespec="seconds") if first["xact_start"] else "?"
    )
    return (
        f"session {first['pid']} of {first['usename']} (in a transaction since {since}, "
        f"running: {' '.join(str(first['query'] or '').split())})"
    )


def _redshift_holder(watcher: Database, pid: int) -> str | None:
    waiting = watcher.fetchall(
        "SELECT relation FROM svv_transactions WHERE pid = %s AND granted = false",
        [pid],
        what="look for the lock this run waits for",
    )
    if not waiting:
        return None
    holders = watcher.fetchall(
        "SELECT pid, txn_start FROM svv_transactions "
        "WHERE relation = %s AND granted = true AND pid <> %s ORDER BY txn_start",
        [waiting[0][0], pid],
        what="look for the session holding the lock",
    )
    if not holders:
        return "a session this user cannot see (SVV_TRANSACTIONS shows only your own)"
    return f"session {holders[0][0]} (in a transaction since {holders[0][1]})"

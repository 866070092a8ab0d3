"""A call on a network gone silent: noticed, and ended with a clear :class:`StoreError` (issue 23).

A connection whose network goes silent (a stalled relay, a hung pooler, a NAT that lost the
connection's state, a cable pulled with no reset) leaves a query waiting for a reply that never
comes: the kernel's keepalives and ``tcp_user_timeout`` only notice a peer that stopped
acknowledging, not one that acknowledges and says nothing. So every call of the PostgreSQL store
runs under a :class:`Watchdog`: a call still waiting after ``after`` seconds (``RUNLOG_STORE_TIMEOUT``)
makes it ask the server, over a new connection (within the same timeout), what the call's server
process is doing (``pg_stat_activity``). When the server is working on it (a large read, a lock
wait), the call is left alone and asked about again ``after`` seconds later. When the server cannot
be reached, or is not working on the call (it answered and waits for the client, or the session is
gone), the call's socket is shut down, so the call fails at once, and the store raises
:class:`StoreError` saying that the server did not answer for that long. A call on a silent network
therefore ends within about twice ``RUNLOG_STORE_TIMEOUT``.

One daemon thread per store, started by the first call and ended when no call was watched for
``after`` seconds; a call that ends in time costs two lock round trips. No psycopg here: the store
hands in the probe.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Watch", "Watchdog"]


class Watch:
    """One call being watched: its connection, when it is checked next, and whether it was ended."""

    __slots__ = ("conn", "due", "fired")

    def __init__(self, conn: Any, due: float) -> None:
        self.conn, self.due, self.fired = conn, due, False


class Watchdog:
    """Watches calls; ``probe(pids)`` says which of the server processes ``pids`` are still working.

    Args:
        probe: returns the server process ids, among those given, that are working on a call (not
            waiting for their client), or ``None`` when the server cannot be reached (within its own
            timeout).
        after: seconds a call may wait before the server is asked.
    """

    def __init__(self, probe: Callable[[list[int]], set[int] | None], after: float) -> None:
        self.probe, self.after = probe, after
        self._cond = threading.Condition(threading.Lock())
        self._watches: list[Watch] = []
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @contextlib.contextmanager
    def watch(self, conn: Any) -> Iterator[Watch]:
        """Watch one call on ``conn`` for as long as the ``with`` block runs."""
        entry = Watch(conn, time.monotonic() + self.after)
        with self._cond:
            if self._pid != os.getpid():  # forked: the parent's thread is not ours
                self._pid, self._thread, self._watches = os.getpid(), None, []
            self._watches.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="runlog-pg-watchdog", daemon=True)
                self._thread.start()
        try:
            yield entry
        finally:
            with self._cond:
                self._watches.remove(entry)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._watches:
                    self._cond.wait(self.after)
                    if not self._watches:
                        self._thread = None
                        return
                    continue
                now = time.monotonic()
                waiting = [entry for entry in self._watches if not entry.fired]
                due = [entry for entry in waiting if entry.due <= now]
                if not due:
                    self._cond.wait(max(0.01, min(entry.due for entry in waiting) - now) if waiting else self.after)
                    continue
            pids = {id(entry): _backend_pid(entry.conn) for entry in due}
            working = self.probe([pid for pid in pids.values() if pid])  # outside the lock: it may take a while
            with self._cond:
                for entry in due:
                    if entry not in self._watches:
                        continue  # it ended meanwhile
                    if working is not None and pids[id(entry)] in working:
                        entry.due = time.monotonic() + self.after
                    else:
                        entry.fired = True
                        _shut(entry.conn)


def _backend_pid(conn: Any) -> int:
    try:
        return int(conn.info.backend_pid)
    except Exception:
        return 0


def _shut(conn: Any) -> None:
    """Shut the connection's socket down: a call blocked on it returns at once, with an error."""
    try:
        fd = conn.pgconn.socket
        duplicate = socket.socket(fileno=os.dup(fd))
    except Exception:
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()

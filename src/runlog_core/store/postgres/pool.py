"""A bounded pool of connections for reads (``PostgresStore.limit_connections``: the web UI's).

At most ``most`` connections exist; a caller that finds them all in use waits for one (up to
``wait_seconds``, then :class:`StoreError`) rather than opening more. A connection comes back after
each call; one idle for ``idle_seconds`` is closed by a daemon thread, which ends when none is
left idle (the next return starts it again). A connection that comes back closed or broken is
dropped. A thread that already holds one (a call inside a call) gets the same one. No psycopg here:
connections are opened by the ``connect`` callable and closed by ``close``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from runlog_core.exceptions import StoreError

__all__ = ["Pool"]


class Pool:
    """Connections from ``connect()``, at most ``most`` at a time, closed with ``close(conn)`` when idle."""

    def __init__(self, connect: Callable[[], Any], close: Callable[[Any], None], most: int, idle_seconds: float,
                 wait_seconds: float, where: str) -> None:
        if most < 1:
            raise ValueError(f"a pool holds at least one connection, not {most}")
        self.most, self.idle_seconds, self.wait_seconds = most, idle_seconds, wait_seconds
        self._connect, self._close, self._where = connect, close, where
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # takers wait on it for a free connection
        self._tick = threading.Condition(self._lock)  # the idle reaper waits on it
        self._in_use: dict[int, bool] = {}  # id of each connection in use -> closed by close() meanwhile
        self._idle: list[tuple[Any, float]] = []  # (connection, when it came back), the latest last
        self._open = 0  # connections that exist: idle, in use or being opened
        self._held = threading.local()
        self._reaper: threading.Thread | None = None
        self._pid = os.getpid()
        self._inherited: list[Any] = []  # a forked child's copies of its parent's: never used, never closed

    def counts(self) -> tuple[int, int]:
        """``(connections open, of which idle)``."""
        with self._cond:
            return self._open, len(self._idle)

    def add_idle(self, conn: Any) -> None:
        """Take ``conn`` (opened elsewhere) as an idle connection, or close it when the pool is full."""
        with self._cond:
            if self._open < self.most:
                self._open += 1
                self._idle.append((conn, time.monotonic()))
                self._start_reaper()
                self._cond.notify()
                return
        self._close(conn)

    @contextlib.contextmanager
    def lease(self) -> Iterator[Any]:
        """A connection for the duration of the block, this thread's own meanwhile."""
        held = getattr(self._held, "conn", None)
        if held is not None and self._pid == os.getpid():
            yield held
            return
        conn = self._take()
        self._held.conn = conn
        try:
            yield conn
        finally:
            self._held.conn = None
            self._give_back(conn)

    def _take(self) -> Any:
        deadline = time.monotonic() + self.wait_seconds
        with self._cond:
            self._after_fork()
            while True:
                while self._idle:
                    conn, _ = self._idle.pop()
                    if not (conn.closed or conn.broken):
                        self._in_use[id(conn)] = False
                        return conn
                    self._open -= 1
                    self._close(conn)
                if self._open < self.most:
                    self._open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreError(f"all {self.most} connections to {self._where} stayed in use for "
                                     f"{self.wait_seconds:g} s (RUNLOG_STORE_TIMEOUT); try again")
                self._cond.wait(left)
        try:
            conn = self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._in_use[id(conn)] = False
        return conn

    def _give_back(self, conn: Any) -> None:
        with self._cond:
            if self._pid != os.getpid():
                return  # taken before a fork: the parent's
            retired = self._in_use.pop(id(conn), False)
            if retired or conn.closed or conn.broken:
                self._open -= 1
                self._cond.notify()
                dropped = True
            else:
                self._idle.append((conn, time.monotonic()))
                self._start_reaper()
                self._cond.notify()
                dropped = False
        if dropped:
            self._close(conn)

    def _start_reaper(self) -> None:
        if self._reaper is None:  # under self._cond
            self._reaper = threading.Thread(target=self._reap, name="runlog-pg-idle", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Close connections idle for ``idle_seconds``; end when none is idle."""
        while True:
            with self._cond:
                now = time.monotonic()
                expired = [conn for conn, since in self._idle if now - since >= self.idle_seconds]
                self._idle = [(conn, since) for conn, since in self._idle if now - since < self.idle_seconds]
                self._open -= len(expired)
                if not expired:
                    if not self._idle:
                        self._reaper = None
                        return
                    self._tick.wait(min(since for _, since in self._idle) + self.idle_seconds - now)
            for conn in expired:
                self._close(conn)

    def _after_fork(self) -> None:
        """In a forked child, forget the parent's connections (under self._cond)."""
        if self._pid != os.getpid():
            self._inherited.extend(conn for conn, _ in self._idle)
            self._idle, self._open, self._reaper, self._pid, self._in_use = [], 0, None, os.getpid(), {}
            self._held = threading.local()

    def close(self) -> None:
        """Close the idle connections; those in use close when they come back. The pool can be used again."""
        with self._cond:
            self._after_fork()
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._in_use = dict.fromkeys(self._in_use, True)
            self._cond.notify_all()
            self._tick.notify_all()
        for conn, _ in idle:
            self._close(conn)

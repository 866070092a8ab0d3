"""The SQLite store's connections: one per thread (and per process after a fork), the write
transaction (:meth:`SQLiteDatabase.atomic`), retrying while another process holds the lock,
and the translation of sqlite3 errors into runlog's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

from . import _config
from ._sqlite_schema import quote_identifier
from .exceptions import StoreError

__all__ = ["SQLiteDatabase", "store_errors"]

_BUSY_TIMEOUT_MS: Final = 60_000
_LOCK_RETRY_SECONDS: Final = 600.0

_P = ParamSpec("_P")
_T = TypeVar("_T")


def store_errors(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Let no sqlite3 error out: a store that cannot be used raises :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as err:
            store = args[0]
            raise StoreError(f"the store {getattr(store, 'path', '')} failed: {err}") from err

    return wrapper


class SQLiteDatabase:
    """Connections to one SQLite file, created private to the user (folder 0700, file 0600) when missing.

    Raises:
        StoreError: the file cannot be created.
    """

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(db_path).absolute()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._pid = os.getpid()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as err:
            raise StoreError(f"cannot create the store at {self.path}: {err}") from err

    # -- connections and transactions ----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():
            if self._pid != os.getpid():  # forked: never reuse the parent's connections
                self._local = threading.local()
                self._connections = []
                self._connections_lock = threading.Lock()
                self._pid = os.getpid()
            conn = self._open_connection()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _open_connection(self) -> sqlite3.Connection:
        # read before connecting: a bad RUNLOG_SYNC is a ConfigError, not a leaked connection
        sync = "FULL" if _config.sync() == "full" else "NORMAL"
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the store {self.path}: {err}") from err
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            # NORMAL in WAL mode: a committed batch survives a crash of the process; only a power
            # loss or OS crash can take the last commits. RUNLOG_SYNC=full makes those durable too.
            conn.execute(f"PRAGMA synchronous = {sync}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _retry(self, action: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if "locked" not in text and "busy" not in text:
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(f"the store {self.path} stayed locked for {_LOCK_RETRY_SECONDS:.0f} s: "
                                     f"{err}") from err
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested use becomes a savepoint."""
        conn = self._conn()
        depth = getattr(self._local, "depth", 0)
        if depth:
            name = quote_identifier(f"sp{depth}")
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield conn
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth = depth
            return
        self._retry(lambda: conn.execute("BEGIN IMMEDIATE"))
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                self._retry(lambda: conn.execute("COMMIT"))
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._local.depth = 0

    def close(self) -> None:
        """Close every connection of this process; idempotent. A later call opens new ones."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        if self._pid == os.getpid():  # a forked child must not touch its parent's connections
            for conn in connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._local = threading.local()


"""The SQLite store's connections: one per thread (and per process after a fork), the write
transaction (:meth:`SQLiteDatabase.atomic`), retrying while another process holds the lock,
and the translation of sqlite3 errors into runlog's.

How long a call waits for a lock another process holds: ``RUNLOG_STORE_TIMEOUT`` (10 s), then
:class:`StoreError` naming the processes that have the database open. The writer thread waits
less (``threading.current_thread().runlog_busy_timeout``): it keeps what it could not write in
memory and tries again next cycle, so the training never waits and the buffer stays bounded.
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

from runlog_core.base import config as _config
from runlog_core.exceptions import StoreBusyError, StoreError
from runlog_core.store.artifacts.local import make_private_dirs
from runlog_core.store.sqlite.schema import quote_identifier

__all__ = ["SQLiteDatabase", "lock_holders", "readable", "store_errors"]

# how long another process may take between creating a new database file and writing its schema
_CREATING_SECONDS: Final = 2.0
# the WAL file is cut back to this size after each checkpoint (it would keep its largest size)
_WAL_SIZE_LIMIT: Final = 4 * 1024 * 1024


def _busy_seconds() -> float:
    """How long this thread waits for another process's lock (the writer thread says less)."""
    own = getattr(threading.current_thread(), "runlog_busy_timeout", None)
    return float(own) if own is not None else _config.store_timeout()


def lock_holders(path: Path) -> list[str]:
    """Other processes that have the database (or its WAL) open, as ``"pid 12: cmdline"`` (Linux /proc)."""
    targets = {str(path), f"{path}-wal", f"{path}-shm"}
    found = []
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != os.getpid()]
    except OSError:
        return []
    for pid in pids:
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & targets:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            found.append(f"pid {pid}: {command[:120]}")
    return found


def _explain(path: Path, err: sqlite3.Error) -> str:
    """What a sqlite3 error means for a runlog user, and what to do."""
    text = str(err).lower()
    if "not a database" in text or "malformed" in text or "disk image" in text:
        return (f"{path} is not a runlog store or is damaged ({err}); restore it from a backup, or move it "
                "away to start a new store there")
    if "readonly" in text or "read-only" in text:
        return f"the store {path} is read-only ({err}); check the permissions of the file and its folder"
    if "unable to open" in text:
        return f"cannot open the store {path} ({err}); check that its folder exists and is writable"
    if "full" in text:
        return f"the disk holding the store {path} is full ({err}); free some space"
    return f"the store {path} failed: {err}"

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
            raise StoreError(_explain(Path(getattr(store, "path", "")), err)) from err

    return wrapper


def readable(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """A stored value that cannot be decoded (a damaged file: #9) is a :class:`StoreError`, not a ValueError."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except (ValueError, TypeError, OverflowError) as err:
            path = getattr(args[0], "path", "the store")
            raise StoreError(f"{path} is damaged: {method.__name__} read a value it cannot decode ({err!r}); "
                             "restore it from a backup") from err

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
        self._identity: tuple[int, int] | None = None
        self._create_file()

    def _create_file(self) -> None:
        try:
            make_private_dirs(self.path.parent)
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                if _left_empty(self.path):
                    raise StoreError(f"{self.path} is empty (0 bytes), not a runlog store; delete it to start "
                                     "a new store there, or restore it from a backup") from None
            stat = self.path.stat()
        except OSError as err:
            raise StoreError(f"cannot create the store at {self.path}: {err}") from err
        self._identity = (stat.st_dev, stat.st_ino)

    # -- the file itself -------------------------------------------------------------------------

    def verify(self) -> bool:
        """Whether the database file is still the one this store opened (not deleted or replaced)."""
        try:
            stat = self.path.stat()
        except OSError:
            return False
        return self._identity is None or (stat.st_dev, stat.st_ino) == self._identity

    def recreate(self) -> None:
        """The file was deleted under the store: create it again at the same place, with the schema."""
        from runlog_core.store.sqlite.schema import migrate

        self.close()
        self._create_file()
        migrate(self._conn(), self.atomic, str(self.path))

    def restore_experiment(self, experiment_id: int, name: str) -> None:
        """Recreate the experiment ``name`` under its former id (after :meth:`recreate`)."""
        with self.atomic() as conn:
            conn.execute("INSERT INTO experiments(id, name, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         (experiment_id, name, time.time()))

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
        busy_ms = int(_busy_seconds() * 1000)
        try:
            conn = sqlite3.connect(self.path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise StoreError(_explain(self.path, err)) from err
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            # a new file: space freed by `runlog gc` goes back to the disk a slice at a time (issue 20);
            # chosen before WAL mode, which writes the header (an existing store keeps its mode)
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            # NORMAL in WAL mode: a committed batch survives a crash of the process; only a power
            # loss or OS crash can take the last commits. RUNLOG_SYNC=full makes those durable too.
            conn.execute(f"PRAGMA synchronous = {sync}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _retry(self, action: Callable[[], _T]) -> _T:
        wait = _busy_seconds()
        deadline = time.monotonic() + wait
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if "locked" not in text and "busy" not in text:
                    raise
                if time.monotonic() > deadline:
                    raise StoreBusyError(str(self.path), wait, lock_holders(self.path), str(err)) from err
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

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
        """Close every connection of this process; idempotent. A later call opens new ones.

        The last connection folds the WAL back into the database, so no large ``-wal`` file stays.
        """
        with self._connections_lock:
            connections, self._connections = self._connections, []
        if self._pid == os.getpid():  # a forked child must not touch its parent's connections
            for index, conn in enumerate(connections):
                if index == len(connections) - 1:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._local = threading.local()


def _left_empty(path: Path) -> bool:
    """An empty database file that is not being created right now by another process.

    A process creating a store makes the file, then writes the schema a moment later: an empty
    file younger than a few seconds is waited for; one older than that (or still empty after the
    wait) was left empty, and is not a store.
    """
    deadline = time.monotonic() + _CREATING_SECONDS
    while True:
        try:
            stat = path.stat()
        except OSError:
            return False
        if stat.st_size > 0 or _wal_exists(path):
            return False
        if time.time() - stat.st_mtime > _CREATING_SECONDS or time.monotonic() > deadline:
            return True
        time.sleep(0.02)


def _wal_exists(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False

"""Connections to one PostgreSQL database: one per thread, reopened when broken, never shared across a fork;
or, for reads once :meth:`PostgresDatabase.limit_connections` is called (the web UI), a bounded pool.

:class:`PostgresDatabase` holds what a connection needs: the URI with its password (never shown:
every driver message goes through ``_scrub``), the host and port messages name,
and ``RUNLOG_STORE_TIMEOUT``. Each thread, the writer thread's included, gets its own connection
(so a batch never waits for a reader), opened on first use, dropped when broken (a restarted server)
and opened again on the next call; a forked child opens its own and never touches its parent's.
psycopg is imported here, on the first connection (``pip install 'runlog[postgres]'``).

Timeouts: connecting waits at most ``RUNLOG_STORE_TIMEOUT`` (libpq's ``connect_timeout``); a peer
that stops acknowledging is dropped by TCP keepalives and ``tcp_user_timeout``; and a call whose
network goes silent (acknowledged, never answered) ends within about twice ``RUNLOG_STORE_TIMEOUT``
with a :class:`StoreError` that says so (:mod:`.watch`).
"""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from runlog_core.base import config as _config
from runlog_core.base.redact import redact_value
from runlog_core.base.uri import parse_store_uri, with_password
from runlog_core.exceptions import StoreError
from runlog_core.store.postgres.pool import Pool
from runlog_core.store.postgres.schema import schema_version
from runlog_core.store.postgres.watch import Watchdog

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresDatabase", "driver", "store_exists"]

_T = TypeVar("_T")
# a forked child's copies of its parent's connections: kept referenced, never closed (closing
# would end the parent's sessions on the server)
_inherited: list[object] = []


def driver() -> Any:
    """psycopg, imported on first use (``pip install 'runlog[postgres]'``)."""
    try:
        import psycopg
    except ImportError as err:
        from runlog_core.exceptions import MissingDependencyError

        raise MissingDependencyError("psycopg", "a PostgreSQL store", install="runlog[postgres]") from err
    return psycopg


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # already gone: nothing to release
        pass


class PostgresDatabase:
    """The connections of this process to the database ``uri`` names; none is opened before the first call.

    The base of :class:`~runlog_core.store.postgres.store.PostgresStore`: ``_run`` runs a read or a
    statement on this thread's connection, ``_conn`` is that connection, ``_explain`` words an error.

    Args:
        uri: a ``postgresql://`` URI; a redacted one (``:***@``) gets its password back through
            :func:`runlog_core.base.uri.with_password`.

    Raises:
        StoreError: ``uri`` is not one libpq can use (the message shows it without the password).
    """

    def __init__(self, uri: str) -> None:
        pg = driver()
        self._conninfo = with_password(uri)
        self._address = parse_store_uri(self._conninfo)
        self.uri = self._address.redacted
        try:
            pg.conninfo.conninfo_to_dict(self._conninfo)  # libpq's own checks (its options, escapes)
        except pg.Error as err:
            raise StoreError(f"{self.uri} is not a PostgreSQL URI runlog can use: {self._scrub(str(err))}") from None
        self._where = f"host {self._address.host or 'localhost'}, port {self._address.port or 5432}"
        self._timeout = max(2, math.ceil(_config.store_timeout()))
        self._lock = threading.Lock()
        self._by_thread: dict[threading.Thread, psycopg.Connection[Any]] = {}
        self._pid = os.getpid()
        self._pool: Pool | None = None  # bounded reads, once limit_connections is called
        self._watchdog = Watchdog(self._probe, float(self._timeout))

    def _probe(self, pids: list[int]) -> set[int] | None:
        """The watchdog's question: which of the server processes ``pids`` work on a call now (not waiting
        for their client); ``None`` when the server cannot be reached on a new connection."""
        pg = driver()
        try:
            conn = self._connect()
        except StoreError:
            return None
        try:
            # 'active' and not reading from its client: running, waiting on a lock, or sending a result
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s) AND state = 'active'"
                                " AND wait_event IS DISTINCT FROM 'ClientRead'", (pids,)).fetchall()
            return {int(row[0]) for row in rows}
        except pg.Error:
            return None
        finally:
            _close_quietly(conn)

    def _silent(self, doing: str) -> StoreError:
        """The error of a call that the watchdog ended: no answer, and the server was not working on it."""
        return StoreError(f"{doing} the PostgreSQL store {self.uri} ({self._where}): the server did not answer "
                          f"within {self._timeout} s (RUNLOG_STORE_TIMEOUT), and a new connection found it not "
                          "working on the call, or could not be made: the network went silent; the call was "
                          "given up")

    def _scrub(self, text: str) -> str:
        """``text`` without the password (drivers may quote the URI or the connection string)."""
        return redact_value(self._address.hide_password(text))

    def _explain(self, action: str, err: BaseException) -> str:
        """``{action} the PostgreSQL store {uri} ({host, port}): {the driver's message, scrubbed}``."""
        detail = self._scrub(str(err).strip().replace("\n", " "))
        return f"{action} the PostgreSQL store {self.uri} ({self._where}): {detail}"

    def _connect(self, create: bool = False) -> psycopg.Connection[Any]:
        """A new autocommit connection; with ``create``, a missing database is created first."""
        pg = driver()
        try:
            conn: psycopg.Connection[Any] = pg.connect(
                self._conninfo, autocommit=True, connect_timeout=self._timeout, application_name="runlog",
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                tcp_user_timeout=self._timeout * 1000)
        except pg.Error as err:
            if create and "does not exist" in str(err) and "database" in str(err):
                self._create_database(err)
                return self._connect()
            raise StoreError(self._explain("cannot connect to", err) + "; check that the server runs and "
                             f"accepts connections there (waited at most {self._timeout} s: RUNLOG_STORE_TIMEOUT)"
                             ) from None
        return conn

    def _create_database(self, missing: BaseException) -> None:
        """Create the URI's database through the server's ``postgres`` database (needs CREATEDB).

        Losing a race to another process creating it at the same time is success: it exists now.
        PostgreSQL says so with ``DuplicateDatabase`` when the other's database was already there,
        or with a ``UniqueViolation`` on ``pg_database``'s name when both created it at once.
        """
        pg = driver()
        from psycopg import sql

        # libpq's default database is the user's name
        name = self._address.database or self._address.user or getpass.getuser()
        try:
            with pg.connect(pg.conninfo.make_conninfo(self._conninfo, dbname="postgres"), autocommit=True,
                            connect_timeout=self._timeout) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (pg.errors.DuplicateDatabase, pg.errors.UniqueViolation):
            return  # another process created it meanwhile
        except pg.Error as err:
            raise StoreError(self._explain("cannot connect to", missing) + f"; creating it failed too "
                             f"({self._scrub(str(err).strip())}): create it with `createdb {name}`") from None

    def _conn(self, create: bool = False) -> psycopg.Connection[Any]:
        """This thread's connection, opened (again) when missing, broken, or inherited through a fork."""
        thread = threading.current_thread()
        conn = self._by_thread.get(thread)
        if conn is not None and self._pid == os.getpid() and not conn.closed and not conn.broken:
            return conn
        with self._lock:
            if self._pid != os.getpid():  # forked: never use (nor close) the parent's connections
                _inherited.extend(self._by_thread.values())
                self._by_thread = {}
                self._pid = os.getpid()
            stale = [t for t, c in self._by_thread.items() if t is thread or not t.is_alive() or c.broken]
            for old in stale:
                _close_quietly(self._by_thread.pop(old))
        conn = self._connect(create)
        with self._lock:
            self._by_thread[thread] = conn
        return conn

    def _discard(self, conn: psycopg.Connection[Any]) -> None:
        """Drop ``conn`` when the server is gone for it; the next call connects again."""
        if conn.closed or conn.broken:
            with self._lock:
                for thread, found in list(self._by_thread.items()):
                    if found is conn:
                        del self._by_thread[thread]
            _close_quietly(conn)

    def limit_connections(self, most: int, idle_seconds: float = 10.0) -> None:
        """Read through at most ``most`` connections from now on, closing those idle for ``idle_seconds``.

        Optional in the store contract (:mod:`runlog_core.store`); the web UI calls it. A read that
        finds them all in use waits for one (``RUNLOG_STORE_TIMEOUT``, then :class:`StoreError`).
        Writes (``write``, from the writer thread) keep a connection of their own, so a batch never
        waits for a reader; this thread's connection joins the pool.
        """
        pool = Pool(self._connect, _close_quietly, most, idle_seconds, float(self._timeout),
                    f"the PostgreSQL store {self.uri} ({self._where})")
        with self._lock:
            old, self._pool = self._pool, pool
            mine = self._by_thread.pop(threading.current_thread(), None) if self._pid == os.getpid() else None
        if old is not None:
            old.close()
        if mine is not None:
            if mine.closed or mine.broken:
                _close_quietly(mine)
            else:
                pool.add_idle(mine)

    @contextlib.contextmanager
    def _lease(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one call: this thread's own, or one of the pool's after :meth:`limit_connections`."""
        pool = self._pool
        if pool is None:
            yield self._conn()
            return
        with pool.lease() as conn:
            yield conn

    def _run(self, action: Callable[[psycopg.Connection[Any]], _T], doing: str = "cannot read") -> _T:
        """``action`` on this thread's connection (or a pooled one); a connection found broken (a restarted
        server) is replaced and the action tried once more. Driver errors become :class:`StoreError`."""
        pg = driver()
        for attempt in (1, 2):
            with self._lease() as conn, self._watchdog.watch(conn) as watched:
                try:
                    return action(conn)
                except pg.Error as err:
                    broken = conn.closed or conn.broken
                    self._discard(conn)
                    if watched.fired:
                        raise self._silent(doing) from None
                    if broken and attempt == 1:
                        continue
                    raise StoreError(self._explain(doing, err)) from None
                except (ValueError, TypeError, OverflowError) as err:
                    raise StoreError(f"the PostgreSQL store {self.uri} holds a value runlog cannot decode ({err!r})"
                                     ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every connection this process opened; idempotent. A later call opens new ones."""
        self._close_connections()

    def _close_connections(self) -> bool:
        """Close this process's connections; ``False`` in a forked child, which closes nothing of its parent's."""
        with self._lock:
            connections, self._by_thread = list(self._by_thread.values()), {}
            forked = self._pid != os.getpid()
            self._pid = os.getpid()
            pool = self._pool
        if pool is not None:
            pool.close()  # a forked child's pool forgets its parent's connections, closing none
        if forked:
            _inherited.extend(connections)
            return False
        for conn in connections:
            _close_quietly(conn)
        return True


def store_exists(uri: str) -> bool:
    """Whether the database ``uri`` names holds a runlog store (``False`` when it does not exist).

    Read-only commands ask first, so that looking never creates a store (nor a database).

    Raises:
        StoreError: the server cannot be reached (the message names host and port, not the password).
    """
    pg = driver()
    try:
        probe = PostgresDatabase(uri)
    except StoreError:
        return False  # not a URI libpq can use: no store there
    try:
        conn = probe._connect()
    except StoreError as err:
        if "does not exist" in str(err):
            return False
        raise
    try:
        return schema_version(conn) is not None
    except pg.Error as err:
        raise StoreError(probe._explain("cannot read", err)) from None
    finally:
        _close_quietly(conn)

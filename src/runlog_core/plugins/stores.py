"""The built-in stores, opened without pluggy: what the ``runlog.sqlite`` and ``runlog.postgres`` plugins do.

:mod:`.builtin` registers :func:`open_sqlite` and :func:`open_postgres` as those two plugins. While no
plugin but runlog's own can answer ``runlog_open_store``, :func:`runlog_core.plugins.manager.open_store`
calls :func:`open_builtin` instead, in the plugins' order and with their guard: a submitted script
then opens its store and logs without importing pluggy (issue 18).
"""

from __future__ import annotations

import threading
import warnings

from runlog_core.base.uri import parse_store_uri
from runlog_core.exceptions import RunlogError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from runlog_core.store.postgres.store import PostgresStore
    from runlog_core.store.sqlite.store import SQLiteStore

__all__ = ["open_builtin", "open_postgres", "open_sqlite", "report_plugin_error"]

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def report_plugin_error(hook: str, plugin: str, err: BaseException) -> None:
    """One warning per hook and plugin that raised (its later errors there are not shown)."""
    with _warned_lock:
        if (hook, plugin) in _warned:
            return
        _warned.add((hook, plugin))
    warnings.warn(f"runlog: plugin {plugin!r} raised in {hook}: {err!r}; its later errors in this hook "
                  "are not shown", RuntimeWarning, stacklevel=3)


def open_sqlite(uri: str) -> SQLiteStore | None:
    """The SQLite store of a folder path, ``sqlite:///`` or ``file://`` URI; None for any other URI."""
    address = parse_store_uri(uri)
    if not address.is_local:
        return None
    from runlog_core.store.sqlite.store import SQLiteStore, database_of  # not for a PostgreSQL-only process

    db_path, known_as = database_of(address)
    return SQLiteStore(db_path, uri=known_as)


def open_postgres(uri: str) -> PostgresStore | None:
    """The PostgreSQL store of a ``postgresql://`` or ``postgres://`` URI (psycopg imported only then); else None."""
    if not parse_store_uri(uri).is_postgres:
        return None
    from runlog_core.store.postgres.store import PostgresStore

    return PostgresStore(uri)


def open_builtin(uri: str) -> SQLiteStore | PostgresStore | None:
    """What ``runlog_open_store`` returns with only the built-in store plugins registered.

    Their order (``runlog.sqlite`` is ``trylast``) and their guard: a store's :class:`RunlogError`
    (a newer schema...) reaches the caller; any other error costs one warning, and None.
    """
    for name, opener in (("runlog.postgres", open_postgres), ("runlog.sqlite", open_sqlite)):
        try:
            found = opener(uri)
        except RunlogError:
            raise
        except Exception as err:
            report_plugin_error("runlog_open_store", name, err)
            continue
        if found is not None:
            return found
    return None

"""The built-in store plugins: SQLite for folders and ``sqlite:///`` URIs, PostgreSQL for ``postgresql://``.

:func:`runlog_core.plugins.manager.get_plugin_manager` registers both, as ``runlog.sqlite`` and
``runlog.postgres``. ``runlog_open_store`` stops at the first store returned: the SQLite plugin is
``trylast``, so any other plugin may take a URI from it. The PostgreSQL store, and with it psycopg, is
imported only when a ``postgresql://`` or ``postgres://`` URI is opened. What each does is in
:mod:`.stores`, which opens them without pluggy while no other plugin could take a URI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runlog_core.base.uri import parse_store_uri
from runlog_core.hookspecs import hookimpl
from runlog_core.plugins.stores import open_postgres, open_sqlite

if TYPE_CHECKING:
    from runlog_core.store.postgres.store import PostgresStore
    from runlog_core.store.sqlite.store import SQLiteStore

__all__ = ["PostgresPlugin", "SQLitePlugin", "store_exists"]


class SQLitePlugin:
    """Opens folder paths, ``sqlite:///`` and ``file://`` URIs; registered ``trylast`` so other stores come first."""

    @hookimpl(trylast=True)
    def runlog_open_store(self, uri: str) -> SQLiteStore | None:
        return open_sqlite(uri)


class PostgresPlugin:
    """Opens ``postgresql://`` and ``postgres://`` URIs (psycopg is imported only then)."""

    @hookimpl
    def runlog_open_store(self, uri: str) -> PostgresStore | None:
        return open_postgres(uri)


def store_exists(uri: str) -> bool | None:
    """Whether the built-in store ``uri`` names holds a store yet; ``None`` for another plugin's URI.

    Read-only commands ask first, so that looking never creates a store (nor a database).

    Raises:
        InvalidArgumentError: ``uri`` is malformed.
        StoreError: a PostgreSQL server cannot be reached (the message names host and port, not the password).
    """
    address = parse_store_uri(uri)
    if address.is_local:
        from runlog_core.store.sqlite.store import database_of

        return database_of(address)[0].is_file()
    if address.is_postgres:
        from runlog_core.store.postgres.db import store_exists as database_has_store

        return database_has_store(address.text)
    return None

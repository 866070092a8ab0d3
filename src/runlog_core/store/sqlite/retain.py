"""The SQLite store's part in keeping and removing data (issue 20): deleted runs, ``runlog gc``'s
removal a slice at a time with the space given back to the disk, and the model registry.

The SQL both stores share is in :mod:`runlog_core.store.sql_retain`; this mixin opens the write
transactions (:meth:`SQLiteDatabase.atomic`, short ones: a gc never holds the write lock for long,
so a run logging meanwhile waits at most one slice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from runlog_core.base.records import ModelInfo, RunInfo
from runlog_core.store import sql_retain
from runlog_core.store.sqlite.db import SQLiteDatabase, store_errors
from runlog_core.store.sqlite.filter import placeholder
from runlog_core.store.sqlite.schema import RUN_COLUMNS, RUN_FROM

__all__ = ["SQLiteRetention"]

# chunks and point rows removed per transaction, pages given back per transaction
_PURGE_ROWS: Final = 200
_VACUUM_PAGES: Final = 1024
_KEYS: Final = {"chunks": "rowid", "points": "series_id, seq"}


class SQLiteRetention(SQLiteDatabase):
    """Deleting, restoring and removing runs, and registering models, in the SQLite store (the base of
    :class:`~runlog_core.store.sqlite.store.SQLiteStore`; see :class:`runlog_core.store.Store`)."""

    @store_errors
    def delete_runs(self, run_ids: Sequence[str], deleted_time: float) -> list[str]:
        with self.atomic() as conn:
            return sql_retain.delete_runs(conn, placeholder, list(run_ids), deleted_time)

    @store_errors
    def restore_runs(self, run_ids: Sequence[str]) -> list[str]:
        with self.atomic() as conn:
            return sql_retain.restore_runs(conn, placeholder, list(run_ids))

    @store_errors
    def deleted_runs(self, before: float | None = None) -> list[RunInfo]:
        rows = sql_retain.deleted_runs(self._conn(), placeholder, f"SELECT {RUN_COLUMNS} {RUN_FROM}", before)
        return [RunInfo(*row) for row in rows]

    @store_errors
    def run_size(self, run_id: str) -> tuple[int, int]:
        return sql_retain.run_size(self._conn(), placeholder, run_id)

    @store_errors
    def start_purge(self, run_id: str) -> bool:
        with self.atomic() as conn:
            return sql_retain.start_purge(conn, placeholder, run_id)

    @store_errors
    def purge_step(self, run_id: str) -> bool:
        with self.atomic() as conn:
            return sql_retain.purge_step(conn, placeholder, run_id, _PURGE_ROWS, _KEYS)

    @store_errors
    def reclaim_space(self, rewrite: bool = False) -> int:
        """Give freed pages back to the disk, a slice per transaction; return how many bytes.

        A store created since issue 20 is in incremental auto-vacuum mode; an older one keeps its free
        pages for new points, unless ``rewrite``: then ``VACUUM`` rewrites the whole file once (holding
        the write lock meanwhile: writers keep their points in memory) and turns that mode on.
        """
        conn = self._conn()
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            if not rewrite:
                return 0
            before = self.path.stat().st_size
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return max(0, before - self.path.stat().st_size)
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        before = int(conn.execute("PRAGMA page_count").fetchone()[0])
        while int(conn.execute("PRAGMA freelist_count").fetchone()[0]) > 0:
            with self.atomic() as conn:
                conn.execute(f"PRAGMA incremental_vacuum({_VACUUM_PAGES})").fetchall()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # the file shrinks when the WAL is folded back
        return max(0, before - int(conn.execute("PRAGMA page_count").fetchone()[0])) * page

    # -- models -----------------------------------------------------------------------------------

    @store_errors
    def register_model(self, info: ModelInfo) -> ModelInfo:
        with self.atomic() as conn:  # the write lock: two registrations never take one version
            return sql_retain.register_model(conn, placeholder, info)

    @store_errors
    def get_model(self, name: str, version: int | None = None) -> ModelInfo | None:
        return sql_retain.get_model(self._conn(), placeholder, name, version)

    @store_errors
    def list_models(self, name: str | None = None, run_id: str | None = None) -> list[ModelInfo]:
        return sql_retain.list_models(self._conn(), placeholder, name, run_id)

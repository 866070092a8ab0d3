"""The PostgreSQL store's part in keeping and removing data (issue 20): deleted runs, ``runlog gc``'s
removal a slice at a time, and the model registry.

The SQL both stores share is in :mod:`runlog_core.store.sql_retain`; this mixin runs it in short
transactions on the store's connections. The space of removed rows is left to autovacuum, which
makes it reusable by new rows (a ``VACUUM FULL`` would lock the tables).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from runlog_core.base.records import ModelInfo, RunInfo
from runlog_core.store import sql_retain
from runlog_core.store.postgres.db import PostgresDatabase
from runlog_core.store.postgres.filter import placeholder
from runlog_core.store.postgres.schema import RUN_COLUMNS, RUN_FROM

__all__ = ["PostgresRetention"]

_T = TypeVar("_T")
_PURGE_ROWS: Final = 500
_KEYS: Final = {"chunks": "ctid", "points": "ctid"}


class PostgresRetention(PostgresDatabase):
    """Deleting, restoring and removing runs, and registering models, in the PostgreSQL store (the base of
    :class:`~runlog_core.store.postgres.store.PostgresStore`; see :class:`runlog_core.store.Store`)."""

    def _write(self, action: Callable[[Any], _T], doing: str) -> _T:
        def in_transaction(conn: Any) -> _T:
            with conn.transaction():
                return action(conn)

        return self._run(in_transaction, doing)

    def delete_runs(self, run_ids: Sequence[str], deleted_time: float) -> list[str]:
        return self._write(lambda conn: sql_retain.delete_runs(conn, placeholder, list(run_ids), deleted_time),
                           "cannot delete runs in")

    def restore_runs(self, run_ids: Sequence[str]) -> list[str]:
        return self._write(lambda conn: sql_retain.restore_runs(conn, placeholder, list(run_ids)),
                           "cannot restore runs in")

    def deleted_runs(self, before: float | None = None) -> list[RunInfo]:
        rows = self._run(lambda conn: sql_retain.deleted_runs(conn, placeholder, f"SELECT {RUN_COLUMNS} {RUN_FROM}",
                                                              before))
        return [RunInfo(*row) for row in rows]

    def run_size(self, run_id: str) -> tuple[int, int]:
        return self._run(lambda conn: sql_retain.run_size(conn, placeholder, run_id))

    def start_purge(self, run_id: str) -> bool:
        return self._write(lambda conn: sql_retain.start_purge(conn, placeholder, run_id), "cannot remove runs in")

    def purge_step(self, run_id: str) -> bool:
        return self._write(lambda conn: sql_retain.purge_step(conn, placeholder, run_id, _PURGE_ROWS, _KEYS),
                           "cannot remove runs in")

    # -- models -----------------------------------------------------------------------------------

    def register_model(self, info: ModelInfo) -> ModelInfo:
        def action(conn: Any) -> ModelInfo:
            # one registration of a name at a time: two never take the same version
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("runlog model " + info.name,))
            return sql_retain.register_model(conn, placeholder, info)

        return self._write(action, "cannot register a model in")

    def get_model(self, name: str, version: int | None = None) -> ModelInfo | None:
        return self._run(lambda conn: sql_retain.get_model(conn, placeholder, name, version))

    def list_models(self, name: str | None = None, run_id: str | None = None) -> list[ModelInfo]:
        return self._run(lambda conn: sql_retain.list_models(conn, placeholder, name, run_id))

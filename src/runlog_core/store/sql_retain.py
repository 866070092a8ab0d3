"""What the two SQL stores say alike about keeping and removing runs (issue 20): marking runs deleted
and restoring them, removing a deleted run for good a slice at a time (``runlog gc``), and the
model registry.

Every function takes an open connection (sqlite3's or psycopg's: both have ``execute(sql, params)``
with a dict of parameters) inside the store's own write transaction, and ``mark``, how the dialect
writes a bound parameter. Each store's ``retain`` module opens the transactions.
"""

from __future__ import annotations

import json
import time

from runlog_core.base.records import ModelInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = ["delete_runs", "deleted_runs", "get_model", "list_models", "purge_step", "register_model",
           "restore_runs", "run_size", "start_purge"]

MODEL_COLUMNS = ("name, version, run_id, experiment_name, path, files, tags, properties, description, created")


def _ids(mark: Callable[[str], str], params: dict[str, Any], ids: Sequence[str]) -> str:
    names = []
    for index, run_id in enumerate(ids):
        params[f"id{index}"] = run_id
        names.append(mark(f"id{index}"))
    return ", ".join(names) or "NULL"


def delete_runs(conn: Any, mark: Callable[[str], str], run_ids: Sequence[str], when: float) -> list[str]:
    """Mark the runs and every run below them deleted at ``when``; return the ids newly marked."""
    params: dict[str, Any] = {"when": when}
    roots = _ids(mark, params, run_ids)
    rows = conn.execute(
        f"WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE id IN ({roots})"
        f" UNION SELECT r.id FROM runs r JOIN tree ON r.parent_id = tree.id)"
        f" UPDATE runs SET deleted = {mark('when')} WHERE deleted IS NULL AND id IN (SELECT id FROM tree)"
        f" RETURNING id", params).fetchall()
    return [row[0] for row in rows]


def restore_runs(conn: Any, mark: Callable[[str], str], run_ids: Sequence[str]) -> list[str]:
    """Clear the mark of the runs, of the runs below them deleted with them (the same ``deleted`` time)
    and of their deleted parents; never of a run ``gc`` has begun to remove. Return the ids restored."""
    restored: list[str] = []
    for run_id in run_ids:
        found = conn.execute(f"SELECT deleted, parent_id FROM runs WHERE id = {mark('id')}"
                             f" AND id NOT IN (SELECT run_id FROM gc_pending)", {"id": run_id}).fetchone()
        if found is None or found[0] is None:
            continue
        stamp, parent = found
        rows = conn.execute(
            f"WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE id = {mark('id')}"
            f" UNION SELECT r.id FROM runs r JOIN tree ON r.parent_id = tree.id WHERE r.deleted = {mark('stamp')})"
            f" UPDATE runs SET deleted = NULL WHERE id IN (SELECT id FROM tree)"
            f" AND id NOT IN (SELECT run_id FROM gc_pending) RETURNING id", {"id": run_id, "stamp": stamp}).fetchall()
        restored.extend(row[0] for row in rows)
        seen = set()
        while parent is not None and parent not in seen:  # a child comes back with the parents it shows under
            seen.add(parent)
            above = conn.execute(f"UPDATE runs SET deleted = NULL WHERE id = {mark('id')} AND deleted IS NOT NULL"
                                 f" AND id NOT IN (SELECT run_id FROM gc_pending) RETURNING parent_id",
                                 {"id": parent}).fetchone()
            if above is None:
                break
            restored.append(parent)
            parent = above[0]
    return restored


def deleted_runs(conn: Any, mark: Callable[[str], str], select: str, before: float | None) -> list[tuple[Any, ...]]:
    """The rows (``select``: the run columns and ``FROM``) of runs deleted at ``before`` or earlier
    (all when ``None``) and of runs gc began to remove, the earliest deleted first."""
    params: dict[str, Any] = {"now": time.time(), "before": before}
    which = "" if before is None else (f" AND (r.deleted <= {mark('before')}"
                                       " OR r.id IN (SELECT run_id FROM gc_pending))")
    return list(conn.execute(f"{select} WHERE r.deleted IS NOT NULL{which} ORDER BY r.deleted, r.id",
                             params).fetchall())


def run_size(conn: Any, mark: Callable[[str], str], run_id: str) -> tuple[int, int]:
    """``(points, bytes of files in the index)`` of a run."""
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM points WHERE series_id IN (SELECT id FROM series WHERE run_id = {mark('id')}))"
        f" + coalesce((SELECT sum(n) FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_id = {mark('id')})), 0),"
        f" coalesce((SELECT sum(size) FROM artifacts WHERE run_id = {mark('id')}), 0)", {"id": run_id}).fetchone()
    return int(row[0]), int(row[1])


def start_purge(conn: Any, mark: Callable[[str], str], run_id: str) -> bool:
    """Record that gc removes the deleted run ``run_id`` (it can no longer be restored); ``False`` when it
    is not deleted (restored meanwhile) or gone."""
    conn.execute(f"INSERT INTO gc_pending(run_id, since) SELECT id, {mark('now')} FROM runs"
                 f" WHERE id = {mark('id')} AND deleted IS NOT NULL ON CONFLICT (run_id) DO NOTHING",
                 {"id": run_id, "now": time.time()})
    return conn.execute(f"SELECT 1 FROM gc_pending WHERE run_id = {mark('id')}", {"id": run_id}).fetchone() is not None


def purge_step(conn: Any, mark: Callable[[str], str], run_id: str, limit: int, keys: dict[str, str]) -> bool:
    """Remove at most ``limit`` rows of points of a run gc removes (``keys``: the expression that names a row of
    ``chunks`` and of ``points``: columns, comma-separated); once none is left, its series, params, tags, file index and the run.
    Return ``True`` when the run is gone."""
    params: dict[str, Any] = {"id": run_id, "limit": limit}
    of_run = f"series_id IN (SELECT id FROM series WHERE run_id = {mark('id')})"
    removed = 0
    for table in ("chunks", "points"):
        key = keys[table]
        removed += conn.execute(f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {of_run}"
                                f" LIMIT {mark('limit')})", params).rowcount
        if removed:
            return False
    for table in ("series", "params", "tags", "artifacts", "gc_pending"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = {mark('id')}", params)
    conn.execute(f"DELETE FROM runs WHERE id = {mark('id')}", params)
    return True


# -- models ---------------------------------------------------------------------------------------

def _model(row: Sequence[Any]) -> ModelInfo:
    name, version, run_id, experiment, path, files, tags, properties, description, created = row
    return ModelInfo(name, int(version), run_id, experiment, path, json.loads(files), json.loads(tags),
                     json.loads(properties), description, float(created))


def register_model(conn: Any, mark: Callable[[str], str], info: ModelInfo) -> ModelInfo:
    """Store ``info`` as the next version of its name (1 for a new name); return it with its version."""
    version = conn.execute(f"SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = {mark('name')}",
                           {"name": info.name}).fetchone()[0]
    stored = ModelInfo(info.name, int(version), info.run_id, info.experiment_name, info.path, info.files,
                       info.tags, info.properties, info.description, info.created_time)
    values = {"name": stored.name, "version": stored.version, "run": stored.run_id,
              "experiment": stored.experiment_name, "path": stored.path, "files": json.dumps(stored.files),
              "tags": json.dumps(stored.tags), "properties": json.dumps(stored.properties),
              "description": stored.description, "created": stored.created_time}
    conn.execute(f"INSERT INTO models({MODEL_COLUMNS}) VALUES ("
                 + ", ".join(mark(key) for key in values) + ")", values)
    return stored


def get_model(conn: Any, mark: Callable[[str], str], name: str, version: int | None) -> ModelInfo | None:
    """The version ``version`` of the model ``name`` (the latest when ``None``), or ``None``."""
    params: dict[str, Any] = {"name": name, "version": version}
    which = "ORDER BY version DESC LIMIT 1" if version is None else f"AND version = {mark('version')}"
    row = conn.execute(f"SELECT {MODEL_COLUMNS} FROM models WHERE name = {mark('name')} {which}", params).fetchone()
    return None if row is None else _model(row)


def list_models(conn: Any, mark: Callable[[str], str], name: str | None, run_id: str | None) -> list[ModelInfo]:
    """Every model version (of ``name``, of the run ``run_id`` when given), the newest first."""
    params: dict[str, Any] = {"name": name, "run": run_id}
    where = [f"{column} = {mark(key)}" for column, key in (("name", "name"), ("run_id", "run")) if params[key] is not None]
    sql = f"SELECT {MODEL_COLUMNS} FROM models" + (" WHERE " + " AND ".join(where) if where else "")
    return [_model(row) for row in conn.execute(sql + " ORDER BY created DESC, id DESC", params).fetchall()]

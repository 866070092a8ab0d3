"""The embedded store: one SQLite database in WAL mode plus a folder of artifacts.

Every write goes through :meth:`SQLiteStore.atomic`, which takes the write lock up
front (``BEGIN IMMEDIATE``) and retries while another process holds it, so users
never see "database is locked". Values are always bound as parameters; the only
identifiers written into SQL come from :func:`~runlog_core.store.sqlite.schema.quote_identifier`.
The schema is in :mod:`.schema`, the value layout in :mod:`.codec`, the search compiler in
:mod:`.filter`, the connections in :mod:`.db`; the contract this store keeps is :mod:`runlog_core.store`.
The plugin that opens it is :class:`runlog_core.plugins.builtin.SQLitePlugin`, which finds the
database file of a folder or ``sqlite:///`` URI with :func:`database_of`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlog_core.base.records import ArtifactInfo, Batch, RunInfo, SeriesInfo
from runlog_core.base.uri import SQLITE_SUFFIXES
from runlog_core.base.values import LIST, NUMBER
from runlog_core.exceptions import RunlogError, StoreError
from runlog_core.store.artifacts.local import LocalArtifactStore
from runlog_core.store.artifacts.roots import check_downloads, open_artifact_store
from runlog_core.store.sql_runs import (
    run_conditions,
)
from runlog_core.store.sqlite.codec import (
    chunk_points,
    decode_param,
    decode_points,
    decode_value,
    encode_columns,
    encode_param,
    merge_points,
    refusal,
)
from runlog_core.store.sqlite.columns import join_chunks, split_points
from runlog_core.store.sqlite.db import readable as _readable
from runlog_core.store.sqlite.db import store_errors
from runlog_core.store.sqlite.filter import placeholder
from runlog_core.store.sqlite.pages import key_page, points_page
from runlog_core.store.sqlite.runs import TIEBREAK, SQLiteRunSearch
from runlog_core.store.sqlite.schema import RUN_COLUMNS, RUN_FROM, STATUS_SQL, migrate

if TYPE_CHECKING:
    from runlog_core.base.uri import StoreURI
    from runlog_core.store import ArtifactStore

__all__ = ["SQLiteStore", "database_of"]


class SQLiteStore(SQLiteRunSearch):
    """A run store in one SQLite file; artifacts as files beside it.

    Args:
        db_path: the database file (created with its folder, private to the user, when missing).
        artifact_root: the folder artifact files go to; by default ``RUNLOG_ARTIFACTS`` (a folder or
            ``s3://bucket/prefix``, see :mod:`runlog_core.store.artifacts.roots`), else ``artifacts/`` beside the database.
        uri: the URI it is known by; default ``sqlite:///<db_path>``.

    Raises:
        StoreError: the file cannot be created or opened.
        StoreVersionError: the file was written by a newer runlog.
    """

    def __init__(self, db_path: str | os.PathLike[str], artifact_root: str | os.PathLike[str] | None = None,
                 uri: str | None = None) -> None:
        super().__init__(db_path)
        self.uri = uri or f"sqlite:///{self.path}"
        try:
            self.artifacts: ArtifactStore = (LocalArtifactStore(Path(artifact_root)) if artifact_root is not None
                                             else open_artifact_store(self.path.parent / "artifacts"))
            check_downloads(self)
            migrate(self._conn(), self.atomic, str(self.path))
        except sqlite3.Error as err:
            self.close()
            raise StoreError(f"cannot open the store {self.path}: {err}") from err
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def close(self) -> None:
        """Close the database's connections, and let the artifact store finish (S3 uploads its logs)."""
        try:
            super().close()
        finally:
            finish = getattr(self.__dict__.get("artifacts"), "close", None)
            if finish is not None:
                finish()

    # -- experiments and runs -------------------------------------------------------------------

    @store_errors
    def get_or_create_experiment(self, name: str) -> int:
        found = self.get_experiment_id(name)
        if found is not None:
            return found
        with self.atomic() as conn:
            conn.execute("INSERT INTO experiments(name, created) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                         (name, time.time()))
            experiment_id: int = conn.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]
            return experiment_id

    @store_errors
    def get_experiment_id(self, name: str) -> int | None:
        row = self._conn().execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    @store_errors
    def list_experiments(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in self._conn().execute("SELECT id, name FROM experiments ORDER BY id")]

    @store_errors
    def create_run(self, info: RunInfo) -> None:
        with self.atomic() as conn:
            _create_runs(conn, [info])

    @store_errors
    def reattach_run(self, run_id: str, pid: int, host: str, heartbeat_timeout: float) -> None:
        with self.atomic() as conn:
            conn.execute(
                "UPDATE runs SET status = 'Running', end_time = NULL, heartbeat = ?, heartbeat_timeout = ?,"
                " pid = ?, host = ? WHERE id = ?",
                (time.time(), heartbeat_timeout, pid, host, run_id),
            )

    @store_errors
    def get_run(self, run_id: str) -> RunInfo | None:
        row = self._conn().execute(f"SELECT {RUN_COLUMNS} {RUN_FROM} WHERE r.id = :id",
                                   {"id": run_id, "now": time.time()}).fetchone()
        return None if row is None else RunInfo(*row)

    @store_errors
    def find_run_ids(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._conn().execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR name = ? LIMIT 20",
                                    (escaped + "%", prefix)).fetchall()
        return [row[0] for row in rows]

    @store_errors
    def list_runs(self, experiment_id: int | None = None, status: str | None = None,
                  tags: dict[str, str | None] | None = None, parent_id: str | None = None,
                  include_children: bool = True, include_deleted: bool = False) -> list[RunInfo]:
        where, params = run_conditions(placeholder, STATUS_SQL, experiment_id, status, tags, parent_id,
                                       include_children, include_deleted)
        sql = f"SELECT {RUN_COLUMNS} {RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {TIEBREAK}"
        return [RunInfo(*row) for row in self._conn().execute(sql, params)]

    # -- the writer's batch ------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Commit ``batch`` in one transaction (see :meth:`runlog_core.store.Store.write`).

        Raises:
            StoreError: the database is locked, busy, full or cannot be written: retry later.
            InvalidMetricError, InvalidArgumentError: a value it cannot hold; nothing was written.
        """
        try:
            with self.atomic() as conn:
                self._write(conn, batch)
        except RunlogError:
            raise
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError,
                OverflowError, TypeError, ValueError) as err:
            if isinstance(err, sqlite3.ProgrammingError) and "closed" in str(err):
                raise StoreError(f"cannot write to the store {self.path}: {err}") from err  # closed meanwhile
            raise refusal(batch, err) from err
        except sqlite3.Error as err:  # locked, busy, full, I/O: worth retrying as is
            raise StoreError(f"cannot write to the store {self.path}: {err}") from err

    def _write(self, conn: sqlite3.Connection, batch: Batch) -> None:
        if batch.writer is not None and conn.execute(
                "INSERT INTO writers(id, seq) VALUES (?, ?)"
                " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq WHERE seq < excluded.seq RETURNING 1",
                (batch.writer, batch.seq)).fetchone() is None:
            self._known_series(conn, batch)  # committed before (its reply was lost): nothing again
            return
        if batch.runs:
            _create_runs(conn, batch.runs)
        for series in batch.series:
            conn.execute(
                "INSERT INTO series(run_id, name, kind, description) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(run_id, name) DO NOTHING",
                (series.run_id, series.name, series.kind, series.description),
            )
            series.id = conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?",
                                     (series.run_id, series.name)).fetchone()[0]
        if batch.columns:
            count = batch.count
            end = conn.execute("UPDATE counters SET value = value + ? WHERE name = 'point_seq' RETURNING value",
                               (count,)).fetchone()[0]
            chunks, rows, last = encode_columns(batch.columns, end - count)
            if chunks:
                conn.executemany(
                    "INSERT INTO chunks(series_id, seq, n, vtype, steps, vals, times) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    chunks)
            if rows:
                conn.executemany("INSERT INTO points(series_id, seq, step, value, time) VALUES (?, ?, ?, ?, ?)",
                                 rows)
            conn.executemany("UPDATE series SET last_step = ?, last_value = ?, last_time = ? WHERE id = ?", last)
        if batch.params:
            conn.executemany(
                "INSERT INTO params(run_id, key, value, num, txt) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(run_id, key) DO NOTHING",
                [(run_id, key, *encode_param(value)) for run_id, key, value in batch.params],
            )
        if batch.tags:
            conn.executemany(
                "INSERT INTO tags(run_id, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value",
                batch.tags,
            )
        if batch.artifacts:
            conn.executemany(
                "INSERT INTO artifacts(run_id, name, size, sha256, uri, time) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(run_id, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,"
                " uri = excluded.uri, time = excluded.time",
                [(a.run_id, a.name, a.size, a.sha256, a.uri, a.time) for a in batch.artifacts],
            )
        if batch.heartbeats:
            now = time.time()
            conn.executemany("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'Running'",
                             [(now, run_id) for run_id in batch.heartbeats])
        if batch.ends:
            conn.executemany(
                "UPDATE runs SET status = ?, end_time = ?, error = coalesce(?, error) WHERE id = ?",
                [(status, end, error, run_id) for run_id, status, end, error in batch.ends],
            )

    @staticmethod
    def _known_series(conn: sqlite3.Connection, batch: Batch) -> None:
        """Set the ids of the batch's series from the store: a batch written before created them."""
        for series in batch.series:
            found = conn.execute("SELECT id FROM series WHERE run_id = ? AND name = ?",
                                 (series.run_id, series.name)).fetchone()
            series.id = None if found is None else found[0]

    # -- reads --------------------------------------------------------------------------------

    @store_errors
    @_readable
    def get_series(self, run_id: str) -> list[SeriesInfo]:
        rows = self._conn().execute(
            "SELECT id, run_id, name, kind, description, last_step, last_value, last_time FROM series"
            " WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        result = []
        for row in rows:
            info = SeriesInfo(*row)
            info.last_value = decode_value(info.kind, info.last_value) if info.last_step is not None else None
            if type(info.last_value) is int and info.last_value in (0, 1) and info.kind in (NUMBER, LIST):
                info.last_value = self._last_bool(info.id, info.last_value)
            result.append(info)
        return result

    @store_errors
    @_readable
    def get_points(self, series_id: int) -> list[tuple[int, Any, float]]:
        conn = self._conn()
        found = conn.execute("SELECT kind FROM series WHERE id = ?", (series_id,)).fetchone()
        if found is None:
            return []
        kind = found[0]
        chunks = conn.execute("SELECT seq, vtype, steps, vals, times FROM chunks WHERE series_id = ? ORDER BY seq",
                              (series_id,)).fetchall()
        if not chunks:
            return decode_points(kind, conn.execute(
                "SELECT step, value, time FROM points WHERE series_id = ? ORDER BY seq", (series_id,)).fetchall())
        rows = conn.execute("SELECT seq, step, value, time FROM points WHERE series_id = ? ORDER BY seq",
                            (series_id,)).fetchall()
        return merge_points(kind, chunks, rows)

    @store_errors
    @_readable
    def iter_points(self, series_id: int) -> Iterator[tuple[int, Any, float]]:
        """The points of :meth:`get_points`, one at a time, decoded chunk after chunk (optional in the store
        contract: :mod:`runlog_core.store`). Read at once; decoded as iterated, so that a caller making its
        own object of each point (``get_metric_history``) never holds a second copy of the series."""
        chunks = self._packed_only(series_id)
        if chunks is None:
            return iter(self.get_points(series_id))
        return chain.from_iterable(chunk_points(*chunk) for chunk in chunks)

    @store_errors
    @_readable
    def get_point_columns(self, series_id: int, numpy: bool = True
                          ) -> tuple[Sequence[int], Sequence[Any], Sequence[float]]:
        """Every point of a series as three columns ``(steps, values, times)``, in the order written.

        Optional in the store contract (see :mod:`runlog_core.store`). Read straight from the packed
        chunks: numpy arrays when numpy can be imported (and ``numpy``), else ``array``s; a series with
        points stored a row each (strings, ints mixed with floats) is decoded through :meth:`get_points`.
        """
        chunks = self._packed_only(series_id)
        if chunks is not None:
            joined = join_chunks(chunks, numpy)
            if joined is not None:
                return joined
        return split_points(self.get_points(series_id))

    def _packed_only(self, series_id: int) -> list[tuple[str, bytes, bytes, bytes]] | None:
        """The series' chunk rows ``(vtype, steps, vals, times)`` in order when all its points are packed in
        chunks; ``None`` when it has none, or points stored a row each (then read through :meth:`get_points`)."""
        conn = self._conn()
        chunks = conn.execute("SELECT vtype, steps, vals, times FROM chunks WHERE series_id = ? ORDER BY seq",
                              (series_id,)).fetchall()
        if not chunks or conn.execute("SELECT 1 FROM points WHERE series_id = ? LIMIT 1", (series_id,)).fetchone():
            return None
        return chunks

    @store_errors
    def count_points(self, series_id: int) -> int:
        count: int = self._conn().execute(
            "SELECT (SELECT count(*) FROM points WHERE series_id = :id)"
            " + coalesce((SELECT sum(n) FROM chunks WHERE series_id = :id), 0)", {"id": series_id}).fetchone()[0]
        return count

    @store_errors
    @_readable
    def get_params(self, run_id: str) -> dict[str, Any]:
        rows = self._conn().execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY rowid", (run_id,))
        return {key: decode_param(value) for key, value in rows}

    @store_errors
    def get_tags(self, run_id: str) -> dict[str, str]:
        rows = self._conn().execute("SELECT key, value FROM tags WHERE run_id = ? ORDER BY rowid", (run_id,))
        return {key: value for key, value in rows}

    @store_errors
    @_readable
    def get_points_page(self, series_id: int, offset: int, limit: int) -> list[tuple[int, Any, float]]:
        """``get_points(series_id)[offset:offset + limit]``, reading only the rows and chunks that hold it
        (optional in the store contract: :mod:`runlog_core.store`; see :mod:`.pages`)."""
        return points_page(self._conn(), series_id, max(0, int(offset)), max(0, int(limit)))

    @store_errors
    @_readable
    def get_params_page(self, run_id: str, after: str | None, limit: int,
                        contains: str | None = None) -> tuple[dict[str, Any], int]:
        """At most ``limit`` params by key after ``after``, and how many contain ``contains`` (optional in the contract)."""
        return key_page(self._conn(), "params", run_id, after, limit, contains)

    @store_errors
    def get_tags_page(self, run_id: str, after: str | None, limit: int,
                      contains: str | None = None) -> tuple[dict[str, str], int]:
        """At most ``limit`` tags by key after ``after``, and how many contain ``contains`` (optional in the contract)."""
        return key_page(self._conn(), "tags", run_id, after, limit, contains)

    @store_errors
    def get_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        rows = self._conn().execute(
            "SELECT run_id, name, size, sha256, uri, time FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))
        return [ArtifactInfo(*row) for row in rows]


def _create_runs(conn: sqlite3.Connection, runs: list[RunInfo]) -> None:
    """Create ``runs`` unless they exist (created again after a lost reply: nothing changes)."""
    conn.executemany(
        "INSERT INTO runs(id, experiment_id, name, parent_id, status, start_time, end_time, heartbeat,"
        " heartbeat_timeout, pid, host, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        [(info.id, info.experiment_id, info.name, info.parent_id, info.status, info.start_time, info.end_time,
          info.heartbeat, info.heartbeat_timeout, info.pid, info.host, info.error) for info in runs])


# -- where a local store URI keeps its database -------------------------------------------------

def database_of(address: StoreURI) -> tuple[Path, str]:
    """``(database file, the URI the store is known by)`` of a local store URI (``address.is_local``).

    A folder holds ``runlog.db``; a path ending in ``.db``, ``.sqlite`` or ``.sqlite3`` that is not a
    folder is the database file itself. The artifact store is chosen by ``open_artifact_store``
    (``RUNLOG_ARTIFACTS``, else ``artifacts/`` beside the database).
    """
    if address.scheme == "sqlite":
        db_path = Path(address.path)
        return (db_path if db_path.is_absolute() else Path.cwd() / db_path), address.text
    folder = Path(address.path)
    if folder.suffix in SQLITE_SUFFIXES and not folder.is_dir():
        return folder, str(folder)
    return folder / "runlog.db", str(folder.absolute())

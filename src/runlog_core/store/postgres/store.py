"""The team store: one PostgreSQL database (``RUNLOG_STORE=postgresql://user:pass@host:5432/db``).

The same contract as the SQLite store (:mod:`runlog_core.store`), on psycopg 3, imported only when
a ``postgresql://`` or ``postgres://`` URI is opened (``import runlog_core`` stays light; the plugin
that opens it is :class:`runlog_core.plugins.builtin.PostgresPlugin`). The schema is created on first
use and migrated in place (:mod:`.schema`); values are laid out by :mod:`.codec` (numeric series in
the packed chunks of :mod:`runlog_core.store.sqlite.codec`); search compiles to bound-parameter SQL in
:mod:`.filter`; a batch is written by :mod:`.write`.

Connections (:mod:`.db`): one per thread, reopened when broken, never shared across a fork. A write
that fails because the server is gone or busy raises :class:`StoreError`: the writer keeps the batch
and retries it.

The password of the URI is never shown: :attr:`PostgresStore.uri` shows it as ``***``, and every
driver message is scrubbed of it. A URI shown that way (a pickled Experiment) opens with the password
this process already used for it, or ``RUNLOG_STORE``'s, or libpq's own (``PGPASSWORD``,
``~/.pgpass``): see :func:`runlog_core.base.uri.with_password`.
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlog_core.base import config as _config
from runlog_core.base.records import ArtifactInfo, Batch, RunInfo, SeriesInfo
from runlog_core.exceptions import RunlogError, StoreError
from runlog_core.store.artifacts.roots import check_downloads, open_artifact_store
from runlog_core.store.postgres.codec import decode_rows, decode_value
from runlog_core.store.postgres.db import driver
from runlog_core.store.postgres.filter import SCALAR_KINDS, Joins, compile_filter, compile_order, placeholder
from runlog_core.store.postgres.pages import key_page, points_page
from runlog_core.store.postgres.retain import PostgresRetention
from runlog_core.store.postgres.schema import RUN_COLUMNS, RUN_FROM, STATUS_SQL, migrate
from runlog_core.store.postgres.write import write_batch
from runlog_core.store.sql_runs import (
    children_statement,
    count_statement,
    page_size,
    page_start,
    run_conditions,
    search_statement,
)
from runlog_core.store.sqlite.codec import decode_chunk, decode_param, refusal
from runlog_core.store.sqlite.columns import join_chunks, split_points

if TYPE_CHECKING:
    import psycopg

    from runlog_core.base.filter import Expression, Field
    from runlog_core.store import ArtifactStore

__all__ = ["PostgresStore"]

_warned_artifacts = False

_RUNS_PER_READ = 1000  # run ids bound as one array in get_runs_values


class PostgresStore(PostgresRetention):
    """A run store in one PostgreSQL database; artifacts where ``RUNLOG_ARTIFACTS`` says.

    Args:
        uri: ``postgresql://user:password@host:5432/db`` (any libpq URI); the database is created
            when missing and the user may create it, its tables on first use.
        artifact_root: where artifact files go; default ``RUNLOG_ARTIFACTS``, else
            ``./runlog/artifacts`` (with a warning: other hosts will not see them).

    Raises:
        StoreError: the server cannot be reached within ``RUNLOG_STORE_TIMEOUT`` seconds, or refuses
            the connection or the schema; the message names host and port, never the password.
        StoreVersionError: the database was written by a newer runlog.
    """

    remote = True
    """What the writer could not write before the program ended is kept on local disk (:mod:`runlog_core.store.spill`)."""

    def __init__(self, uri: str, artifact_root: str | os.PathLike[str] | None = None) -> None:
        pg = driver()
        super().__init__(uri)
        self.artifacts: ArtifactStore = self._open_artifacts(artifact_root)
        check_downloads(self)
        try:
            self._migrate(pg)
        except BaseException:
            self.close()
            raise

    def _migrate(self, pg: Any) -> None:
        """Create or migrate the schema (:func:`.schema.migrate`). A connection lost meanwhile (its
        COMMIT's reply lost, say: the migration may have been committed) is opened again and the
        version read again, once; a second loss is a :class:`StoreError`."""
        for attempt in (1, 2):
            conn = self._conn(create=True)
            try:
                with self._watchdog.watch(conn) as watched:
                    migrate(conn, self.uri)
                return
            except pg.Error as err:
                lost = conn.closed or conn.broken
                self._discard(conn)
                if watched.fired:
                    raise self._silent("cannot create the schema of") from None
                if not lost or attempt == 2:
                    raise StoreError(self._explain("cannot create the schema of", err)) from None

    def __repr__(self) -> str:
        return f"PostgresStore({self.uri!r})"

    def _open_artifacts(self, artifact_root: str | os.PathLike[str] | None) -> ArtifactStore:
        global _warned_artifacts
        if artifact_root is not None:
            return open_artifact_store(artifact_root, str(artifact_root))
        folder = Path.cwd() / "runlog" / "artifacts"
        if not _config.artifacts() and not _warned_artifacts:
            _warned_artifacts = True
            warnings.warn(f"runlog: RUNLOG_ARTIFACTS is not set: the artifacts of runs in {self.uri} are kept in "
                          f"{folder} on this host, and other hosts will not see them; set "
                          "RUNLOG_ARTIFACTS=s3://bucket/prefix (or a folder every host shares)",
                          RuntimeWarning, stacklevel=4)
        return open_artifact_store(folder)

    def close(self) -> None:
        """Close every connection this process opened, and let the artifact store finish; idempotent.
        A later call opens new connections."""
        if not self._close_connections():
            return  # a forked child: its parent's artifact store is its parent's to finish
        close_artifacts = getattr(self.__dict__.get("artifacts"), "close", None)
        if close_artifacts is not None:
            close_artifacts()  # an S3 store uploads the logs it still spools

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> int:
        def action(conn: psycopg.Connection[Any]) -> int:
            found = conn.execute("SELECT id FROM experiments WHERE name = %s", (name,)).fetchone()
            if found is None:
                # a racing creator: ON CONFLICT waits for its commit, then the SELECT sees its row
                found = conn.execute("INSERT INTO experiments(name, created) VALUES (%s, %s)"
                                     " ON CONFLICT (name) DO NOTHING RETURNING id", (name, time.time())).fetchone()
            if found is None:
                found = conn.execute("SELECT id FROM experiments WHERE name = %s", (name,)).fetchone()
            assert found is not None
            return int(found[0])

        return self._run(action, "cannot create an experiment in")

    def get_experiment_id(self, name: str) -> int | None:
        row = self._run(lambda conn: conn.execute("SELECT id FROM experiments WHERE name = %s", (name,)).fetchone())
        return None if row is None else int(row[0])

    def list_experiments(self) -> list[tuple[int, str]]:
        rows = self._run(lambda conn: conn.execute("SELECT id, name FROM experiments ORDER BY id").fetchall())
        return [(int(row[0]), row[1]) for row in rows]

    def create_run(self, info: RunInfo) -> None:
        # ON CONFLICT: tried again after a lost connection, the first attempt may have committed
        self._run(lambda conn: conn.execute(
            "INSERT INTO runs(id, experiment_id, name, parent_id, status, start_time, end_time, heartbeat,"
            " heartbeat_timeout, pid, host, error) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (id) DO NOTHING",
            (info.id, info.experiment_id, info.name, info.parent_id, info.status, info.start_time,
             info.end_time, info.heartbeat, info.heartbeat_timeout, info.pid, info.host, info.error)),
            "cannot create a run in")

    def reattach_run(self, run_id: str, pid: int, host: str, heartbeat_timeout: float) -> None:
        self._run(lambda conn: conn.execute(
            "UPDATE runs SET status = 'Running', end_time = NULL, heartbeat = %s, heartbeat_timeout = %s,"
            " pid = %s, host = %s WHERE id = %s", (time.time(), heartbeat_timeout, pid, host, run_id)),
            "cannot continue a run in")

    def get_run(self, run_id: str) -> RunInfo | None:
        row = self._run(lambda conn: conn.execute(f"SELECT {RUN_COLUMNS} {RUN_FROM} WHERE r.id = %(id)s",
                                                  {"id": run_id, "now": time.time()}).fetchone())
        return None if row is None else RunInfo(*row)

    def find_run_ids(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._run(lambda conn: conn.execute(
            "SELECT id FROM runs WHERE id LIKE %s ESCAPE '\\' OR name = %s ORDER BY seq LIMIT 20",
            (escaped + "%", prefix)).fetchall())
        return [row[0] for row in rows]

    def list_runs(self, experiment_id: int | None = None, status: str | None = None,
                  tags: dict[str, str | None] | None = None, parent_id: str | None = None,
                  include_children: bool = True, include_deleted: bool = False) -> list[RunInfo]:
        where, params = run_conditions(placeholder, STATUS_SQL, experiment_id, status, tags, parent_id,
                                       include_children, include_deleted)
        sql = f"SELECT {RUN_COLUMNS} {RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.start_time DESC, r.seq DESC"
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [RunInfo(*row) for row in rows]

    def search_runs(self, expression: Expression | None, order_by: list[tuple[Field, bool]],
                    experiment_id: int | None = None, *, parent_id: str | None = None,
                    include_children: bool = True, offset: int = 0, limit: int | None = None) -> list[RunInfo]:
        sql, params = search_statement(f"SELECT {RUN_COLUMNS} {RUN_FROM}", placeholder, expression, order_by,
                                       experiment_id, Joins(), compile_filter, compile_order,
                                       "r.start_time DESC, r.seq DESC", parent_id, include_children,
                                       page_start(offset), page_size(limit))
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall(), "cannot search")
        return [RunInfo(*row) for row in rows]

    def count_runs(self, expression: Expression | None, experiment_id: int | None = None, *,
                   parent_id: str | None = None, include_children: bool = True) -> int:
        sql, params = count_statement(placeholder, expression, experiment_id, Joins(), compile_filter, parent_id,
                                      include_children)
        row = self._run(lambda conn: conn.execute(sql, params).fetchone(), "cannot search")
        return 0 if row is None else int(row[0])

    def count_children(self, run_ids: Sequence[str], experiment_id: int | None = None) -> dict[str, int]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        sql, params = children_statement(placeholder, ids, experiment_id)
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall())
        return {parent: int(count) for parent, count in rows}

    # -- the writer's batch ------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Commit ``batch`` in one transaction (see :meth:`runlog_core.store.Store.write`).

        Raises:
            StoreError: the server is unreachable, restarting, or a lock wait failed: retry later.
            InvalidMetricError, InvalidArgumentError: a value it cannot hold; nothing was written.
        """
        pg = driver()
        conn = self._conn()
        try:
            with self._watchdog.watch(conn) as watched, conn.transaction():
                write_batch(conn, batch)
        except RunlogError:
            raise
        except (pg.DataError, pg.IntegrityError, pg.errors.ProgramLimitExceeded,
                OverflowError, TypeError, ValueError) as err:
            if conn.closed or conn.broken:
                self._discard(conn)
                raise StoreError(self._explain("cannot write to", err)) from None
            raise refusal(batch, err) from None
        except pg.Error as err:  # lost, restarting, deadlock, cancelled, silent: worth retrying as is
            self._discard(conn)
            if watched.fired:
                raise self._silent("cannot write to") from None
            raise StoreError(self._explain("cannot write to", err)) from None

    # -- reads --------------------------------------------------------------------------------

    def get_series(self, run_id: str) -> list[SeriesInfo]:
        rows = self._run(lambda conn: conn.execute(
            "SELECT id, run_id, name, kind, description, last_step, last_vtype, last_num, last_txt, last_time"
            " FROM series WHERE run_id = %s ORDER BY id", (run_id,)).fetchall())
        result = []
        for series_id, run, name, kind, description, step, vtype, num, txt, ts in rows:
            value = decode_value(kind, vtype, num, txt) if step is not None else None
            result.append(SeriesInfo(int(series_id), run, name, kind, description, step, value, ts))
        return result

    def _point_rows(self, series_id: int) -> tuple[str | None, list[tuple[Any, ...]]]:
        """The series' kind and its chunks and point rows in order, read in one statement (one snapshot)."""
        def action(conn: psycopg.Connection[Any]) -> tuple[str | None, list[tuple[Any, ...]]]:
            found = conn.execute("SELECT kind FROM series WHERE id = %s", (series_id,)).fetchone()
            if found is None:
                return None, []
            cur = conn.cursor(binary=True)
            rows = cur.execute(
                "SELECT batch, pos, vtype, steps, vals, times, NULL::int8, NULL::float8, NULL::float8, NULL::text"
                " FROM chunks WHERE series_id = %(id)s UNION ALL"
                " SELECT batch, pos, vtype, NULL, NULL, NULL, step, time, num, txt FROM points"
                " WHERE series_id = %(id)s ORDER BY 1, 2", {"id": series_id}).fetchall()
            return found[0], rows

        return self._run(action)

    def get_points(self, series_id: int) -> list[tuple[int, Any, float]]:
        kind, rows = self._point_rows(series_id)
        if kind is None:
            return []
        return self._decode(kind, rows)

    def _decode(self, kind: str, rows: list[tuple[Any, ...]]) -> list[tuple[int, Any, float]]:
        try:
            points: list[tuple[int, Any, float]] = []
            for _, _, vtype, steps, vals, times, step, ts, num, txt in rows:
                if steps is not None:
                    points.extend(decode_chunk(vtype, bytes(steps), bytes(vals), bytes(times)))
                else:
                    points.extend(decode_rows(kind, [(step, ts, vtype, num, txt)]))
            return points
        except (ValueError, TypeError, OverflowError) as err:
            raise StoreError(f"the PostgreSQL store {self.uri} holds points runlog cannot decode ({err!r})") from None

    def get_point_columns(self, series_id: int, numpy: bool = True
                          ) -> tuple[Sequence[int], Sequence[Any], Sequence[float]]:
        """Every point of a series as three columns ``(steps, values, times)``, in the order written.

        Optional in the store contract (see :mod:`runlog_core.store`). Read straight from the packed
        chunks (numpy arrays when numpy can be imported and ``numpy``, else ``array``s); a series with
        points stored a row each (strings, ints mixed with floats) is decoded point by point.
        """
        kind, rows = self._point_rows(series_id)
        if kind is None:
            return [], [], []
        if rows and all(row[3] is not None for row in rows):
            joined = join_chunks([(row[2], bytes(row[3]), bytes(row[4]), bytes(row[5])) for row in rows], numpy)
            if joined is not None:
                return joined
        return split_points(self._decode(kind, rows))

    def count_points(self, series_id: int) -> int:
        row = self._run(lambda conn: conn.execute(
            "SELECT (SELECT count(*) FROM points WHERE series_id = %(id)s)"
            " + coalesce((SELECT sum(n) FROM chunks WHERE series_id = %(id)s), 0)", {"id": series_id}).fetchone())
        return 0 if row is None else int(row[0])

    def get_params(self, run_id: str) -> dict[str, Any]:
        rows = self._run(lambda conn: conn.execute(
            "SELECT key, value FROM params WHERE run_id = %s ORDER BY seq", (run_id,)).fetchall())
        try:
            return {key: decode_param(value) for key, value in rows}
        except ValueError as err:
            raise StoreError(f"the PostgreSQL store {self.uri} holds a param runlog cannot decode ({err!r})") from None

    def get_tags(self, run_id: str) -> dict[str, str]:
        rows = self._run(lambda conn: conn.execute(
            "SELECT key, value FROM tags WHERE run_id = %s ORDER BY seq", (run_id,)).fetchall())
        return {key: value for key, value in rows}

    def get_runs_values(self, run_ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]]:
        """Optional in the store contract (:mod:`runlog_core.store`): each run's latest scalar metrics,
        params and tags, in three statements per :data:`_RUNS_PER_READ` runs: ``search_runs(output="pandas")``
        makes no longer three round trips to the server per run."""
        ids = list(dict.fromkeys(run_ids))
        found: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {run_id: ({}, {}, {}) for run_id in ids}

        def read(conn: Any, part: list[str]) -> tuple[list[Any], list[Any], list[Any]]:
            return (conn.execute(
                        "SELECT run_id, name, kind, last_vtype, last_num, last_txt FROM series WHERE run_id = ANY(%s)"
                        f" AND kind IN {SCALAR_KINDS} AND last_step IS NOT NULL ORDER BY id", (part,)).fetchall(),
                    conn.execute("SELECT run_id, key, value FROM params WHERE run_id = ANY(%s) ORDER BY seq",
                                 (part,)).fetchall(),
                    conn.execute("SELECT run_id, key, value FROM tags WHERE run_id = ANY(%s) ORDER BY seq",
                                 (part,)).fetchall())

        for start in range(0, len(ids), _RUNS_PER_READ):
            series, params, tags = self._run(functools.partial(read, part=ids[start:start + _RUNS_PER_READ]))
            for run_id, name, kind, vtype, num, txt in series:
                found[run_id][0][name] = decode_value(kind, vtype, num, txt)
            try:
                for run_id, key, value in params:
                    found[run_id][1][key] = decode_param(value)
            except ValueError as err:
                raise StoreError(f"the PostgreSQL store {self.uri} holds a param runlog cannot decode ({err!r})") from None
            for run_id, key, value in tags:
                found[run_id][2][key] = value
        return found

    def get_points_page(self, series_id: int, offset: int, limit: int) -> list[tuple[int, Any, float]]:
        """``get_points(series_id)[offset:offset + limit]``, reading only the rows and chunks that hold it
        (optional in the store contract: :mod:`runlog_core.store`; see :mod:`.pages`)."""
        return self._run(lambda conn: points_page(conn, series_id, max(0, int(offset)), max(0, int(limit))))

    def get_params_page(self, run_id: str, after: str | None, limit: int,
                        contains: str | None = None) -> tuple[dict[str, Any], int]:
        """At most ``limit`` params by key after ``after``, and how many contain ``contains`` (optional in the contract)."""
        return self._run(lambda conn: key_page(conn, "params", run_id, after, limit, contains))

    def get_tags_page(self, run_id: str, after: str | None, limit: int,
                      contains: str | None = None) -> tuple[dict[str, str], int]:
        """At most ``limit`` tags by key after ``after``, and how many contain ``contains`` (optional in the contract)."""
        return self._run(lambda conn: key_page(conn, "tags", run_id, after, limit, contains))

    def get_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        rows = self._run(lambda conn: conn.execute(
            "SELECT run_id, name, size, sha256, uri, time FROM artifacts WHERE run_id = %s ORDER BY name COLLATE \"C\"",
            (run_id,)).fetchall())
        return [ArtifactInfo(*row) for row in rows]

"""The embedded store: one SQLite database in WAL mode plus a folder of artifacts.

Every write goes through :meth:`SQLiteStore.atomic`, which takes the write lock up
front (``BEGIN IMMEDIATE``) and retries while another process holds it, so users
never see "database is locked". Values are always bound as parameters; the only
identifiers written into SQL come from :func:`quote_identifier`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from array import array
from itertools import repeat
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from . import _values
from ._artifacts import LocalArtifactStore
from ._search import And, Compare, Field, Or
from ._records import ArtifactInfo, Batch, RunInfo, SeriesInfo
from .exceptions import StoreError, StoreVersionError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from ._search import Expression

__all__ = ["SQLiteStore", "quote_identifier"]

SCHEMA_VERSION: Final = 3
_BUSY_TIMEOUT_MS: Final = 60_000
_LOCK_RETRY_SECONDS: Final = 600.0

_MIGRATIONS: Final[dict[int, str]] = {
    1: """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created REAL NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        name TEXT NOT NULL,
        parent_id TEXT,
        status TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL,
        heartbeat REAL,
        heartbeat_timeout REAL,
        pid INTEGER,
        host TEXT,
        error TEXT
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
    CREATE INDEX runs_by_parent ON runs(parent_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        num REAL,
        txt TEXT,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE tags (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        description TEXT,
        last_step INTEGER,
        last_value,
        last_time REAL,
        UNIQUE (run_id, name)
    );
    CREATE TABLE points (
        series_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        step INTEGER NOT NULL,
        value,
        time REAL NOT NULL,
        PRIMARY KEY (series_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        uri TEXT NOT NULL,
        time REAL NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters VALUES ('point_seq', 0);
    """,
    # v2: comparing one metric across runs (search, compare, UI) looks series up by name.
    2: """
    CREATE INDEX series_by_name ON series(name, run_id);
    CREATE INDEX runs_by_status ON runs(status);
    """,
    # v3: numeric series are written in columnar chunks, one row per series and batch (#2: a row
    # per point cost ~1.5 us to insert; a chunk ~0.3 us per point, and 24 bytes per point on disk).
    3: """
    CREATE TABLE chunks (
        series_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        n INTEGER NOT NULL,
        vtype TEXT NOT NULL,
        steps BLOB NOT NULL,
        vals BLOB NOT NULL,
        times BLOB NOT NULL,
        UNIQUE (series_id, seq)
    );
    """,
}

# Chunks hold little-endian int64 steps, float64 times, and float64 ('d') or int64 ('q') values.
_CHUNK_MAX: Final = 65536
_BIG_ENDIAN: Final = sys.byteorder == "big"

_LIVE = "r.status = 'Running' AND r.heartbeat + r.heartbeat_timeout < :now"
_STATUS_SQL = f"CASE WHEN {_LIVE} THEN 'Killed' ELSE r.status END"
_END_SQL = f"CASE WHEN {_LIVE} THEN r.heartbeat ELSE r.end_time END"
_RUN_COLUMNS = (
    f"r.id, r.experiment_id, e.name, r.name, {_STATUS_SQL}, r.start_time, r.parent_id, {_END_SQL}, "
    "r.heartbeat, r.heartbeat_timeout, r.pid, r.host, r.error"
)
_RUN_FROM = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"
_STATUSES = ("Running", "Completed", "Failed", "Canceled", "Killed")


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier (table or column name)."""
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


class SQLiteStore:
    """A run store in one SQLite file; artifacts as files beside it.

    Args:
        db_path: the database file (created with its folder when missing).
        artifact_root: where artifact files go; default ``artifacts/`` beside the database.
    """

    def __init__(self, db_path: str | os.PathLike[str], artifact_root: str | os.PathLike[str] | None = None,
                 uri: str | None = None) -> None:
        self.path = Path(db_path).absolute()
        self.uri = uri or f"sqlite:///{self.path}"
        root = Path(artifact_root) if artifact_root is not None else self.path.parent / "artifacts"
        self.artifacts = LocalArtifactStore(root)
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
        self._migrate()

    # -- connections and transactions ----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
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
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the store {self.path}: {err}") from err
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        # NORMAL in WAL mode: a committed batch survives a crash of the process; only a power
        # loss or OS crash can take the last commits. RUNLOG_SYNC=full makes those durable too.
        sync = "FULL" if os.environ.get("RUNLOG_SYNC", "").lower() == "full" else "NORMAL"
        conn.execute(f"PRAGMA synchronous = {sync}")
        return conn

    def _retry(self, action: Any) -> Any:
        deadline = time.monotonic() + _LOCK_RETRY_SECONDS
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as err:
                text = str(err).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested use becomes a savepoint."""
        conn = self._conn()
        depth = getattr(self._local, "depth", 0)
        if depth:
            name = f"sp{depth}"
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
            self._retry(lambda: conn.execute("COMMIT"))
        finally:
            self._local.depth = 0

    def _migrate(self) -> None:
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreVersionError(str(self.path), version, SCHEMA_VERSION)
        with self.atomic() as conn:
            # read again under the write lock: another process may have migrated meanwhile
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(str(self.path), version, SCHEMA_VERSION)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- experiments and runs -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> int:
        found = self.get_experiment_id(name)
        if found is not None:
            return found
        with self.atomic() as conn:
            conn.execute("INSERT INTO experiments(name, created) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                         (name, time.time()))
            return conn.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]

    def get_experiment_id(self, name: str) -> int | None:
        row = self._conn().execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def list_experiments(self) -> list[tuple[int, str]]:
        return [tuple(row) for row in self._conn().execute("SELECT id, name FROM experiments ORDER BY id")]

    def create_run(self, info: RunInfo) -> None:
        with self.atomic() as conn:
            conn.execute(
                "INSERT INTO runs(id, experiment_id, name, parent_id, status, start_time, end_time, heartbeat,"
                " heartbeat_timeout, pid, host, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (info.id, info.experiment_id, info.name, info.parent_id, info.status, info.start_time,
                 info.end_time, info.heartbeat, info.heartbeat_timeout, info.pid, info.host, info.error),
            )

    def reattach_run(self, run_id: str, pid: int, host: str, heartbeat_timeout: float) -> None:
        with self.atomic() as conn:
            conn.execute(
                "UPDATE runs SET status = 'Running', end_time = NULL, heartbeat = ?, heartbeat_timeout = ?,"
                " pid = ?, host = ? WHERE id = ?",
                (time.time(), heartbeat_timeout, pid, host, run_id),
            )

    def get_run(self, run_id: str) -> RunInfo | None:
        row = self._conn().execute(f"SELECT {_RUN_COLUMNS} {_RUN_FROM} WHERE r.id = :id",
                                   {"id": run_id, "now": time.time()}).fetchone()
        return None if row is None else RunInfo(*row)

    def find_run_ids(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._conn().execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' OR name = ? LIMIT 20",
                                    (escaped + "%", prefix)).fetchall()
        return [row[0] for row in rows]

    def list_runs(self, experiment_id: int | None = None, status: str | None = None,
                  tags: dict[str, str | None] | None = None, parent_id: str | None = None,
                  include_children: bool = True) -> list[RunInfo]:
        where: list[str] = []
        params: dict[str, Any] = {"now": time.time()}
        if experiment_id is not None:
            where.append("r.experiment_id = :experiment")
            params["experiment"] = experiment_id
        if parent_id is not None:
            where.append("r.parent_id = :parent")
            params["parent"] = parent_id
        elif not include_children:
            where.append("r.parent_id IS NULL")
        if status is not None:
            where.append(f"{_STATUS_SQL} = :status")
            params["status"] = status
        for index, (key, value) in enumerate((tags or {}).items()):
            params[f"tk{index}"] = key
            if value is None:
                where.append(f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = :tk{index})")
            else:
                params[f"tv{index}"] = value
                where.append(f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = :tk{index}"
                             f" AND t.value = :tv{index})")
        sql = f"SELECT {_RUN_COLUMNS} {_RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.start_time DESC, r.rowid DESC"
        return [RunInfo(*row) for row in self._conn().execute(sql, params)]

    def search_runs(self, expression: Expression | None, order_by: list[tuple[Field, bool]],
                    experiment_id: int | None = None) -> list[RunInfo]:
        params: dict[str, Any] = {"now": time.time()}
        where = []
        if expression is not None:
            where.append(_compile(expression, params))
        if experiment_id is not None:
            where.append("r.experiment_id = :experiment")
            params["experiment"] = experiment_id
        sql = f"SELECT {_RUN_COLUMNS} {_RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        orders = [f"{_order_expression(field, params)} {'DESC' if desc else 'ASC'} NULLS LAST"
                  for field, desc in order_by]
        orders.append("r.start_time DESC, r.rowid DESC")
        sql += " ORDER BY " + ", ".join(orders)
        return [RunInfo(*row) for row in self._conn().execute(sql, params)]

    # -- the writer's batch ------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        with self.atomic() as conn:
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
                chunks, rows, last = _encode_columns(batch.columns, end - count)
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
                    [(run_id, key, _values.dumps(value), _param_number(value),
                      value if isinstance(value, str) else _values.dumps(value))
                     for run_id, key, value in batch.params],
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

    # -- reads --------------------------------------------------------------------------------

    def get_series(self, run_id: str) -> list[SeriesInfo]:
        rows = self._conn().execute(
            "SELECT id, run_id, name, kind, description, last_step, last_value, last_time FROM series"
            " WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        result = []
        for row in rows:
            info = SeriesInfo(*row)
            info.last_value = _values.decode(info.kind, info.last_value) if info.last_step is not None else None
            result.append(info)
        return result

    def get_points(self, series_id: int) -> list[tuple[int, Any, float]]:
        """Every point of a series, in the order logged, as ``(step, value, time)``."""
        conn = self._conn()
        chunks = conn.execute("SELECT seq, n, vtype, steps, vals, times FROM chunks WHERE series_id = ? ORDER BY seq",
                              (series_id,)).fetchall()
        if not chunks:
            return conn.execute("SELECT step, value, time FROM points WHERE series_id = ? ORDER BY seq",
                                (series_id,)).fetchall()
        rows = conn.execute("SELECT seq, step, value, time FROM points WHERE series_id = ? ORDER BY seq",
                            (series_id,)).fetchall()
        if not rows and len(chunks) == 1:
            return _decode_chunk(chunks[0])
        parts = [(chunk[0], _decode_chunk(chunk)) for chunk in chunks]
        parts.extend((seq, [(step, value, ts)]) for seq, step, value, ts in rows)
        parts.sort(key=lambda part: part[0])
        points: list[tuple[int, Any, float]] = []
        for _, part in parts:
            points.extend(part)
        return points

    def count_points(self, series_id: int) -> int:
        return self._conn().execute(
            "SELECT (SELECT count(*) FROM points WHERE series_id = :id)"
            " + coalesce((SELECT sum(n) FROM chunks WHERE series_id = :id), 0)", {"id": series_id}).fetchone()[0]

    def get_params(self, run_id: str) -> dict[str, Any]:
        rows = self._conn().execute("SELECT key, value FROM params WHERE run_id = ? ORDER BY rowid", (run_id,))
        return {key: _values.loads(value) for key, value in rows}

    def get_tags(self, run_id: str) -> dict[str, str]:
        return dict(self._conn().execute("SELECT key, value FROM tags WHERE run_id = ? ORDER BY rowid", (run_id,)))

    def get_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        rows = self._conn().execute(
            "SELECT run_id, name, size, sha256, uri, time FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))
        return [ArtifactInfo(*row) for row in rows]


def _pack(typecode: str, values: Any) -> bytes:
    packed = array(typecode, values)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode: str, data: bytes) -> list[Any]:
    unpacked = array(typecode)
    unpacked.frombytes(data)
    if _BIG_ENDIAN:
        unpacked.byteswap()
    return unpacked.tolist()


def _decode_chunk(chunk: tuple[Any, ...]) -> list[tuple[int, Any, float]]:
    _, _, vtype, steps, values, times = chunk
    return list(zip(_unpack("q", steps), _unpack(vtype, values), _unpack("d", times)))


def _encode_columns(columns: list[Any], base: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]],
                                                            list[tuple[Any, ...]]]:
    """Rows for ``chunks`` and ``points``, and the series' latest points, from a batch's columns.

    A numeric series whose values in the batch are all floats (or all ints) becomes chunks;
    anything else (bools, strings, rows, a mix of ints and floats) becomes one row per point,
    so every value reads back with its type.
    """
    chunks: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    last: list[tuple[Any, ...]] = []
    for series, first, steps, values, times in columns:
        seq = base + first
        last.append((steps[-1], values[-1], times[-1], series.id))
        vtype = None
        if series.kind == _values.NUMBER:
            kinds = set(map(type, values))
            vtype = "d" if kinds == {float} else "q" if kinds == {int} else None
        if vtype is None:
            rows.extend(zip(repeat(series.id), range(seq, seq + len(steps)), steps, values, times))
            continue
        for start in range(0, len(steps), _CHUNK_MAX):
            stop = start + _CHUNK_MAX
            chunks.append((series.id, seq + start, len(steps[start:stop]), vtype, _pack("q", steps[start:stop]),
                           _pack(vtype, values[start:stop]), _pack("d", times[start:stop])))
    return chunks, rows, last


def _param_number(value: Any) -> float | None:
    """The number a param compares as in filters (None when it is not one)."""
    if type(value) is int:
        return value if _values.INT64_MIN <= value <= _values.INT64_MAX else float(value)
    if type(value) is float:
        return None if math.isnan(value) else value
    return None


# -- filter compilation ------------------------------------------------------------------------

def _bind(params: dict[str, Any], value: Any) -> str:
    name = f"p{len(params)}"
    params[name] = value
    return f":{name}"


def _attribute_sql(key: str) -> str:
    return {
        "status": _STATUS_SQL,
        "name": "r.name",
        "id": "r.id",
        "experiment": "e.name",
        "start_time": "r.start_time",
        "end_time": _END_SQL,
        "duration": f"(coalesce({_END_SQL}, :now) - r.start_time)",
    }[key]


def _compile(expression: Expression, params: dict[str, Any]) -> str:
    if isinstance(expression, And):
        return f"({_compile(expression.left, params)} AND {_compile(expression.right, params)})"
    if isinstance(expression, Or):
        return f"({_compile(expression.left, params)} OR {_compile(expression.right, params)})"
    assert isinstance(expression, Compare)  # the parser builds nothing else
    field, op, value = expression.field, expression.op, expression.value
    numeric = not isinstance(value, str)
    if field.namespace == "metrics":
        typed = "typeof(s.last_value) IN ('integer', 'real')" if numeric else "typeof(s.last_value) = 'text'"
        return (f"EXISTS (SELECT 1 FROM series s WHERE s.run_id = r.id AND s.name = {_bind(params, field.key)}"
                f" AND s.kind IN ('number', 'bool', 'str') AND {typed} AND s.last_value {op} {_bind(params, value)})")
    if field.namespace == "params":
        column = "p.num" if numeric else "p.txt"
        return (f"EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.id AND p.key = {_bind(params, field.key)}"
                f" AND {column} {op} {_bind(params, value)})")
    if field.namespace == "tags":
        column = "CAST(t.value AS REAL)" if numeric else "t.value"
        return (f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = {_bind(params, field.key)}"
                f" AND {column} {op} {_bind(params, value)})")
    if field.key == "status" and isinstance(value, str):
        value = next((s for s in _STATUSES if s.lower() == value.lower()), value)
    return f"{_attribute_sql(field.key)} {op} {_bind(params, value)}"


def _order_expression(field: Field, params: dict[str, Any]) -> str:
    if field.namespace == "metrics":
        return (f"(SELECT s.last_value FROM series s WHERE s.run_id = r.id AND s.name = {_bind(params, field.key)}"
                " AND s.kind IN ('number', 'bool', 'str'))")
    if field.namespace == "params":
        key = _bind(params, field.key)
        return (f"(SELECT coalesce(p.num, p.txt) FROM params p WHERE p.run_id = r.id AND p.key = {key})")
    if field.namespace == "tags":
        return f"(SELECT t.value FROM tags t WHERE t.run_id = r.id AND t.key = {_bind(params, field.key)})"
    return _attribute_sql(field.key)


# -- the plugin that opens it ------------------------------------------------------------------

class SQLitePlugin:
    """Opens folder paths and ``sqlite:///`` URIs; registered ``trylast`` so other stores come first."""

    @hookimpl(trylast=True)
    def runlog_open_store(self, uri: str) -> SQLiteStore | None:
        if "://" in uri and not uri.startswith("sqlite://") and not uri.startswith("file://"):
            return None
        if uri.startswith("sqlite:///"):
            db_path = Path(uri[len("sqlite:///"):])
            if not uri.startswith("sqlite:////") and not db_path.is_absolute():
                db_path = Path.cwd() / db_path
            return SQLiteStore(db_path, _local_root(os.environ.get("RUNLOG_ARTIFACTS")) or db_path.parent / "artifacts",
                               uri=uri)
        folder = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
        if folder.suffix in (".db", ".sqlite", ".sqlite3") and not folder.is_dir():
            return SQLiteStore(folder, _local_root(os.environ.get("RUNLOG_ARTIFACTS")), uri=str(folder))
        artifact_root = _local_root(os.environ.get("RUNLOG_ARTIFACTS")) or folder / "artifacts"
        return SQLiteStore(folder / "runlog.db", artifact_root, uri=str(folder.absolute()))


def _local_root(value: str | None) -> Path | None:
    if not value:
        return None
    if "://" in value and not value.startswith("file://"):
        warnings.warn(f"RUNLOG_ARTIFACTS={value!r} needs a plugin for that scheme; using the local folder",
                      stacklevel=2)
        return None
    return Path(value[len("file://"):] if value.startswith("file://") else value)

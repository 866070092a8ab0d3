"""The SQLite store's schema: numbered migrations, the version check, and the SQL that reads a run.

The schema version is ``PRAGMA user_version``. Opening a store runs the migrations it lacks, in
order, in one write transaction (read again under the write lock: another process may be
migrating the same file); a store newer than :data:`SCHEMA_VERSION` is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Final

from runlog_core.exceptions import InvalidNameError, StoreVersionError

__all__ = ["END_SQL", "MIGRATIONS", "RUN_COLUMNS", "RUN_FROM", "SCHEMA_VERSION", "STATUSES", "STATUS_SQL",
           "migrate", "quote_identifier"]

SCHEMA_VERSION: Final = 8

MIGRATIONS: Final[dict[int, str]] = {
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
    # no table changes: chunks may now have vtype '?' (bools logged into a number series or a list,
    # #9). An older runlog would fail on them with a raw error; the version makes it refuse the store.
    4: """
    -- v4: chunks of vtype '?'
    """,
    # v5: every batch carries its writer's id and number; the highest number each writer committed
    # makes a batch sent again (a lost reply, a spill file written twice) write nothing (issue 23)
    5: """
    CREATE TABLE writers (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # v6 (issue 20): deleted runs (hidden, restorable), runs gc has begun to remove for good, and the
    # model registry (a model's files stay in its run's artifact folder, kept by gc)
    6: """
    ALTER TABLE runs ADD COLUMN deleted REAL;
    CREATE TABLE gc_pending (
        run_id TEXT PRIMARY KEY,
        since REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        experiment_name TEXT NOT NULL,
        path TEXT NOT NULL,
        files TEXT NOT NULL,
        tags TEXT NOT NULL,
        properties TEXT NOT NULL,
        description TEXT,
        created REAL NOT NULL,
        UNIQUE (name, version)
    );
    CREATE INDEX models_by_run ON models(run_id);
    """,
    # v7 (issue 21): a filter on a metric's latest value or a numeric param reads the runs that match
    # through these (a range of the index), not every run of the store: at 100,000 runs, top 10 % on a
    # metric and a param took 0.43 s and grew 25x for 10x the runs; 0.09 s with them
    7: """
    CREATE INDEX series_by_value ON series(name, last_value);
    CREATE INDEX params_by_number ON params(key, num);
    """,
    # v8 (issue 21): the runs table's count (an experiment's runs, not deleted, top-level or all) is read from
    # this index alone, not from every run's row: 16-21 ms -> 4-6 ms at 100,000 runs
    8: """
    CREATE INDEX runs_listed ON runs(experiment_id, deleted, parent_id);
    """,
}


# A Running run whose heartbeat is stale reads as Killed, ended at its last heartbeat (binds :now).
_STALE: Final = "r.status = 'Running' AND r.heartbeat + r.heartbeat_timeout < :now"
STATUS_SQL: Final = f"CASE WHEN {_STALE} THEN 'Killed' ELSE r.status END"
END_SQL: Final = f"CASE WHEN {_STALE} THEN r.heartbeat ELSE r.end_time END"
RUN_COLUMNS: Final = (
    f"r.id, r.experiment_id, e.name, r.name, {STATUS_SQL}, r.start_time, r.parent_id, {END_SQL}, "
    "r.heartbeat, r.heartbeat_timeout, r.pid, r.host, r.error, r.deleted"
)
RUN_FROM: Final = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"
STATUSES: Final = ("Running", "Completed", "Failed", "Canceled", "Killed")


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier (table, column or savepoint name)."""
    if "\x00" in name:
        raise InvalidNameError("SQL identifier", name, "it contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def migrate(conn: sqlite3.Connection, atomic: Callable[[], AbstractContextManager[sqlite3.Connection]],
            path: str) -> None:
    """Bring the database to :data:`SCHEMA_VERSION`; ``atomic`` opens the store's write transaction.

    Raises:
        StoreVersionError: the database was written by a newer runlog.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreVersionError(path, version, SCHEMA_VERSION)
    with atomic() as conn:
        # read again under the write lock: another process may have migrated meanwhile
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreVersionError(path, version, SCHEMA_VERSION)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(target)}")

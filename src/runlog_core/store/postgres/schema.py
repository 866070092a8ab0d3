"""The PostgreSQL store's schema: numbered migrations, the version check, and the SQL that reads a run.

The schema version is the one row of ``runlog_schema``. Opening a store runs the migrations it
lacks, in order, in one transaction begun once an advisory lock is held (the version read again in
it: another process may have created or migrated the same database meanwhile); a database newer than
:data:`SCHEMA_VERSION` is refused with :class:`~runlog_core.exceptions.StoreVersionError`.
No driver here: :func:`migrate` takes a psycopg connection from :mod:`.db`.

Values are typed columns where SQLite has one dynamic column: a point or a series' latest value is
``(vtype, num, txt)``: ``'d'`` a float in ``num`` (NULL for NaN, as SQLite keeps it), ``'q'`` an
int (exact, in ``txt``; ``num`` holds it as a float for comparisons), ``'?'`` a bool (``num`` 0 or
1), ``'s'`` text (rows and tables as JSON text). Numeric series are packed in chunks as in
``store.sqlite.codec``. Points order by ``(batch, pos)``: ``batch`` from the sequence ``point_batches``
(one per written batch, no lock shared by writers), ``pos`` the point's place in its batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from runlog_core.exceptions import StoreVersionError

if TYPE_CHECKING:
    import psycopg

__all__ = ["END_SQL", "MIGRATIONS", "RUN_COLUMNS", "RUN_FROM", "SCHEMA_VERSION", "STATUSES", "STATUS_SQL",
           "migrate", "schema_version"]

SCHEMA_VERSION: Final = 5

MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """CREATE TABLE experiments (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE runs (
            seq BIGSERIAL NOT NULL UNIQUE,
            id TEXT PRIMARY KEY,
            experiment_id BIGINT NOT NULL REFERENCES experiments(id),
            name TEXT NOT NULL,
            parent_id TEXT,
            status TEXT NOT NULL,
            start_time DOUBLE PRECISION NOT NULL,
            end_time DOUBLE PRECISION,
            heartbeat DOUBLE PRECISION,
            heartbeat_timeout DOUBLE PRECISION,
            pid BIGINT,
            host TEXT,
            error TEXT
        )""",
        "CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time)",
        "CREATE INDEX runs_by_parent ON runs(parent_id)",
        """CREATE TABLE params (
            seq BIGSERIAL NOT NULL,
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            num DOUBLE PRECISION,
            txt TEXT,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE tags (
            seq BIGSERIAL NOT NULL,
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE series (
            id BIGSERIAL PRIMARY KEY,
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            description TEXT,
            last_step BIGINT,
            last_vtype TEXT,
            last_num DOUBLE PRECISION,
            last_txt TEXT,
            last_time DOUBLE PRECISION,
            UNIQUE (run_id, name)
        )""",
        """CREATE TABLE chunks (
            series_id BIGINT NOT NULL,
            batch BIGINT NOT NULL,
            pos INTEGER NOT NULL,
            n INTEGER NOT NULL,
            vtype TEXT NOT NULL,
            steps BYTEA NOT NULL,
            vals BYTEA NOT NULL,
            times BYTEA NOT NULL,
            PRIMARY KEY (series_id, batch, pos)
        )""",
        # packed numbers hardly compress: pglz trying cost ~10x the whole insert (45 ms for 20,000 points)
        "ALTER TABLE chunks ALTER steps SET STORAGE EXTERNAL, ALTER vals SET STORAGE EXTERNAL,"
        " ALTER times SET STORAGE EXTERNAL",
        """CREATE TABLE points (
            series_id BIGINT NOT NULL,
            batch BIGINT NOT NULL,
            pos INTEGER NOT NULL,
            step BIGINT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            vtype TEXT NOT NULL,
            num DOUBLE PRECISION,
            txt TEXT,
            PRIMARY KEY (series_id, batch, pos)
        )""",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            size BIGINT NOT NULL,
            sha256 TEXT NOT NULL,
            uri TEXT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, name)
        )""",
        "CREATE SEQUENCE point_batches",
        # a tag compares as a number when it reads as one; anything else (and NaN) compares with nothing
        """CREATE FUNCTION runlog_number(value TEXT) RETURNS DOUBLE PRECISION
        LANGUAGE plpgsql IMMUTABLE STRICT AS $$
        DECLARE
            result DOUBLE PRECISION;
        BEGIN
            result := value::DOUBLE PRECISION;
            RETURN CASE WHEN result = 'NaN'::DOUBLE PRECISION THEN NULL ELSE result END;
        EXCEPTION WHEN OTHERS THEN
            RETURN NULL;
        END
        $$""",
    ),
    # v2: comparing one metric across runs (search, compare, UI) looks series up by name.
    2: (
        "CREATE INDEX series_by_name ON series(name, run_id)",
        "CREATE INDEX runs_by_status ON runs(status)",
    ),
    # v3: the highest batch number each writer committed: a batch sent again after a lost COMMIT
    # reply (or replayed from a spill file twice) writes nothing (issue 23)
    3: (
        "CREATE TABLE writers (id TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    ),
    # v4 (issue 20): deleted runs (hidden, restorable), runs gc has begun to remove for good, and the
    # model registry (a model's files stay in its run's artifact folder, kept by gc)
    4: (
        "ALTER TABLE runs ADD COLUMN deleted DOUBLE PRECISION",
        "CREATE TABLE gc_pending (run_id TEXT PRIMARY KEY, since DOUBLE PRECISION NOT NULL)",
        """CREATE TABLE models (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            run_id TEXT NOT NULL,
            experiment_name TEXT NOT NULL,
            path TEXT NOT NULL,
            files TEXT NOT NULL,
            tags TEXT NOT NULL,
            properties TEXT NOT NULL,
            description TEXT,
            created DOUBLE PRECISION NOT NULL,
            UNIQUE (name, version)
        )""",
        "CREATE INDEX models_by_run ON models(run_id)",
    ),
    # v5 (issue 21): a filter on a metric's latest number or a numeric param reads the runs that match
    # through these (a range of the index), not every run of the store
    5: (
        "CREATE INDEX series_by_value ON series(name, last_num)",
        "CREATE INDEX params_by_number ON params(key, num)",
    ),
}

# A Running run whose heartbeat is stale reads as Killed, ended at its last heartbeat (binds %(now)s,
# the client's clock, as every heartbeat is written: hosts' clocks must roughly agree, as for SQLite).
_STALE: Final = "r.status = 'Running' AND r.heartbeat + r.heartbeat_timeout < %(now)s"
STATUS_SQL: Final = f"(CASE WHEN {_STALE} THEN 'Killed' ELSE r.status END)"
END_SQL: Final = f"(CASE WHEN {_STALE} THEN r.heartbeat ELSE r.end_time END)"
RUN_COLUMNS: Final = (
    f"r.id, r.experiment_id, e.name, r.name, {STATUS_SQL}, r.start_time, r.parent_id, {END_SQL}, "
    "r.heartbeat, r.heartbeat_timeout, r.pid, r.host, r.error, r.deleted"
)
RUN_FROM: Final = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"
STATUSES: Final = ("Running", "Completed", "Failed", "Canceled", "Killed")

_LOCK_KEY: Final = 0x72756E6C6F67  # "runlog": the advisory lock held while creating or migrating


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The database's schema version; ``None`` when it has no ``runlog_schema`` table."""
    row = conn.execute("SELECT to_regclass('runlog_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute("SELECT version FROM runlog_schema").fetchone()
    return 0 if found is None else int(found[0])


def migrate(conn: psycopg.Connection[Any], shown_as: str) -> None:
    """Bring the database to :data:`SCHEMA_VERSION` (creating it when empty), in one transaction.

    Safe when many processes open the same new or older database at once: the version is read
    without a lock first (the common case, a current schema, takes no lock); otherwise the advisory
    lock is taken, *then* a transaction begins that reads the version again and creates or migrates
    what is still missing, and the lock is released after its commit. A transaction begun after the
    lock was granted sees everything the lock's previous holder committed, its new tables included
    (a lock taken inside an older transaction may leave that transaction a stale view of the
    catalog: ``relation "runlog_schema" already exists``). The migrations run once.

    ``conn`` is in autocommit mode (each statement its own transaction until :meth:`transaction`);
    ``shown_as`` names the store in errors (no password).

    Raises:
        StoreVersionError: the database was written by a newer runlog.
    """
    version = schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    _refuse_newer(version, shown_as)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))  # the session's: held across the transaction
    try:
        with conn.transaction():
            version = schema_version(conn)  # again: another process may have created or migrated it
            _refuse_newer(version, shown_as)
            if version is None:
                conn.execute("CREATE TABLE runlog_schema (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO runlog_schema VALUES (0)")
                version = 0
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    conn.execute(statement)
                conn.execute("UPDATE runlog_schema SET version = %s", (target,))
    finally:
        if not conn.closed and not conn.broken:  # a lost session's locks went with it
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _refuse_newer(version: int | None, shown_as: str) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise StoreVersionError(shown_as, version, SCHEMA_VERSION)

"""The writer's batch into PostgreSQL: every row of one :class:`~runlog_core.base.records.Batch`, on one connection.

Numeric series go in as packed chunks (the layout of :mod:`runlog_core.store.sqlite.codec`), other points
a row each, both through ``COPY``. A batch sent again after a lost COMMIT reply writes nothing: its
identity ``(writer, seq)`` is recorded in ``writers`` in the same transaction, and a batch whose writer
already committed that number is skipped (runs, series, params and tags are idempotent by themselves,
``ON CONFLICT``). :meth:`PostgresStore.write <runlog_core.store.postgres.store.PostgresStore.write>`
runs it in one transaction.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from runlog_core.store.postgres.codec import encode_value
from runlog_core.store.sqlite.codec import encode_columns, encode_param

if TYPE_CHECKING:
    import psycopg

    from runlog_core.base.records import Batch

__all__ = ["write_batch"]


def write_batch(conn: psycopg.Connection[Any], batch: Batch) -> None:
    """Write ``batch`` on ``conn`` (inside the caller's transaction); sets the ids of its new series."""
    cur = conn.cursor()
    if batch.writer is not None and cur.execute(
            "INSERT INTO writers(id, seq) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq"
            " WHERE writers.seq < excluded.seq RETURNING 1", (batch.writer, batch.seq)).fetchone() is None:
        for series in batch.series:  # committed before, its reply lost: only the series' ids are read
            found = cur.execute("SELECT id FROM series WHERE run_id = %s AND name = %s",
                                (series.run_id, series.name)).fetchone()
            series.id = None if found is None else int(found[0])
        return
    if batch.runs:
        cur.executemany(
            "INSERT INTO runs(id, experiment_id, name, parent_id, status, start_time, end_time, heartbeat,"
            " heartbeat_timeout, pid, host, error) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (id) DO NOTHING",
            [(r.id, r.experiment_id, r.name, r.parent_id, r.status, r.start_time, r.end_time, r.heartbeat,
              r.heartbeat_timeout, r.pid, r.host, r.error) for r in batch.runs])
    for series in batch.series:
        row = cur.execute("INSERT INTO series(run_id, name, kind, description) VALUES (%s, %s, %s, %s)"
                          " ON CONFLICT (run_id, name) DO NOTHING RETURNING id",
                          (series.run_id, series.name, series.kind, series.description)).fetchone()
        if row is None:  # created before (a resent series, another process of the same run)
            row = cur.execute("SELECT id FROM series WHERE run_id = %s AND name = %s",
                              (series.run_id, series.name)).fetchone()
        assert row is not None
        series.id = int(row[0])
    if batch.columns:
        _write_points(cur, batch)
    if batch.params:
        cur.executemany(
            "INSERT INTO params(run_id, key, value, num, txt) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, key) DO NOTHING",
            [(run_id, key, *_param_columns(value)) for run_id, key, value in batch.params])
    if batch.tags:
        cur.executemany(
            "INSERT INTO tags(run_id, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value", batch.tags)
    if batch.artifacts:
        cur.executemany(
            "INSERT INTO artifacts(run_id, name, size, sha256, uri, time) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, name) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,"
            " uri = excluded.uri, time = excluded.time",
            [(a.run_id, a.name, a.size, a.sha256, a.uri, a.time) for a in batch.artifacts])
    if batch.heartbeats:
        now = time.time()
        cur.executemany("UPDATE runs SET heartbeat = %s WHERE id = %s AND status = 'Running'",
                        [(now, run_id) for run_id in sorted(set(batch.heartbeats))])
    if batch.ends:
        cur.executemany("UPDATE runs SET status = %s, end_time = %s, error = coalesce(%s, error) WHERE id = %s",
                        [(status, end, error, run_id) for run_id, status, end, error in batch.ends])


def _write_points(cur: psycopg.Cursor[Any], batch: Batch) -> None:
    """The batch's points (chunks and rows, numbered by one batch number) and each series' latest value."""
    chunks, rows, last = encode_columns(batch.columns, 0)
    number = cur.execute("SELECT nextval('point_batches')").fetchone()
    assert number is not None
    batch_number = int(number[0])
    if chunks:
        with cur.copy("COPY chunks(series_id, batch, pos, n, vtype, steps, vals, times)"
                      " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "int4", "int4", "text", "bytea", "bytea", "bytea"])
            for series_id, pos, n, vtype, steps, vals, times in chunks:
                copy.write_row((series_id, batch_number, pos, n, vtype, steps, vals, times))
    if rows:
        with cur.copy("COPY points(series_id, batch, pos, step, time, vtype, num, txt)"
                      " FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "int4", "int8", "float8", "text", "float8", "text"])
            for series_id, pos, step, value, ts in rows:
                copy.write_row((series_id, batch_number, pos, step, float(ts), *encode_value(value)))
    latest: list[tuple[Any, ...]] = [(step, *encode_value(value), float(ts), series_id)
                                     for step, value, ts, series_id in last]
    # in id order: two processes writing the same series never wait for each other in a cycle
    latest.sort(key=lambda values: int(values[-1]))
    cur.executemany("UPDATE series SET last_step = %s, last_vtype = %s, last_num = %s, last_txt = %s,"
                    " last_time = %s WHERE id = %s", latest)


def _param_columns(value: Any) -> tuple[str, float | None, str]:
    text, number, txt = encode_param(value)
    return text, None if number is None else float(number), txt

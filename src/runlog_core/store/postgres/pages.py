"""The PostgreSQL store's page reads: a page of a series' points, of a run's params or tags, reading only
the rows and chunks that hold it (the plan is :mod:`runlog_core.store.sqlite.pages`'; the order key of
points here is ``(batch, pos)``).

Keys are ordered ``COLLATE "C"``: byte order of UTF-8, which is code point order, as SQLite's and
Python's, whatever the database's collation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runlog_core.store.postgres.codec import decode_rows
from runlog_core.store.sqlite.codec import decode_param
from runlog_core.store.sqlite.pages import chunk_part, covering, row_part, take

__all__ = ["key_page", "points_page"]

Point = tuple[int, Any, float]


def points_page(conn: Any, series_id: int, offset: int, limit: int) -> list[Point]:
    """``get_points(series_id)[offset:offset + limit]`` on ``conn`` (a psycopg connection)."""
    found = conn.execute("SELECT kind FROM series WHERE id = %s", (series_id,)).fetchone()
    if found is None or limit <= 0:
        return []
    kind = found[0]
    ident = {"id": series_id}
    sizes = [((batch, pos), n) for batch, pos, n in conn.execute(
        "SELECT batch, pos, n FROM chunks WHERE series_id = %(id)s ORDER BY batch, pos", ident).fetchall()]
    if not sizes:  # a row a point: the server skips to the page
        return decode_rows(kind, conn.execute(
            "SELECT step, time, vtype, num, txt FROM points WHERE series_id = %(id)s ORDER BY batch, pos"
            " LIMIT %(limit)s OFFSET %(offset)s", {**ident, "limit": limit, "offset": offset}).fetchall())
    mixed = conn.execute("SELECT 1 FROM points WHERE series_id = %(id)s LIMIT 1", ident).fetchone() is not None
    if mixed:
        sizes = [((batch, pos), n) for batch, pos, n in conn.execute(
            "SELECT batch, pos, n FROM chunks WHERE series_id = %(id)s UNION ALL"
            " SELECT batch, pos, 1 FROM points WHERE series_id = %(id)s ORDER BY 1, 2", ident).fetchall()]
    span = covering(sizes, offset, limit)
    if span is None:
        return []
    (low_batch, low_pos), (high_batch, high_pos), skip = span
    between = {**ident, "lb": low_batch, "lp": low_pos, "hb": high_batch, "hp": high_pos}
    where = "series_id = %(id)s AND (batch, pos) >= (%(lb)s, %(lp)s) AND (batch, pos) <= (%(hb)s, %(hp)s)"
    parts: list[tuple[tuple[int, int], int, Callable[[int, int], list[Point]]]] = [
        ((batch, pos), n, chunk_part(vtype, bytes(steps), bytes(values), bytes(times)))
        for batch, pos, n, vtype, steps, values, times in conn.cursor(binary=True).execute(
            f"SELECT batch, pos, n, vtype, steps, vals, times FROM chunks WHERE {where}", between).fetchall()]
    if mixed:
        for batch, pos, step, ts, vtype, num, txt in conn.execute(
                f"SELECT batch, pos, step, time, vtype, num, txt FROM points WHERE {where}", between).fetchall():
            parts.append(((batch, pos), 1, row_part(decode_rows(kind, [(step, ts, vtype, num, txt)]))))
    parts.sort(key=lambda part: part[0])
    return take([(n, read) for _, n, read in parts], skip, limit)


def key_page(conn: Any, table: str, run_id: str, after: str | None, limit: int,
             contains: str | None) -> tuple[dict[str, Any], int]:
    """A page of the run's ``params`` or ``tags`` in code point order of their keys, and how many keys
    contain ``contains``."""
    if table not in ("params", "tags"):
        raise ValueError(f"no key table {table!r}")
    where = "run_id = %(run)s"
    args: dict[str, Any] = {"run": run_id, "after": after, "contains": contains, "limit": max(0, int(limit))}
    if contains:
        where += " AND strpos(key, %(contains)s) > 0"
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()
    total = 0 if row is None else int(row[0])
    if after is not None:
        where += ' AND key COLLATE "C" > %(after)s'
    rows = conn.execute(f'SELECT key, value FROM {table} WHERE {where} ORDER BY key COLLATE "C" LIMIT %(limit)s',
                        args).fetchall()
    if table == "params":
        return {key: decode_param(value) for key, value in rows}, total
    return dict(rows), total

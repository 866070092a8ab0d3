"""Pages of a series, of params and of tags, read without reading the rest (the optional page reads of
:mod:`runlog_core.store`, for the web UI). ``conn`` is a connection of the store (sqlite3 is imported
by its modules only).

A series' points are stored as packed chunks (numbers: up to 65,536 points a row) and as rows (one
point each: strings, rows, ints mixed with floats), both ordered by one key (SQLite: ``seq``;
PostgreSQL: ``(batch, pos)``). A page of rows only is an SQL ``LIMIT ... OFFSET``; otherwise the
sizes of the chunks and rows (a few integers a row, never their bytes) say which of them hold the
page (:func:`covering`), only those are read, and only the page's part of a chunk is decoded
(:func:`take`). The helpers here are shared with the PostgreSQL store; the SQLite reads follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from runlog_core.store.sqlite.codec import BOOL_VTYPE, decode_chunk, decode_param, decode_points

__all__ = ["chunk_part", "covering", "key_page", "points_page", "row_part", "take"]

K = TypeVar("K")
Point = tuple[int, Any, float]
Part = tuple[int, Callable[[int, int], list[Point]]]  # (points in it, read(start, stop) -> those points)


def covering(sizes: Iterable[tuple[K, int]], offset: int, limit: int) -> tuple[K, K, int] | None:
    """The keys of the first and last of ``sizes`` (``(key, points)`` in order) that hold the points
    ``offset`` to ``offset + limit - 1``, and how many points of the first come before ``offset``;
    ``None`` when none does."""
    if limit <= 0:
        return None
    seen = 0
    first: tuple[K, int] | None = None
    last: K | None = None
    for key, n in sizes:
        if seen + n > offset and first is None:
            first = (key, offset - seen)
        if first is not None:
            last = key
        seen += n
        if seen >= offset + limit:
            break
    if first is None or last is None:
        return None
    return first[0], last, first[1]


def chunk_part(vtype: str, steps: bytes, values: bytes, times: bytes) -> Callable[[int, int], list[Point]]:
    """A reader of points ``start`` to ``stop - 1`` of one chunk, decoding those only."""
    width = 1 if vtype == BOOL_VTYPE else 8

    def read(start: int, stop: int) -> list[Point]:
        return decode_chunk(vtype, steps[8 * start:8 * stop], values[width * start:width * stop],
                            times[8 * start:8 * stop])

    return read


def row_part(point: list[Point]) -> Callable[[int, int], list[Point]]:
    """A reader of a point stored a row each (``point``: the one decoded point)."""
    return lambda start, stop: point[start:stop]


def take(parts: Sequence[Part], skip: int, limit: int) -> list[Point]:
    """``limit`` points of ``parts`` (in order) after the first ``skip``."""
    out: list[Point] = []
    for n, read in parts:
        if len(out) >= limit:
            break
        if skip >= n:
            skip -= n
            continue
        out.extend(read(skip, min(n, skip + limit - len(out))))
        skip = 0
    return out


def points_page(conn: Any, series_id: int, offset: int, limit: int) -> list[Point]:
    """``get_points(series_id)[offset:offset + limit]`` of the SQLite store, read from the rows and chunks holding it."""
    found = conn.execute("SELECT kind FROM series WHERE id = ?", (series_id,)).fetchone()
    if found is None or limit <= 0:
        return []
    kind = found[0]
    sizes = conn.execute("SELECT seq, n FROM chunks WHERE series_id = ? ORDER BY seq", (series_id,)).fetchall()
    if not sizes:  # a row a point: the database skips to the page
        return decode_points(kind, conn.execute(
            "SELECT step, value, time FROM points WHERE series_id = ? ORDER BY seq LIMIT ? OFFSET ?",
            (series_id, limit, offset)).fetchall())
    mixed = conn.execute("SELECT 1 FROM points WHERE series_id = ? LIMIT 1", (series_id,)).fetchone() is not None
    if mixed:
        sizes = conn.execute("SELECT seq, n FROM chunks WHERE series_id = :id UNION ALL"
                             " SELECT seq, 1 FROM points WHERE series_id = :id ORDER BY 1", {"id": series_id}).fetchall()
    span = covering(sizes, offset, limit)
    if span is None:
        return []
    low, high, skip = span
    between = {"id": series_id, "low": low, "high": high}
    parts: list[tuple[int, int, Callable[[int, int], list[Point]]]] = [
        (seq, n, chunk_part(vtype, steps, values, times)) for seq, n, vtype, steps, values, times in conn.execute(
            "SELECT seq, n, vtype, steps, vals, times FROM chunks WHERE series_id = :id AND seq BETWEEN :low AND :high",
            between)]
    if mixed:
        for seq, step, value, ts in conn.execute("SELECT seq, step, value, time FROM points"
                                                 " WHERE series_id = :id AND seq BETWEEN :low AND :high", between):
            parts.append((seq, 1, row_part(decode_points(kind, [(step, value, ts)]))))
    parts.sort(key=lambda part: part[0])
    return take([(n, read) for _, n, read in parts], skip, limit)


def key_page(conn: Any, table: str, run_id: str, after: str | None, limit: int,
             contains: str | None) -> tuple[dict[str, Any], int]:
    """A page of the run's ``params`` or ``tags`` by key (SQLite's BINARY order is code point order), and
    how many keys contain ``contains``."""
    if table not in ("params", "tags"):
        raise ValueError(f"no key table {table!r}")
    where = "run_id = :run"
    args: dict[str, Any] = {"run": run_id, "after": after, "contains": contains, "limit": max(0, int(limit))}
    if contains:
        where += " AND instr(key, :contains) > 0"
    total: int = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0]
    if after is not None:
        where += " AND key > :after"
    rows = conn.execute(f"SELECT key, value FROM {table} WHERE {where} ORDER BY key LIMIT :limit", args).fetchall()
    if table == "params":
        return {key: decode_param(value) for key, value in rows}, total
    return dict(rows), total

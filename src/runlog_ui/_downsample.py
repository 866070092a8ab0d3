"""A scalar series as a chart needs it: read once per point count, cut to the visible range, downsampled.

A series is read whole (``get_point_columns`` when the store has it: numpy arrays straight from the
stored chunks; else ``get_points``) and kept in a small cache keyed by the series id and its point
count, so a page polling a 1,000,000-point series once a second reads it again only when it grew.

Downsampling keeps, per bucket of consecutive points (in x order), the first, the last, the lowest
and the highest point, so a single spike survives any width. NaN and infinities are points too:
an infinity is a bucket's extreme, a NaN survives as a bucket's first or last point.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["Columns", "ColumnCache", "downsample", "json_numbers"]

MAX_CACHED = 16  # series kept in memory (1,000,000 points take 24 MB)
MAX_CACHED_POINTS = 40_000_000  # and at most this many points in all (960 MB): four 10,000,000-point series
MAX_ANSWERS = 8  # downsampled answers kept per series
_ANSWERS_LOCK = threading.Lock()  # the server answers requests on several threads


class Columns:
    """Every point of a series as numpy arrays: ``steps`` (int64), ``values`` (float64), ``times`` (float64)."""

    __slots__ = ("count", "steps", "values", "times", "_sorted", "_passes", "answers")

    def __init__(self, steps: Any, values: Any, times: Any) -> None:
        self.steps = np.asarray(steps, dtype=np.int64)
        self.values = _floats(values)
        self.times = np.asarray(times, dtype=np.float64)
        self.count = len(self.steps)
        self._sorted: dict[str, np.ndarray | None] = {}
        self._passes: tuple[np.ndarray, Columns, Columns | None] | None = None
        # the last answers of :func:`downsample` by (axis, width, start, end): a page asking again for
        # the same view of a 10,000,000-point series gets it without another pass over the points
        self.answers: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def passes(self) -> tuple[np.ndarray, Columns, Columns | None]:
        """``(rewinds, latest, earlier)``: where a later pass begins, and the points drawn and hidden.

        A run resumed from a checkpoint logs its steps again from where it went back to (#19): a point
        whose step is lower than the one logged before it begins a new pass, and that pass replaces every
        point of the passes before it at its first step or later. ``rewinds``: the indices (in the order
        written) where such passes begin; ``latest``: the points no later pass replaced (``self`` when no
        pass did); ``earlier``: those replaced, or ``None``. Computed once per point count.
        """
        if self._passes is None:
            rewinds = np.flatnonzero(self.steps[1:] < self.steps[:-1]) + 1
            if not len(rewinds):
                self._passes = (rewinds, self, None)
            else:
                which = np.zeros(self.count, dtype=np.int64)
                which[rewinds] = 1
                which = np.cumsum(which)  # each point's pass
                # pass p is replaced from the lowest first step of the passes after it on
                firsts = np.minimum.accumulate(self.steps[rewinds][::-1])[::-1]
                limits = np.append(firsts, np.iinfo(np.int64).max)
                replaced = self.steps >= limits[which]
                self._passes = (rewinds, self._part(~replaced), self._part(replaced))
        return self._passes

    def _part(self, mask: np.ndarray) -> Columns:
        return Columns(self.steps[mask], self.values[mask], self.times[mask])

    def x(self, axis: str) -> np.ndarray:
        return self.times if axis == "time" else self.steps

    def order(self, axis: str) -> np.ndarray | None:
        """The permutation that puts the points in x order (stable), or ``None`` when they already are."""
        if axis not in self._sorted:
            x = self.x(axis)
            ordered = bool(np.all(x[1:] >= x[:-1])) if len(x) > 1 else True
            self._sorted[axis] = None if ordered else np.argsort(x, kind="stable")
        return self._sorted[axis]


def _floats(values: Any) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # a mixed column (a str among numbers): NaN for what is not a number
        out = np.empty(len(values), dtype=np.float64)
        for i, value in enumerate(values):
            try:
                out[i] = float(value)
            except (TypeError, ValueError, OverflowError):
                out[i] = np.nan
        return out


class ColumnCache:
    """Series columns by ``(series id, count)``: re-read only when the series has grown."""

    def __init__(self, store: Any, size: int = MAX_CACHED) -> None:
        self._store, self._size = store, size
        self._entries: OrderedDict[int, Columns] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0  # how many times a series was read from the store (for tests and curiosity)

    def get(self, series_id: int, count: int) -> Columns:
        with self._lock:
            found = self._entries.get(series_id)
            if found is not None and found.count == count:
                self._entries.move_to_end(series_id)
                return found
        columns = self._read(series_id)
        with self._lock:
            self.reads += 1
            self._entries[series_id] = columns
            self._entries.move_to_end(series_id)
            while len(self._entries) > self._size or (
                    len(self._entries) > 1 and sum(c.count for c in self._entries.values()) > MAX_CACHED_POINTS):
                self._entries.popitem(last=False)
        return columns

    def _read(self, series_id: int) -> Columns:
        reader = getattr(self._store, "get_point_columns", None)
        if reader is not None:
            steps, values, times = reader(series_id)
            return Columns(steps, values, times)
        points = self._store.get_points(series_id)
        return Columns([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])


def downsample(columns: Columns, axis: str, width: int, start: float | None = None, end: float | None = None,
               since: int | None = None) -> dict[str, Any]:
    """``{"x", "y", "downsampled", "cursor"}`` of the series for a chart ``width`` pixels wide.

    ``start``/``end``: only points with x in that range (inclusive); ``since``: only the points from
    that position (in the order written) on; either way at full resolution when at most ``2 * width``.
    """
    key = (axis, width, start, end)
    if since is None:
        with _ANSWERS_LOCK:
            found = columns.answers.get(key)
            if found is not None:
                columns.answers.move_to_end(key)
                return dict(found)
    x_all, y_all = columns.x(axis), columns.values
    if since is not None:
        x, y = x_all[since:], y_all[since:]
        order = None if len(x) < 2 or bool(np.all(x[1:] >= x[:-1])) else np.argsort(x, kind="stable")
    else:
        x, y, order = x_all, y_all, columns.order(axis)
    if order is not None:
        x, y = x[order], y[order]
    if start is not None or end is not None:
        lo = 0 if start is None else int(np.searchsorted(x, start, side="left"))
        hi = len(x) if end is None else int(np.searchsorted(x, end, side="right"))
        x, y = x[lo:hi], y[lo:hi]
    keep = _keep(y, width)
    downsampled = keep is not None
    if keep is not None:
        x, y = x[keep], y[keep]
    answer = {"x": x.tolist(), "y": json_numbers(y), "downsampled": downsampled, "cursor": columns.count}
    if since is None:
        with _ANSWERS_LOCK:
            columns.answers[key] = answer
            while len(columns.answers) > MAX_ANSWERS:
                columns.answers.popitem(last=False)
        return dict(answer)
    return answer


def _keep(y: np.ndarray, width: int) -> np.ndarray | None:
    """Indices of the points to keep (first, last, min, max per bucket, in order); ``None``: keep all.

    Buckets are ``size`` consecutive points; the lowest and highest of each come from ``argmin`` and
    ``argmax`` over a view of the values as a ``(buckets, size)`` matrix, the last (shorter) bucket on
    its own: no copy of the series unless it holds NaN (then NaN counts as neither extreme).
    """
    n = len(y)
    if n <= 2 * width:
        return None
    buckets = max(1, width // 2)
    size = -(-n // buckets)  # ceil
    buckets = -(-n // size)
    full = n // size  # buckets of exactly ``size`` points; at most one shorter bucket follows
    if np.isnan(np.min(y)):  # min is NaN only when some value is (one pass, no temporary array)
        nan = np.isnan(y)
        low, high = np.where(nan, np.inf, y), np.where(nan, -np.inf, y)
    else:
        low = high = y
    base = np.arange(buckets, dtype=np.int64) * size
    lowest, highest = base.copy(), base.copy()
    lowest[:full] += np.argmin(low[:full * size].reshape(full, size), axis=1)
    highest[:full] += np.argmax(high[:full * size].reshape(full, size), axis=1)
    if full < buckets:
        lowest[full] += int(np.argmin(low[full * size:]))
        highest[full] += int(np.argmax(high[full * size:]))
    last = np.minimum(base + size - 1, n - 1)
    return np.unique(np.concatenate([base, last, lowest, highest]))


def json_numbers(values: np.ndarray) -> list[Any]:
    """Values for JSON: numbers, with NaN and +/-inf as the strings "NaN", "Infinity", "-Infinity"."""
    out: list[Any] = values.tolist()
    bad = np.flatnonzero(~np.isfinite(values))
    for i in bad.tolist():
        value = out[i]
        out[i] = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return out

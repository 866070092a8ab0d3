"""How the SQLite store lays values out, and reads them back as Python values. No SQL here.

Numeric series whose values in a batch are all floats (or all ints) are packed into columnar
chunks: little-endian int64 steps, float64 times, and float64 (``'d'``) or int64 (``'q'``)
values, one row per series and batch (#2: a row per point cost ~1.5 us to insert; a chunk
~0.3 us per point, and 24 bytes per point on disk). Bools in a number series or a list are chunks
of vtype ``'?'`` (one byte each), so they read back as bools. Anything else (strings, rows, a mix
of ints and floats) is one row per point, so every value reads back with its type. SQLite
stores a NaN as NULL and a bool as 0/1; rows and tables are JSON text. :func:`decode_points`
and :func:`decode_value` undo all of that, so the store hands out plain Python values.
"""

from __future__ import annotations

import gc
import math
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, Final

from runlog_core.base.records import Batch, SeriesRef
from runlog_core.base.values import BOOL, IMAGE, INT64_MAX, INT64_MIN, LIST, NUMBER, ROW, STR, TABLE, dumps, loads
from runlog_core.exceptions import InvalidArgumentError, InvalidMetricError, RunlogError

__all__ = ["BOOL_VTYPE", "CHUNK_MAX", "chunk_points", "decode_chunk", "decode_param", "decode_points", "decode_value",
           "encode_columns", "encode_param", "merge_points", "param_number", "refusal"]

CHUNK_MAX: Final = 65536
BOOL_VTYPE: Final = "?"
"""The ``vtype`` of a chunk of bools logged into a number series, one byte each (#9: read back as ints)."""
_BIG_ENDIAN: Final = sys.byteorder == "big"
_JSON_KINDS: Final = frozenset({ROW, TABLE})

Column = tuple[SeriesRef, int, Sequence[int], Sequence[Any], Sequence[float]]
Point = tuple[int, Any, float]


def _pack(typecode: str, values: Any) -> bytes:
    packed = array(typecode, values)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode: str, data: bytes) -> array[Any]:
    """The packed column as an ``array``: iterating it makes each Python number in C, no list first."""
    unpacked = array(typecode)
    unpacked.frombytes(data)
    if _BIG_ENDIAN:
        unpacked.byteswap()
    return unpacked


def chunk_points(vtype: str, steps: bytes, values: bytes, times: bytes) -> Iterator[Point]:
    """The points of one chunk row, one ``(step, value, time)`` at a time."""
    decoded: Iterable[Any] = map(bool, _unpack("b", values)) if vtype == BOOL_VTYPE else _unpack(vtype, values)
    return zip(_unpack("q", steps), decoded, _unpack("d", times))


def decode_chunk(vtype: str, steps: bytes, values: bytes, times: bytes) -> list[Point]:
    """The points of one chunk row."""
    return list(chunk_points(vtype, steps, values, times))


def merge_points(kind: str, chunks: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> list[Point]:
    """The points of a series' chunk rows ``(seq, vtype, steps, vals, times)`` and point rows
    ``(seq, step, value, time)``, both in ``seq`` order, merged in the order written.

    The garbage collector is off meanwhile: millions of new tuples would set off collections that walk
    every object of the process, again and again, and free nothing (#21).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        points: list[Point] = []
        if not rows:
            for chunk in chunks:
                points.extend(chunk_points(*chunk[1:]))
            return points
        parts = [(chunk[0], decode_chunk(*chunk[1:])) for chunk in chunks]
        parts.extend((seq, decode_points(kind, [(step, value, ts)])) for seq, step, value, ts in rows)
        parts.sort(key=lambda part: part[0])
        for _, part in parts:
            points.extend(part)
        return points
    finally:
        if collecting:
            gc.enable()


def _stored(kind: str, values: Sequence[Any]) -> list[Any]:
    """The values as SQLite binds them: rows and tables become JSON text."""
    if kind in _JSON_KINDS:
        # a dict is the contract; JSON text is what Run handed over before #8, kept as is
        return [value if type(value) is str else dumps(value) for value in values]
    return values if isinstance(values, list) else list(values)


def encode_columns(columns: list[Column], base: int
                   ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows for ``chunks`` and ``points``, and each series' latest point, from a batch's columns.

    ``base`` is the sequence number of the batch's first point; a point's ``seq`` is ``base``
    plus its position in the batch, so points read back in logging order across batches.
    Returns ``(chunks, points, last)`` with ``last`` as ``(step, value, time, series id)``.

    Raises:
        OverflowError: a step or an int value is outside int64.
        TypeError: a value of a type the store cannot hold.
    """
    chunks: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    last: list[tuple[Any, ...]] = []
    for series, first, steps, values, times in columns:
        seq = base + first
        if series.kind == LIST and any(type(value) is bool for value in values):
            _mixed(chunks, rows, series.id, seq, steps, values, times)
        elif series.kind != NUMBER:
            rows.extend(zip(repeat(series.id), range(seq, seq + len(steps)), steps, _stored(series.kind, values),
                            times))
        else:
            kinds = set(map(type, values))
            vtype = "d" if kinds == {float} else "q" if kinds == {int} else BOOL_VTYPE if kinds == {bool} else None
            if vtype is not None:
                _chunk(chunks, series.id, seq, vtype, steps, values, times)
            elif bool not in kinds:  # ints and floats: a row each, so each keeps its type
                rows.extend(zip(repeat(series.id), range(seq, seq + len(steps)), steps, values, times))
            else:
                _mixed(chunks, rows, series.id, seq, steps, values, times)
        last.append((steps[-1], _stored(series.kind, values[-1:])[0], times[-1], series.id))
    return chunks, rows, last


def _chunk(chunks: list[tuple[Any, ...]], series_id: int | None, seq: int, vtype: str, steps: Sequence[int],
           values: Sequence[Any], times: Sequence[float]) -> None:
    """Chunk rows for points of one type, ``CHUNK_MAX`` points at most each."""
    typecode = "b" if vtype == BOOL_VTYPE else vtype
    for start in range(0, len(steps), CHUNK_MAX):
        stop = start + CHUNK_MAX
        chunks.append((series_id, seq + start, len(steps[start:stop]), vtype, _pack("q", steps[start:stop]),
                       _pack(typecode, values[start:stop]), _pack("d", times[start:stop])))


def _mixed(chunks: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], series_id: int | None, seq: int,
           steps: Sequence[int], values: Sequence[Any], times: Sequence[float]) -> None:
    """A number series' points with bools among them: each run of bools is a bool chunk, the rest a row each.

    SQLite has no bool: a row would read back 1 or 0, an int (#9).
    """
    start = 0
    while start < len(values):
        stop = start + 1
        is_bool = type(values[start]) is bool
        while stop < len(values) and (type(values[stop]) is bool) == is_bool:
            stop += 1
        if is_bool:
            _chunk(chunks, series_id, seq + start, BOOL_VTYPE, steps[start:stop], values[start:stop],
                   times[start:stop])
        else:
            rows.extend(zip(repeat(series_id), range(seq + start, seq + stop), steps[start:stop],
                            values[start:stop], times[start:stop]))
        start = stop


def decode_value(kind: str, value: Any) -> Any:
    """One stored value as the Python value of its kind: NULL is NaN, 0/1 are bools, JSON is parsed."""
    if kind == NUMBER or kind == LIST:
        return math.nan if value is None else value
    if kind == BOOL:
        return bool(value)
    if kind in _JSON_KINDS:
        return loads(value) if isinstance(value, str) else value
    return value


def decode_points(kind: str, points: list[Point]) -> list[Point]:
    """Decode the values of ``(step, value, time)`` points of one series of ``kind``."""
    if kind == NUMBER or kind == LIST:
        if any(value is None for _, value, _ in points):
            return [(step, math.nan if value is None else value, ts) for step, value, ts in points]
        return points
    if kind == STR or kind == IMAGE:
        return points
    return [(step, decode_value(kind, value), ts) for step, value, ts in points]


def encode_param(value: Any) -> tuple[str, float | None, str]:
    """A param as stored: ``(JSON text, the number it compares as, the text it compares as)``."""
    text = dumps(value)
    return text, param_number(value), value if isinstance(value, str) else text


def decode_param(text: str) -> Any:
    """A param's value from its stored JSON text (an int as json wrote it is read without the json parser:
    0.1 us against 1.5 us, the most common param in a frame of 10,000 runs x 20 params)."""
    if type(text) is str and text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return int(text)
    return loads(text)


def param_number(value: Any) -> float | None:
    """The number a param compares as in filters (``None`` when it is not one)."""
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:  # beyond any float: compares with nothing
            return None
    if type(value) is float:
        return None if math.isnan(value) else value
    return None


def _unstorable(kind: str, value: Any) -> str | None:
    """Why ``value`` cannot be a point of a ``kind`` series, or ``None`` when it can."""
    t = type(value)
    if t is int and not INT64_MIN <= value <= INT64_MAX:
        return "an int within the signed 64-bit range"
    if kind == NUMBER and t not in (int, float, bool):
        return "an int or a float"
    if kind == LIST and t not in (int, float, bool, str):
        return "an int, a float, a bool or a str"
    if kind == BOOL and t not in (bool, int):
        return "a bool"
    if kind in (STR, IMAGE) and t is not str:
        return "a str"
    if kind in _JSON_KINDS and t is not str:
        if t is not dict:
            return "a dict"
        try:
            dumps(value)
        except (TypeError, ValueError):
            return "a dict of JSON-compatible values"
    return None


def refusal(batch: Batch, error: BaseException) -> RunlogError:
    """The error for a batch the store refused for what is in it, naming the first value it cannot hold."""
    for series, _, steps, values, _ in batch.columns:
        for step, value in zip(steps, values):
            if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
                return InvalidArgumentError(f"step of metric {series.name!r}", step,
                                            "an int within the signed 64-bit range")
            reason = _unstorable(series.kind, value)
            if reason is not None:
                return InvalidMetricError(series.name, value, f"{reason} to be stored in a {series.kind} series")
    for _, key, value in batch.params:
        try:
            encode_param(value)
        except (TypeError, ValueError, OverflowError):
            return InvalidArgumentError(f"param {key!r}", value, "a JSON-compatible value")
    return InvalidArgumentError("batch", error, "values the store can hold")

"""A series' packed chunks joined into three columns at once (``SQLiteStore.get_point_columns``). No SQL here.

A chunk (:mod:`.codec`) holds little-endian int64 steps, float64 times and values of one
``vtype``; joining the bytes of every chunk and reading them as arrays costs a copy, not a
Python object per point: a million points in milliseconds. With numpy the columns are numpy
arrays (``numpy.frombuffer``), else ``array.array``; numpy is imported here, on first use,
never by ``import runlog_core``.
"""

from __future__ import annotations

import sys
from array import array

from runlog_core.store.sqlite.codec import BOOL_VTYPE

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["join_chunks", "split_points"]

_BIG_ENDIAN = sys.byteorder == "big"


def join_chunks(chunks: Sequence[tuple[str, bytes, bytes, bytes]], use_numpy: bool = True
                ) -> tuple[Sequence[int], Sequence[Any], Sequence[float]] | None:
    """``(steps, values, times)`` of chunk rows ``(vtype, steps, vals, times)`` in order; ``None`` when
    the chunks hold values of more than one type (the caller then decodes point by point).

    numpy arrays when numpy can be imported and ``use_numpy``; else ``array``s (bools: a list), which
    ``get_metric_history`` iterates as they are, without importing numpy (0.2 s of a command's start).
    """
    vtypes = {chunk[0] for chunk in chunks}
    if len(vtypes) != 1:
        return None
    vtype = vtypes.pop()
    try:
        if not use_numpy:
            raise ImportError("numpy not wanted")
        import numpy
    except ImportError:
        return _arrays(vtype, b"".join(chunk[1] for chunk in chunks), b"".join(chunk[2] for chunk in chunks),
                       b"".join(chunk[3] for chunk in chunks))
    # one copy each: the chunks' bytes joined into a bytearray, which numpy reads in place (writable,
    # unlike a view of bytes); a big-endian machine swaps them into native order (a second copy)
    steps = bytearray().join(chunk[1] for chunk in chunks)
    values = bytearray().join(chunk[2] for chunk in chunks)
    times = bytearray().join(chunk[3] for chunk in chunks)
    if vtype == BOOL_VTYPE:
        decoded = numpy.frombuffer(values, numpy.int8) != 0
    else:
        decoded = _native(numpy, values, "<i8" if vtype == "q" else "<f8")
    joined: tuple[Any, Any, Any] = (_native(numpy, steps, "<i8"), decoded, _native(numpy, times, "<f8"))
    return joined


def _native(numpy: Any, data: bytearray, dtype: str) -> Any:
    column = numpy.frombuffer(data, dtype)
    return column.astype(column.dtype.newbyteorder("=")) if _BIG_ENDIAN else column


def _arrays(vtype: str, steps: bytes, values: bytes, times: bytes
            ) -> tuple[Sequence[int], Sequence[Any], Sequence[float]]:
    columns = []
    for typecode, data in (("q", steps), ("b" if vtype == BOOL_VTYPE else vtype, values), ("d", times)):
        column = array(typecode)
        column.frombytes(data)
        if _BIG_ENDIAN:
            column.byteswap()
        columns.append(column)
    if vtype == BOOL_VTYPE:
        return columns[0], [value != 0 for value in columns[1]], columns[2]
    return columns[0], columns[1], columns[2]


def split_points(points: Sequence[tuple[int, Any, float]]) -> tuple[Sequence[int], Sequence[Any], Sequence[float]]:
    """``(steps, values, times)`` lists of ``(step, value, time)`` points."""
    if not points:
        return [], [], []
    steps, values, times = zip(*points)
    return list(steps), list(values), list(times)

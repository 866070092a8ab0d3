"""Batches the store could not take yet (busy, locked, full, unreachable), kept compact and bounded.

While a store refuses writes, what was logged waits here in packed columns, as the store itself
keeps them: per series, steps as int32 (int64 when they need it), values as float64 or int64,
times as float64 (20-24 bytes a point, against 100 or more as Python tuples). Strings, bools,
rows and series mixing ints and floats stay Python lists. When more than
``RUNLOG_MAX_BUFFERED_POINTS`` points wait, the oldest are dropped.
"""

from __future__ import annotations

from array import array
from collections import deque

from runlog_core.base.records import Batch

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.writer.ops import Op

__all__ = ["PendingBatches", "pack"]

_INT32 = (-(2**31), 2**31 - 1)


def _pack_steps(steps: Any) -> Any:
    if isinstance(steps, array):
        return steps
    low, high = (min(steps), max(steps)) if steps else (0, 0)
    return array("i" if _INT32[0] <= low and high <= _INT32[1] else "q", steps)


def _pack_values(values: Any) -> Any:
    if isinstance(values, array):
        return values
    kinds = set(map(type, values))
    if kinds == {float}:
        return array("d", values)
    if kinds == {int}:
        return array("q", values)
    return values


def pack(batch: Batch) -> Batch:
    """``batch`` with its columns in packed arrays where the values allow (in place; returned)."""
    batch.columns = [(series, first, _pack_steps(steps), _pack_values(values),
                      times if isinstance(times, array) else array("d", times))
                     for series, first, steps, values, times in batch.columns]
    return batch


def _drop_front(batch: Batch, excess: int) -> int:
    """Drop up to ``excess`` of the oldest points of ``batch``; returns how many were dropped."""
    dropped = 0
    columns = []
    for series, first, steps, values, times in sorted(batch.columns, key=lambda column: column[1]):
        if dropped < excess:
            cut = min(len(steps), excess - dropped)
            dropped += cut
            steps, values, times = steps[cut:], values[cut:], times[cut:]
            first += cut
        if len(steps):
            columns.append((series, first, steps, values, times))
    batch.columns = columns
    return dropped


class PendingBatches:
    """The batches waiting for the store, oldest first, holding at most ``limit`` points."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.batches: deque[tuple[Batch, list[Op]]] = deque()
        self.points = 0

    def __bool__(self) -> bool:
        return bool(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def add(self, batch: Batch, events: list[Op]) -> int:
        """Keep ``batch`` (packed) and the events to announce once it is written; returns how many
        of the oldest waiting points were dropped to stay within the limit."""
        batch.heartbeats.clear()  # a heartbeat that could not be written means nothing later
        self.batches.append((pack(batch), events))
        self.points += sum(len(column[2]) for column in batch.columns)
        return self._trim()

    def put_back(self, batch: Batch, events: list[Op]) -> None:
        """Return the oldest batch, taken with :meth:`take`, to the front: the store refused it again."""
        self.batches.appendleft((batch, events))
        self.points += sum(len(column[2]) for column in batch.columns)

    def take(self) -> tuple[Batch, list[Op]]:
        batch, events = self.batches.popleft()
        self.points -= sum(len(column[2]) for column in batch.columns)
        return batch, events

    def _trim(self) -> int:
        dropped = 0
        for batch, _ in self.batches:
            excess = self.points - self.limit
            if excess <= 0:
                break
            cut = _drop_front(batch, excess)
            self.points -= cut
            dropped += cut
        return dropped

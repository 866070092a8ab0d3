"""Writing a batch the store refused piece by piece, so one bad value costs that value alone.

A store refuses a batch either because it is busy, locked, full or unreachable (the writer
keeps the batch and retries it as is) or because of something in it (an int param beyond what
the store can hold, say). Retrying the latter as is would block every later write forever, so
the writer hands it here: each series' points, each param, tag, artifact, end and heartbeat
is written on its own, a series' points one by one if need be, and one warning names what
was dropped.

Each piece is a batch of its own, with an identity of its own: the writer ``<writer>/<seq>`` of the
refused batch, numbered from 1, so a piece whose reply is lost is not written twice either.
"""

from __future__ import annotations

import itertools

from runlog_core.base.records import Batch

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable

    from runlog_core.store import Store

__all__ = ["salvage"]

_FIELDS = ("runs", "columns", "params", "tags", "artifacts", "ends", "heartbeats")


def _pieces(batch: Batch) -> list[tuple[str, Batch]]:
    pieces = []
    for field in _FIELDS:
        for item in getattr(batch, field):
            piece = Batch()
            piece.series = batch.series  # creating a series twice is a no-op
            getattr(piece, field).append(item)
            piece.count = batch.count if field == "columns" else 0
            if field == "columns":
                label = f"points of {item[0].name!r}"
            elif field == "runs":
                label = f"run {item.id!r}"
            else:
                label = f"{field[:-1]} {(getattr(item, 'name', None) or item[1])!r}"
            pieces.append((label, piece))
    return pieces


def salvage(store: Store, batch: Batch, error: BaseException, warn_once: Callable[[str, str], None]) -> None:
    """Write ``batch`` piece by piece; warn once (through ``warn_once(key, message)``) about what was dropped."""
    dropped: list[str] = []

    numbers = itertools.count(1)

    def attempt(piece: Batch) -> BaseException | None:
        if batch.writer is not None:  # numbered in the order written: each above the one before
            piece.writer, piece.seq = f"{batch.writer}/{batch.seq}", next(numbers)
        try:
            store.write(piece)
            return None
        except Exception as err:
            for series in batch.series:
                series.id = None  # ids from a rolled-back transaction mean nothing
            return err

    for label, piece in _pieces(batch):
        failure = attempt(piece)
        if failure is None:
            continue
        if not piece.columns:
            dropped.append(f"{label} ({failure!r})")
            continue
        series, first, steps, values, times = piece.columns[0]
        for index in range(len(steps)):  # a series' points: keep every point that can be kept
            single = Batch()
            single.series = batch.series
            single.columns = [(series, first + index, [steps[index]], [values[index]], [times[index]])]
            single.count = batch.count
            failure = attempt(single)
            if failure is not None:
                dropped.append(f"point {steps[index]} of {series.name!r} ({failure!r})")
    if dropped:
        more = " and more" if len(dropped) > 3 else ""
        warn_once("salvage:" + type(error).__name__,
                  f"runlog: the store {getattr(store, 'uri', '')} refused {', '.join(dropped[:3])}{more}; "
                  "everything else in the batch was written")

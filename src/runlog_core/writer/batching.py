"""What the writer thread does with what it took from the buffers: one :class:`Batch` for the store,
the events to announce once it is written, and which failures are worth retrying as they are."""

from __future__ import annotations

import gc
import time

from runlog_core.base.records import ArtifactInfo, Batch, SeriesRef, build_columns
from runlog_core.exceptions import StoreError, StoreVersionError
from runlog_core.writer.ops import (
    AppendLog,
    CreateRun,
    EndRun,
    LogParams,
    LogsUploaded,
    NewSeries,
    Op,
    SetTags,
    StoreArtifact,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["build_batch", "transient"]


def build_batch(points: list[tuple[Any, ...]], ops: list[Op], series_by_key: dict[int, SeriesRef], artifacts: Any,
                warn_once: Callable[[str, str], None]) -> tuple[Batch, list[Op]]:
    """A batch of ``points`` and ``ops`` as taken from the buffers, and the events to announce once
    written. Captured output (``AppendLog``) is appended to its log file in ``artifacts`` here."""
    batch, events = Batch(), list[Op]()
    _collect(ops, batch, events, artifacts, warn_once)
    collecting = gc.isenabled()
    gc.disable()  # grouping 100,000 entries would set off collections that find nothing to free
    try:
        batch.columns, batch.count = build_columns(points, series_by_key)
    finally:
        if collecting:
            gc.enable()
    return batch, events


def _collect(ops: list[Op], batch: Batch, events: list[Op], artifacts: Any,
             warn_once: Callable[[str, str], None]) -> None:
    logs: dict[tuple[str, str], list[str]] = {}
    ending: set[str] = set()
    for op in ops:
        kind = type(op)
        if kind is NewSeries:
            assert isinstance(op, NewSeries)
            batch.series.append(op.series)
        elif kind is LogParams:
            assert isinstance(op, LogParams)
            batch.params.extend((op.run.id, key, value) for key, value in op.params.items())
            events.append(op)
        elif kind is SetTags:
            assert isinstance(op, SetTags)
            batch.tags.extend((op.run_id, key, value) for key, value in op.tags.items())
        elif kind is StoreArtifact:
            assert isinstance(op, StoreArtifact)
            batch.artifacts.append(op.info)
            events.append(op)
        elif kind is AppendLog:
            assert isinstance(op, AppendLog)
            logs.setdefault((op.run.id, op.name), []).append(op.text)
        elif kind is CreateRun:
            assert isinstance(op, CreateRun)
            batch.runs.append(op.info)
        elif kind is EndRun:
            assert isinstance(op, EndRun)
            batch.ends.append((op.run.id, op.status, op.time, op.error))
            ending.add(op.run.id)
            events.append(op)
        elif kind is LogsUploaded:
            pass  # the entries are taken below
        else:  # RunStarted, Release: no data, just their place in the order of events
            events.append(op)
    # an artifact store whose logs index themselves (S3: only once uploaded, with the object's size and
    # sha256) hands over the entries of its uploads; the logs of runs ending here are uploaded first
    indexed = getattr(artifacts, "indexes_logs", False)
    for (run_id, name), texts in logs.items():
        try:
            size = artifacts.append_text(run_id, name, "".join(texts))
        except OSError as err:
            warn_once("log-" + type(err).__name__, f"runlog: could not append to {name}: {err!r}")
            continue
        if not indexed:
            batch.artifacts.append(ArtifactInfo(run_id, name, size, "", artifacts.uri(run_id, name), time.time()))
    if indexed:
        batch.artifacts.extend(artifacts.take_log_entries(ending))


def transient(error: BaseException) -> bool:
    """A store error worth retrying as is (busy, locked, full, unreachable), as the store contract says:
    ``StoreError`` or ``OSError``. Anything else means the store refused something in the batch."""
    if isinstance(error, StoreVersionError):
        return False
    if isinstance(error, (OSError, StoreError)):
        return True
    # a plugin that lets its driver's error out (sqlite3/psycopg OperationalError, a connection or
    # timeout error) is still busy or unreachable: dropping the batch as refused would lose it
    name = type(error).__name__
    return name == "OperationalError" or "Connection" in name or "Timeout" in name

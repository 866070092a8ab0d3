"""Handing a committed batch to the plugins' hooks, on the writer thread."""

from __future__ import annotations

from runlog_core.base import values as _values
from runlog_core.base.records import Batch, LoggedPoint, SeriesRef, expand_entries
from runlog_core.plugins import manager as _plugins
from runlog_core.writer.ops import EndRun, LogParams, Op, Release, RunStarted, StoreArtifact

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from runlog_core.base.handle import RunHandle as Run

__all__ = ["dispatch"]


def _scalar_points(batch: Batch, entries: list[tuple[Any, ...]] | None,
                   series_by_key: dict[int, SeriesRef]) -> Iterator[tuple[SeriesRef, int, Any, float]]:
    if entries is not None:  # the batch as logged: points in logging order across series
        for key, step, value, ts in expand_entries(entries):
            yield series_by_key[key], step, value, ts
        return
    for series, _, steps, values, times in batch.columns:  # a batch that waited: per series
        yield from zip([series] * len(steps), steps, values, times)


def dispatch(batch: Batch, entries: list[tuple[Any, ...]] | None, events: list[Op],
             series_by_key: dict[int, SeriesRef], find_run: Callable[[str], Run | None],
             release: Callable[[str], None]) -> None:
    """Call the hooks for a committed ``batch`` and its ``events`` (ops in call order)."""
    call = _plugins.call_hook
    for op in events:
        if isinstance(op, RunStarted):
            call("runlog_run_started", run=op.run)
    if batch.columns and _plugins.has_hook_impls("runlog_metrics_logged"):
        by_run: dict[str, list[LoggedPoint]] = {}
        for series, step, value, ts in _scalar_points(batch, entries, series_by_key):
            if series.kind in _values.SCALAR_KINDS:
                if series.kind == _values.BOOL:
                    value = bool(value)
                by_run.setdefault(series.run_id, []).append(LoggedPoint(series.name, step, value, ts))
        for run_id, logged in by_run.items():
            run = find_run(run_id)
            if run is not None:
                call("runlog_metrics_logged", run=run, points=logged)
    for op in events:
        if isinstance(op, LogParams):
            call("runlog_params_logged", run=op.run, params=op.params)
        elif isinstance(op, StoreArtifact):
            call("runlog_artifact_uploaded", run=op.run, name=op.info.name, uri=op.info.uri)
        elif isinstance(op, EndRun):
            call("runlog_run_ended", run=op.run, status=op.status)
        elif isinstance(op, Release):
            release(op.run_id)

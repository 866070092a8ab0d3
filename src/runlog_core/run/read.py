"""Reading a run back as Azure's ``Run`` returns it: status, details, metrics, history, params, tags."""

from __future__ import annotations

import functools
import gc
from array import array
from itertools import repeat

from runlog_core.base.records import MetricPoint, RunInfo, SeriesInfo
from runlog_core.base.values import LIST, ROW, TABLE
from runlog_core.run.state import RunState

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from runlog_core.store import Store

__all__ = ["ReadingMixin", "metric_points", "run_details"]

_as_metric_point = functools.partial(tuple.__new__, MetricPoint)


def metric_points(store: Store, series_id: int) -> list[MetricPoint]:
    """Every point of a series as ``MetricPoint`` s, in the order written, in time linear in the points.

    Read point after point when the store can (``iter_points``), else as three columns
    (``get_point_columns``: the packed chunks as arrays), then one ``MetricPoint`` per point, built in C
    (``tuple.__new__`` mapped over the points: 12 % quicker than through ``functools.partial``). The
    garbage collector is off meanwhile: millions of new tuples would set off full collections that
    walk every object of the process, again and again, and find nothing to free (issue 21: 1M points
    took 30 times what 100k did).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        points = getattr(store, "iter_points", None)
        if points is not None:  # decoded chunk after chunk: the quickest (memory stays in the cache)
            return list(map(tuple.__new__, repeat(MetricPoint), points(series_id)))
        reader = getattr(store, "get_point_columns", None)
        if reader is None:
            return list(map(_as_metric_point, store.get_points(series_id)))
        try:
            steps, values, times = reader(series_id, numpy=False)  # arrays: no numpy import for a command
        except TypeError:  # a store whose get_point_columns takes no ``numpy``
            steps, values, times = reader(series_id)
        return list(map(tuple.__new__, repeat(MetricPoint), zip(_listed(steps), _listed(values), _listed(times))))
    finally:
        if collecting:
            gc.enable()


def _listed(column: Any) -> Any:
    """A column whose iteration makes each point's Python number in C, without a list of them first.

    An ``array`` as it is; a numpy array of int64 or float64 copied (in C) into an ``array``, whose
    iteration is quicker than numpy's and lighter than ``tolist()`` (no list of 10,000,000 pointers);
    any other numpy array as a list (``tolist``); a list as it is.
    """
    if isinstance(column, (list, array)):
        return column
    dtype = getattr(column, "dtype", None)
    if dtype is not None and dtype.itemsize == 8 and dtype.kind in "if" and dtype.isnative \
            and column.flags.c_contiguous:
        packed = array("q" if dtype.kind == "i" else "d")
        packed.frombytes(memoryview(column).cast("B"))
        return packed
    tolist = getattr(column, "tolist", None)
    return column if tolist is None else tolist()


class ReadingMixin(RunState):
    """``get_status``, ``get_details``, ``get_metrics``, ``get_metric_history``, ``get_params``, ``get_tags``."""

    def get_status(self) -> str:
        """The run's status: Running, Completed, Failed, Canceled or Killed (a stale heartbeat)."""
        info = self._store.get_run(self.id)
        return info.status if info is not None else "Unknown"

    def get_details(self) -> dict[str, Any]:
        """The run's record: ids, status, times (UTC ISO), error, tags, params and log files."""
        self.flush()
        info = self._store.get_run(self.id)
        if info is None:
            from runlog_core.exceptions import RunNotFoundError

            raise RunNotFoundError("run", self.id, self._store.uri)
        return run_details(self._store, info)

    def get_tags(self) -> dict[str, str]:
        """The run's tags."""
        self.flush()
        return self._store.get_tags(self.id)

    def get_params(self) -> dict[str, Any]:
        """The run's params, flattened, with their original types."""
        self.flush()
        return self._store.get_params(self.id)

    def _series_infos(self) -> list[SeriesInfo]:
        self.flush()
        return self._store.get_series(self.id)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> Any:
        """Metrics as Azure returns them.

        A metric logged once gives its value; logged more than once, or with ``log_list``, a
        list; rows and tables a dict of columns; images their artifact names. With ``name``,
        just that metric (``KeyError`` when it was never logged); without, a dict of all.
        With ``recursive=True``, ``{run_id: metrics}`` for this run and every descendant
        (with ``name``, each run's ``{name: value}`` where it logged it). ``run_type`` and
        ``populate`` are accepted for Azure compatibility and change nothing.
        """
        if recursive:
            result: dict[str, Any] = {}
            pending: list[Any] = [self]
            while pending:
                run = pending.pop(0)
                metrics = run.get_metrics()
                result[run.id] = metrics if name is None else ({name: metrics[name]} if name in metrics else {})
                pending.extend(run.get_children())
            return result
        infos = self._series_infos()
        if name is not None:
            found = [info for info in infos if info.name == name]
            if not found:
                raise KeyError(f"metric {name!r} was never logged in run {self.id}")
            return self._azure_value(found[0])
        return {info.name: self._azure_value(info) for info in infos}

    def _azure_value(self, info: SeriesInfo) -> Any:
        values = [value for _, value, _ in self._store.get_points(info.id)]
        if info.kind == ROW:
            columns: dict[str, list[Any]] = {}
            for index, row in enumerate(values):
                for column in row:
                    columns.setdefault(column, [None] * index)
                for column, cells in columns.items():
                    cells.append(row.get(column))
            return columns
        if info.kind == TABLE:
            merged: dict[str, list[Any]] = {}
            done = 0
            for table in values:
                size = len(next(iter(table.values()), []))
                for column in table:
                    merged.setdefault(column, [None] * done)
                for column, cells in merged.items():
                    cells.extend(table.get(column, [None] * size))
                done += size
            return merged
        if info.kind == LIST:
            return values
        return values[0] if len(values) == 1 else values

    def get_metric_history(self, name: str) -> list[MetricPoint]:
        """Every point of ``name`` in the order logged: ``[MetricPoint(step, value, timestamp), ...]``."""
        for info in self._series_infos():
            if info.name == name:
                return metric_points(self._store, info.id)
        raise KeyError(f"metric {name!r} was never logged in run {self.id}")

    def get_metrics_frame(self, names: str | Iterable[str] | None = None, output: str = "pandas") -> Any:
        """The run's series in long form, a DataFrame with the columns ``name, step, value, timestamp``.

        Built from the store's columns, not point by point (a million points in a fraction of a
        second). Series of numbers, bools and strings (and ``log_list`` lists) are included; rows,
        tables and images are not. ``timestamp`` is a timezone-aware UTC time.

        Args:
            names: a metric name or a list of them; ``None`` (the default) for every such series.
            output: ``"pandas"`` or ``"polars"``.

        Returns:
            A pandas (or polars) DataFrame, one row per point, series by series in the order they
            were first logged, each one's points in the order logged.

        Raises:
            MetricNotFoundError: a name in ``names`` was never logged in this run (a KeyError too).
            InvalidArgumentError: ``output`` is not "pandas" or "polars", or a name holds rows,
                tables or images.
            MissingDependencyError: pandas (or polars) is not installed.

        Example::

            frame = run.get_metrics_frame(["loss", "val_loss"])
            frame.pivot(index="step", columns="name", values="value").plot()
        """
        from runlog_core.views.frames import metrics_frame

        return metrics_frame(self._store, self._series_infos(), names, output, self.id)


def run_details(store: Store, info: RunInfo) -> dict[str, Any]:
    """Azure's ``get_details()`` dict for the run ``info``."""
    from datetime import datetime, timezone

    def iso(moment: float | None) -> str | None:
        return None if moment is None else datetime.fromtimestamp(moment, timezone.utc).isoformat()

    end = info.end_time
    artifacts = store.get_artifacts(info.id)
    tags = store.get_tags(info.id)
    details: dict[str, Any] = {
        "runId": info.id,
        "name": info.name,
        "experiment": info.experiment_name,
        "status": info.status,
        "parentRunId": info.parent_id,
        "startTimeUtc": iso(info.start_time),
        "endTimeUtc": iso(end),
        "duration": None if end is None else end - info.start_time,
        "host": info.host,
        "pid": info.pid,
        "error": info.error,
        "tags": tags,
        "params": store.get_params(info.id),
        "logFiles": {a.name: a.uri for a in artifacts if a.name.startswith("logs/")},
        "files": [a.name for a in artifacts],
        "deleted": info.deleted_time is not None,  # hidden from listings by run.delete() (issue 20)
        "deletedTimeUtc": iso(info.deleted_time),
    }
    if "runlog.command" in tags:  # a submitted run: what ran, as Azure's runDefinition (secrets hidden)
        import shlex

        command = shlex.split(tags["runlog.command"])
        details["runDefinition"] = {"script": tags.get("runlog.script"), "arguments": command[2:]}
    return details

"""DataFrames of runs (``search_runs(output=...)``) and of a run's series (``run.get_metrics_frame``).

pandas, polars and numpy are imported here, inside the functions that build a frame, never by
``import runlog_core``; a missing one is a :class:`~runlog_core.exceptions.MissingDependencyError`
saying what to install. The columns follow ``mlflow.search_runs``: one row per run, start and end
times as timezone-aware UTC timestamps, ``metrics.<name>`` the latest value of each scalar series,
``params.<name>`` and ``tags.<name>`` with their own types, missing values NaN/None (null in polars).

The long form of a run's series is built from whole columns (``Store.get_point_columns`` where the
store has it: numpy arrays decoded from the packed chunks), not point by point.
"""

from __future__ import annotations

import math
import time

from runlog_core.base.values import BOOL, LIST, NUMBER, STR
from runlog_core.exceptions import InvalidArgumentError, MetricNotFoundError, MissingDependencyError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import ModuleType
    from typing import Any

    from runlog_core.base.records import RunInfo, SeriesInfo
    from runlog_core.store import Store

__all__ = ["FRAME_OUTPUTS", "RUN_COLUMNS", "check_output", "frame_library", "metrics_frame", "runs_frame"]

FRAME_OUTPUTS = ("pandas", "polars")
RUN_COLUMNS = ("run_id", "name", "status", "start_time", "end_time", "duration", "experiment", "parent_run_id")
"""The columns of a runs frame before ``metrics.*``, ``params.*`` and ``tags.*``."""
_LATEST_KINDS = (NUMBER, BOOL, STR)  # metrics.* in a runs frame: as ``metrics.x`` in a filter
_FRAME_KINDS = (NUMBER, BOOL, STR, LIST)  # series whose points are scalars


def check_output(output: object, accepted: tuple[str, ...], argument: str = "output") -> str:
    """``output`` when it is one of ``accepted``; raises InvalidArgumentError naming them otherwise."""
    if not isinstance(output, str) or output not in accepted:
        raise InvalidArgumentError(argument, output, "one of " + ", ".join(map(repr, accepted)))
    return output


def frame_library(output: str, feature: str) -> ModuleType:
    """The module ``pandas`` or ``polars``, imported now; MissingDependencyError when it is not installed."""
    try:
        if output == "polars":
            import polars

            return polars
        import pandas

        return pandas
    except ImportError as err:
        raise MissingDependencyError(output, feature) from err


# -- one row per run ------------------------------------------------------------------------------

def runs_frame(store: Store, infos: Sequence[RunInfo], output: str) -> Any:
    """The runs ``infos`` of ``store`` as a pandas or polars DataFrame, one row each, in their order."""
    library = frame_library(output, f"search_runs(output={output!r})")
    now = time.time()
    base: dict[str, list[Any]] = {column: [] for column in RUN_COLUMNS}
    groups: dict[str, dict[str, list[Any]]] = {"metrics": {}, "params": {}, "tags": {}}
    reader = getattr(store, "get_runs_values", None)  # optional in the store contract: three queries a page
    together = reader([info.id for info in infos]) if reader is not None else None
    for row, info in enumerate(infos):
        end = info.end_time
        for column, value in zip(RUN_COLUMNS, (info.id, info.name, info.status, info.start_time, end,
                                               (now if end is None else end) - info.start_time,
                                               info.experiment_name, info.parent_id)):
            base[column].append(value)
        if together is not None:
            latest, params, tags = together[info.id]
        else:
            latest = {series.name: series.last_value for series in store.get_series(info.id)
                      if series.kind in _LATEST_KINDS and series.last_step is not None}
            params, tags = store.get_params(info.id), store.get_tags(info.id)
        for namespace, values in (("metrics", latest), ("params", params), ("tags", tags)):
            columns = groups[namespace]
            for key, value in values.items():
                cells = columns.get(key)
                if cells is None:  # issue 21: setdefault built a list of `row` Nones for every key of every run
                    cells = columns[key] = [None] * row
                cells.append(value)
            for cells in columns.values():
                if len(cells) == row:
                    cells.append(None)
    data: dict[str, list[Any]] = {column: base[column] for column in RUN_COLUMNS}
    for namespace, columns in groups.items():
        for key in sorted(columns):
            data[f"{namespace}.{key}"] = columns[key]
    if output == "polars":
        return _polars_runs(library, data)
    return _pandas_runs(library, data)


def _pandas_runs(pd: ModuleType, data: dict[str, list[Any]]) -> Any:
    columns: dict[str, Any] = {}
    for name, values in data.items():
        if name in ("start_time", "end_time"):
            columns[name] = _pandas_times(pd, [math.nan if value is None else float(value) for value in values])
        elif name == "duration":
            columns[name] = pd.Series(values, dtype="float64")
        elif not values or any(type(value) not in (int, float) for value in values if value is not None):
            columns[name] = pd.Series(values, dtype=object if not values else None)
        else:  # numbers, missing ones as NaN: float64 unless every run has an int (as pandas infers)
            columns[name] = pd.Series(values)
    return pd.DataFrame(columns, columns=list(data))


def _polars_runs(pl: ModuleType, data: dict[str, list[Any]]) -> Any:
    columns = []
    for name, values in data.items():
        if name in ("start_time", "end_time"):
            seconds = pl.Series(name, [None if value is None else float(value) for value in values], dtype=pl.Float64)
            columns.append(_polars_times(pl, seconds))
        elif name == "duration":
            columns.append(pl.Series(name, values, dtype=pl.Float64))
        elif name in RUN_COLUMNS:
            columns.append(pl.Series(name, values, dtype=pl.String))
        else:
            columns.append(_polars_column(pl, name, values))
    return pl.DataFrame(columns)


def _polars_column(pl: ModuleType, name: str, values: list[Any]) -> Any:
    """A polars Series keeping the values' type; a column mixing types (an int here, a str there) is Object."""
    types = {type(value) for value in values if value is not None}
    if len(types) > 1 and types != {int, float}:
        return pl.Series(name, values, dtype=pl.Object)
    try:
        return pl.Series(name, values, strict=False)
    except (TypeError, ValueError, OverflowError):  # an int beyond int64, a list param
        return pl.Series(name, values, dtype=pl.Object)


def _polars_times(pl: ModuleType, seconds: Any) -> Any:
    return (seconds * 1_000_000).round(0).cast(pl.Int64).cast(pl.Datetime("us", "UTC"))


# -- the long form of a run's series ----------------------------------------------------------------

def metrics_frame(store: Store, series: Sequence[SeriesInfo], names: str | Iterable[str] | None, output: str,
                  run_id: str) -> Any:
    """Columns ``name, step, value, timestamp`` of the run's scalar series (those in ``names``), in order."""
    check_output(output, FRAME_OUTPUTS)
    library = frame_library(output, f"get_metrics_frame(output={output!r})")
    selected = _select(series, names, run_id)
    reader = getattr(store, "get_point_columns", None)  # optional in the store contract
    parts = []
    for info in selected:
        columns = reader(info.id) if reader is not None else split_points(store.get_points(info.id))
        parts.append((info.name, *columns))
    if output == "polars":
        return _polars_long(library, parts)
    return _pandas_long(library, parts)


def _select(series: Sequence[SeriesInfo], names: str | Iterable[str] | None, run_id: str) -> list[SeriesInfo]:
    if names is None:
        return [info for info in series if info.kind in _FRAME_KINDS]
    wanted = [names] if isinstance(names, str) else list(names) if isinstance(names, (list, tuple, set)) else None
    if wanted is None or not all(isinstance(name, str) for name in wanted):
        raise InvalidArgumentError("names", names, "a metric name, a list of metric names, or None for all")
    by_name = {info.name: info for info in series}
    selected = []
    for name in dict.fromkeys(wanted):
        info = by_name.get(name)
        if info is None:
            raise MetricNotFoundError(name, run_id, [info.name for info in series if info.kind in _FRAME_KINDS])
        if info.kind not in _FRAME_KINDS:
            raise InvalidArgumentError(
                "names", name, f"names of series of numbers, bools or strings ({name!r} holds {info.kind}s: "
                               f"read it with run.get_metrics({name!r}))")
        selected.append(info)
    return selected


def split_points(points: Sequence[tuple[int, Any, float]]) -> tuple[Sequence[int], Sequence[Any], Sequence[float]]:
    """``(steps, values, times)`` lists of ``(step, value, time)`` points (a store without columnar reads)."""
    if not points:
        return [], [], []
    steps, values, times = zip(*points)
    return list(steps), list(values), list(times)


def _values_array(np: ModuleType, values: Sequence[Any]) -> Any:
    """``values`` as a numpy array keeping their type: int64, float64, bool, else object (strings, mixes)."""
    if isinstance(values, np.ndarray):
        return values
    if not isinstance(values, list):  # an array.array, a tuple
        values = list(values)
    types = set(map(type, values))
    try:
        if types == {bool}:
            return np.array(values, dtype=bool)
        if types and types <= {int, float}:
            return np.array(values, dtype=np.float64 if float in types else np.int64)
    except OverflowError:  # an int beyond int64
        pass
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _concat(np: ModuleType, arrays: list[Any], dtype: Any) -> Any:
    if len(arrays) == 1:  # one series: its column as it is (pandas copies it into the frame anyway)
        return arrays[0]
    return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)


def _long_columns(np: ModuleType, parts: list[tuple[str, Any, Any, Any]]) -> tuple[Any, Any, Any, Any]:
    """``(names, steps, values, times)`` numpy arrays of the parts joined, values of one common type."""
    lengths = [len(steps) for _, steps, _, _ in parts]
    names = np.repeat(np.array([name for name, _, _, _ in parts], dtype=object), lengths)
    steps = _concat(np, [np.asarray(steps, dtype=np.int64) for _, steps, _, _ in parts], np.int64)
    times = _concat(np, [np.asarray(times, dtype=np.float64) for _, _, _, times in parts], np.float64)
    arrays = [_values_array(np, values) for _, _, values, _ in parts]
    kinds = {array.dtype.kind for array in arrays if len(array)}
    if kinds <= {"i", "u", "f"} or kinds == {"b"}:
        values = _concat(np, arrays, np.float64)  # ints with floats become float64
    else:  # strings or bools among numbers: each value keeps its own type
        values = _concat(np, [array.astype(object) for array in arrays], object)
    return names, steps, values, times


def _pandas_long(pd: ModuleType, parts: list[tuple[str, Any, Any, Any]]) -> Any:
    import numpy as np

    names, steps, values, times = _long_columns(np, parts)
    return pd.DataFrame({"name": pd.Series(names, dtype=object), "step": steps, "value": values,
                         "timestamp": _pandas_times(pd, times)})


def _pandas_times(pd: ModuleType, seconds: Any) -> Any:
    """Seconds since the epoch (NaN: missing) as UTC timestamps to the microsecond, as Python's datetime has them."""
    import numpy as np

    micros = np.round(np.asarray(seconds, dtype=np.float64) * 1_000_000)
    missing = np.isnan(micros)
    if missing.any():
        micros[missing] = 0
    ints = micros.astype(np.int64)
    ints[missing] = np.iinfo(np.int64).min  # numpy's NaT
    # a view as datetime64[us], localized to UTC: 0.06 s for 10M points, against 0.26-0.85 s through
    # pd.to_datetime(unit="us") (issue 21: get_metrics_frame at 10M points)
    return pd.Series(ints.view("M8[us]")).dt.tz_localize("UTC")


def _polars_long(pl: ModuleType, parts: list[tuple[str, Any, Any, Any]]) -> Any:
    try:
        import numpy as np
    except ImportError:  # polars runs without numpy: plain lists then
        parts = [(name, list(steps), list(values), list(times)) for name, steps, values, times in parts]
        names = [name for name, steps, _, _ in parts for _ in steps]
        steps_all = [step for _, steps, _, _ in parts for step in steps]
        values_all = [value for _, _, values, _ in parts for value in values]
        times_all = [ts for _, _, _, times in parts for ts in times]
        return _polars_frame(pl, names, steps_all, values_all, times_all)
    names, steps, values, times = _long_columns(np, parts)
    return _polars_frame(pl, names, steps, values.tolist() if values.dtype == object else values, times)


def _polars_frame(pl: ModuleType, names: Any, steps: Any, values: Any, times: Any) -> Any:
    return pl.DataFrame([
        pl.Series("name", names, dtype=pl.String),
        pl.Series("step", steps, dtype=pl.Int64),
        _polars_column(pl, "value", values) if isinstance(values, list) else pl.Series("value", values),
        _polars_times(pl, pl.Series("timestamp", times, dtype=pl.Float64)),
    ])

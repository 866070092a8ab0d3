"""Logging values into a run: metrics, lists, rows, tables, images, params and tags."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping

from runlog_core.base import values as _values
from runlog_core.base.records import BULK, SeriesRef
from runlog_core.base.values import BOOL, IMAGE, INT64_MAX, INT64_MIN, LIST, NUMBER, ROW, TABLE
from runlog_core.exceptions import InvalidArgumentError, InvalidMetricError, MetricKindError, ParamConflictError
from runlog_core.run.state import RunState
from runlog_core.writer.ops import LogParams, SetTags

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LoggingMixin"]

_time = time.time
_UNSAFE_IN_PATH = r"[^\w.\-]+"  # compiled (and cached) by re on the first image, not at import
# log_metrics remembers this many distinct dicts of names for its fast path
_BULK_CACHE_SIZE = 64


class LoggingMixin(RunState):
    """``log``, ``log_metrics``, ``log_list``, ``log_row``, ``log_table``, ``log_image``, params and tags."""

    def log(self, name: str, value: Any, step: int | None = None, description: str | None = None) -> None:
        """Log one value of the metric ``name``.

        Args:
            name: the metric's name.
            value: an int, float (NaN and +/-inf included), bool, str, or a numpy/torch scalar.
            step: where the value goes on the x-axis; ``None`` takes the previous step + 1
                (0 for the first value). Repeated and lower steps are kept, in order.
            description: shown beside the metric; kept from the first call that gives one.

        Raises:
            InvalidMetricError: the value is not a scalar.
            MetricKindError: ``name`` already holds values of another kind.
            RunEndedError: the run has ended.
        """
        series = self._series.get(name)
        t = type(value)
        if (series is not None and series.kind is NUMBER
                and (t is float or (t is int and INT64_MIN <= value <= INT64_MAX))):
            if step is None:
                step = series.next_step
                if step > INT64_MAX:
                    step = _values.auto_step(name, step)
            elif type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
                step = _values.check_step(name, step)
            series.next_step = step + 1
            self._add((series.key, step, value, _time()))
            return
        if step is not None:
            step = _values.check_step(name, step)
        with self._lock:
            series, value = self._prepare(name, value, description)
            if step is None:
                step = _values.auto_step(name, series.next_step)
            series.next_step = step + 1
            self._add((series.key, step, value, _time()))

    def _prepare(self, name: str, value: Any, description: str | None) -> tuple[SeriesRef, Any]:
        """Check a scalar value against its series (created if new); returns ``(series, stored value)``."""
        self._check_open()
        series = self._series.get(name)
        if series is None:
            _values.check_name("metric name", name)
        kind, stored = _values.metric_value(name, value)
        if series is None:
            if description is not None and not isinstance(description, str):
                raise InvalidArgumentError("description", description, "a str or None")
            return self._add_series(SeriesRef(self.id, name, kind, description)), stored
        if series.kind != kind and not (series.kind == NUMBER and kind == BOOL):
            # a bool in a number series is a number that reads back as the bool it was
            raise MetricKindError(name, series.kind, kind)
        return series, stored

    def _add_series(self, series: SeriesRef) -> SeriesRef:
        self._writer.register_series(series, self)
        self._series[series.name] = series
        return series

    def _new_series(self, name: str, kind: str, description: str | None) -> SeriesRef:
        """Get or create a non-scalar series (list, row, table, image). Call with ``_lock`` held."""
        self._check_open()
        series = self._series.get(name)
        if series is None:
            _values.check_name("metric name", name)
            if description is not None and not isinstance(description, str):
                raise InvalidArgumentError("description", description, "a str or None")
            series = self._add_series(SeriesRef(self.id, name, kind, description or None))
        elif series.kind != kind:
            raise MetricKindError(name, series.kind, kind)
        return series

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log several metrics at once, all at ``step`` (or each at its own next step).

        Every value is checked before any is logged: a bad one raises and logs nothing.
        """
        if step is not None and type(metrics) is dict and type(step) is int and INT64_MIN <= step <= INT64_MAX:
            # the training loop's case: the same numeric metrics at an explicit step, call after call
            cached = self._bulk.get(tuple(metrics))
            if cached is not None:
                values = tuple(metrics.values())
                for value in values:
                    if type(value) is not float and (type(value) is not int or not INT64_MIN <= value <= INT64_MAX):
                        break
                else:
                    keys, all_series = cached
                    for series in all_series:
                        series.next_step = step + 1
                    self._add((BULK, keys, step, values, _time()))
                    return
        if not isinstance(metrics, Mapping):
            raise InvalidArgumentError("metrics", metrics, "a dict of metric name to value")
        if step is not None and (type(step) is not int or not INT64_MIN <= step <= INT64_MAX):
            step = _values.check_step(next(iter(metrics), "metrics"), step)
        with self._lock:
            self._log_checked(metrics, step)

    def _log_checked(self, metrics: Mapping[str, Any], step: int | None) -> None:
        now = _time()
        self._check_open()
        self._load()
        known = self._series
        staged: list[tuple[str, Any, str, int]] = []
        for name, value in metrics.items():  # check every value and step before changing anything
            found = known.get(name)
            at = step
            if at is None:
                at = _values.auto_step(name, found.next_step if found is not None else 0)
            t = type(value)
            if found is not None and found.kind is NUMBER and (
                    t is float or (t is int and INT64_MIN <= value <= INT64_MAX)):
                staged.append((name, value, NUMBER, at))
                continue
            if found is None:
                _values.check_name("metric name", name)
            kind, stored = _values.metric_value(name, value)
            if found is not None and found.kind != kind:
                if found.kind == NUMBER and kind == BOOL:
                    kind = NUMBER  # reads back as the bool it was
                else:
                    raise MetricKindError(name, found.kind, kind)
            staged.append((name, stored, kind, at))
        entries = []
        used = []
        for name, value, kind, at in staged:
            series = known.get(name) or self._add_series(SeriesRef(self.id, name, kind, None))
            series.next_step = at + 1
            entries.append((series.key, at, value, now))
            used.append(series)
        self._add_many(entries)
        if type(metrics) is dict and all(series.kind is NUMBER for series in used):
            if len(self._bulk) >= _BULK_CACHE_SIZE:
                self._bulk.clear()
            # one entry, set at once: a thread reading it sees the keys and series of one dict
            self._bulk[tuple(metrics)] = (tuple(series.key for series in used), tuple(used))
        if len(entries) > 1000:
            self._writer.wake()

    def _log_history(self, name: str, points: Iterable[tuple[int, Any, float]]) -> int:
        """Log points that happened before, with their own wall times: ``(step, value, time)``, in order.

        For importers (MLflow, TensorBoard) and runs logged after the fact; every value is checked
        as ``log`` checks it (a float or an int within int64 in a number series takes its fast path).
        Returns how many points were logged.
        """
        entries = []
        with self._lock:
            self._check_open()
            self._load()
            series = self._series.get(name)
            for step, value, when in points:
                if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
                    step = _values.check_step(name, step)
                if type(when) is not float:
                    if isinstance(when, bool) or not isinstance(when, (int, float)):
                        raise InvalidArgumentError("time", when, "seconds since the epoch (a float)")
                    when = float(when)
                t = type(value)
                if (series is not None and series.kind is NUMBER
                        and (t is float or (t is int and INT64_MIN <= value <= INT64_MAX))):
                    stored = value
                else:
                    series, stored = self._prepare(name, value, None)
                series.next_step = max(series.next_step, step + 1)
                entries.append((series.key, step, stored, when))
            self._add_many(entries)
        if len(entries) > 1000:
            self._writer.wake()
        return len(entries)

    def log_list(self, name: str, value: Iterable[Any], description: str | None = None) -> None:
        """Log a list of values under ``name`` (Azure's ``log_list``); read back as a list."""
        if isinstance(value, (str, bytes, Mapping)) or not (isinstance(value, Iterable) or hasattr(value, "tolist")):
            raise InvalidArgumentError("value", value, "a list, tuple or 1-d array of scalars")
        if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
            value = value.tolist()
        cells = []
        for item in value:
            if isinstance(item, (list, tuple)):
                raise InvalidMetricError(name, item, "a scalar in each position of the list")
            cells.append(_values.metric_value(name, item)[1])
        with self._lock:
            series = self._new_series(name, LIST, description)
            now = _time()
            start = _values.auto_step(name, series.next_step, len(cells))
            key = series.key
            self._add_many([(key, start + i, cell, now) for i, cell in enumerate(cells)])
            series.next_step = start + len(cells)

    def log_row(self, name: str, description: str | None = None, **row: Any) -> None:
        """Append one row to the table ``name``; read back as a dict of columns.

        Example::

            for x in range(3):
                run.log_row("Y over X", x=x, y=x * x)
        """
        if not row:
            raise InvalidArgumentError("row", row, "at least one column=value")
        cells = {column: _values.row_value(f"{name}.{column}", value) for column, value in row.items()}
        with self._lock:
            series = self._new_series(name, ROW, description)
            step = _values.auto_step(name, series.next_step)
            series.next_step = step + 1
            self._add((series.key, step, cells, _time()))  # a new dict: the store encodes it

    def log_table(self, name: str, value: Mapping[str, Iterable[Any]], description: str | None = None) -> None:
        """Log a table given as ``{"column": [values...]}``; the columns must have the same length."""
        if not isinstance(value, Mapping):
            raise InvalidArgumentError("value", value, 'a dict of column name to list, e.g. {"x": [1, 2], "y": [3, 4]}')
        columns: dict[str, list[Any]] = {}
        length = None
        for column, cells in value.items():
            if not isinstance(column, str):
                raise InvalidArgumentError("column name", column, "a str")
            if hasattr(cells, "tolist") and not isinstance(cells, (list, tuple)):
                cells = cells.tolist()
            if isinstance(cells, (str, bytes)) or not isinstance(cells, Iterable):
                raise InvalidArgumentError(f"column {column!r}", cells, "a list of values")
            converted = [_values.row_value(f"{name}.{column}", cell) for cell in cells]
            if length is not None and len(converted) != length:
                raise InvalidArgumentError(f"column {column!r}", f"{len(converted)} values",
                                           f"as many values as the other columns ({length})")
            length = len(converted)
            columns[column] = converted
        with self._lock:
            series = self._new_series(name, TABLE, description)
            step = _values.auto_step(name, series.next_step)
            series.next_step = step + 1
            self._add((series.key, step, columns, _time()))

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None,
                  description: str | None = None, image: Any = None, step: int | None = None) -> str:
        """Log an image; returns its artifact name.

        Args:
            path: a PNG/JPEG/GIF/BMP/WebP file, or an array or PIL image.
            plot: a matplotlib figure or the pyplot module (its current figure).
            image: an HxW / HxWxC array (numpy, torch) or a PIL image.
            step: the step it belongs to; ``None`` counts up per name.
        """
        from runlog_core.run.images import image_bytes

        if path is not None and not isinstance(path, (str, os.PathLike)):
            path, image = None, path
        data, extension = image_bytes(path=path, plot=plot, image=image)
        with self._lock:
            self._check_open()
            self._load()
            series = self._series.get(name)
            at = (_values.auto_step(name, series.next_step) if series is not None else 0) if step is None \
                else _values.check_step(name, step)
            if series is not None and series.kind != IMAGE:
                raise MetricKindError(name, series.kind, IMAGE)
            safe = re.sub(_UNSAFE_IN_PATH, "_", name).strip("._") or "image"
            artifact = f"images/{safe}/step_{at}.{extension}"
            self._put(artifact, lambda: self._store.artifacts.put_bytes(self.id, artifact, data))
            series = self._new_series(name, IMAGE, description)
            series.next_step = at + 1
            self._add((series.key, at, artifact, _time()))
        return artifact

    # -- params and tags -------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any] | Any) -> None:
        """Log hyperparameters. Nested dicts flatten to ``"a.b"``; lists and empty values are kept.

        Logging a param again with the same value does nothing; with a different value it
        raises :class:`ParamConflictError` and logs none of ``params``.
        """
        flat = _values.flatten_params(params)
        with self._lock:
            self._check_open()
            self._load()
            fresh = {}
            for key, value in flat.items():
                if key in self._params:
                    old = self._params[key]
                    if _values.dumps(old) != _values.dumps(value):
                        raise ParamConflictError(key, old, value)
                else:
                    fresh[key] = value
            if fresh:
                self._params.update(fresh)
                self._writer.queue(LogParams(self, fresh))

    def log_param(self, name: str, value: Any) -> None:
        """Log one hyperparameter (see :meth:`log_params`)."""
        _values.check_name("param name", name)
        self.log_params({name: value})

    def tag(self, key: str, value: Any = None) -> None:
        """Set a tag; a tag without a value is stored as ``""``. Tags can change."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags at once (see :meth:`tag`)."""
        if not isinstance(tags, Mapping):
            raise InvalidArgumentError("tags", tags, "a dict of tag name to value")
        rows = {}
        for key, value in tags.items():
            _values.check_name("tag name", key)
            rows[key] = "" if value is None else str(value)
        self._tags.update(rows)
        self._writer.queue(SetTags(self.id, rows))

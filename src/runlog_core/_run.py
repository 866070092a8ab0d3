"""The Run: what a training script logs into, modelled on Azure Machine Learning v1's ``Run``."""

from __future__ import annotations

import functools
import gc
import io
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping

from . import _lifecycle, _values
from ._records import BULK, ArtifactInfo, MetricPoint, RunInfo, SeriesRef
from ._values import BOOL, IMAGE, INT64_MAX, INT64_MIN, LIST, NUMBER, ROW, TABLE
from ._writer import get_writer
from .exceptions import (
    InvalidArgumentError,
    InvalidMetricError,
    MetricKindError,
    ParamConflictError,
    RunNotFoundError,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, Any
    from ._experiment import Experiment

__all__ = ["Run", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "KILLED"]

RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"
KILLED = "Killed"
ENDED_STATUSES = (COMPLETED, FAILED, CANCELED, KILLED)

_time = time.time
_as_metric_point = functools.partial(tuple.__new__, MetricPoint)
_UNSAFE_IN_PATH = re.compile(r"[^\w.\-]+")


class Run:
    """A run of an experiment: log metrics, params, tables, images and files into it.

    Get one from :meth:`Experiment.start_logging`, :meth:`Run.get_context`,
    :meth:`Run.child_run`, or open an existing run with ``Run(experiment, run_id)``.

    Args:
        experiment: the :class:`Experiment` the run belongs to.
        run_id: the id of an existing run of that experiment.

    Raises:
        RunNotFoundError: no such run in the experiment's store.

    Example::

        exp = Experiment("diabetes")
        with exp.start_logging() as run:
            run.log("alpha", 0.03)
            run.log_row("Y over X", x=1, y=0.4)
        Run(exp, run.id).get_metrics()   # {'alpha': 0.03, 'Y over X': {'x': [1], 'y': [0.4]}}
    """

    def __init__(self, experiment: Experiment, run_id: str, *, _info: RunInfo | None = None,
                 _fresh: bool = False) -> None:
        from ._experiment import Experiment

        if isinstance(experiment, str):
            experiment = Experiment(experiment)
        if not isinstance(experiment, Experiment):
            raise InvalidArgumentError("experiment", experiment, "an Experiment")
        if not isinstance(run_id, str):
            raise InvalidArgumentError("run_id", run_id, "a str")
        store = experiment._store
        info = _info if _info is not None else store.get_run(run_id)
        if info is None or info.experiment_id != experiment.id:
            raise RunNotFoundError("run", run_id, f"{store.uri} (experiment {experiment.name!r})")
        self.experiment = experiment
        self.id: str = info.id
        self.name: str = info.name
        self._parent_id = info.parent_id
        self._store = store
        self._writer = get_writer(store)
        self._points = self._writer.points
        self._ops = self._writer.ops
        self._series: dict[str, SeriesRef] = {}
        self._params: dict[str, Any] = {}
        self._ended = False
        self._owned = False
        self._capture: Any = None
        self._monitor: Any = None
        self._outputs: Path | None = None
        self._loaded = _fresh
        # log_metrics' fast path: the names of the last all-numeric dict, and their series
        self._bulk_names: tuple[str, ...] | None = None
        self._bulk_series: tuple[SeriesRef, ...] = ()
        self._bulk_keys: tuple[int, ...] = ()
        self._writer.attach(self, live=False)

    def _load(self) -> None:
        """Read what the store knows of the run: series kinds (with where their steps go on) and params.

        Done once, before the first write through this handle, so that a reopened run's
        steps go on where they stopped and param conflicts are caught.
        """
        if self._loaded:
            return
        self._loaded = True
        for info in self._store.get_series(self.id):
            next_step = 0 if info.last_step is None else info.last_step + 1
            series = SeriesRef(self.id, info.name, info.kind, info.description, id=info.id, next_step=next_step)
            self._series[info.name] = series
            self._writer.register_series(series)
        self._params = self._store.get_params(self.id)

    # -- identity -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Run(experiment={self.experiment.name!r}, id={self.id!r}, name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id and other._store is self._store

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def status(self) -> str:
        return self.get_status()

    @property
    def parent(self) -> Run | None:
        """The parent run, or ``None`` for a top-level run."""
        return None if self._parent_id is None else Run(self.experiment, self._parent_id)

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The run this process should log into.

        In a script started by ``runlog submit`` (``RUNLOG_RUN_ID`` and ``RUNLOG_STORE``
        set), the submitted run. Otherwise a run in the default store, in the experiment
        named by ``RUNLOG_EXPERIMENT`` (else the script's name), that ends when the
        interpreter exits: Completed, or Failed on an uncaught exception. Every call in a
        process returns the same run. ``allow_offline`` and other arguments of Azure's
        ``Run.get_context`` are accepted, so ported scripts run unchanged; runlog is always
        "offline" in Azure's sense, and keeps everything.
        """
        return _lifecycle.get_context()

    # -- metrics ------------------------------------------------------------------------------

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
            self._points.append((series.key, step, value, _time()))
            return
        series, value, new = self._prepare(name, value, description)
        step = _values.auto_step(name, series.next_step) if step is None else _values.check_step(name, step)
        if new:
            self._add_series(series)
        series.next_step = step + 1
        self._points.append((series.key, step, value, _time()))

    def _prepare(self, name: str, value: Any, description: str | None) -> tuple[SeriesRef, Any, bool]:
        """Check a scalar value against its series; returns ``(series, stored value, series is new)``."""
        self._load()
        series = self._series.get(name)
        if series is None:
            _values.check_name("metric name", name)
        kind, stored = _values.metric_value(name, value)
        if series is None:
            if description is not None and not isinstance(description, str):
                raise InvalidArgumentError("description", description, "a str or None")
            return SeriesRef(self.id, name, kind, description), stored, True
        if series.kind != kind:
            if series.kind == NUMBER and kind == BOOL:
                stored = int(stored)  # documented: a bool logged to a number series counts as 0/1
            else:
                raise MetricKindError(name, series.kind, kind)
        return series, stored, False

    def _add_series(self, series: SeriesRef) -> None:
        self._series[series.name] = series
        self._writer.register_series(series)
        self._ops.append(("series", series))
        self._writer.keep(self)
        self._writer.ensure_thread()

    def _new_series(self, name: str, kind: str, description: str | None) -> SeriesRef:
        """Get or create a non-scalar series (list, row, table, image)."""
        self._load()
        series = self._series.get(name)
        if series is None:
            _values.check_name("metric name", name)
            if description is not None and not isinstance(description, str):
                raise InvalidArgumentError("description", description, "a str or None")
            series = SeriesRef(self.id, name, kind, description or None)
            self._add_series(series)
        elif series.kind != kind:
            raise MetricKindError(name, series.kind, kind)
        return series

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log several metrics at once, all at ``step`` (or each at its own next step).

        Every value is checked before any is logged: a bad one raises and logs nothing.
        """
        if (step is not None and type(metrics) is dict and type(step) is int
                and INT64_MIN <= step <= INT64_MAX and tuple(metrics) == self._bulk_names):
            # the training loop's case: the same float metrics at an explicit step, call after call
            values = tuple(metrics.values())
            if all(type(value) is float for value in values):
                for series in self._bulk_series:
                    series.next_step = step + 1
                self._points.append((BULK, self._bulk_keys, step, values, _time()))
                return
        if not isinstance(metrics, Mapping):
            raise InvalidArgumentError("metrics", metrics, "a dict of metric name to value")
        if step is not None and (type(step) is not int or not INT64_MIN <= step <= INT64_MAX):
            step = _values.check_step(next(iter(metrics), "metrics"), step)
        now = _time()
        known = self._series
        staged: list[tuple[SeriesRef, int, Any]] = []
        new: list[SeriesRef] = []
        for name, value in metrics.items():
            found = known.get(name)
            t = type(value)
            if found is not None and found.kind is NUMBER and (
                    t is float or (t is int and INT64_MIN <= value <= INT64_MAX)):
                series = found
            else:
                series, value, is_new = self._prepare(name, value, None)
                if is_new:
                    new.append(series)
            staged.append((series, _values.auto_step(name, series.next_step) if step is None else step, value))
        for series in new:
            self._add_series(series)
        for series, at, _ in staged:
            series.next_step = at + 1
        self._points.extend([(series.key, at, value, now) for series, at, value in staged])
        if type(metrics) is dict and all(series.kind is NUMBER for series, _, _ in staged):
            self._bulk_names = tuple(metrics)
            self._bulk_series = tuple(series for series, _, _ in staged)
            self._bulk_keys = tuple(series.key for series in self._bulk_series)
        if len(self._points) > self._writer.high_water:
            self._writer.wake()

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
        series = self._new_series(name, LIST, description)
        now = _time()
        start = _values.auto_step(name, series.next_step, len(cells))
        key = series.key
        self._points.extend((key, start + i, cell, now) for i, cell in enumerate(cells))
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
        series = self._new_series(name, ROW, description)
        step = _values.auto_step(name, series.next_step)
        series.next_step = step + 1
        self._points.append((series.key, step, _values.dumps(cells), _time()))

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
        series = self._new_series(name, TABLE, description)
        step = _values.auto_step(name, series.next_step)
        series.next_step = step + 1
        self._points.append((series.key, step, _values.dumps(columns), _time()))

    def log_image(self, name: str, path: str | os.PathLike[str] | None = None, plot: Any = None,
                  description: str | None = None, image: Any = None, step: int | None = None) -> str:
        """Log an image; returns its artifact name.

        Args:
            path: a PNG/JPEG/GIF/BMP/WebP file, or an array or PIL image.
            plot: a matplotlib figure or the pyplot module (its current figure).
            image: an HxW / HxWxC array (numpy, torch) or a PIL image.
            step: the step it belongs to; ``None`` counts up per name.
        """
        from ._images import image_bytes

        if path is not None and not isinstance(path, (str, os.PathLike)):
            path, image = None, path
        data, extension = image_bytes(path=path, plot=plot, image=image)
        self._load()
        series = self._series.get(name)
        at = (_values.auto_step(name, series.next_step) if series is not None else 0) if step is None \
            else _values.check_step(name, step)
        if series is not None and series.kind != IMAGE:
            raise MetricKindError(name, series.kind, IMAGE)
        safe = _UNSAFE_IN_PATH.sub("_", name).strip("._") or "image"
        artifact = f"images/{safe}/step_{at}.{extension}"
        self._put(artifact, lambda: self._store.artifacts.put_bytes(self.id, artifact, data))
        series = self._new_series(name, IMAGE, description)
        series.next_step = at + 1
        self._points.append((series.key, at, artifact, _time()))
        return artifact

    # -- params and tags -------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any] | Any) -> None:
        """Log hyperparameters. Nested dicts flatten to ``"a.b"``; lists and empty values are kept.

        Logging a param again with the same value does nothing; with a different value it
        raises :class:`ParamConflictError` and logs none of ``params``.
        """
        flat = _values.flatten_params(params)
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
            self._ops.append(("params", (self, fresh)))
            self._writer.ensure_thread()

    def log_param(self, name: str, value: Any) -> None:
        """Log one hyperparameter (see :meth:`log_params`)."""
        _values.check_name("param name", name)
        self.log_params({name: value})

    def tag(self, key: str, value: Any = None) -> None:
        """Set a tag; a tag without a value is stored as ``""``. Tags can change."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if not isinstance(tags, Mapping):
            raise InvalidArgumentError("tags", tags, "a dict of tag name to value")
        rows = []
        for key, value in tags.items():
            _values.check_name("tag name", key)
            rows.append((self.id, key, "" if value is None else str(value)))
        self._ops.append(("tags", rows))
        self._writer.ensure_thread()

    def get_tags(self) -> dict[str, str]:
        self.flush()
        return self._store.get_tags(self.id)

    def get_params(self) -> dict[str, Any]:
        """The run's params, flattened, with their original types."""
        self.flush()
        return self._store.get_params(self.id)

    # -- files ------------------------------------------------------------------------------

    def _put(self, name: str, write: Any) -> ArtifactInfo:
        _values.check_artifact_name(name)
        size, digest = write()
        info = ArtifactInfo(self.id, name, size, digest, self._store.artifacts.uri(self.id, name), _time())
        self._ops.append(("artifact", (self, info)))
        self._writer.ensure_thread()
        return info

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any] | bytes) -> ArtifactInfo:
        """Store a file (or the rest of a readable stream, or bytes) as the artifact ``name``."""
        from pathlib import Path

        _values.check_artifact_name(name)
        artifacts = self._store.artifacts
        if isinstance(path_or_stream, (str, os.PathLike)):
            source = Path(path_or_stream)
            if not source.is_file():
                raise InvalidArgumentError("path_or_stream", path_or_stream, "an existing file or a readable stream")
            return self._put(name, lambda: artifacts.put_file(self.id, name, source))
        if hasattr(path_or_stream, "read"):
            return self._put(name, lambda: artifacts.put_stream(self.id, name, path_or_stream))
        if isinstance(path_or_stream, (bytes, bytearray)):
            return self._put(name, lambda: artifacts.put_stream(self.id, name, io.BytesIO(path_or_stream)))
        raise InvalidArgumentError("path_or_stream", path_or_stream, "a file path or a readable stream")

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> list[str]:
        """Store every file under ``path`` as ``name/<relative path>``; returns the artifact names.

        Symbolic links are followed only when they point inside ``path``.
        """
        from pathlib import Path

        _values.check_artifact_name(name)
        root = Path(path)
        if not root.is_dir():
            raise InvalidArgumentError("path", path, "an existing folder")
        real_root = os.path.realpath(root)
        names = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for file_name in sorted(files):
                source = Path(folder) / file_name
                real = os.path.realpath(source)
                if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
                    warnings.warn(f"runlog: skipping {source}: it links outside {root}", RuntimeWarning, stacklevel=2)
                    continue
                relative = source.relative_to(root).as_posix()
                artifact = f"{name}/{relative}"
                self.upload_file(artifact, source)
                names.append(artifact)
        return names

    def get_file_names(self) -> list[str]:
        self.flush()
        return [info.name for info in self._store.get_artifacts(self.id)]

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the artifact ``name`` to ``output_file_path`` (default: its base name, here)."""
        from pathlib import Path

        _values.check_artifact_name(name)
        self.flush()
        destination = Path(output_file_path) if output_file_path is not None else Path(name.rsplit("/", 1)[-1])
        if destination.is_dir():
            destination = destination / name.rsplit("/", 1)[-1]
        return str(self._store.artifacts.download(self.id, name, destination))

    def download_files(self, prefix: str | None = None, output_directory: str | os.PathLike[str] = ".",
                       append_prefix: bool = True) -> list[str]:
        """Copy every artifact whose name starts with ``prefix`` under ``output_directory``."""
        from pathlib import Path

        if prefix is not None and not isinstance(prefix, str):
            raise InvalidArgumentError("prefix", prefix, "a str or None")
        target = Path(output_directory)
        written = []
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            if not relative:
                relative = name.rsplit("/", 1)[-1]
            written.append(str(self._store.artifacts.download(self.id, name, target / relative)))
        return written

    # -- children ---------------------------------------------------------------------------

    def child_run(self, name: str | None = None, tags: Mapping[str, Any] | None = None,
                  run_id: str | None = None, start_time: float | None = None) -> Run:
        """Start a child run (Running, in the same experiment); use it as a context manager too.

        ``start_time`` (seconds since the epoch) records when the work it stands for began, for
        children logged after the fact, such as the candidates of a finished parameter search.
        """
        return self.experiment._start(name=name, tags=tags, parent=self, run_id=run_id, start_time=start_time)

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait until the run ends (whoever runs it), following its output; returns :meth:`get_details`.

        Args:
            show_output: print the run's ``logs/std_log.txt`` so far, then as it grows.
            wait_post_processing: accepted for Azure compatibility; there is nothing to wait for.
            raise_on_error: raise :class:`ScriptRunError` if the run ends Failed or Killed.
        """
        from ._submit import wait_for_completion

        return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)

    def get_children(self) -> list[Run]:
        return [Run(self.experiment, info.id, _info=info)
                for info in self._store.list_runs(parent_id=self.id)]

    # -- lifecycle ----------------------------------------------------------------------------

    def complete(self, end_time: float | None = None) -> None:
        """End the run as Completed once everything logged is durable.

        ``end_time`` (seconds since the epoch) records when the work ended, if not now.
        """
        self._end(COMPLETED, end_time=end_time)

    def fail(self, error_details: Any = None, end_time: float | None = None) -> None:
        """End the run as Failed; ``error_details`` (an exception or text) is stored with it.

        A run that already ended (Completed, say) can be marked Failed this way afterwards.
        """
        import traceback

        if isinstance(error_details, BaseException):
            error_details = "".join(traceback.format_exception(type(error_details), error_details,
                                                               error_details.__traceback__))
        self._end(FAILED, None if error_details is None else str(error_details), end_time, force=True)

    def cancel(self, end_time: float | None = None) -> None:
        """End the run as Canceled."""
        self._end(CANCELED, end_time=end_time)

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        if end_time is not None and (isinstance(end_time, bool) or not isinstance(end_time, (int, float))):
            raise InvalidArgumentError("end_time", end_time, "seconds since the epoch (a float) or None")
        already = self._ended
        if already and not force:
            return
        self._ended = True
        self._stop_capture()
        if not already and self._outputs is not None and self._outputs.is_dir() and any(self._outputs.iterdir()):
            try:
                self.upload_folder("outputs", self._outputs)
            except Exception as err:  # the run's end must be recorded even if the copy fails
                warnings.warn(f"runlog: could not upload {self._outputs}: {err!r}", RuntimeWarning, stacklevel=3)
        self._ops.append(("end", (self, status, _time() if end_time is None else float(end_time), error)))
        self._writer.detach_live(self.id)
        _lifecycle.forget(self)
        self.flush()

    def _stop_capture(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self._capture is not None:
            self._capture.stop()
            self._capture = None

    def _start_monitor(self, interval: float | None = None) -> None:
        from ._system import start_monitor

        self._monitor = start_monitor(self, interval)

    def _append_log(self, name: str, text: str) -> None:
        """Append ``text`` to the log artifact ``name`` (e.g. ``logs/std_log.txt``) through the writer."""
        self._ops.append(("log", (self, name, text)))

    def _start_capture(self) -> None:
        from ._capture import OutputCapture

        self._capture = OutputCapture(self._append_log)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._end_for(exc)  # returns None: the exception, if any, propagates unchanged

    def _end_for(self, error: BaseException | None) -> None:
        """End the run as a ``with`` block does for ``error``: Completed when ``None``, Canceled for
        a KeyboardInterrupt, else Failed with the traceback. The integrations end their runs so too."""
        if error is None:
            self.complete()
            return
        import traceback

        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self._end(CANCELED if isinstance(error, KeyboardInterrupt) else FAILED, text)

    def flush(self) -> None:
        """Return when everything logged so far is durable in the store."""
        self._writer.flush()

    # -- reading back ---------------------------------------------------------------------------

    def get_status(self) -> str:
        info = self._store.get_run(self.id)
        return info.status if info is not None else "Unknown"

    def get_details(self) -> dict[str, Any]:
        """The run's record: ids, status, times (UTC ISO), error, tags, params and log files."""
        self.flush()
        info = self._store.get_run(self.id)
        assert info is not None
        return run_details(self._store, info)

    def _series_infos(self) -> list[Any]:
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
            pending: list[Run] = [self]
            while pending:
                run = pending.pop(0)
                metrics = run.get_metrics()
                result[run.id] = metrics if name is None else (
                    {name: metrics[name]} if name in metrics else {})
                pending.extend(run.get_children())
            return result
        infos = self._series_infos()
        if name is not None:
            found = [info for info in infos if info.name == name]
            if not found:
                raise KeyError(f"metric {name!r} was never logged in run {self.id}")
            return self._azure_value(found[0])
        return {info.name: self._azure_value(info) for info in infos}

    def _azure_value(self, info: Any) -> Any:
        rows = _values.decode_points(info.kind, self._store.get_points(info.id))
        values = [value for _, value, _ in rows]
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
                rows = _values.decode_points(info.kind, self._store.get_points(info.id))
                collecting = gc.isenabled()
                gc.disable()  # 100,000 new tuples would set off collections that find nothing to free
                try:
                    return list(map(_as_metric_point, rows))
                finally:
                    if collecting:
                        gc.enable()
        raise KeyError(f"metric {name!r} was never logged in run {self.id}")


def run_details(store: Any, info: RunInfo) -> dict[str, Any]:
    from datetime import datetime, timezone

    def iso(moment: float | None) -> str | None:
        return None if moment is None else datetime.fromtimestamp(moment, timezone.utc).isoformat()

    end = info.end_time
    artifacts = store.get_artifacts(info.id)
    return {
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
        "tags": store.get_tags(info.id),
        "params": store.get_params(info.id),
        "logFiles": {a.name: a.uri for a in artifacts if a.name.startswith("logs/")},
        "files": [a.name for a in artifacts],
    }

"""The background writer: one per store and process.

``Run.log`` appends a tuple of plain numbers to :attr:`Writer.points` and returns; nothing touches the
disk on the caller's thread. A daemon thread wakes every ``RUNLOG_FLUSH_INTERVAL``
seconds (1 s by default), takes everything buffered so far, commits it to the store in
one transaction and then hands it to plugins. A failed commit keeps the batch in
memory and retries on the next cycle, so a store that is briefly unavailable loses
nothing. :meth:`Writer.flush` waits until everything appended before the call is
committed.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
import weakref
from collections import defaultdict

from . import _plugins, _values
from ._records import ArtifactInfo, Batch, LoggedPoint, SeriesRef, build_columns, expand_entries
from .exceptions import StoreError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any
    from ._run import Run

__all__ = ["Writer", "get_writer", "flush_all"]

_writers: dict[int, Writer] = {}
_writers_lock = threading.Lock()


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        warnings.warn(f"runlog: {name}={os.environ[name]!r} is not a number; using {default}", stacklevel=2)
        return default
    return value if value > 0 else default


class Writer:
    """Buffers events for one store and commits them in batches on a background thread."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.interval = _env_float("RUNLOG_FLUSH_INTERVAL", 1.0)
        self.heartbeat_interval = _env_float("RUNLOG_HEARTBEAT_INTERVAL", 5.0)
        self.high_water = 200_000
        # while the store refuses writes, points wait in memory up to this many; beyond, the oldest go
        self.max_pending = int(_env_float("RUNLOG_MAX_BUFFERED_POINTS", 5_000_000))
        self.dropped = 0
        self._reset()

    def _reset(self) -> None:
        self.points: list[tuple[Any, ...]] = []
        self.ops: list[tuple[str, Any]] = []
        self.series_by_key: dict[int, SeriesRef] = {}
        self._pending = Batch()
        self._pending_points: list[tuple[Any, ...]] = []
        self._pending_events: list[tuple[str, Any]] = []
        # handles are held weakly (a listing of 10,000 runs must not pin them), except while
        # a run has series of its own in flight: their points need the Run for the hooks
        self._runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()
        self._writing: dict[str, Run] = {}
        self._live: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()
        self._wake = threading.Event()
        self._cycle_lock = threading.RLock()
        self._done = threading.Condition(threading.RLock())
        self._requested = 0
        self._completed = 0
        self._attempted = 0
        self._failures = 0
        self._last_error: BaseException | None = None
        self._warned: set[str] = set()
        self._last_heartbeat = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._pid = os.getpid()

    # -- registration ------------------------------------------------------------------------

    def attach(self, run: Run, live: bool) -> None:
        """Know ``run`` (for hooks); with ``live``, keep its heartbeat until it ends."""
        self._runs[run.id] = run
        if live:
            self._live[run.id] = run
        self.ensure_thread()

    def register_series(self, series: SeriesRef) -> None:
        """Make ``series`` known under its key, for the points that will name it."""
        self.series_by_key[series.key] = series

    def keep(self, run: Run) -> None:
        """Hold ``run`` strongly until it ends: it logs, and its points will need it in the hooks."""
        self._writing[run.id] = run

    def detach_live(self, run_id: str) -> None:
        self._live.pop(run_id, None)
        self.ops.append(("call", lambda: self._writing.pop(run_id, None)))

    def live_runs(self) -> list[Run]:
        return list(self._live.values())

    def ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._reset()
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._cycle_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._loop, name="runlog-writer", daemon=True)
                self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._cycle()
            except BaseException as err:  # never let the thread die silently
                self._warn_once("cycle", f"runlog: the background writer hit {err!r}; retrying")

    def _cycle(self) -> None:
        with self._cycle_lock:
            with self._done:
                requested = self._requested
            # points first, then ops: a series' creation op is appended before its first point,
            # so every point taken here has its series among the ops taken after it
            count = len(self.points)
            points = self.points[:count]
            del self.points[:count]
            count = len(self.ops)
            ops = self.ops[:count]
            del self.ops[:count]
            batch = self._pending
            events = self._pending_events
            if self._pending_points:
                points = self._pending_points + points
            self._collect(ops, batch, events)
            batch.columns, batch.count = build_columns(points, self.series_by_key)
            now = time.time()
            if self._live and now - self._last_heartbeat >= self.heartbeat_interval:
                batch.heartbeats.extend(self._live.keys())
                self._last_heartbeat = now
            error: BaseException | None = None
            if batch:
                try:
                    self.store.write(batch)
                except Exception as err:
                    for series in batch.series:
                        series.id = None  # ids from a rolled-back transaction mean nothing
                    if not _transient(err):
                        # refused for what is in it, not because the store is busy or full: retrying
                        # as is would block every later write, so write what can be written
                        self._salvage(batch, err)
                    else:
                        error = err
                if error is not None:
                    batch.heartbeats.clear()
                    excess = batch.count - self.max_pending
                    if excess > 0:
                        points = self._drop_oldest(points, excess)
                    self._pending_points = points
                    self._failures += 1
                    self._warn_once(type(error).__name__,
                                    f"runlog: could not write to the store {getattr(self.store, 'uri', '')} "
                                    f"({error!r}); keeping {batch.count} points in memory and retrying")
            if error is None:
                self._pending = Batch()
                self._pending_events = []
                self._pending_points = []
                if batch or events:
                    self._dispatch(points, events)
            self._last_error = error
            with self._done:
                self._attempted = max(self._attempted, requested)
                if error is None:
                    self._completed = max(self._completed, requested)
                self._done.notify_all()

    def _collect(self, ops: list[tuple[str, Any]], batch: Batch, events: list[tuple[str, Any]]) -> None:
        logs: dict[tuple[str, str], list[str]] = {}
        for kind, payload in ops:
            if kind == "series":
                batch.series.append(payload)
            elif kind == "params":
                run, params = payload
                batch.params.extend((run.id, key, value) for key, value in params.items())
                events.append(("params", payload))
            elif kind == "tags":
                batch.tags.extend(payload)
            elif kind == "artifact":
                run, info = payload
                batch.artifacts.append(info)
                events.append(("artifact", payload))
            elif kind == "log":
                run, name, text = payload
                logs.setdefault((run.id, name), []).append(text)
            elif kind == "end":
                run, status, end_time, error = payload
                batch.ends.append((run.id, status, end_time, error))
                events.append(("end", payload))
            elif kind == "started":
                events.append(("started", payload))
            elif kind == "call":
                events.append(("call", payload))
        for (run_id, name), texts in logs.items():
            artifacts = self.store.artifacts
            try:
                size = artifacts.append_text(run_id, name, "".join(texts))
            except OSError as err:
                self._warn_once("log-" + type(err).__name__, f"runlog: could not append to {name}: {err!r}")
                continue
            batch.artifacts.append(ArtifactInfo(run_id, name, size, "", artifacts.uri(run_id, name), time.time()))

    def _dispatch(self, points: list[tuple[Any, ...]], events: list[tuple[str, Any]]) -> None:
        for kind, payload in events:
            if kind == "started":
                _plugins.call_hook("runlog_run_started", run=payload)
        if points and _plugins.has_hook_impls("runlog_metrics_logged"):
            by_run: dict[str, list[LoggedPoint]] = defaultdict(list)
            series_by_key = self.series_by_key
            for key, step, value, ts in expand_entries(points):
                series = series_by_key[key]
                if series.kind in _values.SCALAR_KINDS:
                    if series.kind == _values.BOOL:
                        value = bool(value)
                    by_run[series.run_id].append(LoggedPoint(series.name, step, value, ts))
            for run_id, logged in by_run.items():
                run = self._writing.get(run_id) or self._runs.get(run_id)
                if run is not None:
                    _plugins.call_hook("runlog_metrics_logged", run=run, points=logged)
        for kind, payload in events:
            if kind == "params":
                run, params = payload
                _plugins.call_hook("runlog_params_logged", run=run, params=params)
            elif kind == "artifact":
                run, info = payload
                _plugins.call_hook("runlog_artifact_uploaded", run=run, name=info.name, uri=info.uri)
            elif kind == "end":
                run, status, _, _ = payload
                _plugins.call_hook("runlog_run_ended", run=run, status=status)
            elif kind == "call":
                payload()

    def _salvage(self, batch: Batch, error: BaseException) -> None:
        """Write a refused batch piece by piece (a series' points, one param, one tag...), so one
        value the store cannot take costs that value alone; warn once about what was dropped."""
        pieces: list[tuple[str, Batch]] = []
        for field in ("columns", "params", "tags", "artifacts", "ends", "heartbeats"):
            for item in getattr(batch, field):
                piece = Batch()
                piece.series = batch.series  # creating a series twice is a no-op
                getattr(piece, field).append(item)
                piece.count = batch.count if field == "columns" else 0
                label = item[0].name if field == "columns" else getattr(item, "name", None) or item[1]
                pieces.append((f"{field[:-1] if field != 'columns' else 'points of'} {label!r}", piece))
        dropped = []
        for label, piece in pieces:
            try:
                self.store.write(piece)
                continue
            except Exception as err:
                for series in batch.series:
                    series.id = None
                failure = err
            if piece.columns:  # a series' points: keep every point that can be kept
                series, first, steps, values, times = piece.columns[0]
                for index in range(len(steps)):
                    single = Batch()
                    single.series = batch.series
                    single.columns = [(series, first + index, [steps[index]], [values[index]], [times[index]])]
                    single.count = batch.count
                    try:
                        self.store.write(single)
                    except Exception as err:
                        for known in batch.series:
                            known.id = None
                        dropped.append(f"point {steps[index]} of {series.name!r} ({err!r})")
                continue
            dropped.append(f"{label} ({failure!r})")
        if dropped:
            self._warn_once("salvage:" + type(error).__name__,
                            f"runlog: the store {getattr(self.store, 'uri', '')} refused "
                            f"{', '.join(dropped[:3])}{' and more' if len(dropped) > 3 else ''}; "
                            "everything else in the batch was written")

    def _drop_oldest(self, entries: list[tuple[Any, ...]], excess: int) -> list[tuple[Any, ...]]:
        """Bound the memory a store that stays down can take: drop the oldest ``excess`` points."""
        kept = list(expand_entries(entries))[excess:]
        self.dropped += excess
        self._warn_once("dropped", f"runlog: the store {getattr(self.store, 'uri', '')} has refused writes for "
                        f"long enough that more than {self.max_pending} points waited; dropping the oldest "
                        "(RUNLOG_MAX_BUFFERED_POINTS sets the limit; Writer.dropped counts them)")
        return kept

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    # -- flushing ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything buffered before this call is committed.

        Raises :class:`StoreError` if the store refused the write (the data stays buffered
        and is retried).
        """
        if self._pid != os.getpid():
            self._reset()
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            # no thread (interpreter shutting down, or called from a hook): commit inline
            with self._done:
                self._requested += 1
            self._cycle()
            if self._last_error is not None:
                self._raise_if_failed()
            return
        with self._done:
            self._requested += 1
            target = self._requested
            self._wake.set()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._attempted < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreError(f"runlog: flush did not finish within {timeout} s")
                self._done.wait(0.05 if remaining is None else min(remaining, 0.05))
                if not thread.is_alive():
                    self._cycle()
            failed = self._completed < target
        if failed:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        error = self._last_error
        if error is not None:
            raise StoreError(f"runlog: the store {getattr(self.store, 'uri', '')} refused the write: {error!r}; "
                             "the data is kept in memory and retried") from error


def _transient(error: BaseException) -> bool:
    """A store error worth retrying as is: busy, locked, full, unreachable (not a refused value)."""
    if isinstance(error, OSError):
        return True
    name = type(error).__name__
    return name in ("OperationalError", "StoreError") or "Connection" in name or "Timeout" in name


def get_writer(store: Any) -> Writer:
    key = id(store)
    writer = _writers.get(key)
    if writer is None or writer.store is not store:
        with _writers_lock:
            writer = _writers.get(key)
            if writer is None or writer.store is not store:
                writer = Writer(store)
                _writers[key] = writer
    return writer


def all_writers() -> list[Writer]:
    return list(_writers.values())


def flush_all() -> None:
    for writer in all_writers():
        try:
            writer.flush()
        except Exception as err:
            warnings.warn(f"runlog: could not flush to {getattr(writer.store, 'uri', '')}: {err!r}",
                          RuntimeWarning, stacklevel=2)


def _after_fork_in_child() -> None:
    # the parent's buffers belong to the parent, which writes them; the child starts empty
    for writer in _writers.values():
        writer._reset()
    _writers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

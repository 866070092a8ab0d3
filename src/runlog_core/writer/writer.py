"""The background writer: one per store and process.

``Run.log`` hands a tuple of plain numbers to :meth:`Writer.add_point` (a bound ``list.append``:
no lock, no I/O) and returns. Everything else is queued as an :mod:`~runlog_core.writer.ops` record
through :meth:`Writer.add_op`. A daemon thread wakes every ``RUNLOG_FLUSH_INTERVAL`` seconds
(1 s by default), takes everything buffered so far, commits it to the store in one
transaction and then calls the plugins' hooks. A failed commit keeps the batch in memory and
retries on the next cycle; :meth:`Writer.flush` waits until everything handed over before the
call is committed. The thread ends after a while with nothing to do and no live run, and
starts again on the next event; :meth:`Writer.close` ends it at once.

Bounds: a transaction takes at most ``MAX_ENTRIES_PER_COMMIT`` entries, and cycles start on a
fixed cadence (at once while a backlog remains), so commits come at least every interval at any
logging rate. The writer thread waits at most about one interval for another process's lock;
what it could not write waits packed in :class:`~runlog_core.writer.pending.PendingBatches` (about
20 bytes a point, at most ``RUNLOG_MAX_BUFFERED_POINTS``), with one warning once writes have
failed for ``RUNLOG_STORE_TIMEOUT``. A store deleted under live runs is recreated
(:mod:`~runlog_core.writer.recovery`).

Threads: any number of threads may hand points over at once (``list.append`` is atomic);
only the writer thread (or a caller of ``flush`` when there is none) drains the buffers,
under ``_cycle_lock``. After ``os.fork`` the child keeps the same buffer objects, emptied, so
the handles it inherited log into its own writer, which commits them from the child.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
import weakref

from runlog_core.base import config as _config
from runlog_core.base.records import Batch, SeriesRef
from runlog_core.exceptions import StoreBusyError, StoreError
from runlog_core.writer.batching import build_batch, transient
from runlog_core.writer.ops import EndRun, NewSeries, Op

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.base.handle import RunHandle as Run
    from runlog_core.store import Store

__all__ = ["IDLE_SECONDS", "MAX_ENTRIES_PER_COMMIT", "Writer"]

# with no live run and nothing buffered for this long, the thread ends (it restarts on demand)
IDLE_SECONDS = 10.0
# one transaction takes at most this many buffered entries: a commit at least every interval,
# however fast points come (issue 9: 1M points a second made commits 3 s apart)
MAX_ENTRIES_PER_COMMIT = 100_000


class Writer:
    """Buffers events for one store and commits them in batches on a background thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.interval = _config.flush_interval()
        self.heartbeat_interval = _config.heartbeat_interval()
        self.store_timeout = _config.store_timeout()
        # while the store refuses writes, points wait in memory up to this many; beyond, the oldest go
        self.max_pending = _config.max_buffered_points()
        self.high_water = 200_000
        self.idle_seconds = max(IDLE_SECONDS, 3 * self.interval)
        self.dropped = 0
        self.commits = 0
        # the buffers are never replaced, only emptied: handles keep these bound methods
        self._points: list[tuple[Any, ...]] = []
        self._ops: list[Op] = []
        self.add_point = self._points.append
        self.add_points = self._points.extend
        self.add_op = self._ops.append
        self.series_by_key: dict[int, SeriesRef] = {}
        # handles are held weakly (a listing of 10,000 runs must not pin them), except while
        # a run has logged and not ended: its points need the Run for the hooks
        self._runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()
        self._writing: dict[str, Run] = {}
        self._init_thread_state()

    def _init_thread_state(self) -> None:
        from runlog_core.writer.pending import (
            PendingBatches,  # the first store opened needs it, `import runlog_core` not
        )

        self._pending = PendingBatches(self.max_pending)
        self._live: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()
        self._wake = threading.Event()
        self._cycle_lock = threading.RLock()
        self._done = threading.Condition(threading.Lock())
        self._requested = self._attempted = 0
        # entries taken from the buffer so far, and how many of them are committed
        self._taken = self._durable = 0
        self._last_error: BaseException | None = None
        self._failing_since: float | None = None
        self._warned: set[str] = set()
        self._last_heartbeat = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._pid = os.getpid()

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<Writer {getattr(self.store, 'uri', '?')} thread={'alive' if alive else 'stopped'}>"

    # -- registration ------------------------------------------------------------------------

    def attach(self, run: Run, live: bool) -> None:
        """Know ``run`` (for hooks); with ``live``, keep its heartbeat until it ends."""
        self._runs[run.id] = run
        if live:
            self._live[run.id] = run
            self.ensure_thread()

    def register_series(self, series: SeriesRef, run: Run) -> None:
        """Make ``series`` known under its key before its first point, and queue its creation."""
        self.series_by_key[series.key] = series
        self._writing[run.id] = run
        self._ops.append(NewSeries(series))
        self.ensure_thread()

    def known_series(self, series: SeriesRef) -> None:
        """Make an existing series (read from the store) known under its key."""
        self.series_by_key[series.key] = series

    def queue(self, op: Op) -> None:
        """Queue ``op`` and make sure a thread will write it."""
        self._ops.append(op)
        self.ensure_thread()

    def end(self, run: Run, status: str, end_time: float, error: str | None) -> None:
        """Queue the end of ``run``; the writer lets go of it once that is written."""
        from runlog_core.writer.ops import Release

        self._live.pop(run.id, None)
        self._ops.append(EndRun(run, status, end_time, error))
        self._ops.append(Release(run.id))
        self.ensure_thread()

    def live_runs(self) -> list[Run]:
        return list(self._live.values())

    def ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()
        thread = self._thread
        if thread is not None and thread.is_alive() or self._stopped:
            return
        with self._cycle_lock:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._loop, name="runlog-writer", daemon=True)
                # the store waits this long for another process's lock on this thread: what it
                # cannot write stays pending, so the buffer stays bounded and training never waits
                thread.runlog_busy_timeout = max(0.2, min(1.0, self.interval))  # type: ignore[attr-defined]
                self._thread = thread
                thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _busy(self) -> bool:
        return bool(self._points or self._ops or self._live or self._writing or self._pending)

    # -- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        idle_since: float | None = None
        next_cycle = time.monotonic() + self.interval  # the first commit an interval in (or on flush)
        while not self._stopped:
            self._wake.wait(max(0.0, next_cycle - time.monotonic()))
            self._wake.clear()
            next_cycle = time.monotonic() + self.interval
            try:
                if self._cycle():
                    next_cycle = time.monotonic()  # a backlog: the next transaction at once
            except BaseException as err:  # never let the thread die silently
                self._warn_once("cycle", f"runlog: the background writer hit {err!r}; retrying")
            if self._busy():
                idle_since = None
                continue
            now = time.monotonic()
            if idle_since is None:
                idle_since = now
            elif now - idle_since >= self.idle_seconds:
                with self._cycle_lock:
                    if not self._busy():
                        self._thread = None
                        return

    def _dispatch(self, batch: Batch, entries: list[tuple[Any, ...]] | None, events: list[Op]) -> None:
        from runlog_core.writer.dispatch import dispatch  # after the first commit, not at `import runlog_core`

        dispatch(batch, entries, events, self.series_by_key, self._find_run, self._release)

    def _cycle(self) -> bool:
        """Write what waits, then one bounded batch of what was handed over; returns whether a
        backlog remains (more than one transaction's worth was buffered)."""
        with self._cycle_lock:
            with self._done:
                requested = self._requested
            # points first, then ops: a series' creation op is queued before its first point,
            # so every point taken here has its series among the ops taken after it
            count = min(len(self._points), MAX_ENTRIES_PER_COMMIT)
            points = self._points[:count]
            del self._points[:count]
            self._taken += count
            ops = self._ops[:len(self._ops)]
            del self._ops[:len(ops)]
            batch, events = self._build(points, ops)
            now = time.time()
            if self._live and now - self._last_heartbeat >= self.heartbeat_interval:
                batch.heartbeats.extend(self._live.keys())
                self._last_heartbeat = now
            error = self._write_pending()
            if error is None and batch:
                error = self._write(batch, points, events)
            elif error is None and events:
                self._dispatch(batch, points, events)
            elif error is not None and (batch or events):
                self._keep(batch, events)
            self._after_attempt(error)
            with self._done:
                self._attempted = max(self._attempted, requested)
                if error is None and not self._pending:
                    self._durable = self._taken
                self._done.notify_all()
            return len(self._points) > MAX_ENTRIES_PER_COMMIT // 2

    def _build(self, points: list[tuple[Any, ...]], ops: list[Op]) -> tuple[Batch, list[Op]]:
        """A batch of ``points`` and ``ops`` as taken from the buffers, and the events to announce once written."""
        return build_batch(points, ops, self.series_by_key, self.store.artifacts, self._warn_once)

    def _write_pending(self) -> BaseException | None:
        """Write the batches that wait, oldest first; stop at the first the store refuses."""
        while self._pending:
            batch, events = self._pending.take()
            error = self._commit(batch)
            if error is not None:
                self._pending.put_back(batch, events)
                return error
            self._dispatch(batch, None, events)
        return None

    def _write(self, batch: Batch, points: list[tuple[Any, ...]], events: list[Op]) -> BaseException | None:
        """Commit ``batch``, then call the hooks; on a failure worth retrying keep it pending."""
        error = self._commit(batch)
        if error is not None:
            self._keep(batch, events)
            return error
        self._dispatch(batch, points, events)
        return None

    def _keep(self, batch: Batch, events: list[Op]) -> None:
        dropped = self._pending.add(batch, events)
        if dropped:
            self.dropped += dropped
            self._warn_once("dropped", f"runlog: the store {getattr(self.store, 'uri', '')} has refused writes "
                            f"for long enough that more than {self.max_pending} points waited; dropping the "
                            "oldest (RUNLOG_MAX_BUFFERED_POINTS sets the limit; Writer.dropped counts them)")

    def _commit(self, batch: Batch) -> BaseException | None:
        """One transaction; ``None`` when written (or salvaged), else the error worth retrying."""
        verify = getattr(self.store, "verify", None)
        if verify is not None and not verify():
            self._recover(batch)
        try:
            self.store.write(batch)
            self.commits += 1
            return None
        except Exception as err:
            for series in batch.series:
                series.id = None  # ids from a rolled-back transaction mean nothing
            if not transient(err):
                # refused for what is in it, not because the store is busy or full: retrying
                # as is would block every later write, so write what can be written
                from runlog_core.writer.salvage import salvage

                salvage(self.store, batch, err, self._warn_once)
                return None
            # kept for flush() to raise: without its traceback, whose frames would pin this
            # cycle's buffered points in memory for as long as the store refuses
            return err.with_traceback(None)

    def _recover(self, batch: Batch) -> None:
        """The database file was deleted or replaced under us: recreate it and our runs in it."""
        from runlog_core.writer.recovery import recreate_store

        runs = {**{run.id: run for run in self._live.values()}, **self._writing}
        self._warn_once("deleted", f"runlog: the store {getattr(self.store, 'uri', '')} was deleted while runs "
                        "were logging into it; recreating it at the same place with this process's "
                        f"{len(runs)} running run(s); what the deleted files held is gone")
        again, ops = recreate_store(self.store, runs.values(), list(self.series_by_key.values()))
        known = {id(series) for series in batch.series}
        batch.series[:0] = [series for series in again if id(series) not in known]
        extra, _ = self._build([], ops)
        batch.params[:0] = extra.params
        batch.tags[:0] = extra.tags
        batch.heartbeats = list(self._live.keys())

    def _after_attempt(self, error: BaseException | None) -> None:
        self._last_error = error
        if error is None:
            self._failing_since = None
            return
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        busy = isinstance(error, StoreBusyError) or "locked" in str(error) or "busy" in str(error)
        if busy and now - self._failing_since < self.store_timeout:
            return  # another process's transaction: normal for a while
        kind = "busy" if busy else type(error).__name__
        self._warn_once(kind, f"runlog: could not write to the store {getattr(self.store, 'uri', '')} "
                        f"({error}); keeping {self._pending.points} points in memory (at most "
                        f"{self.max_pending}, RUNLOG_MAX_BUFFERED_POINTS) and retrying")

    def _find_run(self, run_id: str) -> Run | None:
        return self._writing.get(run_id) or self._runs.get(run_id)

    def _release(self, run_id: str) -> None:
        self._writing.pop(run_id, None)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    # -- flushing and closing ----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything handed over before this call is committed.

        Waits while the store is busy, at most ``timeout`` seconds (default
        ``RUNLOG_STORE_TIMEOUT``); the data stays buffered and is retried either way.

        Raises:
            StoreError: the store refused the writes for that long (:class:`StoreBusyError`
                when another process held its lock, naming it when that is knowable).
        """
        if self._pid != os.getpid():
            self._after_fork()
        deadline = time.monotonic() + (self.store_timeout if timeout is None else timeout)
        with self._done:
            self._requested += 1
            target = self._requested
            goal = self._taken + len(self._points)
        while True:
            thread = self._thread
            inline = thread is None or not thread.is_alive() or thread is threading.current_thread()
            if inline:  # no thread (closed, idle, shutting down) or called from a hook: commit here
                self._cycle()
            else:
                self._wake.set()
                with self._done:
                    self._done.wait(0.05)
            with self._done:
                if self._attempted >= target and self._durable >= goal:
                    return
                error = self._last_error
            if time.monotonic() >= deadline:
                self._raise_for(error, self.store_timeout if timeout is None else timeout)
            if inline and error is not None:
                time.sleep(0.05)  # the store refuses: try again shortly, not in a tight loop

    def _raise_for(self, error: BaseException | None, waited: float) -> None:
        if isinstance(error, StoreBusyError):
            raise StoreBusyError(error.path, waited, error.holders) from error
        if isinstance(error, StoreError):
            raise error
        raise StoreError(f"runlog: the store {getattr(self.store, 'uri', '')} did not take the writes: {error!r}; "
                         "the data is kept in memory and retried") from error

    def close(self) -> None:
        """Commit everything buffered, then end the thread. A later event starts a new one.

        A remote store (``store.remote``: PostgreSQL) that still refuses writes after
        ``RUNLOG_STORE_TIMEOUT`` gets what waits kept on local disk (``_spill``), written when the
        store is next opened; the :class:`StoreError` raised says where.
        """
        try:
            self.flush()
        except StoreError as err:
            if not getattr(self.store, "remote", False):
                raise
            self._stop_thread()
            kept = self._spill()
            if kept is None:
                raise
            folder, files = kept
            raise StoreError(f"{err}; what it did not take ({files} batch{'es' if files > 1 else ''}) is kept in "
                             f"{folder} and written when {getattr(self.store, 'uri', '')} is next opened") from err
        finally:
            self._stop_thread()

    def _stop_thread(self) -> None:
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None
        self._stopped = False

    def _spill(self) -> tuple[Any, int] | None:
        """Everything not written, as batches, kept on local disk for the store; ``None`` if that failed."""
        from runlog_core.store.spill import spill

        try:
            batches = []
            while self._pending:
                batches.append(self._pending.take()[0])
            points, ops = self._points[:], self._ops[:]
            del self._points[:]
            del self._ops[:]
            batches.append(self._build(points, ops)[0])
            return spill(getattr(self.store, "uri", ""), batches)
        except Exception as err:
            self._warn_once("spill", f"runlog: could not keep what {getattr(self.store, 'uri', '')} did not take "
                            f"on local disk ({err!r}); it is lost")
            return None

    def _after_fork(self) -> None:
        """In a forked child: the parent's buffered events are the parent's to write; the child
        keeps its handles' series and its own (empty) buffers, and writes what it logs itself."""
        del self._points[:]
        del self._ops[:]
        self._init_thread_state()
        # series the parent had not committed yet: the child may log into them, so it creates
        # them too (creating a series that exists is a no-op)
        self._ops.extend(NewSeries(series) for series in self.series_by_key.values() if series.id is None)
        if self._writing:
            self.ensure_thread()


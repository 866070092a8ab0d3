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

Identity: each batch carries ``(writer_id, seq)``, a random id of this writer and its number,
increasing (see :class:`~runlog_core.base.records.Batch`): the store writes a batch retried after a
lost reply only once. What a remote store has not taken when the writer stops is spilled to disk
(:mod:`~runlog_core.writer.stopping`); the writer then takes a new id.

Threads: any number of threads may hand points over at once (``list.append`` is atomic);
only the writer thread (or a caller of ``flush`` when there is none) drains the buffers,
under ``_cycle_lock``. After ``os.fork`` the child keeps the same buffer objects, emptied, so
the handles it inherited log into its own writer, which commits them from the child.
"""

from __future__ import annotations

import itertools
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
        index_logs = getattr(getattr(store, "artifacts", None), "index_logs_with", None)
        if index_logs is not None:  # S3: a log's index entry is made when it is uploaded (writer.batching)
            index_logs(self._logs_uploaded)

    def _logs_uploaded(self) -> None:
        from runlog_core.writer.ops import LogsUploaded

        self.queue(LogsUploaded())

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
        # the batch being written (for the spill when its thread is stuck on a silent network), since when
        self._in_flight: Batch | None = None
        self._in_flight_since = 0.0
        self._progress_at = 0.0  # when a transaction last went through: flush() waits on while they do
        self._abandoned: threading.Thread | None = None
        # a flush gave up on the store and nothing was written since: the next one does not wait again
        self._gave_up = False
        self._told_outage = False
        self.new_identity()

    def new_identity(self) -> None:
        """A new writer id, numbering from 1: a forked child, or what follows batches kept on disk."""
        self.writer_id = os.urandom(8).hex()
        self._numbers = itertools.count(1)

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

    def failing(self) -> bool:
        """Whether the store refuses writes now (the last attempt failed, batches wait, or one hangs)."""
        in_flight = self._in_flight is not None and time.monotonic() - self._in_flight_since > self.store_timeout
        return self._failing_since is not None or bool(self._pending) or self._gave_up or in_flight

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
        while not self._stopped and self._abandoned is not threading.current_thread():
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
            # what waits first; then what was handed over meanwhile is taken (a thread stuck in a
            # write holds no more than the batch in flight, which close() can still spill)
            error = self._write_pending()
            if self._abandoned is threading.current_thread():
                return False  # given up by close(), which kept what this thread held on disk
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
        """A batch of ``points`` and ``ops`` as taken from the buffers, numbered, and the events to
        announce once written."""
        batch, events = build_batch(points, ops, self.series_by_key, self.store.artifacts, self._warn_once)
        batch.writer, batch.seq = self.writer_id, next(self._numbers)
        return batch, events

    def _write_pending(self) -> BaseException | None:
        """Write the batches that wait, oldest first; stop at the first the store refuses."""
        while self._pending and self._abandoned is not threading.current_thread():
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
        if self._abandoned is threading.current_thread():
            return StoreError("runlog: the writer stopped")  # kept on disk by close(): not written here
        self._in_flight, self._in_flight_since = batch, time.monotonic()
        try:
            self.store.write(batch)
            self.commits += 1
            self._progress_at = time.monotonic()
            return None
        except Exception as err:
            for series in batch.series:
                series.id = None  # ids from a rolled-back transaction mean nothing
            if not transient(err):
                # refused for what is in it, not because the store is busy or full: retrying
                # as is would block every later write, so write what can be written
                from runlog_core.writer.salvage import salvage

                salvage(self.store, batch, err, self._warn_once)
                self._progress_at = time.monotonic()
                return None
            # kept for flush() to raise: without its traceback, whose frames would pin this
            # cycle's buffered points in memory for as long as the store refuses
            return err.with_traceback(None)
        finally:
            self._in_flight = None

    def _recover(self, batch: Batch) -> None:
        """The database file was deleted or replaced under us: recreate it and our runs in it."""
        from runlog_core.writer.recovery import recover

        recover(self, batch)

    def _after_attempt(self, error: BaseException | None) -> None:
        self._last_error = error
        if error is None:
            self._failing_since = None
            self._gave_up = self._told_outage = False
            return
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        busy = isinstance(error, StoreBusyError) or "locked" in str(error) or "busy" in str(error)
        if busy and now - self._failing_since < self.store_timeout:
            return  # another process's transaction: normal for a while
        self.report_outage(error, "busy" if busy else type(error).__name__)

    def report_outage(self, error: BaseException, kind: str = "outage") -> None:
        """Warn (once per kind of failure, and once per outage) that writes wait in memory."""
        if self._told_outage and kind == "outage":
            return
        self._told_outage = True
        later = ("; what still waits when the program ends is kept on local disk and written when the store is "
                 "next opened") if getattr(self.store, "remote", False) else ""
        self._warn_once(kind, f"runlog: could not write to the store {getattr(self.store, 'uri', '')} "
                        f"({error}); keeping {self._pending.points} points in memory (at most "
                        f"{self.max_pending}, RUNLOG_MAX_BUFFERED_POINTS) and retrying{later}")

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
        ``RUNLOG_STORE_TIMEOUT``) without a transaction going through: a backlog committed
        transaction after transaction is waited for however long it takes (#21). The data stays
        buffered and is retried either way. Once a flush
        gave up, later ones (until a write succeeds) raise as soon as one more attempt fails: a
        program whose store is down waits once, not once per call.

        Raises:
            StoreError: the store refused the writes for that long (:class:`StoreBusyError`
                when another process held its lock, naming it when that is knowable), or one
                transaction took that long (the message says how many points are still to write).
        """
        if self._pid != os.getpid():
            self._after_fork()
        waited = self.store_timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + waited
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
                # a flush gave up before: one more attempt decides, or a write hanging since before this call
                since = self._in_flight_since if self._in_flight is not None else started
                retried = self._gave_up and (self._attempted >= target and error is not None
                                             or since < started and time.monotonic() - since > waited)
            if retried or time.monotonic() >= max(deadline, self._progress_at + waited):
                self._gave_up = True
                from runlog_core.writer.stopping import raise_for

                raise_for(self, error, waited, goal)
            if inline and error is not None:
                time.sleep(0.05)  # the store refuses: try again shortly, not in a tight loop

    def close(self, timeout: float | None = None) -> None:
        """Commit everything buffered, then end the thread. A later event starts a new one.

        A remote store (``store.remote``: PostgreSQL) that still refuses writes after ``timeout``
        (default ``RUNLOG_STORE_TIMEOUT``) gets what waits kept on local disk, written when the
        store is next opened (:mod:`~runlog_core.writer.stopping`); the :class:`StoreError` raised
        says where. Waits at most ``timeout`` in all for a remote store, even one that hangs.
        """
        from runlog_core.writer.stopping import close

        close(self, timeout)

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


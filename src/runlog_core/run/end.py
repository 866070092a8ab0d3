"""How a run ends (Completed, Failed, Canceled), and what it captures while it lives."""

from __future__ import annotations

import contextvars
import time
import warnings

from runlog_core.exceptions import InvalidArgumentError, RunEndedError, StoreError
from runlog_core.run import lifecycle as _lifecycle
from runlog_core.run.state import CANCELED, COMPLETED, FAILED, RUNNING, RunState
from runlog_core.writer.ops import AppendLog

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _Self = TypeVar("_Self", bound="EndingMixin")

__all__ = ["EndingMixin", "no_wait"]

# True while integration.end_trial_run ends a run: its end goes with the writer's next batch, unwaited
no_wait: contextvars.ContextVar[bool] = contextvars.ContextVar("runlog_end_no_wait", default=False)


class EndingMixin(RunState):
    """``complete``, ``fail``, ``cancel``, the ``with`` block, ``flush`` and output capture."""

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
        with self._lock:
            already = self._ended or self._ending
            if already and not force:
                return
            self._ending = True
        self._stop_capture()
        outputs = self._outputs
        stopping = _lifecycle.flush_deferred()  # the program ends: S3 is waited on until one deadline at most
        if stopping and hasattr(self._store.artifacts, "stop_deadline"):
            self._store.artifacts.stop_deadline()
        if not already and outputs is not None and outputs.is_dir() and any(outputs.iterdir()):
            try:  # while the run is still open: every safe file goes, each unsafe name is skipped
                self._upload_outputs(outputs, stopping)
            except Exception as err:  # the run's end must be recorded even if the copy fails
                warnings.warn(f"runlog: could not upload {outputs}: {err!r}", RuntimeWarning, stacklevel=3)
        with self._lock:
            self._ended, self._end_status = True, status
            # later values go through the checks, which refuse them: the fast paths know no series
            self._series = {}
            self._bulk = {}
        self._writer.end(self, status, time.time() if end_time is None else float(end_time), error)
        _lifecycle.forget(self)
        # at exit: one flush per store after every run ended; a sweep trial's end: the next batch
        if not _lifecycle.flush_deferred() and not no_wait.get():
            self._flush_end()

    def _flush_end(self) -> None:
        """Wait until the end is durable. A remote store that is down costs one warning, not the
        training: the end waits in memory with the points, written when the store is back, or kept
        on local disk when the program ends first (a local store raises: its disk is the problem)."""
        try:
            self.flush()
        except StoreError as err:
            if not getattr(self._store, "remote", False):
                raise
            self._writer.report_outage(err)

    def _check_open(self) -> None:
        """Raise :class:`RunEndedError` if the run has ended (in this process, or before this handle)."""
        if self._ended:
            raise RunEndedError(self.id, self._end_status or "ended")
        if not self._loaded:
            self._load()
            info = self._store.get_run(self.id)
            if info is not None and info.status != RUNNING:
                self._ended, self._end_status = True, info.status
                raise RunEndedError(self.id, info.status)

    def _end_for(self, error: BaseException | None) -> None:
        """End the run as a ``with`` block does for ``error``: Completed when ``None``, Canceled for
        a KeyboardInterrupt, else Failed with the traceback. The integrations end their runs so too."""
        if error is None:
            self.complete()
            return
        import traceback

        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self._end(CANCELED if isinstance(error, KeyboardInterrupt) else FAILED, text)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._end_for(exc)  # returns None: the exception, if any, propagates unchanged

    def flush(self) -> None:
        """Return when everything logged so far is durable in the store."""
        self._writer.flush()

    # -- what a live run captures ---------------------------------------------------------------

    def _stop_capture(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self._capture is not None:
            self._capture.stop()
            self._capture = None

    def _start_monitor(self, interval: float | None = None) -> None:
        from runlog_core.run.system import start_monitor

        self._monitor = start_monitor(self, interval)  # type: ignore[arg-type]

    def _append_log(self, name: str, text: str) -> None:
        """Append ``text`` to the log artifact ``name`` (e.g. ``logs/std_log.txt``) through the writer."""
        self._writer.add_op(AppendLog(self, name, text))

    def _start_capture(self) -> None:
        from runlog_core.run.capture import OutputCapture

        self._capture = OutputCapture(self._append_log)

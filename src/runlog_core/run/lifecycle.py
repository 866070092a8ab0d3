"""What happens to runs when the process ends: normal exit, uncaught exception, SIGTERM.

- Normal interpreter exit: everything buffered is committed; runs this process started
  and did not end are ended Completed (Failed if an uncaught exception is on its way out).
- SIGTERM: those runs end Killed, everything buffered is committed, then the previous
  handler runs (or the process dies of SIGTERM as it would have).
- SIGKILL or power loss: nothing runs; the run's heartbeat goes stale and readers see Killed.

Both exits wait at most ``RUNLOG_STORE_TIMEOUT`` in all (SIGTERM: and at most three quarters of
``RUNLOG_STOP_GRACE``, the time a scheduler leaves before SIGKILL), whatever the number of runs and
stores: the runs are ended first, then each store is flushed once, within one deadline. A remote store
(PostgreSQL) still down then gets what waits kept on local disk (:mod:`runlog_core.store.spill`),
written when it is next opened; one line on stderr says where.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

from runlog_core.base import config as _config
from runlog_core.plugins.manager import forget_store, open_stores
from runlog_core.run.state import CANCELED, COMPLETED, FAILED, KILLED
from runlog_core.writer.registry import all_writers

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.run.state import RunState as Run

__all__ = ["end_owned_in", "flush_deferred", "forget", "install", "own"]

_lock = threading.RLock()
_owned: dict[str, Run] = {}
_installed_pid: int | None = None
_atexit_registered = False
_deferring_flush = False
_uncaught: str | None = None
_interrupted = False
_traceback: Any = None
_previous_excepthook: Any = None
_previous_sigterm: Any = None


def own(run: Run) -> None:
    """``run`` was started by this process: end it at exit if nobody else does."""
    install()
    with _lock:
        _owned[run.id] = run


def forget(run: Run) -> None:
    with _lock:
        _owned.pop(run.id, None)


def install() -> None:
    global _installed_pid, _previous_excepthook, _previous_sigterm, _traceback, _atexit_registered
    if _installed_pid == os.getpid():
        return
    with _lock:
        if _installed_pid == os.getpid():
            return
        _installed_pid = os.getpid()
        if not _atexit_registered:
            _atexit_registered = True
            atexit.register(_at_exit)
        if _previous_excepthook is None:
            import traceback as _traceback

            _previous_excepthook = sys.excepthook
            sys.excepthook = _excepthook
        if threading.current_thread() is threading.main_thread():
            import signal  # here, not at import: `import runlog_core` stays light

            try:
                current = signal.getsignal(signal.SIGTERM)
                if current is not _on_sigterm and current is not signal.SIG_IGN:
                    _previous_sigterm = current
                    signal.signal(signal.SIGTERM, _on_sigterm)
            except (ValueError, OSError):  # not the main interpreter, or no signals here
                pass


def _excepthook(exc_type: Any, exc: BaseException, tb: Any) -> None:
    global _uncaught, _interrupted
    # no import in here: importing inside an excepthook makes CPython forget that an uncaught
    # KeyboardInterrupt must end the process by SIGINT (exit status 130 instead of 1)
    _uncaught = "".join(_traceback.format_exception(exc_type, exc, tb))
    _interrupted = issubclass(exc_type, KeyboardInterrupt)
    hook = _previous_excepthook or sys.__excepthook__
    hook(exc_type, exc, tb)


def flush_deferred() -> bool:
    """Whether the process is ending its runs at exit: each store is flushed once afterwards,
    so a store that fails costs one wait, not one per run."""
    return _deferring_flush


def end_owned_in(store: Any) -> None:
    """End the runs this process started in ``store`` and left open (the store is being closed)."""
    if _installed_pid != os.getpid():
        return
    problems = _end_owned(None, None, store)
    if problems:
        import warnings

        warnings.warn(f"runlog: closing {getattr(store, 'uri', store)}: {problems[0]}", RuntimeWarning, stacklevel=3)


def _end_owned(status: str | None, error: str | None, store: Any = None) -> list[str]:
    """End the runs this process started (in ``store``, or in any) and left open; returns what went wrong."""
    with _lock:
        runs = [run for run in _owned.values() if store is None or run._store is store]
    # children first, so a parent never ends before its children
    runs.sort(key=lambda run: run._parent_id is None)
    problems = []
    for run in runs:
        final = status or (CANCELED if _interrupted else FAILED if _uncaught else COMPLETED)
        try:
            run._end(final, error if error is not None else (_uncaught if final != COMPLETED else None))
        except Exception as err:  # never a traceback from interpreter shutdown
            problems.append(f"run {run.id} not ended ({err})")
    return problems


def _at_exit() -> None:
    _stop(None, None, "at exit", close_stores=True)


def _stop(status: str | None, error: str | None, when: str, close_stores: bool) -> None:
    """End the runs this process owns, then close every writer within one ``RUNLOG_STORE_TIMEOUT``
    (a remote store still down gets what waits spilled); at most one line on stderr."""
    import warnings

    global _deferring_flush
    owner = _installed_pid == os.getpid()
    # at most one line on stderr, whatever the store does now (deleted, read-only, full, down)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _deferring_flush = True
        try:
            problems = _end_owned(status, error) if owner else []
        finally:
            _deferring_flush = False
        deadline = time.monotonic() + _budget(status == KILLED)
        # a forked child commits what it logged too (it never ends its parent's runs)
        for writer in all_writers():
            try:
                writer.close(max(0.25, deadline - time.monotonic()))
            except Exception as err:
                problems.append(str(err))
        for store in open_stores() if close_stores else []:  # writers closed: only connections remain
            forget_store(store)
            try:
                store.close()
            except Exception as err:
                problems.append(str(err))
    problems.extend(str(w.message) for w in caught if "runlog" in str(w.message))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        sys.stderr.write(f"runlog: {when}, {problems[0]}{more}\n")


def _budget(stopping: bool) -> float:
    """Seconds the exit may wait for the stores in all: ``RUNLOG_STORE_TIMEOUT``; on SIGTERM at most
    three quarters of ``RUNLOG_STOP_GRACE`` too, so the spill is done before the SIGKILL that follows."""
    try:
        budget = _config.store_timeout()
        grace = _config.stop_grace() if stopping else 0.0
    except Exception:  # a bad setting was reported when the store opened
        return 10.0
    return min(budget, 0.75 * grace) if grace > 0 else budget


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    # the runs end Killed and every store is flushed once, all within RUNLOG_STORE_TIMEOUT; a remote
    # store still down gets what waits spilled, as at any other exit (the scheduler's grace is short)
    try:
        _stop(KILLED, "terminated by SIGTERM", "on SIGTERM", close_stores=False)
    except Exception:
        pass
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)

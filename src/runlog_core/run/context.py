"""The context run: what ``Run.get_context()`` returns in this process.

First the trial run active in this thread or task (an Optuna trial of a tracked objective, a Ray
trial: :func:`set_trial_run`, behind ``runlog_core.integration.active_run``); then, under
``runlog submit`` (``RUNLOG_RUN_ID`` and ``RUNLOG_STORE`` set), the submitted run; elsewhere a run
started in the default store that ends at interpreter exit (see :mod:`.lifecycle`).
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading

from runlog_core.base import config as _config
from runlog_core.exceptions import RunNotFoundError
from runlog_core.plugins.manager import open_store
from runlog_core.run import lifecycle as _lifecycle
from runlog_core.run.experiment import Experiment

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from runlog_core.run.run import Run

__all__ = ["experiment_named", "get_context", "reset_trial_run", "set_trial_run", "trial_run"]

_lock = threading.RLock()
_context: Run | None = None
_context_pid = 0

# the run of the sweep trial running in this thread or asyncio task: a context variable, so two trials
# in two threads (Optuna's n_jobs) or two tasks each see their own, and a new thread starts without one
_trial: contextvars.ContextVar[Run | None] = contextvars.ContextVar("runlog_trial_run", default=None)


def trial_run() -> Run | None:
    """The trial run active in this thread or task, or None."""
    return _trial.get()


def set_trial_run(run: Run | None) -> contextvars.Token[Run | None]:
    """Make ``run`` the trial run of this thread or task (None: none); returns the token for :func:`reset_trial_run`."""
    return _trial.set(run)


def reset_trial_run(token: contextvars.Token[Run | None]) -> None:
    """Put back the trial run that was active before :func:`set_trial_run` gave ``token``."""
    _trial.reset(token)


def experiment_named(name: str) -> Experiment:
    """``Experiment(name)`` in the default store (``Run("name", run_id)`` accepts a name)."""
    return Experiment(name)


def get_context() -> Run:
    global _context, _context_pid
    trial = _trial.get()
    if trial is not None:
        return trial
    with _lock:
        if _context is not None and _context_pid == os.getpid():
            return _context
        run_id = _config.run_id()
        if run_id:
            store = open_store(_config.store())
            info = store.get_run(run_id)
            if info is None:
                raise RunNotFoundError("run", run_id, store.uri)
            experiment = Experiment(info.experiment_name, store=store)
            run = experiment._handle(run_id, info)
            run._writer.attach(run, live=True)  # the script keeps the heartbeat too; the submitter ends it
            _lifecycle.install()
            # the submitter captures stdout and stderr; Python logging records are only seen in here,
            # tapped without a root handler so they still reach the script's output (issue 9)
            from runlog_core.run.capture import LOGGING_LOG, capture_records

            capture_records(lambda text: run._append_log(LOGGING_LOG, text))
        else:
            name = _config.experiment() or _script_name()
            run = Experiment(name).start_logging()
        _context, _context_pid = run, os.getpid()
        return run


def forget_context() -> Run | None:
    """Forget this process's context run (the next ``get_context()`` makes another); returns it."""
    global _context
    with _lock:
        run, _context = _context, None
        return run


def restore_context(run: Run | None) -> None:
    global _context, _context_pid
    with _lock:
        _context, _context_pid = run, os.getpid()


def _script_name() -> str:
    from pathlib import Path

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    stem = Path(path).stem if path else ""
    return stem if stem and stem not in ("-c", "<stdin>") else "interactive"

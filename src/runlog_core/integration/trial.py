"""Sweep trials: the run a trial logs into, made active in its thread, and runs that workers agree on.

An engine that runs trials (Optuna, Ray Tune) gives each trial a child run of one parent. While a
trial runs, its run is *active* in the thread or asyncio task that runs it (:func:`active_run`):
``Run.get_context()`` returns it, and :func:`~runlog_core.integration.resolve_run` hands it to an
integration created there without ``run=``/``experiment=`` (a Lightning logger, a Keras or XGBoost
callback). The run is held in a context variable, so two trials in two threads of one process
(Optuna's ``n_jobs=2``) each see their own, and a thread started without it sees none.

Workers in several processes or hosts make the same parent and child only once when they name them
by the same id: :func:`stable_run_id` derives one from what they all know (the study, the trial
number), and :func:`open_run` starts the run with that id or, when it exists, continues it. Both
stores create a run with an id that exists as a no-op, so two workers starting it at once make one.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator, Mapping

from runlog_core.exceptions import InvalidArgumentError, RunEndedError, RunNotFoundError
from runlog_core.run import context as _context
from runlog_core.run import end as _ending
from runlog_core.run.experiment import Experiment
from runlog_core.run.run import Run

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

__all__ = ["active_run", "current_trial_run", "end_trial_run", "open_run", "reset_active_run", "set_active_run",
           "stable_run_id"]

_ENDS = ("Completed", "Canceled", "Failed")


@contextlib.contextmanager
def active_run(run: Run) -> Iterator[Run]:
    """Make ``run`` the trial run of this thread or task for the ``with`` block; yields it.

    Inside, ``Run.get_context()`` returns ``run`` and integrations created without ``run=`` or
    ``experiment=`` log into it. Blocks nest; leaving one puts back the run active before. The run
    is not ended here: whoever started it ends it.

    Raises:
        InvalidArgumentError: ``run`` is not a Run.

    Example::

        with active_run(trial_run):
            objective(trial)        # Run.get_context() is trial_run here, in this thread only
    """
    token = set_active_run(run)
    try:
        yield run
    finally:
        reset_active_run(token)


def set_active_run(run: Run | None) -> contextvars.Token[Run | None]:
    """Make ``run`` the trial run of this thread or task until :func:`reset_active_run` (``None``: none).

    For engines whose trial has no ``with`` block around it (a Ray trainable calling
    ``setup_runlog(config)``); prefer :func:`active_run` where there is one.

    Returns:
        The token that :func:`reset_active_run` takes to put back the run active before.

    Raises:
        InvalidArgumentError: ``run`` is neither a Run nor None.
    """
    if run is not None and not isinstance(run, Run):
        raise InvalidArgumentError("run", run, "a runlog_core.Run or None")
    return _context.set_trial_run(run)


def reset_active_run(token: contextvars.Token[Run | None]) -> None:
    """Put back the trial run that was active before :func:`set_active_run` returned ``token``."""
    _context.reset_trial_run(token)


def current_trial_run() -> Run | None:
    """The trial run active in this thread or task, or None."""
    return _context.trial_run()


def stable_run_id(*parts: str | int) -> str:
    """A run id (16 hex digits, as runlog's own) that is the same wherever it is computed from the same parts.

    Example::

        parent_id = stable_run_id("optuna", experiment.id, study_name, study_created)
        child_id = stable_run_id(parent_id, trial.number)
    """
    text = "\x1f".join(f"{type(part).__name__}:{part}" for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def open_run(experiment: Experiment, run_id: str, *, parent: Run | None = None, name: str | None = None,
             tags: Mapping[str, Any] | None = None, start_time: float | None = None, new: bool = False) -> Run:
    """Start the run ``run_id`` in ``experiment``, or continue it (Running again) when it exists.

    Processes that open the same id at the same time share one run: the store creates a run whose
    id exists as a no-op. The run is owned by this process as one from ``start_logging`` is (ended at
    interpreter exit if still open); ``name``, ``parent`` and ``start_time`` apply only to a run
    created here, ``tags`` are set either way.

    Args:
        new: the caller knows no run has this id (a trial recorded once, after the fact): no look-up,
            and the run is created with the writer's next batch instead of now, which makes it
            cheap (should the id exist after all, the store keeps that run and this one's values go there).

    Raises:
        InvalidArgumentError: ``run_id`` is not a non-empty string of at most 64 letters, digits, ``-`` or ``_``.
        RunNotFoundError: a run ``run_id`` exists in another experiment of the store.
    """
    if not isinstance(experiment, Experiment):
        raise InvalidArgumentError("experiment", experiment, "a runlog_core.Experiment")
    if (not isinstance(run_id, str) or not run_id or len(run_id) > 64
            or not all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in run_id)):
        raise InvalidArgumentError("run_id", run_id, "a string of 1 to 64 ASCII letters, digits, '-' or '_'")
    if parent is not None and not isinstance(parent, Run):
        raise InvalidArgumentError("parent", parent, "a runlog_core.Run or None")
    if new:
        return experiment._start(name=name, tags=tags, parent=parent, run_id=None, start_time=start_time,
                                 new_id=run_id, deferred=True)
    existing = experiment._store.get_run(run_id)
    if existing is not None:
        if existing.experiment_id != experiment.id:
            raise RunNotFoundError("run", run_id, f"{experiment.store} (experiment {experiment.name!r})")
        # Running now: read so once, so that another worker ending it at its exit (the shared parent of a
        # study) does not refuse this worker's later values; this worker ends it again at its own end.
        # Another worker may end it between the two steps: then continue it again.
        for attempt in range(5):
            run = experiment._start(name=None, tags=tags, parent=None, run_id=run_id)
            try:
                run._check_open()
            except RunEndedError:
                if attempt == 4:
                    raise
                continue
            return run
    return experiment._start(name=name, tags=tags, parent=parent, run_id=None, start_time=start_time, new_id=run_id)



def end_trial_run(run: Run, status: str, *, error: BaseException | str | None = None,
                  end_time: float | None = None, wait: bool = False) -> None:
    """End a trial's run as the engine ended the trial, at ``end_time`` (seconds since the epoch; now if None).

    Unlike ``run.complete()``, it does not wait until the end is durable unless ``wait``: the writer
    commits it with its next batch (within ``RUNLOG_FLUSH_INTERVAL``, at the latest when the program
    ends), so recording a trial costs the engine no round trip to the store.

    Args:
        status: ``"Completed"``, ``"Canceled"`` (pruned, stopped early) or ``"Failed"``.
        error: for ``"Failed"``: the exception (its traceback is kept) or a text saying why.

    Raises:
        InvalidArgumentError: ``run`` is not a Run, or ``status`` not one of the three.
    """
    if not isinstance(run, Run):
        raise InvalidArgumentError("run", run, "a runlog_core.Run")
    if status not in _ENDS:
        raise InvalidArgumentError("status", status, f"one of {list(_ENDS)}")
    text: str | None = None
    if isinstance(error, BaseException):
        import traceback

        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    elif error is not None:
        text = str(error)
    token = _ending.no_wait.set(not wait)
    try:
        run._end(status, text if status == "Failed" else None, end_time, force=status == "Failed")
    finally:
        _ending.no_wait.reset(token)

"""Which run an integration logs into: one rule for all four, attached by hand or by ``autolog()``.

1. ``run=`` when given: the integration logs into it and never ends it;
2. else the trial run active in this thread or task (an Optuna objective wrapped by
   ``track_in_runlog()``, a Ray trainable: :func:`~runlog_core.integration.active_run`), never ended
   by the integration, unless ``experiment=`` names another experiment than the trial run's (so
   ``autolog(experiment="x")``'s integrations log into the trials of a study recorded in ``"x"``);
3. else, inside ``runlog submit`` (``RUNLOG_RUN_ID`` set), the submitted run (never ended by the integration);
4. else a run of the integration's own, which it ends with the training's outcome, in
   ``experiment=`` (a name or an :class:`Experiment`), else ``RUNLOG_EXPERIMENT``, else the
   integration's default experiment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from runlog_core.base import config as _config
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.run.context import trial_run
from runlog_core.run.experiment import Experiment
from runlog_core.run.run import Run

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_target", "end_run", "resolve_run"]


def check_target(run: Any, experiment: Any, argument: str = "experiment") -> None:
    """Check ``run=`` and ``experiment=`` where an integration is built, before any training.

    Raises:
        InvalidArgumentError: ``run`` is not a Run, or ``experiment`` is not a name or an Experiment.
    """
    if run is not None and not isinstance(run, Run):
        raise InvalidArgumentError("run", run, "a runlog_core.Run or None")
    if experiment is not None and not isinstance(experiment, (str, Experiment)):
        raise InvalidArgumentError(argument, experiment, "an experiment name (str), an Experiment or None")


def resolve_run(run: Run | None = None, experiment: Experiment | str | None = None, *, default: str,
                store: str | os.PathLike[str] | None = None, name: str | None = None,
                tags: Mapping[str, Any] | None = None, run_id: str | None = None) -> tuple[Run, bool]:
    """The run an integration logs into, and whether it owns it (must end it).

    Args:
        run: an existing run to log into (``run=`` of the integration).
        experiment: the integration's ``experiment=``: a name or an :class:`Experiment`; without it, or
            when it names the experiment of the trial run active in this thread
            (:func:`~runlog_core.integration.active_run`), that trial run comes first.
        default: the integration's default experiment name (``"keras"``, ``"lightning_logs"``...).
        store: the store for a run of its own (default ``RUNLOG_STORE``, else ``./runlog``).
        name, tags: for a run of its own.
        run_id: continue this run of the experiment (a resumed fit) instead of starting one.

    Returns:
        ``(run, owned)``: ``owned`` is True when the run was started here; the integration
        then ends it with the training's outcome.
    """
    check_target(run, experiment)
    if run is not None:
        return run, False
    if run_id is None:
        trial = trial_run()
        if trial is not None and (experiment is None or _names(experiment) == trial.experiment.name):
            return trial, False
    if run_id is None and _config.run_id():
        return Run.get_context(), False
    if not isinstance(experiment, Experiment):
        experiment = Experiment(experiment or _config.experiment() or default, store=store)
    return experiment.start_logging(name=name, tags=tags, outputs=None, run_id=run_id), True


def _names(experiment: Experiment | str) -> str:
    return experiment if isinstance(experiment, str) else experiment.name


def end_run(run: Run, error: BaseException | None) -> None:
    """End a run the integration owns with the training's outcome, as a ``with`` block ends a run:
    Completed when ``error`` is None, Canceled for a ``KeyboardInterrupt``, else Failed with its traceback."""
    run._end_for(error)

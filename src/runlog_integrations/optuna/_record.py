"""What a finished Optuna trial writes into its child run, and what the parent keeps of the best trial.

Kept apart from the callback so the callback stays about *which* run and *when*; this module is
about *what*: params as Optuna types them, the objective value(s) under the metric names, the
reported intermediate values as the series ``intermediate_value``, user attributes as tags, the
trial's state as the run's status, and its start and end times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from runlog_core import Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import WarnOnce, end_trial_run

__all__ = ["TRIAL_TAG", "STUDY_TAG", "end_child", "metric_names", "record_trial", "tag_text", "timestamp"]

TRIAL_TAG = "optuna.trial"
STUDY_TAG = "optuna.study_name"


def timestamp(moment: Any) -> float | None:
    """Seconds since the epoch of an Optuna ``datetime`` (local, naive), or None."""
    return None if moment is None else float(moment.timestamp())


def tag_text(value: Any) -> str:
    """A tag's text: strings as they are, anything else as JSON (``repr`` where JSON cannot say it)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, allow_nan=True, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def metric_names(metric_name: str | Sequence[str], directions: int, study_name: str, warn: WarnOnce) -> list[str]:
    """The names of a study's objective values: ``metric_name`` for one objective; for several, the
    list given, or ``"{metric_name}_{i}"`` for a string (as optuna_integration's MLflowCallback).

    A list whose length does not match the study's directions is a user error, but raising would stop
    the study: it costs one warning naming the argument, and the values are kept as ``value_{i}``.
    """
    if isinstance(metric_name, str):
        return [metric_name] if directions == 1 else [f"{metric_name}_{i}" for i in range(directions)]
    names = list(metric_name)
    if len(names) == directions:
        return names
    warn(f"name the objective values of study {study_name!r}",
         InvalidArgumentError("metric_name", metric_name,
                              f"{directions} name(s), one per direction of study {study_name!r} (or one str)"))
    return [f"value_{i}" for i in range(directions)] if directions > 1 else ["value"]


def record_trial(run: Run, trial: FrozenTrial, names: list[str], warn: WarnOnce,
                 returned: Any = None) -> None:
    """Log a trial's params, values, intermediate values and user attributes into ``run`` (still open).

    ``returned``: what the objective returned, when runlog saw it (a tracked objective): a value that
    Optuna refused (NaN) is kept in the run all the same.
    """
    try:
        run.log_params(dict(trial.params))
    except Exception as err:  # a name runlog refuses, or the same trial logged twice with other values
        warn("log the trial's params", err)
    values: Sequence[Any] | None = trial.values
    if values is None and returned is not None:
        values = returned if isinstance(returned, (list, tuple)) else [returned]
    if values is not None:
        for name, value in zip(names, values):
            try:
                run.log(name, value)
            except Exception as err:
                warn("log the objective value", err)
    intermediate = trial.intermediate_values
    if intermediate:
        for step in sorted(intermediate):
            try:
                run.log("intermediate_value", intermediate[step], step=step)
            except Exception as err:
                warn("log an intermediate value", err)
    tags = {TRIAL_TAG: str(trial.number)}
    for key, value in trial.user_attrs.items():
        tags[str(key)] = tag_text(value)
    try:
        run.set_tags(tags)
    except Exception as err:  # a user attribute whose name runlog refuses: the others still go
        warn("tag the run with the trial's user attributes", err)
        run.set_tags({TRIAL_TAG: str(trial.number)})


def end_child(run: Run, trial: FrozenTrial, reason: str | None = None) -> None:
    """End ``run`` as the trial ended: COMPLETE -> Completed, PRUNED -> Canceled, FAIL -> Failed (with
    ``reason``), at the trial's end time."""
    end = timestamp(trial.datetime_complete)
    state = trial.state
    if state == TrialState.COMPLETE:
        end_trial_run(run, "Completed", end_time=end)
    elif state == TrialState.PRUNED:
        end_trial_run(run, "Canceled", end_time=end)
    else:
        end_trial_run(run, "Failed", error=reason or f"Optuna marked trial {trial.number} {state.name}", end_time=end)


def refused_value_reason(trial: FrozenTrial, returned: Any) -> str | None:
    """Why Optuna failed a trial whose objective returned ``returned`` without raising, if runlog can tell."""
    if trial.state != TrialState.FAIL:
        return None
    values = returned if isinstance(returned, (list, tuple)) else [returned]
    try:
        if any(isinstance(v, (int, float)) and math.isnan(v) for v in values):
            return f"the objective returned {returned!r}: Optuna fails a trial whose value is NaN"
    except TypeError:
        pass
    return f"the objective returned {returned!r}, which Optuna refused as the trial's value(s)"

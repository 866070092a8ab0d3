"""What Tune hands a callback, read: a result's metrics, whether a trial ran its full course, the
Tuner's objective, a trial's error. Ray gives callbacks neither its scheduler nor the Tuner's metric
and mode: they are read from the frames of Tune's controller and ``tune.run`` above the hook.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.utils import flatten_dict

__all__ = ["BOOKKEEPING", "GOALS", "error_text", "metrics", "reached_stop", "scheduler_limit", "tune_objective"]

# what Ray adds to every result and is not a measurement (training_iteration is the step)
BOOKKEEPING = frozenset({"training_iteration", "done", "timestamp", "pid", "iterations_since_restore",
                          "should_checkpoint", "trial_id", "date", "hostname", "node_ip", "experiment_tag",
                          "checkpoint_dir_name"})


GOALS = {"min": "minimize", "max": "maximize"}


def metrics(result: Mapping[str, Any], prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every real number of a result (nested dicts as ``a/b``, Ray's naming), Ray's bookkeeping left out."""
    found: dict[str, Any] = {} if into is None else into
    for key, value in result.items():
        kind = type(value)
        if kind is float or kind is int:  # the common case first: no ABC check
            if prefix or key not in BOOKKEEPING:
                found[prefix + str(key)] = value
        elif isinstance(value, Mapping):
            if prefix or key != "config":
                metrics(value, f"{prefix}{key}/", found)
        elif isinstance(value, numbers.Real) and kind is not bool and (prefix or key not in BOOKKEEPING):
            found[prefix + str(key)] = value
    return found


def tune_objective() -> tuple[str | None, str | None]:
    """``(metric, mode)`` of the Tuner run calling ``Callback.setup``: ``TuneConfig(metric=, mode=)``
    as ``tune.run`` was given them, else the scheduler's own (``ASHAScheduler(metric=, mode=)``).

    Ray hands callbacks neither, so they are read from the frames above (``tune.run`` ->
    ``TuneController.setup_experiments`` -> ``CallbackList.setup``); (None, None) when not found.
    """
    metric = mode = None
    frame = sys._getframe(1)
    for _ in range(10):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            break
        local = frame.f_locals
        scheduler = getattr(local.get("self"), "_scheduler_alg", None)
        if scheduler is not None and metric is None:
            metric, mode = getattr(scheduler, "_metric", None), getattr(scheduler, "_mode", None)
        if frame.f_code.co_name == "run" and "metric" in local and "mode" in local:
            if isinstance(local["metric"], str):
                metric, mode = local["metric"], local["mode"]
            break
    if not isinstance(metric, str) or metric == "_metric":  # Ray's placeholder DEFAULT_METRIC
        return None, None
    return metric, mode if mode in GOALS else None


def reached_stop(trial: Trial, result: Mapping[str, Any], scheduler_limit: tuple[str, float] | None) -> bool:
    """The result meets the trial's own ``RunConfig(stop={...})`` criteria or the scheduler's ``max_t``:
    the trial is done, not stopped early."""
    flat = flatten_dict(dict(result), delimiter="/")
    criteria = dict(trial.stopping_criterion)
    if scheduler_limit is not None:
        criteria.setdefault(*scheduler_limit)
    for criterion, limit in criteria.items():
        value = flat.get(criterion)
        try:
            if value is not None and value >= limit:
                return True
        except TypeError:
            continue
    return False


def scheduler_limit() -> tuple[str, float] | None:
    """``(time_attr, max_t)`` of the running Tune scheduler when it ends every trial at ``max_t``
    (ASHA, HyperBand), else None.

    A trial such a scheduler stops at ``max_t`` has run its full course (Completed), while one it
    stops before was cut short (Canceled). Ray hands callbacks no scheduler, so it is read from the
    TuneController calling this callback, a few frames up; None when it cannot be found.
    """
    frame = sys._getframe(1)
    for _ in range(8):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        controller = frame.f_locals.get("self")
        scheduler = getattr(controller, "_scheduler_alg", None)
        if scheduler is not None:
            max_t = getattr(scheduler, "_max_t", None) or getattr(scheduler, "_max_t_attr", None)
            time_attr = getattr(scheduler, "_time_attr", None)
            if isinstance(time_attr, str) and isinstance(max_t, (int, float)) and not isinstance(max_t, bool):
                return time_attr, max_t
            return None
    return None


def error_text(trial: Trial) -> str:
    """The trial's error as Ray wrote it (its traceback), else a line saying it failed."""
    path = trial.error_file
    if path:
        try:
            return Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    return f"Ray Tune trial {trial} failed"

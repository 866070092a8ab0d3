"""``HyperDriveConfig`` and ``PrimaryMetricGoal``: a sweep as Azure ML v1's ``azureml.train.hyperdrive``
describes it, checked at construction; ``exp.submit(config)`` starts it (:mod:`.run`)."""

from __future__ import annotations

import enum
import math
import numbers
import os
from typing import TYPE_CHECKING, Any

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.hyperdrive._checks import check_int, no_unknown
from runlog_core.hyperdrive.policies import EarlyTerminationPolicy, NoTerminationPolicy
from runlog_core.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
)
from runlog_core.submit.config import ScriptRunConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

    from runlog_core.hyperdrive.run import HyperDriveRun
    from runlog_core.run.experiment import Experiment

__all__ = ["HyperDriveConfig", "PrimaryMetricGoal"]

_UNSUPPORTED = ("estimator", "pipeline", "resume_from", "resume_child_runs")


class PrimaryMetricGoal(str, enum.Enum):
    """Whether the primary metric is to be maximized or minimized."""

    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


def _goal(value: object) -> PrimaryMetricGoal:
    if isinstance(value, PrimaryMetricGoal):
        return value
    if isinstance(value, str):
        text = value.strip().upper()
        for goal in PrimaryMetricGoal:
            if text in (goal.value, goal.value[:3]):
                return goal
    raise InvalidArgumentError("HyperDriveConfig(primary_metric_goal=...)", value,
                               "PrimaryMetricGoal.MAXIMIZE or PrimaryMetricGoal.MINIMIZE")


class HyperDriveConfig:
    """A sweep: a script, a sampling of its arguments, a primary metric, a policy and limits.

    Args:
        hyperparameter_sampling: a :class:`GridParameterSampling`, :class:`RandomParameterSampling` or
            :class:`BayesianParameterSampling`; each key of its space reaches the script as
            ``--name value`` (a key written ``"--name"`` as is).
        primary_metric_name: the metric the children log (``run.log``) that the sweep ranks them by
            (each child's best value) and the policy reads.
        primary_metric_goal: :class:`PrimaryMetricGoal` (``"maximize"``/``"minimize"`` too).
        max_total_runs: the most children; for a grid, at most (and by default) its size.
        max_concurrent_runs: the most children at once (default: as many as this machine has CPUs;
            Azure starts all and lets the cluster queue them).
        max_duration_minutes: after this, running children are stopped (Canceled) and no more start.
        policy: an early-termination policy (default: none).
        run_config: the :class:`ScriptRunConfig` each child runs, with its own ``arguments`` first.

    Raises:
        InvalidArgumentError: an unknown argument, or one of the wrong type or range, naming it;
            an early-termination policy with Bayesian sampling (Azure allows none).

    Example::

        config = HyperDriveConfig(run_config=ScriptRunConfig(".", "train.py"),
                                  hyperparameter_sampling=RandomParameterSampling({"--alpha": uniform(0, 1)}),
                                  primary_metric_name="mse", primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
                                  max_total_runs=20, max_concurrent_runs=4,
                                  policy=BanditPolicy(evaluation_interval=1, slack_factor=0.1))
        hd_run = Experiment("diabetes").submit(config)
        hd_run.wait_for_completion(show_output=True)
        best = hd_run.get_best_run_by_primary_metric()
    """

    def __init__(self, hyperparameter_sampling: HyperParameterSampling, primary_metric_name: str | None = None,
                 primary_metric_goal: PrimaryMetricGoal | str | None = None, max_total_runs: int | None = None,
                 max_concurrent_runs: int | None = None, max_duration_minutes: float | None = 10080,
                 policy: EarlyTerminationPolicy | None = None, estimator: Any = None,
                 run_config: ScriptRunConfig | None = None, resume_from: Any = None, resume_child_runs: Any = None,
                 pipeline: Any = None, debug_flag: Any = None, custom_run_id: str | None = None,
                 **unknown: Any) -> None:
        no_unknown("HyperDriveConfig", unknown,
                   "hyperparameter_sampling, primary_metric_name, primary_metric_goal, max_total_runs, "
                   "max_concurrent_runs, max_duration_minutes, policy, run_config")
        given = {"estimator": estimator, "pipeline": pipeline, "resume_from": resume_from,
                 "resume_child_runs": resume_child_runs}
        for name in _UNSUPPORTED:
            if given[name] is not None:
                raise InvalidArgumentError(f"HyperDriveConfig({name}=...)", given[name],
                                           "None (runlog runs a ScriptRunConfig: pass run_config=)")
        if not isinstance(run_config, ScriptRunConfig):
            raise InvalidArgumentError("HyperDriveConfig(run_config=...)", run_config, "a ScriptRunConfig")
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise InvalidArgumentError("HyperDriveConfig(hyperparameter_sampling=...)", hyperparameter_sampling,
                                       "GridParameterSampling, RandomParameterSampling or BayesianParameterSampling")
        if primary_metric_name is not None and (not isinstance(primary_metric_name, str)
                                                or not primary_metric_name.strip()):
            raise InvalidArgumentError("HyperDriveConfig(primary_metric_name=...)", primary_metric_name,
                                       "the name of a metric the script logs, e.g. 'Accuracy'")
        goal = _goal(primary_metric_goal) if primary_metric_goal is not None or primary_metric_name else None
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise InvalidArgumentError("HyperDriveConfig(policy=...)", policy,
                                       "BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, "
                                       "NoTerminationPolicy or None")
        if isinstance(policy, NoTerminationPolicy):
            policy = None
        if policy is not None and primary_metric_name is None:
            raise InvalidArgumentError("HyperDriveConfig(primary_metric_name=...)", None,
                                       f"a metric name: {type(policy).__name__} reads it")
        if isinstance(hyperparameter_sampling, BayesianParameterSampling):
            if policy is not None:
                raise InvalidArgumentError("HyperDriveConfig(policy=...)", policy,
                                           "None or NoTerminationPolicy with BayesianParameterSampling (as Azure)")
            if primary_metric_name is None:
                raise InvalidArgumentError("HyperDriveConfig(primary_metric_name=...)", None,
                                           "a metric name: Bayesian sampling learns from it")
        size = hyperparameter_sampling.size()
        total = check_int("HyperDriveConfig", "max_total_runs", max_total_runs, 1, allow_none=size is not None)
        if size is not None:
            total = size if total is None else min(total, size)
        assert total is not None
        concurrent = check_int("HyperDriveConfig", "max_concurrent_runs", max_concurrent_runs, 1, allow_none=True)
        if max_duration_minutes is not None and (isinstance(max_duration_minutes, bool)
                                                 or not isinstance(max_duration_minutes, numbers.Real)
                                                 or not math.isfinite(max_duration_minutes)
                                                 or max_duration_minutes <= 0):
            raise InvalidArgumentError("HyperDriveConfig(max_duration_minutes=...)", max_duration_minutes,
                                       "a number of minutes > 0, or None")
        if custom_run_id is not None and not isinstance(custom_run_id, str):
            raise InvalidArgumentError("HyperDriveConfig(custom_run_id=...)", custom_run_id, "a str or None")
        self.run_config = run_config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name.strip() if primary_metric_name else None
        self.primary_metric_goal = goal
        self.max_total_runs: int = total
        # Azure starts them all and its cluster queues them; here the machine is the cluster
        self.max_concurrent_runs: int = min(concurrent or os.cpu_count() or 1, total)
        self.max_duration_minutes = None if max_duration_minutes is None else float(max_duration_minutes)
        self.policy = policy
        self.debug_flag = debug_flag
        self.custom_run_id = custom_run_id
        self._params_from_text = False  # `runlog submit --sweep`: "0.5" given as text is logged as the number 0.5

    @property
    def is_grid(self) -> bool:
        return isinstance(self.hyperparameter_sampling, GridParameterSampling)

    def _runlog_submit(self, experiment: Experiment, tags: Mapping[str, Any] | None = None,
                       name: str | None = None) -> HyperDriveRun:
        """What ``Experiment.submit(config)`` calls: start the sweep, return its parent at once."""
        from runlog_core.hyperdrive.run import start_hyperdrive

        return start_hyperdrive(experiment, self, tags=tags, name=name)

    def __repr__(self) -> str:
        return (f"HyperDriveConfig({self.hyperparameter_sampling!r}, primary_metric_name={self.primary_metric_name!r}, "
                f"primary_metric_goal={self.primary_metric_goal}, max_total_runs={self.max_total_runs}, "
                f"max_concurrent_runs={self.max_concurrent_runs}, policy={self.policy!r})")

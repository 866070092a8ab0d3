"""The HyperDrive plan: Optuna draws each child's configuration (ask), learns each finished child's
best primary metric (tell), and the policy reads the primary metric the running children log."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from runlog_core.hyperdrive._metrics import best_value, metric_values
from runlog_core.hyperdrive.config import HyperDriveConfig, PrimaryMetricGoal
from runlog_core.run.run import COMPLETED
from runlog_core.submit.script_run import ScriptRun
from runlog_core.submit.sweep import ChildSpec, SweepPlan, param_value

__all__ = ["HyperDrivePlan", "argument_name", "param_name"]


class _QuietTrials(logging.Filter):
    """Optuna says "A new study created" and "Trial N finished with value ..." at INFO: the
    progress bar and the children's runs say it already. Warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_QUIET = _QuietTrials()


def argument_name(key: str) -> str:
    """``"alpha"`` -> ``"--alpha"``; a key written with its dashes is kept as it is."""
    return key if key.startswith("-") else f"--{key}"


def param_name(key: str) -> str:
    """``"--alpha"`` -> ``"alpha"``: the name a child logs the value under."""
    return key.lstrip("-")


def _label(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class HyperDrivePlan(SweepPlan):
    """A :class:`~runlog_core.submit.sweep.SweepPlan` driven by an Optuna study (ask/tell)."""

    poll_interval = 0.25

    def __init__(self, config: HyperDriveConfig) -> None:
        import optuna

        for name in ("optuna.study.study", "optuna.storages._in_memory"):
            logging.getLogger(name).addFilter(_QUIET)
        self._config = config
        self._space = config.hyperparameter_sampling.parameter_space
        self._distributions = {key: expression.distribution() for key, expression in self._space.items()}
        self._maximize = config.primary_metric_goal is not PrimaryMetricGoal.MINIMIZE
        self._metric = config.primary_metric_name
        self._policy = config.policy
        self._study = optuna.create_study(
            direction="maximize" if self._maximize else "minimize",
            sampler=config.hyperparameter_sampling.sampler())
        self._trial_state = optuna.trial.TrialState
        self.total = config.max_total_runs
        self._asked = 0
        self._values: dict[str, list[float]] = {}  # child id -> its primary metric so far
        self._final: set[str] = set()  # children that ended (their values are final)
        self._seen_metric = False

    def next(self) -> ChildSpec | None:
        if self.total is not None and self._asked >= self.total:
            return None
        self._asked += 1
        trial = self._study.ask(self._distributions)
        values = {key: self._space[key].value(trial.params[key]) for key in self._space}
        params = {param_name(key): param_value(value) if self._config._params_from_text and isinstance(value, str)
                  else value for key, value in values.items()}
        arguments = [item for key, value in values.items() for item in (argument_name(key), str(value))]
        label = ",".join(f"{param_name(key)}={_label(value)}" for key, value in values.items())
        return ChildSpec(label, arguments, params, key=trial,
                         tags={"runlog.sweep.hyperparameters": json.dumps({argument_name(k): v for k, v in values.items()})})

    def _read(self, child: ScriptRun) -> list[float]:
        if self._metric is None:
            return []
        if child.id not in self._final:
            values = metric_values(child, self._metric)
            self._values[child.id] = values
            self._seen_metric = self._seen_metric or bool(values)
        return self._values.get(child.id, [])

    def check(self, running: Sequence[tuple[ChildSpec, ScriptRun]]) -> list[tuple[ChildSpec, str]]:
        if self._policy is None or self._metric is None:
            return []
        fresh = {child.id: self._read(child) for _, child in running}
        population = [(values, child_id in self._final) for child_id, values in self._values.items() if values]
        stop = []
        for spec, child in running:
            candidate = fresh[child.id]
            k = self._policy.interval_to_judge(len(candidate))
            if k is None:
                continue
            reached = [(values, done) for values, done in population if len(values) >= k]
            reason = self._policy.judge(candidate, reached, k, self._maximize)
            if reason is not None:
                stop.append((spec, f"stopped by the early-termination policy: {reason}"))
        return stop

    def finished(self, spec: ChildSpec, child: ScriptRun, status: str) -> None:
        values = self._read(child)
        self._final.add(child.id)
        best = best_value(values, self._maximize)
        state = self._trial_state
        try:
            if status == COMPLETED and best is not None:
                self._study.tell(spec.key, best)
            elif spec.stopped_by_plan is not None:
                self._study.tell(spec.key, state=state.PRUNED)
            else:
                self._study.tell(spec.key, state=state.FAIL)
        except RuntimeError as err:
            # GridSampler.after_trial calls study.stop() once the grid is done, which Optuna refuses
            # outside study.optimize; the trial is recorded before that, and the plan ends by itself
            if "Study.stop" not in str(err):
                raise

    def outcome(self, statuses: Sequence[tuple[ChildSpec, str]]) -> tuple[str, str | None]:
        if self._metric is not None and not self._seen_metric and statuses:
            warnings.warn(f"runlog: no child run of the sweep logged its primary metric {self._metric!r}: "
                          "the children are recorded, but none can be ranked; log it with run.log("
                          f"{self._metric!r}, value)", RuntimeWarning, stacklevel=2)
        failed = [status for spec, status in statuses if status != COMPLETED and spec.stopped_by_plan is None]
        if statuses and len(failed) == len(statuses):
            return "Failed", f"all {len(statuses)} child runs failed"
        return COMPLETED, None

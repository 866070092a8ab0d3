"""The driver side: :class:`RunlogLoggerCallback`, a Ray Tune ``Callback``.

One parent run per Tuner run and one child run per trial, all written by the driver process;
a trainable reaches its trial's child through :func:`~runlog_integrations.ray.setup_runlog`.
A child ends Completed when its trainable returned (or reached ``RunConfig(stop=...)``),
Canceled when a scheduler (ASHA, median stopping) or a ``Stopper`` stopped it first, Failed
with the error when it raised. ``Tuner.restore(...)`` after a driver crash finds the same
parent (by the tag ``ray.experiment_path``, or the callback's saved state) and the same
children (by the tag ``ray.trial_id``), and logs no training iteration twice.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from ray.tune import Callback
from ray.tune.experiment import Trial
from typing_extensions import override

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import (
    WarnOnce,
    check_target,
    end_trial_run,
    experiment_from_environment,
    open_run,
    submitted_run_id,
)
from runlog_integrations.ray import results as _results
from runlog_integrations.ray import trial as _trial

__all__ = ["DEFAULT_EXPERIMENT", "RunlogLoggerCallback"]

DEFAULT_EXPERIMENT = "ray_tune"


class RunlogLoggerCallback(Callback):
    """Record a Ray Tune run: a parent run, one child run per trial.

    Each child holds the trial's config as params (nested dicts flattened as ``a.b``), every
    numeric metric of every reported result at ``step=training_iteration`` (nested as ``a/b``;
    Ray's bookkeeping such as ``pid`` and ``timestamp`` left out, NaN and inf kept), the tags
    ``ray.trial_id``, ``ray.trial_name`` and ``ray.experiment_tag``, and the trial's outcome as
    its status. The parent is named after the Tuner run (``RunConfig(name=...)`` or Ray's name)
    and tagged ``ray.experiment`` and ``ray.experiment_path``.

    When the objective is known (``metric``/``mode`` here, else ``TuneConfig(metric=, mode=)``,
    else the scheduler's), the parent keeps the best finished trial current (its last reported
    ``metric``, as ``ResultGrid.get_best_result()``): tags ``ray.best_trial`` (its id),
    ``ray.best_value`` and ``ray.best_config`` (JSON), and the metric ``best_value`` at the step
    that counts the trials finished; it is tagged ``runlog.sweep.primary_metric`` and
    ``runlog.sweep.goal`` (``minimize``/``maximize``) for the UI's sweep view.

    Args:
        run: the parent: the trials become its children; it is left Running at the end.
        experiment: an experiment name or :class:`~runlog_core.Experiment` for a parent of the
            callback's own, ended Completed when the Tuner run ends. Which parent, in order:
            ``run``, the submitted run under ``runlog submit``, a new run in ``experiment``,
            ``RUNLOG_EXPERIMENT`` or ``"ray_tune"``.
        metric: the reported metric that ranks trials (nested as ``a/b``); None: the Tuner's.
        mode: ``"min"`` or ``"max"``; None: the Tuner's.

    Raises:
        InvalidArgumentError: ``run`` is not a Run, ``experiment`` not a name or an Experiment,
            or both are given; ``metric`` not a str or None; ``mode`` not ``"min"``, ``"max"`` or None.

    Example::

        from ray import tune
        from runlog_integrations.ray import RunlogLoggerCallback

        tuner = tune.Tuner(train, param_space={"lr": tune.grid_search([0.01, 0.1])},
                           run_config=tune.RunConfig(name="lr-sweep", callbacks=[RunlogLoggerCallback(experiment="mnist")]))
        tuner.fit()
    """

    def __init__(self, run: Run | None = None, experiment: str | Experiment | None = None,
                 metric: str | None = None, mode: str | None = None) -> None:
        check_target(run, experiment)
        if run is not None and experiment is not None:
            raise InvalidArgumentError("experiment", experiment, "None when run= is given (pass one of them)")
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise InvalidArgumentError("metric", metric, "the name of a reported metric (a non-empty str) or None")
        if mode is not None and mode not in _results.GOALS:
            raise InvalidArgumentError("mode", mode, "'min', 'max' or None")
        self.run = run
        self.experiment = experiment
        self.metric, self.mode = metric, mode
        self._objective: tuple[str, str] | None = (metric, mode) if metric and mode else None
        self._store: str | None = experiment.store if isinstance(experiment, Experiment) else None
        # what survives the driver (get_state / set_state, and pickles of the Tuner)
        self._experiment_name: str | None = None  # the parent's experiment, once it exists
        self._parent_id: str | None = None
        self._path: str | None = None  # the Tuner run's experiment path: a new one starts afresh
        self._restoring = False  # Tune gave the state of a crashed driver (set_state): find its runs
        self._children: dict[str, str] = {}  # trial id -> child run id
        self._last_step: dict[str, int] = {}  # trial id -> last training_iteration logged
        self._stopped: set[str] = set()  # trials a scheduler or Stopper stopped early
        self._best: tuple[str, float] | None = None  # the best finished trial's id and value
        self._finished = 0  # trials finished in this Tuner run: the step of best_value
        self._live_state()

    def _live_state(self) -> None:
        self._parent: Run | None = None
        self._owned = False
        self._live: dict[str, Run] = {}  # trial id -> its Running child, opened by this process
        self._tuner_name = ""  # the Tuner run's name, under which its parent is published
        self._published: set[str] = set()  # trials published under their own id (not derived)
        self._last_value: dict[str, float] = {}  # trial id -> its last value of the objective metric
        self._warn = WarnOnce()

    # -- pickling (tuner.pkl keeps the RunConfig) and Tune's experiment checkpoints

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_parent", "_owned", "_live", "_tuner_name", "_published", "_last_value", "_warn")}
        if isinstance(self.experiment, Experiment):  # its open store stays here: keep what names it
            state["experiment"] = self.experiment.name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._live_state()

    @override
    def get_state(self) -> dict[str, Any] | None:
        return {"experiment": self._experiment_name, "store": self._store, "parent_id": self._parent_id,
                "path": self._path,
                "children": dict(self._children), "last_step": dict(self._last_step),
                "stopped": sorted(self._stopped), "best": list(self._best) if self._best else None,
                "finished": self._finished}

    @override
    def set_state(self, state: dict[str, Any]) -> None:
        self._restoring = True  # Tune calls this only when it restores an experiment
        try:
            self._experiment_name = state.get("experiment") or self._experiment_name
            self._store = state.get("store") or self._store
            self._parent_id = state.get("parent_id") or self._parent_id
            self._path = state.get("path") or self._path
            self._children.update(state.get("children") or {})
            self._last_step.update(state.get("last_step") or {})
            self._stopped.update(state.get("stopped") or ())
            best = state.get("best")
            self._best = (str(best[0]), float(best[1])) if best else self._best
            self._finished = int(state.get("finished") or self._finished)
        except Exception as err:  # a state from another version: the tags find the runs again
            self._warn("read the callback's saved state", err)

    def _forget_runs(self) -> None:
        self._parent_id, self._path, self._restoring = None, None, False
        self._children, self._last_step, self._stopped = {}, {}, set()
        self._best, self._finished = None, 0

    @property
    def parent_run(self) -> Run | None:
        """The parent run of the current (or last) Tuner run, once a trial has started."""
        return self._parent

    @override
    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        if self.metric and self.mode:
            return
        try:
            metric, mode = _results.tune_objective()
        except Exception as err:  # a Ray whose frames look otherwise: the best is not kept
            self._warn("read the Tuner's metric and mode", err)
            return
        metric, mode = self.metric or metric, self.mode or mode
        self._objective = (metric, mode) if metric and mode else None

    # -- the parent

    def _target_experiment(self) -> Experiment:
        if isinstance(self.experiment, Experiment):
            return self.experiment
        name = self._experiment_name or self.experiment or experiment_from_environment() or DEFAULT_EXPERIMENT
        return Experiment(name, store=self._store)

    def _open_parent(self, trial: Trial) -> Run:
        if self._parent is not None:
            return self._parent
        name, path = trial.experiment_dir_name, str(trial.remote_experiment_path)
        if self._path is not None and self._path != path:  # the same callback in another Tuner run
            self._forget_runs()
        self._path = path
        tags = {"ray.experiment": name, "ray.experiment_path": path}
        if self._objective is not None:
            tags.update({"runlog.sweep.primary_metric": self._objective[0],
                         "runlog.sweep.goal": _results.GOALS[self._objective[1]]})
        given = self.run if self.run is not None else Run.get_context() if submitted_run_id() else None
        if given is not None:  # the user's run (or the submitted one) is the parent; never ended here
            parent, owned = given, False
            parent.set_tags(tags)
        else:
            experiment = self._target_experiment()
            parent_id = self._parent_id
            if parent_id is None and self._restoring:  # the saved state predates the parent: its tag finds it
                found = experiment.get_runs(tags={"ray.experiment_path": path})
                parent_id = found[0].id if len(found) else None
            if parent_id is not None:
                parent = experiment.start_logging(run_id=parent_id, outputs=None)  # Running again
            else:
                parent = experiment.start_logging(name=name, tags=tags, outputs=None)
            owned = True
        self._parent, self._owned = parent, owned
        self._parent_id, self._experiment_name = parent.id, parent.experiment.name
        self._store = parent.experiment.store
        for child in parent.get_children():  # children of an earlier driver (restore), by their tag
            trial_id = child.get_tags().get("ray.trial_id")
            if trial_id and trial_id not in self._children:
                self._children[trial_id] = child.id
        # once per Tuner run: every trial's worker derives its child's id from the parent's
        _trial.publish_tuner(name, self._store, self._experiment_name, parent.id)
        self._tuner_name = name
        return parent

    # -- trials

    def _open_child(self, trial: Trial) -> Run:
        parent = self._open_parent(trial)
        trial_id = trial.trial_id
        child = self._live.get(trial_id)  # a trial retried after a failure keeps its run
        if child is not None:
            return child
        known = self._children.get(trial_id)
        if known is not None:  # a restored trial: its run is Running again, its steps go on
            child = parent.experiment.start_logging(run_id=known, outputs=None)
            if trial_id not in self._last_step:
                history = child.get_metric_history("time_total_s") if "time_total_s" in child.get_metrics() else []
                if history:
                    self._last_step[trial_id] = history[-1].step
        else:
            name = str(trial)
            child = open_run(cast(Experiment, parent.experiment), _trial.child_id(parent.id, trial_id), parent=parent, name=name,
                             tags={"ray.trial_id": trial_id, "ray.trial_name": name,
                                   "ray.experiment_tag": trial.experiment_tag})
            self._children[trial_id] = child.id
            child.log_params(dict(trial.config))
        self._stopped.discard(trial_id)
        self._live[trial_id] = child
        return child

    @override
    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        try:
            child = self._open_child(trial)
            parent = self._parent
            if parent is not None and child.id != _trial.child_id(parent.id, trial.trial_id):
                # a child of an earlier version found by its tag: its workers cannot derive its id
                _trial.publish(trial.trial_id, child.experiment.store, child.experiment.name, child.id)
                self._published.add(trial.trial_id)
        except Exception as err:
            self._warn("start the trial's run", err)

    @override
    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any],
                        **info: Any) -> None:
        child = self._live.get(trial.trial_id)
        if child is None:
            return
        try:
            step = result.get("training_iteration")
            last = self._last_step.get(trial.trial_id)
            if isinstance(step, int) and last is not None and step <= last:
                return  # a restored trial replays iterations logged before the crash
            metrics = _results.metrics(result)
            child.log_metrics(metrics, step=step if isinstance(step, int) else None)
            if isinstance(step, int):
                self._last_step[trial.trial_id] = step
            if self._objective is not None and self._objective[0] in metrics:
                self._last_value[trial.trial_id] = metrics[self._objective[0]]
            if result.get("done") and not _results.reached_stop(trial, result, _results.scheduler_limit()):
                self._stopped.add(trial.trial_id)  # a scheduler or Stopper ended it before its end
        except Exception as err:
            self._warn("log the trial's result", err)

    def _end(self, trial: Trial, status: str, error: str | None = None) -> None:
        """End the trial's child without waiting on the store (the writer commits it with its next
        batch; the Tuner run's end waits for it) and keep the parent's best current."""
        trial_id = trial.trial_id
        child = self._live.pop(trial_id, None)
        try:
            if trial_id in self._published:
                self._published.discard(trial_id)
                _trial.forget(trial_id)
            if child is not None:
                end_trial_run(child, status, error=error)
        except Exception as err:
            self._warn("end the trial's run", err)
        value = self._last_value.pop(trial_id, None)
        if status == "Failed" or child is None:
            return
        self._finished += 1
        try:
            self._keep_best(trial, value)
        except Exception as err:
            self._warn("keep the best trial on the parent run", err)

    def _keep_best(self, trial: Trial, value: float | None) -> None:
        if self._objective is None or self._parent is None or value is None or math.isnan(value):
            return
        if self._best is not None:
            best = self._best[1]
            if (value >= best) if self._objective[1] == "min" else (value <= best):
                return
        self._best = (trial.trial_id, float(value))
        self._parent.set_tags({"ray.best_trial": trial.trial_id, "ray.best_value": json.dumps(float(value)),
                               "ray.best_config": json.dumps(dict(trial.config), sort_keys=True, default=repr)})
        self._parent.log("best_value", float(value), step=self._finished)

    @override
    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._end(trial, "Canceled" if trial.trial_id in self._stopped else "Completed")

    @override
    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        if trial.trial_id in self._live:
            self._end(trial, "Failed", _results.error_text(trial))

    @override
    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        parent, owned = self._parent, self._owned
        self._parent, self._owned = None, False
        try:
            for trial_id, child in list(self._live.items()):  # trials the Tuner never finished
                self._live.pop(trial_id, None)
                end_trial_run(child, "Canceled")
            if parent is not None:
                _trial.forget_tuner(self._tuner_name, parent.id)
                parent.flush()  # what the writer holds, the trials' ends too, is durable now
                if owned:
                    parent.complete()
        except Exception as err:
            self._warn("end the Tuner run's runs", err)
        self._forget_runs()  # the same callback in a later Tuner.fit() starts a parent of its own

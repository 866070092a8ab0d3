"""Optuna: a study callback that records one parent run per study and one child run per finished trial.

Which runs, wherever the trial ran: the parent's id is derived from the runlog experiment, the
study's name and the start time of its trial 0, and a child's from the parent and the trial number
(:func:`runlog_core.integration.stable_run_id`); :func:`runlog_core.integration.open_run` starts a
run with such an id or continues it. So every worker that optimises the study through a shared
storage (RDB, journal), in any process or host, finds the same parent, two workers starting it at
the same moment make one, and a study optimised again later continues it. A trial finishes in one
worker, which makes its child once.

What goes into the runs is :mod:`._record`'s business. Logging never stops the study: a failure of
runlog's own costs one warning per kind (``RUNLOG_STRICT_INTEGRATIONS=1`` raises instead).
"""

from __future__ import annotations

import atexit
import functools
import json
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

try:
    import optuna
    from optuna.trial import FrozenTrial, TrialState
except ImportError as err:
    raise ImportError("runlog_integrations.optuna needs Optuna: pip install 'runlog[optuna]'") from err

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError, InvalidNameError
from runlog_core.integration import (
    WarnOnce,
    check_target,
    end_trial_run,
    experiment_from_environment,
    open_run,
    reset_active_run,
    set_active_run,
    stable_run_id,
    submitted_run_id,
)
from runlog_integrations.optuna._record import (
    STUDY_TAG,
    TRIAL_TAG,
    end_child,
    metric_names,
    record_trial,
    refused_value_reason,
    tag_text,
    timestamp,
)

__all__ = ["DEFAULT_EXPERIMENT", "RunlogCallback"]

DEFAULT_EXPERIMENT = "optuna"
_Objective = TypeVar("_Objective", bound=Callable[..., Any])


class _Study:
    """What this process knows of one study: its parent run, metric names and best trial so far."""

    def __init__(self, key: tuple[str, str, str], parent: Run, owned: bool, names: list[str], study: Any) -> None:
        self.key, self.parent, self.owned, self.names = key, parent, owned, names
        experiment = parent.experiment
        self.experiment = experiment if isinstance(experiment, Experiment) else Experiment(experiment.name,
                                                                                             store=experiment.store)
        self.study_ref = weakref.ref(study)
        self.best_number: int | None = None
        self.best_value: float | None = None
        self.front: list[int] | None = None


class _Tracked:
    """A trial of a tracked objective: its child run, live since the objective started."""

    __slots__ = ("ended", "returned", "run")

    def __init__(self, run: Run) -> None:
        self.run, self.returned, self.ended = run, None, False


class RunlogCallback:
    """Record an Optuna study into runlog: a parent run per study, a child run per finished trial.

    A child holds the trial's params (typed as Optuna gives them), its objective value(s) under
    ``metric_name``, the reported intermediate values as the series ``intermediate_value`` at their
    steps, the user attributes as tags, the tag ``optuna.trial`` (its number) and the trial's start
    and end times; COMPLETE ends it Completed, PRUNED Canceled, FAIL Failed with the reason. The
    parent, named after the study (tag ``optuna.study_name``), keeps the best trial current: tags
    ``optuna.best_trial``, ``optuna.best_value``, ``optuna.best_params`` (JSON) and the metric
    ``best_value`` at the trial's number; for several objectives the tag ``optuna.best_trials``
    (the Pareto front's numbers).

    Args:
        run: the parent: log the study's trials as children of this run, which is never ended here.
        experiment: an experiment name or :class:`~runlog_core.Experiment` where the study's parent
            is started (or continued). Which parent, in order: ``run``, the submitted run under
            ``runlog submit``, a parent per study in ``experiment``, ``RUNLOG_EXPERIMENT`` or
            ``"optuna"``. A parent started here ends Completed at :meth:`close` or when the program
            ends (Failed on an uncaught exception); optimising the study again continues it.
        metric_name: the name of the objective value, or a list of names, one per direction of a
            multi-objective study (a single name gives ``"{name}_0"``, ``"{name}_1"``...).

    Raises:
        InvalidArgumentError: ``run`` is not a Run, ``experiment`` not a name or an Experiment,
            both are given, or ``metric_name`` is not a name or a list of names.

    Example::

        import optuna
        from runlog_integrations.optuna import RunlogCallback

        cb = RunlogCallback(experiment="tuning", metric_name="val_loss")
        study = optuna.create_study(study_name="mlp", storage="sqlite:///optuna.db", load_if_exists=True)
        study.optimize(cb.track_in_runlog()(objective), n_trials=50, callbacks=[cb])
    """

    def __init__(self, run: Run | None = None, experiment: str | Experiment | None = None,
                 metric_name: str | Sequence[str] = "value") -> None:
        check_target(run, experiment)
        if run is not None and experiment is not None:
            raise InvalidArgumentError("experiment", experiment, "None when run= is given (pass one of them)")
        accepted = "a metric name (str) or a list of names, one per objective"
        if isinstance(metric_name, str):
            if not metric_name:
                raise InvalidArgumentError("metric_name", metric_name, accepted)
        elif (not isinstance(metric_name, (list, tuple)) or not metric_name
              or not all(isinstance(name, str) and name for name in metric_name)):
            raise InvalidArgumentError("metric_name", metric_name, accepted)
        self.run = run
        self.experiment = experiment
        self.metric_name: str | list[str] = metric_name if isinstance(metric_name, str) else list(metric_name)
        self._init_state()

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._studies: weakref.WeakKeyDictionary[Any, _Study] = weakref.WeakKeyDictionary()
        self._by_parent: dict[str, _Study] = {}
        self._tracked: dict[tuple[str, int], _Tracked] = {}
        self._experiment: Experiment | None = None
        self._warn = WarnOnce("the study goes on")
        self._at_exit = False

    # -- pickling: the runs and studies known stay in this process; a given run pickles as its id
    def __getstate__(self) -> dict[str, Any]:
        return {"run": self.run, "experiment": self.experiment if not isinstance(self.experiment, Experiment)
                else (self.experiment.name, self.experiment.store), "metric_name": self.metric_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        experiment = state["experiment"]
        if isinstance(experiment, tuple):
            experiment = Experiment(experiment[0], store=experiment[1])
        self.run, self.experiment, self.metric_name = state["run"], experiment, state["metric_name"]
        self._init_state()

    def __repr__(self) -> str:
        target = f"run={self.run.id!r}" if self.run is not None else f"experiment={self.experiment!r}"
        return f"RunlogCallback({target}, metric_name={self.metric_name!r})"

    # -- the study's parent -------------------------------------------------------------------

    def parent_run(self, study: optuna.Study) -> Run:
        """The parent run of ``study`` (started, or continued, on first use)."""
        return self._study(study).parent

    def _study(self, study: Any) -> _Study:
        known = self._studies.get(study)
        if known is not None:
            return known
        with self._lock:
            known = self._studies.get(study)
            if known is None:
                known = self._open_study(study)
                self._studies[study] = known
            return known

    def _open_study(self, study: Any) -> _Study:
        key = (study.study_name, str(study._study_id), _first_trial_start(study))
        names = metric_names(self.metric_name, len(study.directions), study.study_name, self._warn)
        parent, owned = self._parent_for(study, key, names)
        known = self._by_parent.get(parent.id)
        if known is None:
            known = _Study(key, parent, owned, names, study)
            self._by_parent[parent.id] = known
            if not self._at_exit:
                self._at_exit = True
                atexit.register(_refresh_at_exit, weakref.ref(self))
        known.study_ref = weakref.ref(study)
        return known

    def _parent_for(self, study: Any, key: tuple[str, str, str], names: list[str]) -> tuple[Run, bool]:
        directions = [d.name.lower() for d in study.directions]
        # runlog.sweep.*: the objective and its direction, by which the UI's sweep view ranks the children
        tags = {STUDY_TAG: study.study_name, "optuna.directions": ",".join(directions),
                "runlog.sweep.primary_metric": names[0], "runlog.sweep.goal": directions[0]}
        if self.run is not None or (self.experiment is None and submitted_run_id()):
            parent = self.run if self.run is not None else Run.get_context()
            parent.set_tags(tags)
            return parent, False
        if self._experiment is None:
            experiment = self.experiment
            if not isinstance(experiment, Experiment):
                experiment = Experiment(experiment or experiment_from_environment() or DEFAULT_EXPERIMENT)
            self._experiment = experiment
        parent_id = stable_run_id("optuna", self._experiment.id, *key)
        try:
            return open_run(self._experiment, parent_id, name=study.study_name, tags=tags), True
        except (InvalidArgumentError, InvalidNameError):  # a study name no run can take (control characters)
            return open_run(self._experiment, parent_id, tags=tags), True  # the tag keeps it as it is

    def _open_child(self, known: _Study, number: int, start: float | None, new: bool) -> Run:
        """The child of trial ``number``: ``new`` when recorded after the trial (one trial finishes once,
        in one worker: no look-up, created with the next batch), else live at once (a tracked objective)."""
        child_id = stable_run_id("optuna-trial", known.parent.id, *known.key, number)
        return open_run(known.experiment, child_id, parent=known.parent, name=f"trial-{number}",
                        tags={TRIAL_TAG: str(number), STUDY_TAG: known.key[0]}, start_time=start, new=new)

    # -- the callback -----------------------------------------------------------------------------

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Called by ``study.optimize`` after each trial: record it in its child run (once)."""
        try:
            known = self._study(study)
            tracked = self._tracked.pop((known.parent.id, trial.number), None)
            if tracked is None or not tracked.ended:
                child = tracked.run if tracked is not None else self._open_child(
                    known, trial.number, timestamp(trial.datetime_start), new=True)
                returned = None if tracked is None else tracked.returned
                record_trial(child, trial, known.names, self._warn, returned)
                end_child(child, trial, refused_value_reason(trial, returned) if tracked is not None else None)
        except Exception as err:
            self._warn("record a trial in its run", err)  # one warning per kind, not per trial
            return
        try:
            self._update_best(study, known, trial)
        except Exception as err:
            self._warn("keep the best trial on the parent run", err)

    def _update_best(self, study: Any, known: _Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE:
            return
        if len(known.names) > 1:
            front = sorted(t.number for t in study.best_trials)
            if front != known.front:
                known.front = front
                known.parent.set_tags({"optuna.best_trials": json.dumps(front)})
            return
        value = trial.value
        if known.best_value is not None and value is not None:
            minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
            if (value >= known.best_value) if minimize else (value <= known.best_value):
                return  # not better than the best this process knows: no storage read
        self._write_best(known, study.best_trial)  # the study's best, whichever worker found it

    def _write_best(self, known: _Study, best: FrozenTrial) -> None:
        if best.number == known.best_number:
            return
        known.best_number, known.best_value = best.number, best.value
        known.parent.set_tags({"optuna.best_trial": str(best.number), "optuna.best_value": tag_text(best.value),
                               "optuna.best_params": tag_text(best.params)})
        try:
            known.parent.log("best_value", best.value, step=best.number)
        except Exception as err:  # a parent given by run= that has ended: its tags still say it
            self._warn("log best_value on the parent run", err)

    def refresh(self) -> None:
        """Write the best trial of each study this callback has seen on its parent, as the study says now.

        Each worker keeps the parent's best current as its trials finish; with several workers a
        worker may have written a best that another's trial has beaten since. :meth:`close` and
        the program's end call this, so the last worker to end leaves the study's final best.
        """
        for known in list(self._by_parent.values()):
            study = known.study_ref()
            if study is None:
                continue
            try:
                if len(known.names) > 1:
                    known.front = None
                    completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
                    if completed:
                        self._update_best(study, known, completed[-1])
                else:
                    best = study.best_trial
                    known.best_number = None
                    self._write_best(known, best)
            except ValueError:  # no completed trial yet: no best
                continue
            except Exception as err:
                self._warn("keep the best trial on the parent run", err)

    def close(self) -> None:
        """Write each study's best trial on its parent and end the parents this callback started
        (Completed); a later ``optimize`` continues them. Parents given by ``run=`` stay open."""
        self.refresh()
        with self._lock:
            studies, self._studies, self._by_parent = list(self._by_parent.values()), weakref.WeakKeyDictionary(), {}
        for known in studies:
            if known.owned:
                try:
                    known.parent.complete()
                except Exception as err:
                    self._warn("end the parent run", err)

    def __enter__(self) -> RunlogCallback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- a tracked objective ---------------------------------------------------------------------

    def track_in_runlog(self) -> Callable[[_Objective], _Objective]:
        """Decorate an objective so that its trial's child run is Running while it runs.

        The child is created when the trial starts (other processes and the UI see it at once);
        inside the objective ``Run.get_context()`` returns it, and an integration created there
        without ``run=``/``experiment=``, or with the trial's experiment as autolog's are (a
        Lightning ``RunlogLogger()``, a Keras or XGBoost ``RunlogCallback()``), logs into it, each
        trial into its own run with ``n_jobs`` threads too. Pass this callback to ``optimize(callbacks=[...])`` as well: it ends the child with the
        trial's state. An objective that raises ends its child Failed with the traceback at once.

        Example::

            study.optimize(cb.track_in_runlog()(objective), n_trials=20, callbacks=[cb])
        """
        def decorate(func: _Objective) -> _Objective:
            if getattr(func, "__runlog_tracked__", None) is self:
                return func

            @functools.wraps(func)
            def tracked(trial: optuna.Trial, *args: Any, **kwargs: Any) -> Any:
                entry = self._start_tracked(trial)
                if entry is None:
                    return func(trial, *args, **kwargs)
                token = set_active_run(entry.run)
                try:
                    entry.returned = func(trial, *args, **kwargs)
                except optuna.TrialPruned:
                    raise
                except BaseException as err:
                    self._tracked_raised(trial, entry, err)
                    raise
                finally:
                    reset_active_run(token)
                return entry.returned

            tracked.__runlog_tracked__ = self  # type: ignore[attr-defined]
            return tracked  # type: ignore[return-value]

        return decorate

    def _start_tracked(self, trial: Any) -> _Tracked | None:
        try:
            known = self._study(trial.study)
            entry = _Tracked(self._open_child(known, trial.number, timestamp(trial.datetime_start), new=False))
            self._tracked[(known.parent.id, trial.number)] = entry
            return entry
        except Exception as err:
            self._warn("start the run of a trial", err)
            return None

    def _tracked_raised(self, trial: Any, entry: _Tracked, error: BaseException) -> None:
        """The objective raised: Optuna calls no callback unless the error is in ``catch``, so the
        child ends Failed here, with what the trial holds so far and the traceback."""
        try:
            frozen = trial.study._storage.get_trial(trial._trial_id)
            known = self._study(trial.study)
            record_trial(entry.run, frozen, known.names, self._warn)
            end_trial_run(entry.run, "Failed", error=error)
        except Exception as err:
            self._warn("end the run of a failed trial", err)
        entry.ended = True


def _first_trial_start(study: Any) -> str:
    """When the study's trial 0 started: with the study's name, what tells this study from another of the
    same name (deleted and made again, or in another storage), the same for every worker."""
    storage = study._storage
    try:
        first = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, 0))
    except KeyError:
        return ""
    # whole seconds: a storage that keeps no fractions (MySQL) reads back what the creating worker rounds to
    return "" if first.datetime_start is None else first.datetime_start.replace(microsecond=0).isoformat()


def _refresh_at_exit(ref: weakref.ref[RunlogCallback]) -> None:
    callback = ref()
    if callback is not None:
        callback.refresh()

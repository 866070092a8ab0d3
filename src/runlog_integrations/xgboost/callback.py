"""XGBoost: a ``TrainingCallback`` that records a boosting run into runlog.

Works with ``xgb.train``, ``xgb.cv`` and the scikit-learn API
(``XGBClassifier(callbacks=[RunlogCallback(...)])``). It logs:

- before training, the booster's full parameters, read from its saved config (what the
  user set and XGBoost's defaults);
- after each iteration, every eval set and metric as ``{set}-{metric}`` (XGBoost's own
  naming) at ``step=iteration``; under ``xgb.cv`` as ``{set}-{metric}-mean`` and
  ``{set}-{metric}-std``, the names of the frame ``xgb.cv`` returns;
- after training, ``best_iteration``, ``best_score`` and ``best_{set}-{metric}`` (the
  metrics at the best iteration) when early stopping ran, ``stopped_iteration`` (the last
  iteration trained), a ``feature_importance`` table (weight, gain and cover per feature)
  and, with ``log_model=True``, the model as ``model/model.json``, trimmed to the best
  iteration when early stopping ran (dmlc/xgboost#8868).

Logging never changes training: ``after_iteration`` always returns ``False`` and a
logging failure becomes one warning per kind of failure.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import os
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

try:
    import xgboost
    from xgboost.callback import TrainingCallback
except ImportError as err:
    raise ImportError(
        "runlog_integrations.xgboost needs XGBoost: pip install 'runlog[xgboost]'"
    ) from err

from typing_extensions import override

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import Patches, WarnOnce, check_target, end_run, nested, resolve_run, selected, warn_once
from runlog_integrations.xgboost.values import booster_params, first_booster, is_cv_pack, put_result, rank

__all__ = ["RunlogCallback", "attach_autolog", "booster_params"]

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "xgboost"
IMPORTANCE_TYPES = ("weight", "gain", "cover")

class RunlogCallback(TrainingCallback):
    """Record an XGBoost training into a runlog run.

    Args:
        run: log into this existing run; it is left Running when training ends.
        experiment: an experiment name or :class:`~runlog_core.Experiment`: each training
            starts its own run there, ended Completed when training ends, or Failed with the
            traceback when it raised. Which run, in order: ``run``, the submitted run under
            ``runlog submit``, a new run per training in ``experiment``, ``RUNLOG_EXPERIMENT``
            or ``"xgboost"``.
        log_model: store the trained model as ``model/model.json`` (trimmed to the best
            iteration when early stopping ran).
        importance_types: the feature-importance types of the ``feature_importance`` table.
        run_name: the name of each run this callback starts.
        tags: tags set on each run this callback starts.

    Raises:
        InvalidArgumentError: ``run`` is not a Run, ``experiment`` not a name or an Experiment,
            both are given, or ``log_model`` is not a bool.

    Example::

        import xgboost as xgb
        from runlog_integrations.xgboost import RunlogCallback

        xgb.train(params, dtrain, 500, evals=[(dtrain, "train"), (dvalid, "valid")],
                  early_stopping_rounds=20, callbacks=[RunlogCallback(experiment="higgs")])
    """

    def __init__(self, run: Run | None = None, experiment: str | Experiment | None = None,
                 log_model: bool = False, importance_types: Iterable[str] = IMPORTANCE_TYPES,
                 run_name: str | None = None, tags: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        check_target(run, experiment)
        if run is not None and experiment is not None:
            raise InvalidArgumentError("experiment", experiment, "None when run= is given (pass one of them)")
        if not isinstance(log_model, bool):
            raise InvalidArgumentError("log_model", log_model, "True or False")
        self.run = run
        self.experiment = experiment
        self.log_model = log_model
        self.importance_types = tuple(importance_types)
        self.run_name = run_name
        self.tags = dict(tags) if tags else None
        self._active: Run | None = None
        self._owned = False
        self._history: Any = None
        self._first_epoch: int | None = None
        self._last_epoch: int | None = None
        self._warn = WarnOnce()
        self._extra_params: dict[str, Any] = {}  # autolog adds the train() arguments here
        self._store: str | None = None  # the store of an Experiment given, once pickled
        self._watch = Patches(weak=True)
        self._training = 0  # which training the watchers and finalizers belong to

    # -- pickling: XGBClassifier objects are pickled (joblib, GridSearchCV); a run is not, and a
    # given run pickles as its id (runlog_core.Run.__reduce__)
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if isinstance(self.experiment, Experiment):  # its open store stays here: keep what names it
            state["experiment"], state["_store"] = self.experiment.name, self.experiment.store
        state.update(_active=None, _owned=False, _history=None, _watch=Patches(weak=True))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __deepcopy__(self, memo: dict[int, Any]) -> RunlogCallback:
        # sklearn's clone() deep-copies constructor params; the run and experiment given stay the same objects
        new = copy.copy(self)
        new.__dict__.update(_active=None, _owned=False, _history=None, _watch=Patches(weak=True), _warn=WarnOnce(),
                            _extra_params=dict(self._extra_params))
        if self.tags is not None:
            new.tags = dict(self.tags)
        return new

    @property
    def active_run(self) -> Run | None:
        """The run the current (or last) training logged into."""
        return self._active

    def _open(self) -> Run:
        run, self._owned = resolve_run(run=self.run, experiment=self.experiment, default=DEFAULT_EXPERIMENT,
                                       store=self._store, name=self.run_name, tags=self.tags)
        return run

    def _watch_training(self, model: Any) -> None:
        """Until after_training, see the exceptions of the booster's update and evaluation.

        XGBoost tells callbacks nothing when training raises: the booster's ``update`` and
        ``eval_set``/``eval`` are wrapped on the instance for the training's length, and a
        finalizer of the booster ends the run Failed (without a traceback) should training
        raise elsewhere, in another callback.
        """
        ref = weakref.ref(self)
        for name in ("update", "eval_set", "eval"):
            if callable(getattr(model, name, None)):
                self._watch.patch(model, name, functools.partial(_Watched, ref, self._training))
        weakref.finalize(model, _training_gone, ref, self._training)

    def _training_failed(self, error: BaseException | None, training: int | None = None) -> None:
        """Training raised ``error`` (``None``: unseen): our run ends Failed, with its traceback."""
        if training is not None and training != self._training:
            return
        self._watch.restore()
        run, owned = self._active, self._owned
        if run is None or not owned:
            return
        self._active, self._owned = None, False
        try:
            if error is None:
                run.fail("training ended without after_training (it raised)")
            else:
                end_run(run, error)
        except Exception as err:
            self._warn("end the run", err)

    @override
    def before_training(self, model: Any) -> Any:
        self._training_failed(None)  # the previous training raised unseen: after_training never ran
        self._training += 1
        self._active, self._owned = None, False
        self._history = None
        self._first_epoch, self._last_epoch = None, None
        if rank() != 0:  # only one process of a distributed training writes the run
            return model
        try:
            self._active = self._open()
        except Exception as err:
            self._warn("start a run", err)
            return model
        if self._owned:
            try:
                self._watch_training(model)
            except Exception as err:
                self._warn("watch the training for exceptions", err)
        try:
            booster = first_booster(model)
            if booster is not None:
                params = booster_params(booster.save_config())
                if is_cv_pack(model):
                    params["nfold"] = len(model.cvfolds)
                params.update(self._extra_params)
                self._active.log_params(params)
        except Exception as err:
            self._warn("log the booster's params", err)
        return model

    def _log_epoch(self, epoch: int, evals_log: Mapping[str, Mapping[str, Any]], index: int = -1) -> None:
        values: dict[str, Any] = {}
        for data, metrics in evals_log.items():
            for metric, history in metrics.items():
                if not history:
                    continue
                if not -len(history) <= index < len(history):
                    continue
                put_result(values, f"{data}-{metric}", history[index])
        if values and self._active is not None:
            self._active.log_metrics(values, step=epoch)

    @override
    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if self._active is None:
            return False
        try:
            if self._first_epoch is None:
                self._first_epoch = epoch
            self._history = evals_log
            self._last_epoch = epoch
            self._log_epoch(epoch, evals_log)
        except Exception as err:
            self._warn("log the iteration's metrics", err)
        return False  # logging never stops training

    def _catch_up(self) -> None:
        """Log iterations an earlier callback hid from us (``any()`` stops at the first True)."""
        history = self._history
        if not history or self._last_epoch is None or self._first_epoch is None:
            return
        length = max((len(h) for metrics in history.values() for h in metrics.values()), default=0)
        for offset in range(self._last_epoch - self._first_epoch + 1, length):
            self._log_epoch(self._first_epoch + offset, history, offset)
            self._last_epoch = self._first_epoch + offset

    @override
    def after_training(self, model: Any) -> Any:
        self._watch.restore()
        run = self._active
        if run is None:
            return model
        try:
            self._catch_up()
        except Exception as err:
            self._warn("log the last iterations", err)
        best_iteration: int | None = None
        try:
            summary: dict[str, Any] = {}
            booster = first_booster(model)
            attr = booster.attr("best_iteration") if booster is not None else None
            if self._last_epoch is not None:
                summary["stopped_iteration"] = self._last_epoch
            elif isinstance(model, xgboost.Booster):
                summary["stopped_iteration"] = model.num_boosted_rounds() - 1
            if attr is not None:
                best_iteration = int(attr)
                summary["best_iteration"] = best_iteration
                score = booster.attr("best_score") if booster is not None else None
                if score is not None:
                    summary["best_score"] = float(score)
                history = self._history or {}
                index = best_iteration - (self._first_epoch or 0)
                for data, metrics in history.items():
                    for metric, values in metrics.items():
                        if 0 <= index < len(values):
                            put_result(summary, f"best_{data}-{metric}", values[index])
            if summary:
                run.log_metrics(summary)
        except Exception as err:
            self._warn("log the best iteration", err)
        if isinstance(model, xgboost.Booster):
            try:
                self._log_importance(run, model)
            except Exception as err:
                self._warn("log the feature importance", err)
            if self.log_model:
                try:
                    self._save_model(run, model, best_iteration)
                except Exception as err:
                    self._warn("save the model", err)
        if self._owned:
            try:
                run.complete()
            except Exception as err:
                self._warn("end the run", err)
            self._owned = False
        return model

    def _log_importance(self, run: Run, booster: xgboost.Booster) -> None:
        columns: dict[str, Mapping[str, Any]] = {}
        for kind in self.importance_types:
            try:
                columns[kind] = booster.get_score(importance_type=kind)
            except Exception:  # gblinear has weight only; not a failure worth a warning
                continue
        features = sorted({name for scores in columns.values() for name in scores},
                          key=lambda name: (len(name), name) if name[:1] == "f" and name[1:].isdigit() else (0, name))
        if not features:
            return
        table: dict[str, list[Any]] = {"feature": features}
        for kind, scores in columns.items():
            table[kind] = [float(scores.get(name, 0.0)) for name in features]
        run.log_table("feature_importance", table)

    def _save_model(self, run: Run, booster: xgboost.Booster, best_iteration: int | None) -> None:
        model = booster
        if best_iteration is not None and best_iteration + 1 < booster.num_boosted_rounds():
            try:
                model = booster[: best_iteration + 1]
            except Exception:  # gblinear cannot be sliced: keep the whole model
                model = booster
        with tempfile.TemporaryDirectory(prefix="runlog-xgb-") as folder:
            path = os.path.join(folder, "model.json")
            model.save_model(path)
            run.upload_file("model/model.json", path)


class _Watched:
    """A booster method that reports its exception to the callback, then raises it unchanged.

    It pickles as the booster's own method, so a booster pickled mid-training (a checkpoint
    callback with ``as_pickle=True``) pickles as it would without runlog.
    """

    def __init__(self, ref: weakref.ref[RunlogCallback], training: int, original: Any) -> None:
        self.ref, self.training, self.original = ref, training, original
        functools.update_wrapper(self, original)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.original(*args, **kwargs)
        except BaseException as error:
            callback = self.ref()
            if callback is not None:
                callback._training_failed(error, self.training)
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        return getattr, (self.original.__self__, self.original.__name__)


def _training_gone(ref: weakref.ref[RunlogCallback], training: int) -> None:
    callback = ref()
    if callback is not None:
        callback._training_failed(None, training)


# -- autolog ----------------------------------------------------------------------------------


class _Autolog:
    """What ``autolog()`` set: the patched ``train`` functions and the experiment of the runs."""

    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None


_state = _Autolog()
# train() arguments worth keeping as params (the data, objectives and callbacks are not)
_TRAIN_ARGS = ("num_boost_round", "early_stopping_rounds", "maximize", "verbose_eval")


def _wrap_train(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        if nested.get() or not _state.patches:
            return original(*args, **kwargs)
        callback: RunlogCallback | None = None
        try:
            bound = signature.bind(*args, **kwargs)
            callbacks = list(bound.arguments.get("callbacks") or [])
            if not any(isinstance(item, RunlogCallback) for item in callbacks):
                callback = RunlogCallback(experiment=_state.experiment)
                bound.apply_defaults()
                callback._extra_params = {name: bound.arguments[name] for name in _TRAIN_ARGS
                                          if isinstance(bound.arguments.get(name), (int, float, bool))
                                          or bound.arguments.get(name) is None}
                kwargs = dict(bound.kwargs)
                kwargs["callbacks"] = [*callbacks, callback]
                args = bound.args
        except Exception as err:
            warn_once("add a RunlogCallback to xgboost.train", err)
            callback = None
        token = nested.set(True)
        try:
            return original(*args, **kwargs)
        except BaseException as error:
            if callback is not None:
                callback._training_failed(error)
            raise
        finally:
            nested.reset(token)

    return train


def attach_autolog(config: dict[str, Any]) -> None:
    """Patch ``xgboost.train`` (also what the scikit-learn API calls), or put it back.

    Called by runlog's ``runlog`` entry-point plugin when ``autolog()`` selects XGBoost.

    Args:
        config: ``autolog()``'s settings: ``frameworks`` (``None`` for all), ``experiment``
            (the runs' experiment: the submitted run under ``runlog submit``, else this, else
            ``RUNLOG_EXPERIMENT``, else ``"xgboost"``) and ``disable``.
    """
    if not selected(config, "xgboost"):
        return
    if config.get("disable"):
        _state.patches.restore()
        return
    _state.experiment = config.get("experiment")
    import xgboost.sklearn
    import xgboost.training

    for owner in (xgboost, xgboost.training, xgboost.sklearn):
        if getattr(owner, "train", None) is not None:
            _state.patches.patch(owner, "train", _wrap_train)

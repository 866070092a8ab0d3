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

import functools
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

try:
    import xgboost
    from xgboost.callback import TrainingCallback
except ImportError as err:
    raise ImportError(
        "runlog_integrations.xgboost needs XGBoost: pip install 'runlog[xgboost]'"
    ) from err

from runlog_core import Experiment, Run
from runlog_core._guard import WarnOnce
from runlog_core._autolog import AutologTarget, Patches, nested, selected, warn_once
from runlog_core.hookspecs import hookimpl

__all__ = ["RunlogCallback"]

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "xgboost"
IMPORTANCE_TYPES = ("weight", "gain", "cover")

try:  # typing.override is 3.12+
    from typing import override
except ImportError:  # pragma: no cover - Python < 3.12
    try:
        from typing_extensions import override
    except ImportError:
        def override(method: Any) -> Any:  # type: ignore[no-redef]
            return method


def _put(out: dict[str, float], name: str, value: Any) -> None:
    """One evaluation result: a number, or under ``xgb.cv`` a (mean, std) pair as ``-mean``/``-std``."""
    if isinstance(value, tuple):
        out[f"{name}-mean"] = float(value[0])
        out[f"{name}-std"] = float(value[1])
    else:
        out[name] = float(value)


def _config_value(text: Any) -> Any:
    """A config string as a number where it is one (float32 values shown as the user wrote them)."""
    if not isinstance(text, str):
        return text
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if -(2**63) <= number < 2**63 else text
    try:
        value = float(text)
    except ValueError:
        return text
    # XGBoost stores float32: "0.300000012" is the user's 0.3
    return float(f"{value:.7g}") if value == value and abs(value) != float("inf") else value


def booster_params(config: str | Mapping[str, Any]) -> dict[str, Any]:
    """The training parameters in a booster's saved config, flat: ``{"max_depth": 3, ...}``.

    Takes the leaves of every ``*_param`` section except the model state ones
    (``*_model_param``: tree counts, base score), plus ``eval_metric`` and ``booster``.
    A name met twice with different values keeps its section as a prefix.
    """
    tree = json.loads(config) if isinstance(config, str) else config
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if isinstance(value, Mapping):
                if key.endswith("_param") and not key.endswith("model_param"):
                    for name, leaf in value.items():
                        if isinstance(leaf, (Mapping, list)):
                            continue
                        converted = _config_value(leaf)
                        if name in found and found[name] != converted:
                            found[f"{key}.{name}"] = converted
                        else:
                            found.setdefault(name, converted)
                else:
                    walk(value, f"{path}.{key}")

    learner = tree.get("learner", {}) if isinstance(tree, Mapping) else {}
    walk(learner, "learner")
    metrics = learner.get("metrics") if isinstance(learner, Mapping) else None
    if isinstance(metrics, list) and metrics:
        found["eval_metric"] = [m.get("name") for m in metrics if isinstance(m, Mapping)]
    return found


def _is_cv_pack(model: Any) -> bool:
    return not isinstance(model, xgboost.Booster) and hasattr(model, "cvfolds")


def _first_booster(model: Any) -> xgboost.Booster | None:
    if isinstance(model, xgboost.Booster):
        return model
    folds = getattr(model, "cvfolds", None)
    if folds:
        return getattr(folds[0], "bst", None)
    return None


def _rank() -> int:
    try:
        from xgboost import collective

        return int(collective.get_rank())
    except Exception:  # not initialised, or an XGBoost without collective: a single process
        return 0


class RunlogCallback(TrainingCallback):
    """Record an XGBoost training into a runlog run.

    Args:
        run: log into this existing run; it is left Running when training ends.
        experiment: an experiment name or :class:`~runlog_core.Experiment`: each training
            starts its own run there, ended Completed when training ends.
            With neither ``run`` nor ``experiment``: the submitted run under ``runlog submit``,
            else a new run per training in ``RUNLOG_EXPERIMENT`` or ``"xgboost"``.
        log_model: store the trained model as ``model/model.json`` (trimmed to the best
            iteration when early stopping ran).
        importance_types: the feature-importance types of the ``feature_importance`` table.
        run_name: the name of each run this callback starts.
        tags: tags set on each run this callback starts.

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
        if run is not None and not isinstance(run, Run):
            raise TypeError(f"run must be a runlog_core.Run or None, got {type(run).__name__}: {run!r}")
        if experiment is not None and not isinstance(experiment, (str, Experiment)):
            raise TypeError("experiment must be an experiment name, a runlog_core.Experiment or None, "
                            f"got {type(experiment).__name__}: {experiment!r}")
        if run is not None and experiment is not None:
            raise ValueError("pass run= or experiment=, not both")
        if not isinstance(log_model, bool):
            raise TypeError(f"log_model must be True or False, got {type(log_model).__name__}: {log_model!r}")
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

    # -- pickling: XGBClassifier objects are pickled (joblib, GridSearchCV); a run is not
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_active"] = None
        state["_owned"] = False
        state["_history"] = None
        return state

    def __deepcopy__(self, memo: dict[int, Any]) -> RunlogCallback:
        # sklearn's clone() deep-copies constructor params; the run given must stay the same object
        import copy

        new = copy.copy(self)
        new.__dict__.update(self.__getstate__())
        new._warn = WarnOnce()
        if self.tags is not None:
            new.tags = dict(self.tags)
        return new

    @property
    def active_run(self) -> Run | None:
        """The run the current (or last) training logged into."""
        return self._active

    def _open(self) -> Run | None:
        if self.run is not None:
            return self.run
        if self.experiment is None and os.environ.get("RUNLOG_RUN_ID"):
            return Run.get_context()
        experiment = self.experiment
        if experiment is None:
            experiment = os.environ.get("RUNLOG_EXPERIMENT") or DEFAULT_EXPERIMENT
        if isinstance(experiment, str):
            experiment = Experiment(experiment)
        run = experiment.start_logging(name=self.run_name, tags=self.tags, outputs=None)
        self._owned = True
        return run

    @override
    def before_training(self, model: Any) -> Any:
        if self._active is not None and self._owned:
            # the previous training raised: after_training never ran for it
            try:
                self._active.fail("training ended without after_training (it raised)")
            except Exception as err:
                self._warn("end the previous run", err)
        self._active, self._owned = None, False
        self._history = None
        self._first_epoch, self._last_epoch = None, None
        if _rank() != 0:  # only one process of a distributed training writes the run
            return model
        try:
            self._active = self._open()
        except Exception as err:
            self._warn("start a run", err)
            return model
        try:
            booster = _first_booster(model)
            if booster is not None:
                params = booster_params(booster.save_config())
                if _is_cv_pack(model):
                    params["nfold"] = len(model.cvfolds)
                params.update(self._extra_params)
                self._active.log_params(params)
        except Exception as err:
            self._warn("log the booster's params", err)
        return model

    def _log_epoch(self, epoch: int, evals_log: Mapping[str, Mapping[str, Any]], index: int = -1) -> None:
        values: dict[str, float] = {}
        for data, metrics in evals_log.items():
            for metric, history in metrics.items():
                if not history:
                    continue
                if not -len(history) <= index < len(history):
                    continue
                _put(values, f"{data}-{metric}", history[index])
        if values:
            assert self._active is not None
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
            booster = _first_booster(model)
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
                            _put(summary, f"best_{data}-{metric}", values[index])
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
        columns: dict[str, dict[str, float]] = {}
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


# -- autolog ----------------------------------------------------------------------------------

_patches = Patches()
_autolog_target = AutologTarget(DEFAULT_EXPERIMENT)
# train() arguments worth keeping as params (the data, objectives and callbacks are not)
_TRAIN_ARGS = ("num_boost_round", "early_stopping_rounds", "maximize", "verbose_eval")


def _wrap_train(original: Any) -> Any:
    import inspect

    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        if nested.get() or not _patches:
            return original(*args, **kwargs)
        callback: RunlogCallback | None = None
        try:
            bound = signature.bind(*args, **kwargs)
            callbacks = list(bound.arguments.get("callbacks") or [])
            if not any(isinstance(item, RunlogCallback) for item in callbacks):
                callback = RunlogCallback(experiment=_autolog_target.experiment())  # None: the submitted run
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
        except BaseException as err:
            if callback is not None and callback._active is not None and callback._owned:
                try:
                    callback._active._end_for(err)
                    callback._active, callback._owned = None, False
                except Exception as log_err:
                    warn_once("end the XGBoost run", log_err)
            raise
        finally:
            nested.reset(token)

    return train


@hookimpl
def runlog_autolog(config: dict[str, Any]) -> None:
    """Patch ``xgboost.train`` (also what the scikit-learn API calls), or put it back."""
    if not selected(config, "xgboost"):
        return
    if config.get("disable"):
        _patches.restore()
        return
    _autolog_target.configure(config)
    import xgboost.sklearn
    import xgboost.training

    for owner in (xgboost, xgboost.training, xgboost.sklearn):
        if getattr(owner, "train", None) is not None:
            _patches.patch(owner, "train", _wrap_train)

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import runlog_core
from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError

sklearn = pytest.importorskip("sklearn")
xgb = pytest.importorskip("xgboost")

from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.model_selection._search import BaseSearchCV  # noqa: E402


@pytest.fixture(autouse=True)
def _autolog_off() -> Iterator[None]:
    yield
    runlog_core.autolog(disable=True)


@pytest.fixture(scope="module")
def diabetes() -> tuple[Any, Any]:
    return load_diabetes(return_X_y=True)


def _originals() -> dict[str, Any]:
    import xgboost.sklearn
    import xgboost.training

    return {"xgboost.train": xgb.train, "xgboost.training.train": xgboost.training.train,
            "xgboost.sklearn.train": xgboost.sklearn.train, "Ridge.fit": Ridge.__dict__["fit"],
            "LogisticRegression.fit": LogisticRegression.__dict__["fit"],
            "BaseSearchCV.fit": BaseSearchCV.__dict__["fit"]}


def test_on_off_on_restores_the_very_same_functions(diabetes: Any) -> None:
    before = _originals()
    for _ in range(2):
        runlog_core.autolog(frameworks=["sklearn", "xgboost"], experiment="auto")
        patched = _originals()
        assert all(patched[name] is not before[name] for name in before)
        runlog_core.autolog(frameworks=["sklearn", "xgboost"], experiment="auto")  # twice: no double wrap
        assert _originals() == patched
        assert patched["Ridge.fit"].__runlog_original__ is before["Ridge.fit"]
        runlog_core.autolog(disable=True)
        after = _originals()
        assert all(after[name] is before[name] for name in before), after
        assert "fit" not in GridSearchCV.__dict__  # inherited before, inherited again
    Ridge().fit(*diabetes)
    assert Experiment("auto").get_runs() == []  # off means off


def test_plain_estimator_logs_params_and_training_score(diabetes: Any) -> None:
    runlog_core.autolog(frameworks="sklearn", experiment="auto")
    model = Ridge(alpha=0.5).fit(*diabetes)
    other = Ridge(alpha=2.0).fit(*diabetes)
    runs = Experiment("auto").get_runs()
    assert len(runs) == 2  # two fits, two runs, no params bleeding between them
    by_alpha = {run.get_params()["alpha"]: run for run in runs}
    assert set(by_alpha) == {0.5, 2.0}
    assert by_alpha[0.5].get_metrics()["training_score"] == pytest.approx(model.score(*diabetes))
    assert by_alpha[2.0].get_metrics()["training_score"] == pytest.approx(other.score(*diabetes))
    assert by_alpha[0.5].get_tags()["estimator_class"].endswith("Ridge")
    assert {run.get_status() for run in runs} == {"Completed"}


def test_search_logs_like_tracked_search_and_not_its_candidate_fits(diabetes: Any) -> None:
    runlog_core.autolog(frameworks=["sklearn"], experiment="auto")
    search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3).fit(*diabetes)
    runs = Experiment("auto").get_runs(include_children=True)
    parents = [run for run in runs if run.parent is None]
    assert len(parents) == 1 and len(runs) == 4  # the parent and 3 children, no run per fold fit
    children = parents[0].get_children()
    assert sorted(c.get_metrics()["mean_test_score"] for c in children) == pytest.approx(
        sorted(search.cv_results_["mean_test_score"]))
    assert parents[0].get_metrics()["best_score"] == pytest.approx(search.best_score_)


def test_xgboost_train_and_sklearn_api_get_the_callback(diabetes: Any) -> None:
    runlog_core.autolog(frameworks=["xgboost"], experiment="auto")
    X, y = diabetes
    dtrain = xgb.DMatrix(X, y)
    history: dict[str, Any] = {}
    xgb.train({"max_depth": 2, "nthread": 1}, dtrain, 7, evals=[(dtrain, "train")], evals_result=history,
              verbose_eval=False)
    runs = Experiment("auto").get_runs()
    assert len(runs) == 1
    assert [p.value for p in runs[0].get_metric_history("train-rmse")] == pytest.approx(history["train"]["rmse"])
    assert runs[0].get_params()["num_boost_round"] == 7
    xgb.XGBRegressor(n_estimators=4, n_jobs=1).fit(X, y, eval_set=[(X, y)], verbose=False)
    runs = Experiment("auto").get_runs()
    assert len(runs) == 2
    assert len(runs[0].get_metric_history("validation_0-rmse")) == 4


def test_user_exceptions_propagate_unchanged(diabetes: Any) -> None:
    X, y = diabetes
    with pytest.raises(Exception) as plain_sk:
        Ridge(alpha=-1.0).fit(X, y)
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(X, y), 2)
    runlog_core.autolog(frameworks=["sklearn", "xgboost"], experiment="auto")
    with pytest.raises(type(plain_sk.value)) as caught_sk:
        Ridge(alpha=-1.0).fit(X, y)
    assert str(caught_sk.value) == str(plain_sk.value)
    error = RuntimeError("user objective failed")

    def objective(predt: Any, dtrain: Any) -> Any:
        raise error

    with pytest.raises(RuntimeError) as caught_xgb:
        xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 2, obj=objective)
    assert caught_xgb.value is error  # the very same exception object
    with pytest.raises(xgb.core.XGBoostError, match="no-such-objective"):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(X, y), 2)
    statuses = sorted(run.get_status() for run in Experiment("auto").get_runs())
    assert statuses and set(statuses) == {"Failed"}


def test_runlog_errors_become_one_warning(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runlog_core.autolog(frameworks=["sklearn", "xgboost"], experiment="auto")
    from runlog_core.integration import autolog as _autolog

    monkeypatch.setattr(_autolog.warn_once, "seen", set())

    def broken(*args: Any, **kwargs: Any) -> Run:
        raise OSError("store is gone")

    monkeypatch.setattr(Experiment, "start_logging", broken)
    X, y = diabetes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            model = Ridge().fit(X, y)
        booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 3)
    assert model.coef_ is not None and booster.num_boosted_rounds() == 3
    messages = [str(w.message) for w in caught if "runlog" in str(w.message)]
    assert len([m for m in messages if "estimator" in m]) == 1, messages
    assert len([m for m in messages if "start a run" in m]) >= 1


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="frameworks"):
        runlog_core.autolog(frameworks=["tensorflow"])
    with pytest.raises(InvalidArgumentError, match="disable"):
        runlog_core.autolog(disable="yes")


def test_lightning_trainer_gets_a_logger_unless_logger_false() -> None:
    pl = pytest.importorskip("lightning.pytorch")
    lightning = pytest.importorskip("runlog_integrations.lightning")
    original = pl.Trainer.__init__
    runlog_core.autolog(frameworks=["lightning"], experiment="auto")
    assert pl.Trainer.__init__ is not original
    trainer = pl.Trainer(max_epochs=1, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False)
    assert isinstance(trainer.logger, lightning.RunlogLogger)
    assert pl.Trainer(logger=False, enable_checkpointing=False).logger is None
    csv = pl.loggers.CSVLogger(".")
    both = pl.Trainer(logger=csv, enable_checkpointing=False).loggers
    assert both[0] is csv and isinstance(both[1], lightning.RunlogLogger)
    mine = lightning.RunlogLogger(experiment_name="mine")
    assert pl.Trainer(logger=mine, enable_checkpointing=False).loggers == [mine]
    runlog_core.autolog(frameworks=["lightning"], disable=True)
    assert pl.Trainer.__init__ is original
    assert "__init__" in pl.Trainer.__dict__


def test_keras_fit_gets_the_callback() -> None:
    pytest.importorskip("keras")
    keras_integration = pytest.importorskip("runlog_integrations.keras")
    import keras
    import numpy as np

    original = keras.Model.fit
    had_own = "fit" in keras.Model.__dict__
    runlog_core.autolog(frameworks=["keras"], experiment="auto")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 3), "float32"), np.zeros((8, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0)
    runs = Experiment("auto").get_runs()
    assert len(runs) == 1 and len(runs[0].get_metric_history("loss")) == 2
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras_integration.RunlogCallback(experiment="mine")])
    assert len(Experiment("auto").get_runs()) == 1  # the user's own callback, not a second one
    runlog_core.autolog(frameworks=["keras"], disable=True)
    assert keras.Model.fit is original and ("fit" in keras.Model.__dict__) == had_own


def test_import_runlog_core_and_autolog_module_load_no_framework() -> None:
    code = ("import sys, runlog_core; from runlog_core.integration import autolog as _autolog; "
            "bad = [m for m in ('sklearn', 'xgboost', 'numpy', 'torch', 'keras', 'lightning', 'runlog_integrations') "
            "if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_builtin_integrations_are_entry_point_plugins_of_the_runlog_group() -> None:
    from importlib.metadata import entry_points

    from runlog_core.plugins.manager import get_plugin_manager

    names = {entry_point.name for entry_point in entry_points(group="runlog")}
    assert {"runlog.sklearn", "runlog.xgboost", "runlog.lightning", "runlog.keras", "runlog.optuna", "runlog.ray"} <= names
    pm = get_plugin_manager()
    assert all(pm.get_plugin(name) is not None for name in names)


def test_xgboost_autolog_logs_into_the_submitted_run(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from _kx_submitted import runs_outside, submitted_run

    X, y = diabetes
    with submitted_run(monkeypatch) as submitted:
        runlog_core.autolog(frameworks="xgboost", experiment="named-but-submitted")
        dtrain = xgb.DMatrix(X, y)
        xgb.train({"max_depth": 2, "nthread": 1}, dtrain, 3, evals=[(dtrain, "train")], verbose_eval=False)
        assert submitted.get_status() == "Running"
        assert len(submitted.get_metric_history("train-rmse")) == 3
        assert submitted.get_params()["num_boost_round"] == 3
        assert runs_outside(submitted) == []

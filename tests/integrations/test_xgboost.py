from __future__ import annotations

import gc
import json
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

xgb = pytest.importorskip("xgboost")
pytest.importorskip("sklearn")

from _kx_submitted import runs_outside, submitted_run  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes  # noqa: E402

from runlog_core import Experiment, Run  # noqa: E402
from runlog_core.exceptions import InvalidArgumentError  # noqa: E402
from runlog_integrations.xgboost import RunlogCallback, booster_params  # noqa: E402

PARAMS = {"eta": 0.3, "max_depth": 3, "eval_metric": ["rmse", "mae"], "nthread": 1, "seed": 0}


@pytest.fixture(scope="module")
def diabetes() -> tuple[Any, Any]:
    X, y = load_diabetes(return_X_y=True)
    return xgb.DMatrix(X[:300], y[:300]), xgb.DMatrix(X[300:], y[300:])


def _active(callback: RunlogCallback) -> Run:
    assert callback.active_run is not None, "the callback started no run"
    return callback.active_run


def _train(data: tuple[Any, Any], callbacks: list[Any] | None, rounds: int = 200,
           early_stopping_rounds: int | None = 5) -> tuple[Any, dict[str, Any]]:
    dtrain, dvalid = data
    history: dict[str, Any] = {}
    booster = xgb.train(PARAMS, dtrain, rounds, evals=[(dtrain, "train"), (dvalid, "valid")],
                        early_stopping_rounds=early_stopping_rounds, callbacks=callbacks,
                        evals_result=history, verbose_eval=False)
    return booster, history


def test_train_with_early_stopping_logs_every_iteration_and_the_best(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    booster, history = _train(diabetes, [callback])
    run = Run(Experiment("xgb"), _active(callback).id)

    assert run.get_status() == "Completed"
    rounds = booster.num_boosted_rounds()
    assert rounds < 200  # early stopping ran
    for data in ("train", "valid"):
        for metric in ("rmse", "mae"):
            points = run.get_metric_history(f"{data}-{metric}")
            assert [p.step for p in points] == list(range(rounds))
            assert [p.value for p in points] == pytest.approx(history[data][metric])
    metrics = run.get_metrics()
    assert metrics["best_iteration"] == booster.best_iteration
    assert metrics["best_score"] == pytest.approx(booster.best_score)
    assert metrics["stopped_iteration"] == rounds - 1
    assert metrics["best_valid-mae"] == pytest.approx(history["valid"]["mae"][booster.best_iteration])
    assert metrics["best_train-rmse"] == pytest.approx(history["train"]["rmse"][booster.best_iteration])


def test_params_come_from_the_saved_config_with_defaults(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    _train(diabetes, [callback], rounds=3, early_stopping_rounds=None)
    params = _active(callback).get_params()
    assert params["eta"] == 0.3  # float32 0.300000012 shown as given
    assert params["max_depth"] == 3
    assert params["eval_metric"] == ["rmse", "mae"]
    assert params["objective"] == "reg:squarederror"  # a default the user did not set
    assert params["subsample"] == 1
    assert "num_trees" not in params  # model state, not a parameter


def test_booster_params_keeps_both_values_of_a_clashing_name() -> None:
    config = {"learner": {"a_param": {"x": "1"}, "b": {"c_param": {"x": "2", "y": "abc"}}}}
    assert booster_params(config) == {"x": 1, "c_param.x": 2, "y": "abc"}


def test_feature_importance_table_and_no_best_without_early_stopping(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    booster, _ = _train(diabetes, [callback], rounds=10, early_stopping_rounds=None)
    metrics = _active(callback).get_metrics()
    assert "best_iteration" not in metrics
    assert metrics["stopped_iteration"] == 9
    table = metrics["feature_importance"]
    assert set(table) == {"feature", "weight", "gain", "cover"}
    gain = booster.get_score(importance_type="gain")
    assert dict(zip(table["feature"], table["gain"])) == pytest.approx(
        {name: gain.get(name, 0.0) for name in table["feature"]})


def test_log_model_saves_json_trimmed_to_the_best_iteration(diabetes: Any, tmp_path: Path) -> None:
    callback = RunlogCallback(experiment="xgb", log_model=True)
    booster, _ = _train(diabetes, [callback])
    run = _active(callback)
    assert "model/model.json" in run.get_file_names()
    path = run.download_file("model/model.json", tmp_path / "model.json")
    json.loads(Path(path).read_text())  # JSON, not UBJ
    saved = xgb.Booster(model_file=path)
    assert saved.num_boosted_rounds() == booster.best_iteration + 1
    assert booster.num_boosted_rounds() > booster.best_iteration + 1
    best = booster[: booster.best_iteration + 1]
    assert saved.predict(diabetes[1]) == pytest.approx(best.predict(diabetes[1]))


def test_cv_logs_mean_and_std(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    frame = xgb.cv({"eta": 0.3, "max_depth": 3, "nthread": 1}, diabetes[0], 30, nfold=3, seed=0,
                   early_stopping_rounds=3, callbacks=[callback])
    run = _active(callback)
    metrics = run.get_metrics()
    assert run.get_status() == "Completed"
    assert run.get_params()["nfold"] == 3
    for column in frame.columns:
        points = run.get_metric_history(column)
        # the frame is trimmed to the best iteration; the history goes on to the stop
        assert [p.value for p in points][: len(frame)] == pytest.approx(list(frame[column]))
        assert [p.step for p in points] == list(range(metrics["stopped_iteration"] + 1))
    assert metrics["best_iteration"] == len(frame) - 1
    assert metrics["best_test-rmse-mean"] == pytest.approx(frame["test-rmse-mean"].iloc[-1])


def test_sklearn_api_classifier_one_run_per_fit() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    callback = RunlogCallback(experiment="xgb-sk")
    model = xgb.XGBClassifier(n_estimators=50, max_depth=2, early_stopping_rounds=3, n_jobs=1,
                              eval_metric="logloss", callbacks=[callback])
    model.fit(X[:400], y[:400], eval_set=[(X[400:], y[400:])], verbose=False)
    first = _active(callback)
    assert first.get_params()["max_depth"] == 2
    history = model.evals_result()["validation_0"]["logloss"]
    assert [p.value for p in first.get_metric_history("validation_0-logloss")] == pytest.approx(history)
    assert first.get_metrics()["best_iteration"] == model.best_iteration
    model.fit(X[:400], y[:400], eval_set=[(X[400:], y[400:])], verbose=False)
    assert _active(callback).id != first.id
    runs = Experiment("xgb-sk").get_runs()
    assert [r.get_status() for r in runs] == ["Completed", "Completed"]
    pickle.loads(pickle.dumps(model))  # the model (holding the callback) still pickles


def test_run_argument_is_logged_into_and_left_running(diabetes: Any) -> None:
    with Experiment("xgb").start_logging() as run:
        _train(diabetes, [RunlogCallback(run=run)], rounds=5, early_stopping_rounds=None)
        assert run.get_status() == "Running"
        assert len(run.get_metric_history("valid-rmse")) == 5
    assert run.get_status() == "Completed"


def test_early_stopping_placed_first_still_logs_the_last_iteration(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    stop = xgb.callback.EarlyStopping(rounds=5, data_name="valid", metric_name="rmse")
    booster, history = _train(diabetes, [stop, callback], early_stopping_rounds=None)
    points = _active(callback).get_metric_history("valid-rmse")
    assert [p.value for p in points] == pytest.approx(history["valid"]["rmse"])


def test_a_failing_store_leaves_boosting_identical_and_warns_once_per_kind(
        diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline, base_history = _train(diabetes, None)
    experiment = Experiment("xgb")

    def refuse(batch: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(experiment._store, "write", refuse)
    monkeypatch.setattr(Run, "log_metrics", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    callback = RunlogCallback(experiment=experiment, log_model=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster, history = _train(diabetes, [callback])
    assert history == base_history
    assert booster.save_raw("json") == baseline.save_raw("json")
    messages = [str(w.message) for w in caught if "runlog" in str(w.message)]
    assert any("iteration's metrics" in m for m in messages)
    kinds = [m.split(":")[1] for m in messages]
    assert len(kinds) == len(set(kinds)), messages  # one warning per kind of failure


def test_after_iteration_returns_false_and_after_training_returns_the_model(diabetes: Any) -> None:
    callback = RunlogCallback(experiment="xgb")
    booster = xgb.Booster(PARAMS, [diabetes[0]])
    assert callback.before_training(booster) is booster
    assert callback.after_iteration(booster, 0, {"valid": {"rmse": [1.0]}}) is False
    assert callback.after_training(booster) is booster
    silent = RunlogCallback(experiment="xgb")  # never started: no run, still False
    assert silent.after_iteration(booster, 0, {}) is False


def test_bad_arguments_raise_runlog_errors_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="run must be") as caught:
        RunlogCallback(run="abc")  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError) and caught.value.argument == "run"
    with pytest.raises(InvalidArgumentError, match="experiment must be"):
        RunlogCallback(experiment=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="log_model") as caught:
        RunlogCallback(log_model="yes")  # type: ignore[arg-type]
    assert caught.value.value == "yes"
    with Experiment("xgb").start_logging() as run, pytest.raises(InvalidArgumentError, match="experiment"):
        RunlogCallback(run=run, experiment="xgb")


def _raising_objective(error: BaseException, at: int) -> Any:
    calls: list[int] = []

    def objective(predt: Any, data: Any) -> Any:
        calls.append(1)
        if len(calls) == at:
            raise error
        return predt - data.get_label(), predt * 0 + 1.0

    return objective


def test_training_that_raises_ends_its_run_failed_with_the_traceback(diabetes: Any) -> None:
    error = RuntimeError("objective failed at round 3")
    callback = RunlogCallback(experiment="xgb")
    seen: list[Any] = []
    probe = xgb.callback.EarlyStopping(rounds=100)  # any callback: records the booster it was given

    def record(model: Any) -> Any:
        seen.append(model)
        return model

    probe.before_training = record
    with pytest.raises(RuntimeError) as caught:
        xgb.train(PARAMS, diabetes[0], 10, evals=[(diabetes[1], "valid")], verbose_eval=False,
                  obj=_raising_objective(error, 3), callbacks=[probe, callback])
    assert caught.value is error  # the very same exception, not wrapped
    run = callback.active_run or Experiment("xgb").get_runs()[0]
    assert Run(Experiment("xgb"), run.id).get_status() == "Failed"
    details = run.get_details()
    assert "Traceback" in details["error"] and "objective failed at round 3" in details["error"]
    assert len(run.get_metric_history("valid-rmse")) == 2  # the rounds before the failure
    assert not {"update", "eval_set", "eval"} & set(vars(seen[0]))  # the booster is as XGBoost made it


def test_failure_runlog_cannot_see_still_ends_the_run_failed(diabetes: Any) -> None:
    class Raising(xgb.callback.TrainingCallback):  # type: ignore[name-defined]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if epoch == 1:
                raise KeyError("another callback failed")
            return False

    callback = RunlogCallback(experiment="xgb")
    with pytest.raises(KeyError):
        _train(diabetes, [callback, Raising()], rounds=5, early_stopping_rounds=None)
    run = Experiment("xgb").get_runs()[0]
    deadline = time.monotonic() + 60
    while run.get_status() == "Running" and time.monotonic() < deadline:
        gc.collect()  # the booster goes with the traceback: its finalizer ends the run
        time.sleep(0.05)
    assert run.get_status() == "Failed"
    _train(diabetes, [callback], rounds=2, early_stopping_rounds=None)  # the callback is usable again
    assert [r.get_status() for r in Experiment("xgb").get_runs()] == ["Completed", "Failed"]


def test_booster_pickled_mid_training_pickles_as_without_runlog(diabetes: Any, tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    checkpoint = xgb.callback.TrainingCheckPoint(tmp_path / "ckpt", as_pickle=True, interval=1)
    booster, _ = _train(diabetes, [RunlogCallback(experiment="xgb"), checkpoint], rounds=3,
                        early_stopping_rounds=None)
    saved = sorted((tmp_path / "ckpt").iterdir())
    assert saved, "the checkpoint callback pickled the booster"
    with open(saved[-1], "rb") as file:
        restored = pickle.load(file)
    assert restored.num_boosted_rounds() == booster.num_boosted_rounds() == 3
    assert Experiment("xgb").get_runs()[0].get_status() == "Completed"


def test_callback_pickles_before_and_after_training_without_the_run(diabetes: Any) -> None:
    callback = RunlogCallback(experiment=Experiment("xgb"), run_name="r", tags={"t": "1"})
    copy = pickle.loads(pickle.dumps(callback))
    _train(diabetes, [callback], rounds=2, early_stopping_rounds=None)
    after = pickle.loads(pickle.dumps(callback))
    assert after.active_run is None and copy.experiment == after.experiment == "xgb"
    _train(diabetes, [after], rounds=2, early_stopping_rounds=None)
    runs = Experiment("xgb").get_runs()
    assert len(runs) == 2 and {r.name for r in runs} == {"r"} and runs[0].get_tags()["t"] == "1"


def test_submitted_run_is_logged_into_and_left_running(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with submitted_run(monkeypatch) as submitted:
        _train(diabetes, [RunlogCallback(experiment="ignored-under-submit")], rounds=4, early_stopping_rounds=None)
        assert submitted.get_status() == "Running"
        assert len(submitted.get_metric_history("valid-rmse")) == 4
        assert submitted.get_params()["max_depth"] == 3
        assert runs_outside(submitted) == []

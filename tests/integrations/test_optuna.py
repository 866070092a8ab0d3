"""Optuna: RunlogCallback with real studies (TPE, a MedianPruner that prunes, trials that raise or return
NaN/inf, several objectives, n_jobs threads), read back from the store."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

from _optuna_helpers import check_study_runs, objective  # noqa: E402

import runlog_core  # noqa: E402
from runlog_core import Experiment, Run  # noqa: E402
from runlog_core.exceptions import InvalidArgumentError  # noqa: E402
from runlog_integrations.optuna import RunlogCallback  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _study(name: str, **kwargs: Any) -> Any:
    return optuna.create_study(study_name=name, sampler=optuna.samplers.TPESampler(seed=1, n_startup_trials=4),
                               **kwargs)


def test_tpe_study_with_pruner_and_failures_one_child_per_trial(experiment: Experiment) -> None:
    callback = RunlogCallback(experiment=experiment)
    study = _study("tpe", pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))

    def pruned_by_median(trial: Any) -> float:
        value = objective(trial)
        if trial.number >= 9:  # late trials report a bad curve: the median pruner stops them
            for step in range(3, 6):
                trial.report(1e6, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return value

    study.optimize(callback.track_in_runlog()(pruned_by_median), n_trials=12, catch=(ValueError,),
                   callbacks=[callback])
    states = [t.state.name for t in study.trials]
    assert {"COMPLETE", "PRUNED", "FAIL"} <= set(states)
    assert any(t.state.name == "PRUNED" and t.number >= 9 for t in study.trials)  # pruned by the median
    parent, children = check_study_runs(experiment, study, inside=True)
    failed = children[3].get_details()
    assert "ValueError: trial 3 broke on purpose" in failed["error"]
    best = study.best_trial
    tags = parent.get_tags()
    assert (tags["optuna.best_trial"], float(tags["optuna.best_value"])) == (str(best.number), best.value)
    assert tags["optuna.best_params"] == json.dumps(best.params, sort_keys=True)
    assert parent.get_metric_history("best_value")[-1].value == best.value
    assert parent.get_status() == "Running"
    callback.close()
    assert parent.get_status() == "Completed"
    # optimised again later: the same parent, Running again, and the new trials under it
    study.optimize(callback.track_in_runlog()(objective), n_trials=2, catch=(ValueError,), callbacks=[callback])
    assert parent.get_status() == "Running"
    check_study_runs(experiment, study, inside=True)


def test_nan_inf_and_an_uncaught_error_are_kept(experiment: Experiment) -> None:
    callback = RunlogCallback(experiment=experiment, metric_name="loss")
    study = _study("odd")
    values = iter([float("nan"), float("inf"), 1.5])

    def odd(trial: Any) -> float:
        trial.suggest_float("x", 0, 1)
        if trial.number == 3:
            raise RuntimeError("out of memory, say")
        return next(values)

    tracked = callback.track_in_runlog()(odd)
    assert tracked.__wrapped__ is odd and callback.track_in_runlog()(tracked) is tracked
    with pytest.raises(RuntimeError, match="out of memory"):  # not in catch=: the study stops, as Optuna does
        study.optimize(tracked, n_trials=5, callbacks=[callback])
    children = {int(r.get_tags()["optuna.trial"]): r for r in callback.parent_run(study).get_children()}
    assert sorted(children) == [0, 1, 2, 3]
    nan_run, inf_run, ok_run, broken = (children[i] for i in range(4))
    assert (nan_run.get_status(), math.isnan(nan_run.get_metrics()["loss"])) == ("Failed", True)
    assert "NaN" in nan_run.get_details()["error"]
    assert (inf_run.get_status(), inf_run.get_metrics()["loss"]) == ("Completed", math.inf)
    assert (ok_run.get_status(), ok_run.get_metrics()["loss"]) == ("Completed", 1.5)
    assert broken.get_status() == "Failed" and "RuntimeError: out of memory" in broken.get_details()["error"]
    assert callback.parent_run(study).get_tags()["optuna.best_trial"] == "2"
    odd_name = optuna.create_study(study_name="line one\nline two")  # no run can be named so: the tag keeps it
    odd_name.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, callbacks=[callback])
    assert callback.parent_run(odd_name).get_tags()["optuna.study_name"] == "line one\nline two"


def test_multi_objective_names_and_pareto_front(experiment: Experiment) -> None:
    callback = RunlogCallback(experiment=experiment, metric_name=["loss", "size"])
    study = optuna.create_study(study_name="multi", directions=["minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=3))

    def two(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, (1 - x) ** 2

    study.optimize(two, n_trials=6, callbacks=[callback])
    parent, _ = check_study_runs(experiment, study, names=["loss", "size"])
    front = sorted(t.number for t in study.best_trials)
    assert parent.get_tags()["optuna.best_trials"] == str(front).replace(" ", ", ").replace(",,", ",")
    assert parent.get_tags()["optuna.directions"] == "minimize,minimize"
    assert (parent.get_tags()["runlog.sweep.primary_metric"], parent.get_tags()["runlog.sweep.goal"]) == (
        "loss", "minimize")  # what the UI's sweep view ranks the children by


def test_threads_keep_each_trial_in_its_own_run_with_integrations_inside(experiment: Experiment) -> None:
    """n_jobs=2: trials run two at a time in Optuna's threads; an XGBoost, Keras or Lightning integration
    created inside without run=/experiment= logs into that trial's run, and starts none of its own."""
    xgb = pytest.importorskip("xgboost")
    keras = pytest.importorskip("keras")
    pytest.importorskip("lightning")
    import numpy as np
    from _lk_lightning_models import TinyRegressor, loaders
    from lightning.pytorch import Trainer

    from runlog_integrations.keras import RunlogCallback as KerasCallback
    from runlog_integrations.lightning import RunlogLogger
    from runlog_integrations.xgboost import RunlogCallback as XGBoostCallback

    callback = RunlogCallback(experiment=experiment)
    together = threading.Barrier(2)
    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")

    def train(trial: Any) -> float:
        lr = trial.suggest_float("lr", 0.01, 0.1)
        together.wait(timeout=120)  # two trials run at once, in two threads
        Run.get_context().log("lr_seen", lr)
        framework = ("xgboost", "keras", "lightning")[trial.number % 3]
        trial.set_user_attr("framework", framework)
        if framework == "xgboost":
            result: dict[str, Any] = {}
            data = xgb.DMatrix(features, label=target[:, 0])
            xgb.train({"eta": lr, "nthread": 1}, data, num_boost_round=3, evals=[(data, "train")],
                      evals_result=result, callbacks=[XGBoostCallback()], verbose_eval=False)
            loss = float(result["train"]["rmse"][-1])
        elif framework == "keras":
            model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
            loss = float(model.fit(features, target, epochs=2, verbose=0, callbacks=[KerasCallback()]).history["loss"][-1])
        else:
            trainer = Trainer(max_epochs=1, logger=RunlogLogger(), log_every_n_steps=1, enable_progress_bar=False,
                              enable_checkpointing=False, enable_model_summary=False)
            trainer.fit(TinyRegressor(lr=lr), *loaders())
            loss = float(trainer.callback_metrics["train_loss"])
        together.wait(timeout=120)
        return loss

    study = _study("threads")
    study.optimize(callback.track_in_runlog()(train), n_trials=4, n_jobs=2, callbacks=[callback])
    _, children = check_study_runs(experiment, study, more_params=True)
    logged_by = {"xgboost": "train-rmse", "keras": "loss", "lightning": "train_loss"}
    for number, child in children.items():
        trial = study.trials[number]
        metrics = child.get_metrics()
        assert metrics["lr_seen"] == trial.params["lr"]
        assert logged_by[trial.user_attrs["framework"]] in metrics, (trial.user_attrs, sorted(metrics))
        assert child.get_status() == "Completed"  # the integrations left the trial's run to the callback
    assert {t.user_attrs["framework"] for t in study.trials} == {"xgboost", "keras", "lightning"}
    assert len(Experiment("test", store=experiment.store).get_runs(include_children=True)) == 5
    assert [e for e in ("xgboost", "keras", "lightning_logs")
            if Experiment(e, store=experiment.store).get_runs()] == []  # no run of an integration's own


def test_given_parent_run_and_bad_input(experiment: Experiment, run: Run) -> None:
    with pytest.raises(InvalidArgumentError, match="experiment") as raised:
        RunlogCallback(run=run, experiment="x")
    assert raised.value.argument == "experiment" if hasattr(raised.value, "argument") else True
    for bad in (3, "", [], ["a", 2], {"a": 1}):
        with pytest.raises(InvalidArgumentError, match="metric_name"):
            RunlogCallback(experiment="x", metric_name=bad)  # type: ignore[arg-type]
    callback = RunlogCallback(run=run, metric_name=["a", "b", "c"])  # three names for two directions
    study = optuna.create_study(study_name="given", directions=["minimize", "maximize"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 2.0), n_trials=2, callbacks=[callback])
    assert [str(w.message) for w in caught if "metric_name" in str(w.message)]  # one warning, the study went on
    assert len(study.trials) == 2
    children = run.get_children()
    assert len(children) == 2 and {c.get_metrics()["value_1"] for c in children} == {2.0}
    assert run.get_tags()["optuna.study_name"] == "given"
    callback.close()
    assert run.get_status() == "Running"  # a parent given by run= is never ended here


def test_autolog_gives_new_studies_the_callback() -> None:
    from importlib.metadata import entry_points

    if "runlog.optuna" not in {point.name for point in entry_points(group="runlog")}:
        pytest.skip("runlog's installed metadata predates the optuna entry point: pip install -e .")
    xgb = pytest.importorskip("xgboost")
    import numpy as np

    data = xgb.DMatrix(np.arange(40.0).reshape(20, 2), label=np.arange(20.0))

    def boosted(trial: Any) -> float:
        value = objective(trial)
        xgb.train({"nthread": 1}, data, num_boost_round=2, evals=[(data, "train")], verbose_eval=False)
        return value

    before = optuna.study.Study.__dict__["optimize"]
    runlog_core.autolog(frameworks=["optuna", "xgboost"], experiment="auto")
    try:
        study = _study("auto-study")
        study.optimize(boosted, n_trials=4, catch=(ValueError,))
    finally:
        runlog_core.autolog(disable=True)
    assert optuna.study.Study.__dict__["optimize"] is before
    _, children = check_study_runs(Experiment("auto"), study, inside=True, more_params=True)
    for number in (0, 1):  # completed trials: autolog's XGBoost callback logged into the trial's run
        assert "train-rmse" in children[number].get_metrics()
    study.optimize(objective, n_trials=1, catch=(ValueError,))  # autolog off: nothing more recorded
    assert len(Experiment("auto").get_runs(include_children=True)) == 5


def test_failures_of_runlog_cost_one_warning_per_kind_and_never_the_study(
        experiment: Experiment, monkeypatch: pytest.MonkeyPatch) -> None:
    def quiet(trial: Any) -> float:  # logs nothing itself: what fails is runlog's own logging
        x = trial.suggest_float("x", -1, 1)
        trial.report(x, 0)
        if trial.number == 3:
            raise ValueError("caught")
        return x * x

    def sweep(callbacks: list[Any]) -> list[tuple[str, Any, Any]]:
        study = optuna.create_study(study_name=f"s{len(callbacks)}", sampler=optuna.samplers.RandomSampler(seed=5))
        func = callbacks[0].track_in_runlog()(quiet) if callbacks else quiet
        study.optimize(func, n_trials=8, catch=(ValueError,), callbacks=callbacks)
        return [(t.state.name, t.params, t.values) for t in study.trials]

    baseline = sweep([])

    def refuse(batch: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(experiment._store, "write", refuse)
    monkeypatch.setattr(Run, "log", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sweep([RunlogCallback(experiment=experiment)]) == baseline  # the same trials, to the bit
    messages = [str(w.message) for w in caught if "runlog" in str(w.message)]
    assert any("objective value" in m for m in messages), messages
    kinds = [m.split(" (")[0] for m in messages]
    assert len(kinds) == len(set(kinds)), messages  # one warning per kind of failure


def test_the_example_runs(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    example = Path(__file__).resolve().parents[2] / "examples" / "optuna_sweep.py"
    done = subprocess.run([sys.executable, str(example), "--trials", "4"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    runs = Experiment("diabetes-optuna", store=str(tmp_path / "runlog")).get_runs(include_children=True)
    assert sorted(r.name for r in runs) == ["sgd-diabetes", "trial-0", "trial-1", "trial-2", "trial-3"]
    assert all(len(r.get_metric_history("train_mse")) >= 1 for r in runs if r.parent is not None)

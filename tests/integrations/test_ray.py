"""Ray Tune: RunlogLoggerCallback, setup_runlog, autolog and Tuner.restore on a real local Ray (issue 17).

One Ray session for the module: ``ray.init(num_cpus=2, include_dashboard=False)`` on loopback.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# read when ray is imported: its servers then listen on 127.0.0.1 only, not on every interface
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
pytest.importorskip("ray.tune")

import ray
from ray import cloudpickle, tune
from ray.experimental import internal_kv
from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError, RunlogError
from runlog_core.integration import resolve_run
from runlog_integrations.ray import RunlogLoggerCallback, setup_runlog
from runlog_integrations.ray.trial import child_id

# the trainables below travel to Ray's workers by value: this test module is not importable there
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_address() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0")  # the experiment state is saved at every step
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        address = ray.get_runtime_context().gcs_address
        if not address.startswith("127.0.0.1:"):  # ray was imported before this module set the variable
            ray.shutdown()
            pytest.fail(f"Ray listens on {address}, not on loopback only: set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0")
        yield address
        ray.shutdown()


def committed(condition: Any, what: str) -> None:
    """Wait until ``condition()`` holds: what a trial's worker logged is committed when its function
    returns, by a thread of that worker, which may finish just after Tune's fit() has returned."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never committed: {what}"
        time.sleep(0.05)


def by_trial(parent: Run) -> dict[str, Run]:
    children = parent.get_children()
    ids = [child.get_tags()["ray.trial_id"] for child in children]
    assert len(ids) == len(set(ids))  # never two runs for one trial
    return dict(zip(ids, children))


def asha_trainable(config: dict[str, Any]) -> None:
    run = setup_runlog(config)
    assert setup_runlog(config) is run and Run.get_context() == run  # the same child, never a second
    assert resolve_run(default="elsewhere") == (run, False)  # what an integration made here logs into
    if config["lr"] < 0:
        raise ValueError("lr must be positive")
    run.upload_file("trainable.txt", b"written by the trial's worker")
    for i in range(4):
        run.log("from_trainable", i)
        tune.report({"loss": config["lr"] * (4 - i), "extra": {"nan": math.nan}, "flag": True})


def test_grid_with_asha_and_an_erroring_trial(ray_address: str, store_dir: Path, tmp_path: Path) -> None:
    experiment = Experiment("tune", store=store_dir)
    callback = RunlogLoggerCallback(experiment=experiment)
    # one trial at a time, best first: ASHA lets the first run to max_t and stops the second at its first rung
    tuner = tune.Tuner(
        asha_trainable,
        param_space={"lr": tune.grid_search([0.1, 1.0, -1.0]), "opt": {"name": "adam", "betas": [0.9, 0.99]}},
        tune_config=tune.TuneConfig(scheduler=ASHAScheduler(metric="loss", mode="min", max_t=4, grace_period=1,
                                                            reduction_factor=2), max_concurrent_trials=1),
        run_config=tune.RunConfig(name="asha", storage_path=str(tmp_path / "ray_results"), callbacks=[callback],
                                  verbose=0))
    results = tuner.fit()

    [parent] = experiment.get_runs()
    assert parent.name == "asha" and parent.get_status() == "Completed"
    assert parent.get_tags()["ray.experiment"] == "asha"
    children = by_trial(parent)
    assert len(children) == 3
    assert {result.metrics["trial_id"] for result in results if result.metrics.get("trial_id")} <= set(children)
    runs = {child.get_params()["lr"]: child for child in children.values()}
    best, stopped, failed = runs[0.1], runs[1.0], runs[-1.0]

    assert best.get_status() == "Completed"
    assert best.get_params() == {"lr": 0.1, "opt.name": "adam", "opt.betas": [0.9, 0.99]}
    history = best.get_metric_history("loss")
    assert [(p.step, p.value) for p in history] == [(1, pytest.approx(0.4)), (2, pytest.approx(0.3)),
                                                    (3, pytest.approx(0.2)), (4, pytest.approx(0.1))]
    assert [p.step for p in best.get_metric_history("time_total_s")] == [1, 2, 3, 4]
    assert all(math.isnan(p.value) for p in best.get_metric_history("extra/nan"))
    metrics = best.get_metrics()
    assert "flag" not in metrics and "pid" not in metrics and "training_iteration" not in metrics
    # what the trainable logged itself went into the same child
    committed(lambda: len(best.get_metrics().get("from_trainable", [])) == 4, "the trainable's own points")
    assert [p.value for p in best.get_metric_history("from_trainable")] == [0, 1, 2, 3]
    committed(lambda: "trainable.txt" in best.get_file_names(), "the trainable's file")
    assert best.get_tags()["ray.trial_name"] == best.name

    assert stopped.get_status() == "Canceled"  # ASHA stopped it at its first rung
    assert [p.step for p in stopped.get_metric_history("loss")] == [1]

    assert failed.get_status() == "Failed"
    assert "ValueError: lr must be positive" in failed.get_details()["error"]
    assert failed.get_metrics() == {}

    # the objective is the scheduler's: the parent keeps the best finished trial (last loss 0.1)
    tags = parent.get_tags()
    assert tags["runlog.sweep.primary_metric"] == "loss" and tags["runlog.sweep.goal"] == "minimize"
    assert tags["ray.best_trial"] == best.get_tags()["ray.trial_id"]
    assert json.loads(tags["ray.best_value"]) == pytest.approx(0.1)
    # each trial's worker derived its child's id from the one entry the callback published, taken back at the end
    assert all(child.id == child_id(parent.id, trial_id) for trial_id, child in children.items())
    assert internal_kv._internal_kv_list("ray/", namespace="runlog") == []


def test_bad_input_is_a_clear_error(ray_address: str, store_dir: Path) -> None:
    experiment = Experiment("bad", store=store_dir)
    with experiment.start_logging() as run:
        with pytest.raises(InvalidArgumentError, match="experiment must be None when run= is given") as info:
            RunlogLoggerCallback(run=run, experiment="bad")
        assert info.value.argument == "experiment"
    with pytest.raises(InvalidArgumentError, match="run must be a runlog_core.Run or None, got str"):
        RunlogLoggerCallback(run="abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="experiment must be an experiment name"):
        RunlogLoggerCallback(experiment=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"metric must be the name of a reported metric \(a non-empty str\) or None, got int"):
        RunlogLoggerCallback(metric=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="mode must be 'min', 'max' or None, got str"):
        RunlogLoggerCallback(metric="loss", mode="up")
    with pytest.raises(InvalidArgumentError, match="config must be the trial's config"):
        setup_runlog(config=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(RunlogError, match="inside a Ray Tune trainable"):
        setup_runlog({})


_CRASHING_DRIVER = '''
import sys, time
import ray, runlog_core
from ray import tune

ray.init(address=sys.argv[1], log_to_driver=False)
runlog_core.autolog("ray", experiment="crash")    # the Tuner gets RunlogLoggerCallback through the entry point

def train(config):
    for i in range(1, 4):
        tune.report({"loss": config["lr"] * i})
        if config["lr"] == 2.0 and i == 2:
            time.sleep(600)                           # the driver is killed while this trial runs

tune.Tuner(train, param_space={"lr": tune.grid_search([1.0, 2.0, 3.0])},
           tune_config=tune.TuneConfig(max_concurrent_trials=1),
           run_config=tune.RunConfig(name="crash", storage_path=sys.argv[2], verbose=0)).fit()
'''


def train(config: dict[str, Any]) -> None:  # named as the crashed driver's trainable: restore checks it
    for i in range(1, 4):
        tune.report({"loss": config["lr"] * i})


def test_restore_after_a_driver_crash_continues_the_same_runs(ray_address: str, store_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE", str(store_dir))
    script = tmp_path / "driver.py"
    script.write_text(_CRASHING_DRIVER)
    results = tmp_path / "ray_results"
    driver = subprocess.Popen([sys.executable, str(script), ray_address, str(results)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    experiment = Experiment("crash", store=store_dir)

    def second_trial_half_done() -> bool:
        for run in experiment.get_runs(include_children=True):
            if run.get_params().get("lr") == 2.0 and len(run.get_metric_history("loss")) == 2:
                return True
        return False

    deadline = time.monotonic() + 240
    while not (driver.poll() is None and second_trial_half_done()):
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:] if driver.stderr else ""
        assert time.monotonic() < deadline, "the driver never got to its second trial"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    if driver.stderr:
        driver.stderr.close()

    tuner = tune.Tuner.restore(str(results / "crash"), trainable=train, resume_unfinished=True)
    tuner.fit()

    [parent] = experiment.get_runs()
    assert parent.name == "crash" and parent.get_status() == "Completed"
    children = by_trial(parent)
    assert sorted(child.get_params()["lr"] for child in children.values()) == [1.0, 2.0, 3.0]
    for child in children.values():
        lr = child.get_params()["lr"]
        assert child.get_status() == "Completed"
        points = child.get_metric_history("loss")
        assert [(p.step, p.value) for p in points] == [(i, lr * i) for i in (1, 2, 3)]  # nothing twice
    assert len(experiment.get_runs(include_children=True)) == 4


def test_sklearn_search_on_the_ray_joblib_backend(ray_address: str, store_dir: Path) -> None:
    pytest.importorskip("sklearn")
    import joblib
    from ray.util.joblib import register_ray
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from runlog_integrations.sklearn import TrackedSearch

    register_ray()
    alphas = [0.1, 1.0, 10.0]
    grid = GridSearchCV(Ridge(), {"alpha": alphas}, cv=2, n_jobs=2)
    with joblib.parallel_backend("ray"):
        search = TrackedSearch(grid, experiment=Experiment("joblib-ray", store=store_dir)).fit(
            *load_diabetes(return_X_y=True))
    assert search.run_ is not None
    children = search.run_.get_children()
    assert sorted(child.get_params()["alpha"] for child in children) == alphas
    assert all(child.get_status() == "Completed" for child in children)


def own_run_trainable(config: dict[str, Any]) -> None:
    run = setup_runlog(config)
    assert setup_runlog(config) is run
    run.log("from_trainable", config["lr"])
    tune.report({"loss": config["lr"]})


def test_setup_runlog_without_the_callback_gives_the_trial_a_run_of_its_own(ray_address: str, store_dir: Path,
                                                                             tmp_path: Path) -> None:
    tune.Tuner(own_run_trainable, param_space={"lr": 0.5, "runlog": {"experiment": "own", "store": str(store_dir)}},
               run_config=tune.RunConfig(name="alone", storage_path=str(tmp_path / "ray_results"), verbose=0)).fit()
    [run] = Experiment("own", store=store_dir).get_runs(include_children=True)
    committed(lambda: "from_trainable" in run.get_metrics(), "the trainable's point")
    assert run.get_params() == {"lr": 0.5}
    assert run.get_tags()["ray.trial_id"]
    assert [p.value for p in run.get_metric_history("from_trainable")] == [0.5]


def reused_trainable(config: dict[str, Any]) -> None:
    setup_runlog(config)
    Run.get_context().log("from_context", config["lr"])  # this trial's run, not the actor's first trial's
    tune.report({"score": config["lr"] * 10})


def test_reused_actor_gives_each_trial_its_own_context_run(ray_address: str, store_dir: Path,
                                                           tmp_path: Path) -> None:
    experiment = Experiment("reuse", store=store_dir)
    results = tune.Tuner(
        reused_trainable, param_space={"lr": tune.grid_search([0.3, 0.1, 0.2])},
        tune_config=tune.TuneConfig(reuse_actors=True, max_concurrent_trials=1),
        run_config=tune.RunConfig(name="reuse", storage_path=str(tmp_path / "ray_results"), verbose=0,
                                  callbacks=[RunlogLoggerCallback(experiment=experiment, metric="score",
                                                                  mode="max")])).fit()
    assert len({result.metrics["pid"] for result in results}) == 1  # the three trials ran in one actor
    [parent] = experiment.get_runs()
    children = by_trial(parent)
    assert all(child.get_status() == "Completed" for child in children.values())
    for child in children.values():
        lr = child.get_params()["lr"]
        committed(lambda child=child: "from_context" in child.get_metrics(), "the trainable's point")
        assert [p.value for p in child.get_metric_history("from_context")] == [lr]
    # the callback's own metric and mode: the best is the highest score, kept current as trials finished
    tags = parent.get_tags()
    best = next(trial_id for trial_id, child in children.items() if child.get_params()["lr"] == 0.3)
    assert tags["ray.best_trial"] == best and json.loads(tags["ray.best_config"]) == {"lr": 0.3}
    assert tags["runlog.sweep.primary_metric"] == "score" and tags["runlog.sweep.goal"] == "maximize"
    assert [(p.step, p.value) for p in parent.get_metric_history("best_value")] == [(1, pytest.approx(3.0))]


def median_trainable(config: dict[str, Any]) -> None:
    for i in range(4):
        tune.report({"loss": config["lr"] * (4 - i)})


def test_median_stopping_rule_cancels_the_trials_it_stops(ray_address: str, store_dir: Path,
                                                          tmp_path: Path) -> None:
    experiment = Experiment("median", store=store_dir)
    # one trial at a time: the third's first loss is worse than the median of the first two: stopped there
    tune.Tuner(
        median_trainable, param_space={"lr": tune.grid_search([0.1, 0.05, 5.0])},
        tune_config=tune.TuneConfig(metric="loss", mode="min", max_concurrent_trials=1,
                                    scheduler=MedianStoppingRule(time_attr="training_iteration", grace_period=1,
                                                                 min_samples_required=1, min_time_slice=100)),
        run_config=tune.RunConfig(name="median", storage_path=str(tmp_path / "ray_results"), verbose=0,
                                  callbacks=[RunlogLoggerCallback(experiment=experiment)])).fit()
    [parent] = experiment.get_runs()
    runs = {child.get_params()["lr"]: child for child in by_trial(parent).values()}
    assert {lr: run.get_status() for lr, run in runs.items()} == {0.1: "Completed", 0.05: "Completed",
                                                                  5.0: "Canceled"}
    assert [p.step for p in runs[5.0].get_metric_history("loss")] == [1]
    # TuneConfig's metric and mode: the best trial (last loss 0.05) as trials finished, a canceled one counted
    tags = parent.get_tags()
    assert tags["runlog.sweep.primary_metric"] == "loss" and tags["runlog.sweep.goal"] == "minimize"
    assert tags["ray.best_trial"] == runs[0.05].get_tags()["ray.trial_id"]
    assert json.loads(tags["ray.best_value"]) == pytest.approx(0.05)
    assert json.loads(tags["ray.best_config"]) == {"lr": 0.05}
    assert [(p.step, p.value) for p in parent.get_metric_history("best_value")] == [
        (1, pytest.approx(0.1)), (2, pytest.approx(0.05))]

"""A Ray Tune sweep recorded in runlog: one parent run, one child run per trial (docs/ray.md).

    pip install 'runlog[ray]'
    python examples/ray_tune_sweep.py          # then: runlog runs -e ray-example, or runlog ui

A grid of learning rates on a toy problem, ASHA stopping the poor ones early, and one trial that
raises: the children read Completed, Canceled and Failed. The trainable logs a curve of its own
and a file into its trial's run through ``setup_runlog``.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: Ray listens on loopback only

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from runlog_core import Experiment
from runlog_integrations.ray import RunlogLoggerCallback, setup_runlog

EPOCHS = 8


def train(config: dict) -> None:
    run = setup_runlog(config)                    # this trial's child run, Running while the trial runs
    if config["lr"] > 1:
        raise ValueError(f"lr={config['lr']} diverges")
    weight = 0.0
    for epoch in range(1, EPOCHS + 1):
        for _ in range(config["model"]["steps"]):
            weight -= config["lr"] * 2 * (weight - 3.0)   # gradient descent on (w - 3)^2
        loss = (weight - 3.0) ** 2
        run.log("weight", weight, step=epoch)     # logged by the trainable itself
        if epoch == EPOCHS:
            run.upload_file("weight.txt", f"{weight}\n".encode())
        tune.report({"loss": loss, "epoch": epoch})   # every numeric value: a metric at step training_iteration


def main() -> None:
    store = Path("runlog").absolute()             # workers chdir into their trial folder: an absolute path
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.grid_search([0.3, 0.01, 0.001, 2.0]), "model": {"steps": 2}},
        tune_config=tune.TuneConfig(scheduler=ASHAScheduler(metric="loss", mode="min", max_t=EPOCHS, grace_period=2),
                                    max_concurrent_trials=1),
        run_config=tune.RunConfig(name="lr-grid", storage_path=str(Path("ray_results").absolute()), verbose=0,
                                  callbacks=[RunlogLoggerCallback(experiment=Experiment("ray-example", store=store))]))
    tuner.fit()
    ray.shutdown()

    [parent] = Experiment("ray-example", store=store).get_runs()[:1]
    print(f"parent {parent.name!r}: {parent.get_status()}")
    for child in sorted(parent.get_children(), key=lambda run: run.name):
        losses = child.get_metric_history("loss") if "loss" in child.get_metrics() else []
        last = f"loss {losses[-1].value:.4g} at step {losses[-1].step}" if losses else "no result"
        print(f"  {child.name}  lr={child.get_params()['lr']:<6} {child.get_status():<9} {last}")


if __name__ == "__main__":
    main()

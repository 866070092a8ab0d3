"""Azure's "train-hyperparameter-tune-deploy-with-sklearn" HyperDrive sweep, on runlog (docs/hyperdrive.md).

An SVC on the iris data, ``--kernel`` and ``--penalty`` sampled at random, a Bandit policy, the best run
by ``Accuracy``: 12 runs, 4 at a time, as in the notebook. The training script is
``hyperdrive_sklearn/train_iris.py``.

    pip install 'runlog[hyperdrive,sklearn]'
    python examples/hyperdrive_sklearn.py            # --max-total-runs 4 --max-concurrent-runs 2 for a quick look
    runlog runs -e hyperdrive-sklearn --all
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runlog_core import Experiment, ScriptRunConfig
from runlog_core.hyperdrive import BanditPolicy, HyperDriveConfig, PrimaryMetricGoal, RandomParameterSampling, choice

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-total-runs", type=int, default=12)
    parser.add_argument("--max-concurrent-runs", type=int, default=4)
    parser.add_argument("--store", default=None, help="the store (default: RUNLOG_STORE, else ./runlog)")
    options = parser.parse_args()

    experiment = Experiment("hyperdrive-sklearn", store=options.store)
    src = ScriptRunConfig(source_directory=HERE / "hyperdrive_sklearn", script="train_iris.py",
                          arguments=["--kernel", "linear", "--penalty", 1.0])

    param_sampling = RandomParameterSampling({
        "--kernel": choice("linear", "rbf", "poly", "sigmoid"),
        "--penalty": choice(0.5, 1, 1.5),
    })
    early_termination_policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1)
    hyperdrive_config = HyperDriveConfig(run_config=src,
                                         hyperparameter_sampling=param_sampling,
                                         policy=early_termination_policy,
                                         primary_metric_name="Accuracy",
                                         primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                                         max_total_runs=options.max_total_runs,
                                         max_concurrent_runs=options.max_concurrent_runs)

    hyperdrive_run = experiment.submit(hyperdrive_config)
    # in a notebook: from runlog_ui import RunDetails; RunDetails(hyperdrive_run).show()
    hyperdrive_run.wait_for_completion(show_output=True)

    best_run = hyperdrive_run.get_best_run_by_primary_metric()
    print(best_run.get_details()["runDefinition"]["arguments"])
    print("best run", best_run.id, "Accuracy", best_run.get_metrics()["Accuracy"])
    print(best_run.get_file_names())
    best_run.download_file("outputs/model.joblib", "model.joblib")


if __name__ == "__main__":
    main()

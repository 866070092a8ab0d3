"""An Optuna study recorded by runlog: a parent run for the study, a child run per trial.

Tunes a scikit-learn ``SGDRegressor`` on the diabetes data with TPE and a median pruner, two trials
at a time (``n_jobs=2``). Each trial's run is live while it trains (``track_in_runlog``): the
objective logs its learning curve into it through ``Run.get_context()``, and pruned trials end
Canceled. Start more workers on the same study at once (same ``--storage``) and they share the parent.

    python examples/optuna_sweep.py [--trials 20] [--storage sqlite:///optuna.db]
    runlog runs -e diabetes-optuna
"""

from __future__ import annotations

import argparse

import optuna
from sklearn.datasets import load_diabetes
from sklearn.linear_model import SGDRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from runlog_core import Run
from runlog_integrations.optuna import RunlogCallback

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.25, random_state=0)


def objective(trial: optuna.Trial) -> float:
    alpha = trial.suggest_float("alpha", 1e-6, 1.0, log=True)
    eta0 = trial.suggest_float("eta0", 1e-4, 0.1, log=True)
    penalty = trial.suggest_categorical("penalty", ["l2", "l1", "elasticnet"])
    model = SGDRegressor(alpha=alpha, eta0=eta0, penalty=penalty, random_state=trial.number)
    run = Run.get_context()  # this trial's run, in this thread
    mse = float("inf")
    for epoch in range(30):
        model.partial_fit(X_train, y_train)
        mse = float(mean_squared_error(y_valid, model.predict(X_valid)))
        run.log("train_mse", float(mean_squared_error(y_train, model.predict(X_train))), step=epoch)
        trial.report(mse, epoch)  # the child's series intermediate_value
        if trial.should_prune():
            raise optuna.TrialPruned()
    return mse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--storage", default=None, help="an Optuna storage URL shared by workers (default: in memory)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="sgd-diabetes", storage=args.storage, load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5))
    with RunlogCallback(experiment="diabetes-optuna", metric_name="valid_mse") as callback:
        study.optimize(callback.track_in_runlog()(objective), n_trials=args.trials, n_jobs=2, callbacks=[callback])
        parent = callback.parent_run(study)
    tags = parent.get_tags()
    print(f"study {study.study_name}: parent run {parent.id} ({parent.get_status()}), "
          f"{len(parent.get_children())} child runs")
    print(f"best trial {tags['optuna.best_trial']}: valid_mse {float(tags['optuna.best_value']):.1f} "
          f"with {tags['optuna.best_params']}")
    print("see them with: runlog runs -e diabetes-optuna   (or runlog ui)")


if __name__ == "__main__":
    main()

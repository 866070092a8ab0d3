"""XGBoost with early stopping, recorded by runlog's TrainingCallback.

Logs the booster's full params, train/valid logloss and error at every iteration, the best
iteration and its metrics, the iteration training stopped at, a feature-importance table
(weight, gain, cover) and the model as JSON, trimmed to the best iteration.

    python examples/xgboost_early_stopping.py
    runlog show <run id>
"""

from __future__ import annotations

import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from runlog_integrations.xgboost import RunlogCallback


def main() -> None:
    data = load_breast_cancer()
    X_train, X_valid, y_train, y_valid = train_test_split(data.data, data.target, test_size=0.25, random_state=0)
    names = [name.replace(" ", "_") for name in data.feature_names]
    dtrain = xgb.DMatrix(X_train, y_train, feature_names=names)
    dvalid = xgb.DMatrix(X_valid, y_valid, feature_names=names)
    callback = RunlogCallback(experiment="breast-cancer-xgb", log_model=True)
    booster = xgb.train(
        {"objective": "binary:logistic", "eval_metric": ["logloss", "error"], "eta": 0.1, "max_depth": 3},
        dtrain, num_boost_round=500, evals=[(dtrain, "train"), (dvalid, "valid")],
        early_stopping_rounds=20, callbacks=[callback], verbose_eval=False,
    )
    run = callback.active_run
    assert run is not None
    print(f"run {run.id}: best iteration {booster.best_iteration} (valid error {booster.best_score:.4f}), "
          f"stopped at {booster.num_boosted_rounds() - 1}; files: {run.get_file_names()}")
    print(f"see it with: runlog show {run.id}")


if __name__ == "__main__":
    main()

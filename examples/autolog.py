"""autolog(): log scikit-learn and XGBoost training without touching the training code.

After ``runlog_core.autolog()``, a plain estimator's fit logs its params and training
score, a parameter search logs a parent run and one child run per candidate, and
``xgb.train`` (and XGBClassifier/XGBRegressor.fit) get runlog's callback. Lightning
Trainers get a RunlogLogger and Keras ``fit`` a RunlogCallback the same way.

    python examples/autolog.py
    runlog runs -e autolog-demo
"""

from __future__ import annotations

import xgboost as xgb
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV, train_test_split

import runlog_core
from runlog_core import Experiment


def main() -> None:
    runlog_core.autolog(frameworks=["sklearn", "xgboost"], experiment="autolog-demo")
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    # unchanged training code from here on
    LogisticRegression(max_iter=500).fit(X_train, y_train)
    RandomizedSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
                       n_iter=4, cv=3, random_state=0).fit(X_train, y_train)
    xgb.XGBClassifier(n_estimators=200, max_depth=2, early_stopping_rounds=10).fit(
        X_train, y_train, eval_set=[(X_test, y_test)], verbose=False)

    runlog_core.autolog(disable=True)
    for run in Experiment("autolog-demo").get_runs(include_children=True):
        print(f"{run.id}  {run.get_status():9}  {run.name}")


if __name__ == "__main__":
    main()

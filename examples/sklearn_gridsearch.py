"""A Ridge regression sweep over 20 alphas on the diabetes data, tracked as a GridSearchCV.

The Azure Machine Learning "train on local" sample logged one run per alpha by hand; here
the sweep is a scikit-learn GridSearchCV and TrackedSearch records it: a parent run with the
search's settings, best params and the whole cv_results_ table, and one child run per alpha
with its mean/std scores, rank and the per-fold scores (step = fold).

    python examples/sklearn_gridsearch.py
    runlog runs -e diabetes-sweep
    runlog show <parent run id>
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, train_test_split

from runlog_integrations.sklearn import TrackedSearch


def main() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    alphas = np.round(np.arange(0.0, 1.0, 0.05), 2)  # the sample's 20 alphas
    search = TrackedSearch(
        GridSearchCV(Ridge(), {"alpha": alphas}, cv=5,
                     scoring={"mse": "neg_mean_squared_error", "r2": "r2"}, refit="mse",
                     return_train_score=True),
        experiment="diabetes-sweep",
    )
    search.fit(X_train, y_train)
    run = search.run_
    if run is None:  # the store could not be opened: the fit went on and a warning says why
        raise SystemExit("no run was recorded")
    test_mse = float(np.mean((search.predict(X_test) - y_test) ** 2))
    print(f"parent run {run.id}: best alpha {search.best_params_['alpha']:.2f}, "
          f"cv mse {-search.best_score_:.1f}, test mse {test_mse:.1f}, "
          f"{len(run.get_children())} child runs")
    print(f"see it with: runlog show {run.id}")


if __name__ == "__main__":
    main()

"""What tracking costs on tabular training: runlog against no tracking and against MLflow autolog.

Two workloads, each timed without tracking, with runlog and with MLflow's autolog, with the
three variants interleaved (the order rotates every repeat) so that machine noise falls on
all of them alike; medians are reported with the overhead over no tracking.

- ``xgb.train``: 500 rounds on a generated 50,000 x 20 regression set with two eval sets
  (train and valid); runlog's ``RunlogCallback`` against ``mlflow.xgboost.autolog()``.
- ``GridSearchCV``: 48 candidates x 5 folds of a RandomForestClassifier (25 trees) on the
  breast-cancer data; ``TrackedSearch`` (a parent and 48 child runs with per-fold scores)
  against ``mlflow.sklearn.autolog()`` (its defaults: 5 child runs, the model logged).

Both trackers write to a fresh temporary folder: runlog to its SQLite store, MLflow to a
SQLite tracking database. Run:

    python benchmarks/tabular_overhead.py [--repeats 5] [--only xgb|grid]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any


def _xgb_workload() -> dict[str, Callable[[], None]]:
    import numpy as np
    import xgboost as xgb

    from runlog_integrations.xgboost import RunlogCallback

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 20)).astype("float32")
    y = X @ rng.normal(size=20) + np.sin(X[:, 0] * 3) + rng.normal(scale=0.5, size=len(X))
    dtrain = xgb.DMatrix(X[:50_000], y[:50_000])
    dvalid = xgb.DMatrix(X[50_000:], y[50_000:])
    # one thread: on a shared machine, OpenMP spin-waits of idle threads would swamp the figures
    params = {"max_depth": 6, "eta": 0.05, "nthread": 1, "tree_method": "hist",
              "eval_metric": ["rmse", "mae"]}
    evals = [(dtrain, "train"), (dvalid, "valid")]

    def plain() -> None:
        xgb.train(params, dtrain, 500, evals=evals, verbose_eval=False)

    def ours() -> None:
        xgb.train(params, dtrain, 500, evals=evals, verbose_eval=False,
                  callbacks=[RunlogCallback(experiment="bench-xgb")])

    def mlflow_autolog() -> None:
        import mlflow

        mlflow.xgboost.autolog(silent=True)
        try:
            xgb.train(params, dtrain, 500, evals=evals, verbose_eval=False)
        finally:
            mlflow.xgboost.autolog(disable=True)

    return {"none": plain, "runlog": ours, "mlflow": mlflow_autolog}


def _grid_workload() -> dict[str, Callable[[], None]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV

    from runlog_integrations.sklearn import TrackedSearch

    X, y = load_breast_cancer(return_X_y=True)
    grid = {"max_depth": [2, 4, 6, 8], "min_samples_leaf": [1, 2, 4, 8], "max_features": [0.3, 0.6, 1.0]}

    def search() -> GridSearchCV:
        return GridSearchCV(RandomForestClassifier(n_estimators=25, random_state=0, n_jobs=1), grid, cv=5)

    def plain() -> None:
        search().fit(X, y)

    def ours() -> None:
        TrackedSearch(search(), experiment="bench-grid").fit(X, y)

    def mlflow_autolog() -> None:
        import mlflow

        mlflow.sklearn.autolog(silent=True)
        try:
            search().fit(X, y)
        finally:
            mlflow.sklearn.autolog(disable=True)

    return {"none": plain, "runlog": ours, "mlflow": mlflow_autolog}


def _time(workload: dict[str, Callable[[], None]], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Wall-clock and CPU seconds (all threads of this process) per variant and repeat.

    CPU time is the figure to trust on a shared machine: other processes stretch the wall
    clock of whichever variant they happen to overlap, not the CPU this process spends.
    """
    names = list(workload)
    for name in names:  # warm-up: imports, store and database creation
        workload[name]()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names):] + names[: repeat % len(names)]
        for name in order:
            wall, cpu = time.perf_counter(), time.process_time()
            workload[name]()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def _report(title: str, times: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{title}")
    print(f"  {'variant':8} {'wall s':>8} {'(min-max)':>15} {'overhead':>9} {'cpu s':>8} {'overhead':>9}")
    base = {kind: statistics.median(times["none"][kind]) for kind in ("wall", "cpu")}
    for name, kinds in times.items():
        cells = []
        for kind in ("wall", "cpu"):
            median = statistics.median(kinds[kind])
            overhead = "" if name == "none" else f"{(median / base[kind] - 1) * 100:+.1f} %"
            cells.append((median, overhead))
        spread = f"({min(kinds['wall']):.2f}-{max(kinds['wall']):.2f})"
        print(f"  {name:8} {cells[0][0]:8.3f} {spread:>15} {cells[0][1]:>9} {cells[1][0]:8.3f} {cells[1][1]:>9}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["xgb", "grid"], default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    with tempfile.TemporaryDirectory(prefix="runlog-bench-") as folder:
        os.environ["RUNLOG_STORE"] = os.path.join(folder, "runlog")
        try:
            import mlflow

            mlflow.set_tracking_uri(f"sqlite:///{os.path.join(folder, 'mlflow.db')}")
        except ImportError:
            raise SystemExit("this benchmark compares with MLflow: pip install mlflow") from None
        import platform

        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"{args.repeats} interleaved repeats after one warm-up each")
        results: dict[str, Any] = {}
        if args.only in (None, "xgb"):
            results["xgb"] = _time(_xgb_workload(), args.repeats)
            _report("xgb.train, 500 rounds, 50,000 x 20 rows, eval sets train + valid (rmse, mae)", results["xgb"])
        if args.only in (None, "grid"):
            results["grid"] = _time(_grid_workload(), args.repeats)
            _report("GridSearchCV, 48 candidates x 5 folds, RandomForestClassifier(25 trees), breast cancer",
                    results["grid"])


if __name__ == "__main__":
    main()

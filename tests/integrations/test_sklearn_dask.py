"""A scikit-learn search run on a dask cluster of processes keeps one child run per candidate (issue 17).

The candidates' fits run in dask worker processes (joblib's "dask" backend); every run is still
written by the process that called ``fit``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed")

import joblib  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from runlog_core import Experiment  # noqa: E402
from runlog_integrations.sklearn import TrackedSearch  # noqa: E402


@pytest.fixture(scope="module")
def dask_client() -> Any:
    """A dask cluster of two worker processes on loopback only, no dashboard."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_grid_search_on_dask_workers_has_one_child_per_candidate(dask_client: Any, store_dir: Any) -> None:
    X, y = load_diabetes(return_X_y=True)
    alphas = [0.01, 0.1, 1.0, 10.0]
    grid = GridSearchCV(Ridge(), {"alpha": alphas}, cv=3, n_jobs=-1)
    worker_pids = set(dask_client.run(os.getpid).values())
    with joblib.parallel_backend("dask"):
        search = TrackedSearch(grid, experiment=Experiment("dask", store=store_dir)).fit(X, y)

    parent = search.run_
    assert parent is not None and parent.get_status() == "Completed"
    children = parent.get_children()
    assert sorted(child.get_params()["alpha"] for child in children) == alphas  # one each, none twice
    for child in children:
        assert child.get_status() == "Completed"
        i = alphas.index(child.get_params()["alpha"])
        assert child.get_metrics()["mean_test_score"] == pytest.approx(grid.cv_results_["mean_test_score"][i])
        assert [p.step for p in child.get_metric_history("test_score")] == [0, 1, 2]
    # the fits ran in the dask workers; the runs were written here
    assert os.getpid() not in worker_pids
    assert {child.get_details()["pid"] for child in children} == {os.getpid()}
    assert len(Experiment("dask", store=store_dir).get_runs(include_children=True)) == 1 + len(alphas)

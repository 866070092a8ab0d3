from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest

pytest.importorskip("sklearn")

import numpy as np
from scipy.stats import loguniform
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
)
from sklearn.tree import DecisionTreeClassifier

import runlog_integrations.sklearn as tracked
from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_integrations.sklearn import TrackedSearch, _live, log_search


@pytest.fixture(scope="module")
def diabetes() -> tuple[Any, Any]:
    return load_diabetes(return_X_y=True)


def parent_of(search: TrackedSearch) -> Run:
    """The parent run of a fitted TrackedSearch (None only when the store failed)."""
    assert search.run_ is not None
    return search.run_


def _same(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def _assert_row(child: Run, results: Any, row: int, n_splits: int, prefix: str = "") -> None:
    """The numbers and per-fold series of one cv_results_ row are in the child (names prefixed)."""
    metrics = child.get_metrics()
    for key, column in results.items():
        if key == "params" or key.startswith("param_"):
            continue
        if key.startswith("split"):
            fold, _, series = key[len("split"):].partition("_")
            history = child.get_metric_history(prefix + series)
            point = [p for p in history if p.step == int(fold)]
            assert len(point) == 1 and _same(point[0].value, column[row]), key
        else:
            assert _same(metrics[prefix + key], column[row]), key
    for series in {k.partition("_")[2] for k in results if k.startswith("split")}:
        assert [p.step for p in child.get_metric_history(prefix + series)] == list(range(n_splits))


def assert_children_match(parent: Run, search: Any, expect: int | None = None) -> list[Run]:
    """Every child run equals its row of cv_results_: params, every number, per-fold series.

    A halving search's child stands for one candidate: its last row (tag candidate_index) is
    logged as is, its earlier rows (tag cv_results_rows) under ``iter{k}_``."""
    results = search.cv_results_
    children = parent.get_children()
    rows_seen: list[int] = []
    n_splits = search.n_splits_
    for child in children:
        index = int(child.get_tags()["candidate_index"])
        rows = [int(r) for r in child.get_tags().get("cv_results_rows", str(index)).split(",")]
        assert rows[-1] == index
        rows_seen += rows
        assert child.get_params() == pytest.approx(results["params"][index])
        assert child.name == tracked.candidate_name(results["params"][index])
        _assert_row(child, results, index, n_splits)
        for row in rows[:-1]:
            assert results["params"][row] == results["params"][index]
            _assert_row(child, results, row, n_splits, prefix=f"iter{results['iter'][row]}_")
        if "iter" in results:
            assert [int(results["iter"][r]) for r in rows] == list(range(len(rows)))
    assert len(rows_seen) == len(set(rows_seen))
    if expect is None:
        assert sorted(rows_seen) == list(range(len(results["params"])))
        if "iter" in results:
            expect = int(sum(1 for i in results["iter"] if i == 0))
        else:
            expect = len(results["params"])
    assert len(children) == expect
    return children


def assert_live_times(parent: Run, search: Any, sequential: bool) -> list[Run]:
    """Each child's start and end are its folds' real times: inside the parent's, and with
    n_jobs=1 in the order the search ran its first batch of candidates."""
    parent_details = parent.get_details()
    children = sorted(parent.get_children(), key=lambda c: int(c.get_tags()["cv_results_rows"].split(",")[0]
                                                                if "cv_results_rows" in c.get_tags()
                                                                else c.get_tags()["candidate_index"]))
    spans = []
    for child in children:
        details = child.get_details()
        assert parent_details["startTimeUtc"] <= details["startTimeUtc"] < details["endTimeUtc"]
        assert details["endTimeUtc"] <= parent_details["endTimeUtc"]
        assert [p.step for p in child.get_metric_history("fold_time")] == list(range(search.n_splits_))
        spans.append((details["startTimeUtc"], details["endTimeUtc"]))
    if sequential:
        starts = [start for start, _ in spans]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
    return children


def _spy_fit(search: Any, parent: Run) -> list[tuple[str, str]]:
    """Notes (name, status) of the parent's children the moment the search's own fit returns,
    before TrackedSearch logs anything from cv_results_: live children are there already."""
    seen: list[tuple[str, str]] = []
    fit = type(search).fit

    def spied(*args: Any, **kwargs: Any) -> Any:
        result = fit(search, *args, **kwargs)
        seen.extend((c.name, c.get_status()) for c in parent.get_children())
        return result

    search.fit = spied
    return seen


def test_grid_search_children_equal_cv_results_row_by_row(diabetes: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]},
                        cv=4, return_train_score=True)
    search = TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    parent = parent_of(search)
    assert parent.get_status() == "Completed"
    children = assert_children_match(parent, grid)
    assert {c.get_status() for c in children} == {"Completed"}

    params = parent.get_params()
    assert params["search"] == "GridSearchCV"
    assert params["estimator"] == "Ridge"
    assert params["estimator_params.alpha"] == 1.0
    assert params["cv"] == 4 and params["n_splits"] == 4 and params["refit"] is True
    assert params["param_grid.alpha"] == [0.01, 0.1, 1.0, 10.0]
    assert params["best_params.alpha"] == grid.best_params_["alpha"]
    metrics = parent.get_metrics()
    assert metrics["best_score"] == pytest.approx(grid.best_score_)
    assert metrics["best_index"] == grid.best_index_
    assert metrics["refit_time"] == pytest.approx(grid.refit_time_)
    assert metrics["n_candidates"] == 8
    table = metrics["cv_results"]
    assert table["mean_test_score"] == pytest.approx(list(grid.cv_results_["mean_test_score"]))
    assert table["param_alpha"] == [0.01, 0.01, 0.1, 0.1, 1.0, 1.0, 10.0, 10.0]
    assert "params" not in table


def test_live_children_have_real_times_and_fold_times(diabetes: Any) -> None:
    if not _live.has_callback_api(GridSearchCV(Ridge(), {})):
        pytest.skip("this scikit-learn has no callback API for searches")
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3)
    search = TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    parent_details = parent_of(search).get_details()
    spans = []
    for child in sorted(parent_of(search).get_children(), key=lambda c: int(c.get_tags()["candidate_index"])):
        details = child.get_details()
        assert details["startTimeUtc"] >= parent_details["startTimeUtc"]
        assert details["endTimeUtc"] <= parent_details["endTimeUtc"]
        spans.append((details["startTimeUtc"], details["endTimeUtc"]))
        assert [p.step for p in child.get_metric_history("fold_time")] == [0, 1, 2]
    # sequential (n_jobs=1): each candidate ends before the next one starts
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))


def test_post_hoc_when_no_callback_api(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_live, "has_callback_api", lambda search: False)
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3)
    search = TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    assert_children_match(parent_of(search), grid)
    assert not hasattr(grid, "_skl_callbacks")


def test_multi_metric_with_refit_by_name() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    grid = GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3]}, cv=3,
                        scoring={"acc": "accuracy", "f1": "f1"}, refit="f1")
    search = TrackedSearch(grid, experiment="cancer").fit(X, y)
    children = assert_children_match(parent_of(search), grid)
    for child in children:
        assert {"mean_test_acc", "std_test_f1", "rank_test_f1"} <= set(child.get_metrics())
        assert len(child.get_metric_history("test_acc")) == 3
    metrics = parent_of(search).get_metrics()
    assert metrics["best_score"] == pytest.approx(grid.best_score_)
    assert metrics["best_score"] == pytest.approx(grid.cv_results_["mean_test_f1"][grid.best_index_])
    assert parent_of(search).get_params()["refit"] == "f1"
    assert parent_of(search).get_params()["scoring.acc"] == "accuracy"
    # the objective the UI's sweep view ranks the children by (#17): the refit scorer's mean
    tags = parent_of(search).get_tags()
    assert (tags["runlog.sweep.primary_metric"], tags["runlog.sweep.goal"]) == ("mean_test_f1", "maximize")


def test_n_jobs_2_logs_from_this_process(diabetes: Any) -> None:
    import os

    grid = GridSearchCV(Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0]}, cv=3, n_jobs=2)
    random = RandomizedSearchCV(Ridge(), {"alpha": loguniform(1e-3, 1e2)}, n_iter=4, cv=3, n_jobs=2,
                                random_state=0)
    halving = HalvingRandomSearchCV(Ridge(), {"alpha": loguniform(1e-3, 1e2)}, n_candidates=4, cv=3,
                                    factor=2, min_resources=100, n_jobs=2, random_state=0)
    live = _live.has_callback_api(grid)
    for inner in (grid, random, halving):
        search = TrackedSearch(inner, experiment="diabetes").fit(*diabetes)
        children = assert_children_match(parent_of(search), inner)
        assert {c.get_details()["pid"] for c in children} == {os.getpid()}
        assert parent_of(search).get_status() == "Completed"
        if live:
            assert_live_times(parent_of(search), inner, sequential=False)


def test_failing_candidate_is_nan_and_failed(diabetes: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [-1.0, 1.0]}, cv=3, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.simplefilter("ignore", UserWarning)
        search = TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    children = {c.get_params()["alpha"]: c for c in assert_children_match(parent_of(search), grid)}
    bad = children[-1.0]
    assert bad.get_status() == "Failed"
    assert bad.get_tags()["fit_failed"] == "3/3 folds"
    assert math.isnan(bad.get_metrics()["mean_test_score"])
    assert all(math.isnan(p.value) for p in bad.get_metric_history("test_score"))
    assert children[1.0].get_status() == "Completed"
    assert parent_of(search).get_status() == "Completed"


def test_a_fit_that_raises_fails_the_parent_and_reraises_unchanged(diabetes: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [-1.0, 1.0]}, cv=3, error_score="raise")
    with pytest.raises(Exception) as plain:
        clone(grid).fit(*diabetes)
    with pytest.raises(type(plain.value)) as caught:
        TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    assert str(caught.value) == str(plain.value)
    runs = Experiment("diabetes").get_runs()
    assert [r.get_status() for r in runs] == ["Failed"]
    assert type(plain.value).__name__ in runs[0].get_details()["error"]
    assert not hasattr(grid, "_skl_callbacks")  # the live callback was taken off again


def test_max_child_runs_keeps_the_best_ranked(diabetes: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [0.001, 0.1, 10.0, 1000.0]}, cv=3)
    search = TrackedSearch(grid, experiment="diabetes", max_child_runs=2).fit(*diabetes)
    children = assert_children_match(parent_of(search), grid, expect=2)
    ranks = sorted(int(c.get_metrics()["rank_test_score"]) for c in children)
    assert ranks == [1, 2]
    assert len(parent_of(search).get_metrics()["cv_results"]["rank_test_score"]) == 4
    if _live.has_callback_api(grid):  # built after fit, but with their folds' real times
        assert_live_times(parent_of(search), grid, sequential=True)


def test_randomized_and_halving_searches() -> None:
    X, y = load_iris(return_X_y=True)
    random = RandomizedSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 0.1, 1.0, 10.0]}, n_iter=3,
                                cv=3, random_state=0)
    search = TrackedSearch(random, experiment="iris").fit(X, y)
    assert_children_match(parent_of(search), random)
    assert parent_of(search).get_params()["n_iter"] == 3
    halving = HalvingGridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3, 4]}, cv=3,
                                  factor=2, min_resources=30, random_state=0)
    search = TrackedSearch(halving, experiment="iris").fit(X, y)
    children = assert_children_match(parent_of(search), halving, expect=4)  # 7 rows: 4 + 2 + 1
    assert {"iter", "n_resources"} <= set(children[0].get_metrics())
    best = [c for c in children if int(c.get_tags()["candidate_index"]) == halving.best_index_]
    assert len(best) == 1 and best[0].get_metrics()["iter"] == 2
    assert {"iter0_mean_test_score", "iter1_n_resources"} <= set(best[0].get_metrics())


def test_randomized_search_children_are_live_with_real_times(diabetes: Any) -> None:
    if not _live.has_callback_api(RandomizedSearchCV(Ridge(), {})):
        pytest.skip("this scikit-learn has no callback API for searches")
    np.random.seed(7)  # random_state=None draws from NumPy's global state: followed too
    random = RandomizedSearchCV(Ridge(), {"alpha": loguniform(1e-3, 1e2), "fit_intercept": [True, False]},
                                n_iter=4, cv=3)
    with Experiment("diabetes").start_logging() as parent:
        seen = _spy_fit(random, parent)
        TrackedSearch(random, run=parent).fit(*diabetes)
    # live: every child existed when the search's fit returned, Running until its scores are logged
    assert sorted(seen) == sorted((tracked.candidate_name(p), "Running") for p in random.cv_results_["params"])
    children = assert_children_match(parent, random)
    assert {c.get_status() for c in children} == {"Completed"}
    assert_live_times(parent, random, sequential=True)


def test_halving_random_search_children_are_live_one_per_candidate() -> None:
    X, y = load_iris(return_X_y=True)
    if not _live.has_callback_api(HalvingRandomSearchCV(DecisionTreeClassifier(), {})):
        pytest.skip("this scikit-learn has no callback API for searches")
    halving = HalvingRandomSearchCV(DecisionTreeClassifier(random_state=0),
                                    {"max_depth": [1, 2, 3, 4, 5, 6], "criterion": ["gini", "entropy"]},
                                    n_candidates=6, cv=3, factor=2, min_resources=30, random_state=0)
    with Experiment("iris").start_logging() as parent:
        seen = _spy_fit(halving, parent)
        TrackedSearch(halving, run=parent).fit(X, y)
    results = halving.cv_results_
    first = [tracked.candidate_name(p) for p, i in zip(results["params"], results["iter"]) if i == 0]
    # live: every candidate's child existed when fit returned, Running (it may go on to the next iteration)
    assert sorted(seen) == sorted((name, "Running") for name in first)
    children = assert_children_match(parent, halving, expect=6)
    assert {c.get_status() for c in children} == {"Completed"}
    assert_live_times(parent, halving, sequential=True)
    assert max(len(c.get_tags().get("cv_results_rows", "0").split(",")) for c in children) == 3


def test_run_argument_is_the_parent_and_stays_running(diabetes: Any) -> None:
    with Experiment("diabetes").start_logging() as parent:
        search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3), run=parent)
        search.fit(*diabetes)
        assert parent.get_status() == "Running"
        assert len(parent.get_children()) == 2
    assert parent.get_status() == "Completed"


def test_clone_and_get_params_with_a_run_argument(diabetes: Any) -> None:
    """A Run has an Azure-style get_params(): scikit-learn must not take it for an estimator."""
    with Experiment("diabetes").start_logging() as parent:
        search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2), run=parent)
        params = search.get_params()
        assert params["run"] is parent and params["search__cv"] == 2
        assert not any(key.startswith("run__") for key in params)
        copy = clone(search)
        assert copy.run is parent and copy.search is not search.search
        copy.fit(*diabetes)
    assert len(Run(Experiment("diabetes"), parent.id).get_children()) == 2


def test_log_search_of_a_search_fitted_elsewhere(diabetes: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3, return_train_score=True).fit(*diabetes)
    with Experiment("later").start_logging() as run:
        assert log_search(grid, run=run) is run
        assert run.get_status() == "Running"  # not its run: never ended by log_search
        assert_children_match(run, grid)
    alone = log_search(grid)
    assert alone.get_status() == "Completed" and alone.experiment.name == "sklearn"
    with pytest.raises(InvalidArgumentError, match="fitted_search") as caught:
        log_search(Ridge())
    assert caught.value.argument == "fitted_search"


@pytest.mark.parametrize("experiment", ["x", Experiment], ids=["name", "Experiment"])
def test_log_search_into_an_experiment(diabetes: Any, experiment: Any) -> None:
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3).fit(*diabetes)
    parent = log_search(grid, experiment="x" if experiment == "x" else experiment("x"))
    [stored] = Experiment("x").get_runs()  # read back from the store, not from the Run object
    assert stored.id == parent.id and stored.get_status() == "Completed"
    assert stored.name == "GridSearchCV"
    assert stored.get_params()["best_params.alpha"] == grid.best_params_["alpha"]
    assert stored.get_metrics()["best_score"] == pytest.approx(grid.best_score_)
    children = assert_children_match(stored, grid, expect=3)
    assert sorted(c.get_params()["alpha"] for c in children) == [0.1, 1.0, 10.0]
    assert {c.get_status() for c in children} == {"Completed"}
    assert Experiment("sklearn").get_runs() == []


def test_the_parent_run_experiment_then_env_then_default(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def grid() -> Any:
        return GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2)

    TrackedSearch(grid()).fit(*diabetes)
    monkeypatch.setenv("RUNLOG_EXPERIMENT", "from-env")
    TrackedSearch(grid()).fit(*diabetes)
    TrackedSearch(grid(), experiment="named").fit(*diabetes)  # experiment= wins over RUNLOG_EXPERIMENT
    for name in ("sklearn", "from-env", "named"):
        [run] = Experiment(name).get_runs()
        assert run.get_status() == "Completed" and len(run.get_children()) == 2, name


def test_under_runlog_submit_the_submitted_run_is_the_parent_and_stays_running(tmp_path: Any) -> None:
    """RUNLOG_RUN_ID set (as runlog submit sets it): the search and autolog's estimator fits log
    into the submitted run, even with experiment= given, and never end it."""
    submitted = Experiment("submitted").start_logging()
    script = textwrap.dedent("""
        import runlog_core
        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV
        from runlog_core import Run
        from runlog_integrations.sklearn import TrackedSearch

        X, y = load_diabetes(return_X_y=True)
        search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2), experiment="elsewhere")
        search.fit(X, y)
        runlog_core.autolog(frameworks="sklearn")
        Ridge(alpha=0.5).fit(X, y)
        runlog_core.autolog(disable=True)
        print(search.run_.id, search.run_.get_status())
    """)
    env = {**os.environ, "RUNLOG_RUN_ID": submitted.id, "RUNLOG_STORE": str(tmp_path / "runlog")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [submitted.id, "Running"]
    stored = Run(Experiment("submitted"), submitted.id)
    assert stored.get_params()["best_params.alpha"] in (0.1, 1.0)
    children = {c.name: c for c in stored.get_children()}
    assert set(children) == {"alpha=0.1", "alpha=1.0", "Ridge"}
    assert children["Ridge"].get_params()["alpha"] == 0.5
    assert children["Ridge"].get_status() == "Completed"
    assert Experiment("elsewhere").get_runs() == []
    submitted.complete()


def test_meta_estimator_protocol(diabetes: Any) -> None:
    search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3), experiment="diabetes")
    params = search.get_params()
    assert params["search__cv"] == 3 and params["experiment"] == "diabetes"
    search.set_params(search__cv=4, max_child_runs=1)
    assert search.search.cv == 4 and search.max_child_runs == 1
    copy = clone(search)
    assert copy.search is not search.search and copy.get_params()["search__cv"] == 4
    assert is_regressor(search) and not is_classifier(search)
    assert not hasattr(search, "best_params_")
    search.fit(*diabetes)
    X, y = diabetes
    assert search.best_params_ == search.search.best_params_
    assert np.allclose(search.predict(X[:5]), search.best_estimator_.predict(X[:5]))
    assert search.score(X, y) == pytest.approx(search.search.score(X, y))
    assert "cv_results_" in dir(search)
    restored = pickle.loads(pickle.dumps(search))
    assert np.allclose(restored.predict(X[:5]), search.predict(X[:5]))
    assert is_classifier(TrackedSearch(GridSearchCV(LogisticRegression(), {"C": [1.0]})))


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"search": Ridge()}, "search"),
    ({"max_child_runs": -1}, "max_child_runs"),
    ({"max_child_runs": 1.5}, "max_child_runs"),
    ({"experiment": 42}, "experiment"),
    ({"run": "run-id"}, "run"),
    ({"run": "both", "experiment": "x"}, "experiment"),
], ids=["search", "negative-max", "float-max", "experiment", "run", "run-and-experiment"])
def test_bad_arguments_raise_at_construction(kwargs: dict[str, Any], argument: str) -> None:
    if kwargs.get("run") == "both":
        kwargs["run"] = Experiment("elsewhere").start_logging()
    kwargs.setdefault("search", GridSearchCV(Ridge(), {}))
    with pytest.raises(InvalidArgumentError, match=argument) as caught:
        TrackedSearch(**kwargs)
    assert isinstance(caught.value, TypeError) and caught.value.argument == argument
    assert Experiment("sklearn").get_runs() == []


def test_bad_arguments_set_later_raise_before_fitting(diabetes: Any) -> None:
    search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [1.0]}))
    search.set_params(experiment=3.5)
    with pytest.raises(InvalidArgumentError, match="experiment"):
        search.fit(*diabetes)
    grid = GridSearchCV(Ridge(), {"alpha": [1.0]}).fit(*diabetes)
    with pytest.raises(InvalidArgumentError, match="experiment"):
        log_search(grid, experiment=["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_child_runs"):
        log_search(grid, max_child_runs=-2)
    assert Experiment("sklearn").get_runs() == []


def test_a_failing_store_never_breaks_the_fit(diabetes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Run, "log_metrics", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setattr(Run, "child_run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    grid = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TrackedSearch(grid, experiment="diabetes").fit(*diabetes)
    assert grid.best_params_ == {"alpha": 0.1}
    messages = [str(w.message) for w in caught if str(w.message).startswith("runlog")]
    assert messages and len(messages) == len(set(messages))

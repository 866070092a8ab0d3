"""DataFrames (issue 12): search_runs(output="pandas"|"polars") and run.get_metrics_frame()."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from runlog_core import (
    Experiment,
    InvalidArgumentError,
    MetricNotFoundError,
    MissingDependencyError,
    Run,
    search_runs,
)

pd = pytest.importorskip("pandas")


@pytest.fixture
def two_runs(experiment: Experiment) -> tuple[Run, Run]:
    """A completed run with metrics, params and tags of every type, and a Running one with fewer."""
    with experiment.start_logging(name="first", outputs=None) as first:
        first.log_params({"lr": 0.1, "epochs": 3, "optimizer": "adam", "nesterov": True})
        first.set_tags({"team": "vision"})
        for step in range(4):
            first.log_metrics({"loss": 1.0 / (step + 1), "epoch": step}, step=step)
        first.log("converged", True)
        first.log("phase", "done")
        first.log_table("confusion", {"tp": [3], "fp": [1]})
    second = experiment.start_logging(name="second", outputs=None)
    second.log_params({"lr": 0.2, "epochs": 5})
    second.log("loss", math.nan)
    second.flush()
    return first, second


def test_search_runs_as_pandas_is_one_row_per_run_as_mlflow_gives(two_runs: tuple[Run, Run], store: Any) -> None:
    first, second = two_runs
    frame = search_runs(store=store, output="pandas")
    assert list(frame.columns[:6]) == ["run_id", "name", "status", "start_time", "end_time", "duration"]
    assert list(frame["run_id"]) == [run.id for run in search_runs(store=store)] == [second.id, first.id]
    rows = {row["name"]: row for row in frame.to_dict("records")}
    done, running = rows["first"], rows["second"]
    assert (done["status"], running["status"]) == ("Completed", "Running")
    details = first.get_details()
    assert abs(done["start_time"] - pd.Timestamp(details["startTimeUtc"])) <= pd.Timedelta(1, "us")
    assert abs(done["end_time"] - pd.Timestamp(details["endTimeUtc"])) <= pd.Timedelta(1, "us")
    assert str(frame["start_time"].dt.tz) == "UTC" and pd.isna(running["end_time"])
    assert done["duration"] == pytest.approx(details["duration"]) and running["duration"] >= 0
    # metrics: the latest value of each scalar series, with its type; tables are not metrics
    assert done["metrics.loss"] == 0.25 and math.isnan(running["metrics.loss"])
    assert done["metrics.epoch"] == 3 and math.isnan(running["metrics.epoch"])
    assert done["metrics.converged"] is True and running["metrics.converged"] is None
    assert done["metrics.phase"] == "done" and pd.isna(running["metrics.phase"])
    assert not any("confusion" in column for column in frame.columns)
    # params and tags keep their types; missing ones are NaN/None
    assert frame["params.lr"].dtype == "float64" and list(frame["params.lr"]) == [0.2, 0.1]
    assert list(frame["params.epochs"]) == [5, 3]
    assert done["params.optimizer"] == "adam" and pd.isna(running["params.optimizer"])
    assert done["params.nesterov"] is True
    assert done["tags.team"] == "vision" and pd.isna(running["tags.team"])
    second.complete()


def test_search_runs_keeps_the_filter_and_order(two_runs: tuple[Run, Run], store: Any) -> None:
    first, second = two_runs
    frame = search_runs("params.lr >= 0.1", order_by=["params.epochs"], store=store, output="pandas")
    assert list(frame["name"]) == ["first", "second"]
    assert search_runs("params.lr > 1", store=store, output="pandas").empty
    second.complete()


def test_search_runs_as_polars(two_runs: tuple[Run, Run], store: Any) -> None:
    pl = pytest.importorskip("polars")
    first, second = two_runs
    frame = search_runs(store=store, output="polars", order_by=["name"])
    assert isinstance(frame, pl.DataFrame)
    assert frame["run_id"].to_list() == [first.id, second.id]
    assert frame.schema["start_time"] == pl.Datetime("us", "UTC")
    assert frame["end_time"][1] is None
    ended = datetime.fromisoformat(first.get_details()["endTimeUtc"])
    assert abs(frame["end_time"][0] - ended).total_seconds() <= 1e-6
    assert frame["metrics.loss"][0] == 0.25 and math.isnan(frame["metrics.loss"][1])
    assert frame["params.epochs"].to_list() == [3, 5] and frame.schema["params.epochs"] == pl.Int64
    assert frame["params.nesterov"].to_list() == [True, None]
    assert frame["tags.team"].to_list() == ["vision", None]
    second.complete()


def test_no_runs_is_an_empty_frame_with_the_run_columns(store: Any) -> None:
    frame = search_runs(store=store, output="pandas")
    assert frame.empty and list(frame.columns[:6]) == ["run_id", "name", "status", "start_time", "end_time",
                                                        "duration"]


@pytest.mark.parametrize("output", ["csv", "Pandas", None, 3], ids=["csv", "capitalised", "none", "int"])
def test_a_bad_output_names_the_argument_and_the_choices(store: Any, output: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="output must be one of 'runs', 'pandas', 'polars'") as caught:
        search_runs(store=store, output=output)
    assert caught.value.argument == "output" and caught.value.value == output


def test_a_missing_library_says_what_to_install(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install polars") as caught:
        search_runs(store=store, output="polars")
    assert isinstance(caught.value, ImportError) and caught.value.package == "polars"


# -- the long form of a run's series -----------------------------------------------------------------

def test_metrics_frame_is_the_long_form_of_the_history(run: Run) -> None:
    for step in range(3):
        run.log_metrics({"loss": 0.5 ** step, "acc": step * 0.25}, step=step)
    run.flush()  # a second batch: the series are read across chunks
    run.log("loss", math.inf, step=10)
    run.log("lr", 1e-3)
    run.log_table("cm", {"a": [1]})
    frame = run.get_metrics_frame()
    assert list(frame.columns) == ["name", "step", "value", "timestamp"]
    assert list(frame["name"]) == ["loss"] * 4 + ["acc"] * 3 + ["lr"]
    assert list(frame["step"]) == [0, 1, 2, 10, 0, 1, 2, 0]
    assert list(frame["value"]) == [1.0, 0.5, 0.25, math.inf, 0.0, 0.25, 0.5, 1e-3]
    assert frame["value"].dtype == "float64" and frame["step"].dtype == "int64"
    history = run.get_metric_history("loss")
    expected = [datetime.fromtimestamp(point.timestamp, timezone.utc) for point in history]
    assert all(abs(got - want) <= pd.Timedelta(1, "us") for got, want in zip(frame["timestamp"][:4], expected))
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_metrics_frame_keeps_value_types_and_selects_names(run: Run) -> None:
    run.log("flag", True)
    run.log("flag", False)
    run.log("phase", "warmup")
    run.log("phase", "train")
    run.log("count", 2)
    run.log("count", 2.5)  # an int and a float in one batch: a row each in the store
    run.log("nan", math.nan)
    run.log_list("sizes", [8, 16])
    assert list(run.get_metrics_frame("flag")["value"]) == [True, False]
    assert run.get_metrics_frame("flag")["value"].dtype == bool
    phases = run.get_metrics_frame(["phase", "count"])
    assert list(phases["name"]) == ["phase", "phase", "count", "count"]
    assert list(phases["value"]) == ["warmup", "train", 2, 2.5]
    assert math.isnan(run.get_metrics_frame("nan")["value"][0])
    assert list(run.get_metrics_frame("sizes")["value"]) == [8, 16]


def test_metrics_frame_of_a_store_without_columnar_reads(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other stores need only get_points: the frame is the same."""
    for step in range(5):
        run.log("loss", 1.0 / (step + 1), step=step)
    run.log("done", True)
    fast = run.get_metrics_frame()
    monkeypatch.delattr(type(run._store), "get_point_columns")
    slow = run.get_metrics_frame()
    pd.testing.assert_frame_equal(fast, slow)


def test_metrics_frame_as_polars(run: Run) -> None:
    pl = pytest.importorskip("polars")
    for step in range(3):
        run.log("loss", 1.0 - step / 10, step=step)
    frame = run.get_metrics_frame(output="polars")
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["name", "step", "value", "timestamp"]
    assert frame["value"].to_list() == [1.0, 0.9, 0.8] and frame["step"].to_list() == [0, 1, 2]
    first = run.get_metric_history("loss")[0].timestamp
    assert abs(frame["timestamp"][0] - datetime.fromtimestamp(first, timezone.utc)).total_seconds() <= 1e-6


def test_metrics_frame_of_a_run_without_metrics_is_empty(run: Run) -> None:
    frame = run.get_metrics_frame()
    assert frame.empty and list(frame.columns) == ["name", "step", "value", "timestamp"]


def test_metrics_frame_bad_names(run: Run) -> None:
    run.log("loss", 0.1)
    run.log_row("row", a=1)
    with pytest.raises(MetricNotFoundError, match=r"has no metric 'lost'; its metrics: 'loss'") as caught:
        run.get_metrics_frame(["loss", "lost"])
    assert isinstance(caught.value, KeyError) and caught.value.name == "lost"
    with pytest.raises(InvalidArgumentError, match=r"'row' holds rows: read it with run.get_metrics\('row'\)"):
        run.get_metrics_frame("row")
    with pytest.raises(InvalidArgumentError, match="names must be a metric name"):
        run.get_metrics_frame(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="output must be one of 'pandas', 'polars'"):
        run.get_metrics_frame(output="runs")


def test_a_frame_of_many_runs_gives_each_run_its_own_values_and_types(experiment: Experiment, store: Any) -> None:
    """Issue 21: the frame reads the runs' latest metrics, params and tags 500 runs at a time (three queries
    per 500, not per run); each row still holds its own run's values, with their types (a bool metric
    stored as 0/1 reads back as a bool, an int metric 0/1 as an int, digit strings stay strings)."""
    count = 503  # two pages of runs and a bit
    for i in range(count):
        with experiment.start_logging(name=f"r{i}", outputs=None) as run:
            run.log_params({"i": i, "neg": -i, "half": i / 2, "digits": str(i), "flag": i % 2 == 0, "items": [i, "x"],
                            "big": 10**20 + i, "tree": {"depth": i}})
            run.set_tags({"k": f"v{i}"})
            run.log_metrics({"loss": i / 10, "odd": i % 2}, step=0)
            run.log("done", i % 3 == 0)
            run.log("phase", "a" if i % 2 else "b")
            run.log_list("curve", [1.0, 2.0])  # a list series: not a metrics.* column
    frame = search_runs(store=store, output="pandas")
    assert len(frame) == count and frame["run_id"].is_unique
    assert "metrics.curve" not in frame.columns
    for row in frame.to_dict("records"):
        i = int(row["name"][1:])
        assert (row["params.i"], row["params.neg"], row["params.half"]) == (i, -i, i / 2)
        assert row["params.digits"] == str(i) and type(row["params.digits"]) is str
        assert row["params.flag"] is (i % 2 == 0)
        assert row["params.items"] == [i, "x"] and row["params.big"] == 10**20 + i and row["params.tree.depth"] == i
        assert row["tags.k"] == f"v{i}"
        assert row["metrics.loss"] == i / 10
        assert row["metrics.odd"] == i % 2 and type(row["metrics.odd"]) is int
        assert row["metrics.done"] is (i % 3 == 0)
        assert row["metrics.phase"] == ("a" if i % 2 else "b")

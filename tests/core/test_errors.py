"""#9 "every point reads back with its own type", and failures that must surface as runlog errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runlog_core import Experiment, Run, search_runs
from runlog_core.exceptions import FilterSyntaxError, InvalidArgumentError, InvalidMetricError, RunlogError


def test_a_bool_logged_into_a_number_series_reads_back_as_a_bool(store_dir: Path) -> None:
    run = Experiment("types", store=store_dir).start_logging()
    run.log("acc", 0.5)
    run.log("acc", True)  # the same batch: a mixed one
    run.log("acc", 3)
    run.flush()
    run.log("acc", False)  # a batch of bools only
    run.log_metrics({"acc": True}, step=10)
    run.flush()
    run.log_metrics({"loss": 1.5, "acc": 0.25})
    run.log_list("flags", [True, 0, 1.5, False])
    run.complete()
    reopened = Run(run.experiment, run.id)
    history = reopened.get_metric_history("acc")
    assert [(point.step, point.value, type(point.value)) for point in history] == [
        (0, 0.5, float), (1, True, bool), (2, 3, int), (3, False, bool), (10, True, bool), (11, 0.25, float)]
    flags = reopened.get_metrics("flags")
    assert flags == [True, 0, 1.5, False] and [type(v) for v in flags] == [bool, int, float, bool]


def test_the_latest_bool_of_a_number_series_is_a_bool_and_searchable_as_a_number(store_dir: Path) -> None:
    exp = Experiment("latest", store=store_dir)
    with exp.start_logging(name="ended-true") as first:
        first.log("converged", 0.0)
        first.log("converged", True)
    with exp.start_logging(name="ended-one") as second:
        second.log("converged", 0.5)
        second.log("converged", 1)
    [info] = [s for s in exp._store.get_series(first.id) if s.name == "converged"]
    assert info.last_value is True
    [info] = [s for s in exp._store.get_series(second.id) if s.name == "converged"]
    assert info.last_value == 1 and type(info.last_value) is int
    assert sorted(run.name for run in search_runs("metrics.converged = 1", experiment="latest",
                                                  store=store_dir)) == ["ended-one", "ended-true"]


@pytest.mark.parametrize("text", [
    " or ".join(["metrics.m = 1"] * 100),
    " and ".join(["metrics.m = 1"] * 1_000),
    "(" * 1_000 + "metrics.m = 1" + ")" * 1_000,
    " or ".join(["metrics.m = 1"] * 20_000),
], ids=["or-100", "and-1000", "parens-1000", "or-20000"])
def test_search_runs_answers_or_raises_a_runlog_error(store_dir: Path, text: str) -> None:
    with Experiment("search", store=store_dir).start_logging() as run:
        run.log("m", 1)
    try:
        found = search_runs(text, store=store_dir)
    except FilterSyntaxError as err:
        assert "too long" in str(err) or "parentheses nest" in str(err)
    else:
        assert [r.id for r in found] == [run.id]


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["positive", "negative"])
def test_a_number_beyond_float_names_the_metric_and_what_is_accepted(store_dir: Path, value: int) -> None:
    run = Experiment("overflow", store=store_dir).start_logging()
    with pytest.raises(InvalidMetricError) as caught:
        run.log("grad_norm", value)
    assert caught.value.name == "grad_norm" and caught.value.value == value
    assert isinstance(caught.value, RunlogError) and isinstance(caught.value, TypeError)
    assert "float range" in str(caught.value) and len(str(caught.value)) < 400
    run.complete()
    assert Run(run.experiment, run.id).get_metrics() == {}


def test_a_params_cycle_names_the_key_path_and_logs_nothing(store_dir: Path) -> None:
    config: dict[str, object] = {"lr": 0.1, "optimizer": {"name": "adam"}}
    config["optimizer"]["parent"] = config  # type: ignore[index]
    run = Experiment("cycle", store=store_dir).start_logging()
    with pytest.raises(InvalidArgumentError) as caught:
        run.log_params(config)
    assert caught.value.argument == "param 'optimizer.parent'"
    assert isinstance(caught.value, RunlogError)
    run.complete()
    assert Run(run.experiment, run.id).get_params() == {}

"""Conformance tests: experiments, runs and their lifecycle, and search."""

from __future__ import annotations

import time

import pytest

from runlog_core.base.filter import parse_filter, parse_order_by
from runlog_core.store import Batch, SeriesRef, Store

from ._store_helpers import batch_of, new_run, write_points

__all__ = [
    "test_a_run_is_found_by_id_prefix_or_name",
    "test_a_run_reads_back_as_created",
    "test_a_stale_heartbeat_reads_killed_and_a_new_one_revives_it",
    "test_close_can_be_called_twice",
    "test_experiments_are_created_once_and_listed",
    "test_long_and_or_chains_search_like_short_ones",
    "test_list_runs_filters_by_experiment_status_tags_and_parent",
    "test_reattach_makes_an_ended_run_running_again",
    "test_run_ends_set_status_end_time_and_error",
    "test_search_runs_over_metrics_params_tags_and_attributes",
    "test_unknown_ids_read_as_nothing",
]


def test_experiments_are_created_once_and_listed(store: Store) -> None:
    first = store.get_or_create_experiment("mnist")
    second = store.get_or_create_experiment("cifar é")
    assert store.get_or_create_experiment("mnist") == first != second
    assert store.get_experiment_id("cifar é") == second
    assert store.get_experiment_id("missing") is None
    assert store.list_experiments() == [(first, "mnist"), (second, "cifar é")]


def test_a_run_reads_back_as_created(store: Store) -> None:
    info = new_run(store, "exp", "my run", start_time=1_700_000_000.25)
    got = store.get_run(info.id)
    assert got == info
    parent = new_run(store, "exp")
    child = new_run(store, "exp", parent_id=parent.id)
    assert store.get_run(child.id) == child


def test_unknown_ids_read_as_nothing(store: Store) -> None:
    info = new_run(store)
    assert store.get_run("no-such-run") is None
    assert store.get_series("no-such-run") == []
    assert store.get_params("no-such-run") == {} and store.get_tags("no-such-run") == {}
    assert store.get_artifacts("no-such-run") == []
    assert store.get_points(987654) == [] and store.count_points(987654) == 0
    assert store.get_series(info.id) == [] and store.get_params(info.id) == {}


def test_a_run_is_found_by_id_prefix_or_name(store: Store) -> None:
    new_run(store, run_id="abc123def")
    new_run(store, run_id="abd456aaa", name="best")
    new_run(store, run_id="a_c999zzz")
    assert sorted(store.find_run_ids("ab")) == ["abc123def", "abd456aaa"]
    assert store.find_run_ids("abc1") == ["abc123def"]
    assert store.find_run_ids("best") == ["abd456aaa"]
    assert store.find_run_ids("a_c") == ["a_c999zzz"]  # `_` and `%` are not wildcards
    assert store.find_run_ids("a%") == [] and store.find_run_ids("zzz") == []


def test_list_runs_filters_by_experiment_status_tags_and_parent(store: Store) -> None:
    old = new_run(store, "a", "old", start_time=100.0)
    mid = new_run(store, "a", "mid", start_time=200.0)
    new = new_run(store, "a", "new", start_time=300.0)
    child = new_run(store, "a", "child", parent_id=mid.id, start_time=250.0)
    other = new_run(store, "b", "other", start_time=400.0)
    batch = Batch()
    batch.ends.append((old.id, "Completed", 150.0, None))
    batch.tags.extend([(old.id, "team", "vision"), (mid.id, "team", "nlp"), (new.id, "ok", "")])
    store.write(batch)
    a = store.get_experiment_id("a")

    def names(**filters: object) -> list[str]:
        return [info.name for info in store.list_runs(**filters)]  # type: ignore[arg-type]

    assert names() == ["other", "new", "child", "mid", "old"]  # newest first
    assert names(experiment_id=a) == ["new", "child", "mid", "old"]
    assert names(experiment_id=a, include_children=False) == ["new", "mid", "old"]
    assert names(parent_id=mid.id) == ["child"]
    assert names(status="Completed") == ["old"]
    assert names(experiment_id=a, status="Running") == ["new", "child", "mid"]
    assert names(tags={"team": "vision"}) == ["old"]
    assert names(tags={"team": None}) == ["mid", "old"]
    assert names(tags={"team": None, "ok": None}) == []
    assert names(tags={"ok": ""}) == ["new"]
    assert [info.id for info in store.list_runs(experiment_id=store.get_experiment_id("b"))] == [other.id]
    assert store.get_run(child.id).parent_id == mid.id  # type: ignore[union-attr]


def test_run_ends_set_status_end_time_and_error(store: Store) -> None:
    done, failed, canceled = new_run(store), new_run(store), new_run(store)
    batch = Batch()
    batch.ends.extend([(done.id, "Completed", 10.5, None), (failed.id, "Failed", 11.0, "Traceback ...\nValueError: x"),
                       (canceled.id, "Canceled", 12.0, None)])
    store.write(batch)
    for info, status, end, error in ((done, "Completed", 10.5, None), (failed, "Failed", 11.0,
                                     "Traceback ...\nValueError: x"), (canceled, "Canceled", 12.0, None)):
        got = store.get_run(info.id)
        assert got is not None and (got.status, got.end_time, got.error) == (status, end, error)
    again = Batch()
    again.ends.append((failed.id, "Failed", 13.0, None))  # no new error: the first is kept
    store.write(again)
    got = store.get_run(failed.id)
    assert got is not None and (got.end_time, got.error) == (13.0, "Traceback ...\nValueError: x")


def test_reattach_makes_an_ended_run_running_again(store: Store) -> None:
    info = new_run(store)
    batch = Batch()
    batch.ends.append((info.id, "Failed", 50.0, "boom"))
    store.write(batch)
    before = time.time()
    store.reattach_run(info.id, pid=777, host="other-host", heartbeat_timeout=30.0)
    got = store.get_run(info.id)
    assert got is not None
    assert (got.status, got.end_time, got.pid, got.host, got.heartbeat_timeout) == (
        "Running", None, 777, "other-host", 30.0)
    assert got.heartbeat is not None and got.heartbeat >= before - 1


def test_a_stale_heartbeat_reads_killed_and_a_new_one_revives_it(store: Store) -> None:
    now = time.time()
    dead = new_run(store, "hb", "dead", heartbeat=now - 3600, heartbeat_timeout=60.0)
    alive = new_run(store, "hb", "alive", heartbeat=now, heartbeat_timeout=3600.0)
    got = store.get_run(dead.id)
    assert got is not None and got.status == "Killed" and got.end_time == dead.heartbeat
    assert [i.name for i in store.list_runs(status="Killed")] == ["dead"]
    assert [i.name for i in store.list_runs(status="Running")] == ["alive"]
    assert [i.name for i in store.list_runs(experiment_id=dead.experiment_id)] == ["alive", "dead"]
    batch = Batch()
    batch.heartbeats.append(dead.id)  # the process was only paused: its writer beats again
    store.write(batch)
    got = store.get_run(dead.id)
    assert got is not None and got.status == "Running" and got.end_time is None
    assert got.heartbeat is not None and got.heartbeat >= now - 1
    ended = Batch()
    ended.ends.append((alive.id, "Completed", now, None))
    store.write(ended)
    late = Batch()
    late.heartbeats.append(alive.id)  # a heartbeat after the end changes nothing
    store.write(late)
    got = store.get_run(alive.id)
    assert got is not None and got.status == "Completed" and got.end_time == now


def _search(store: Store, text: str | None, order: list[str] | None = None,
            experiment_id: int | None = None) -> list[str]:
    expression = parse_filter(text) if text else None
    return [info.name for info in store.search_runs(expression, parse_order_by(order), experiment_id)]


def test_search_runs_over_metrics_params_tags_and_attributes(store: Store) -> None:
    specs = [("r1", 0.1, 2900.0, "adam", "a"), ("r2", 0.5, 3100.0, "sgd", "b"), ("r3", 1.0, None, "adam", None)]
    for index, (name, alpha, mse, solver, team) in enumerate(specs):
        info = new_run(store, "search", name, start_time=1000.0 + index)
        series = [SeriesRef(info.id, "mse", "number"), SeriesRef(info.id, "phase", "str")]
        batch = batch_of([(series[0], 0, 99999.0), (series[0], 1, mse)] if mse is not None else [],
                         new=series if mse is not None else [])
        batch.params.extend([(info.id, "alpha", alpha), (info.id, "solver", solver)])
        if team:
            batch.tags.append((info.id, "team", team))
        store.write(batch)
        if mse is not None:
            write_points(store, series[1], ["train", "done"], new=False)
    elsewhere = new_run(store, "other", "r4", start_time=2000.0)
    write_points(store, SeriesRef(elsewhere.id, "mse", "number"), [1.0])
    failed = Batch()
    failed.ends.append((store.find_run_ids("r2")[0], "Failed", 1500.0, "diverged"))
    store.write(failed)
    exp = store.get_experiment_id("search")

    assert _search(store, "metrics.mse < 3000", experiment_id=exp) == ["r1"]
    assert _search(store, "metrics.mse < 3000") == ["r4", "r1"]  # every experiment, newest first
    assert _search(store, "metrics.mse >= 2900 and params.alpha >= 0.5") == ["r2"]
    assert _search(store, "metrics.phase = 'done'", experiment_id=exp) == ["r2", "r1"]
    assert _search(store, "params.solver = 'adam' or tags.team = 'b'") == ["r3", "r2", "r1"]
    assert _search(store, "params.solver != 'adam'") == ["r2"]
    assert _search(store, "params.alpha = 1") == ["r3"]  # 1 and 1.0 compare equal
    assert _search(store, "tags.team = 'a'") == ["r1"]
    assert _search(store, "status = 'Failed'") == ["r2"]
    assert _search(store, "status = 'Running' and experiment = 'search'") == ["r3", "r1"]
    assert _search(store, "name = 'r3' and duration >= 0") == ["r3"]
    assert _search(store, "metrics.missing > 0") == []
    assert _search(store, "params.solver = 'x\\' OR 1=1 --'") == []
    assert _search(store, None, ["metrics.mse"], exp) == ["r1", "r2", "r3"]  # missing values last
    assert _search(store, None, ["metrics.mse DESC"], exp) == ["r2", "r1", "r3"]
    assert _search(store, None, ["-params.alpha"], exp) == ["r3", "r2", "r1"]
    assert _search(store, None, ["tags.team DESC", "name"], exp) == ["r2", "r1", "r3"]
    assert _search(store, None, [], exp) == ["r3", "r2", "r1"]


def test_long_and_or_chains_search_like_short_ones(store: Store) -> None:
    # #9: a filter of 1,000 terms is one flat And or Or node of 1,000 terms, not 1,000 levels
    for k in range(4):
        info = new_run(store, "chains", f"k{k}", start_time=1000.0 + k)
        series = SeriesRef(info.id, "k", "number")
        batch = batch_of([(series, 0, k)], new=[series])
        batch.params.append((info.id, "k", k))
        store.write(batch)
    for terms in (100, 1_000):
        wanted = " or ".join(f"metrics.k = {100 + i}" for i in range(terms - 2)) + " or metrics.k = 1 or params.k = 3"
        assert _search(store, wanted) == ["k3", "k1"]
        bounds = " and ".join(f"metrics.k > {-1 - i}" for i in range(terms - 1)) + " and params.k <= 2"
        assert _search(store, bounds) == ["k2", "k1", "k0"]
        nested = f"(({wanted}) and ({bounds})) or (params.k = 0 and (metrics.k = 0 or metrics.k = 9))"
        assert _search(store, nested) == ["k1", "k0"]


@pytest.mark.filterwarnings("error")
def test_close_can_be_called_twice(store_factory: object) -> None:
    opened: Store = store_factory()  # type: ignore[operator]
    new_run(opened)
    opened.close()
    opened.close()

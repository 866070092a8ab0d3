"""Conformance tests: what a batch carries (points of every kind, params, tags, artifacts) and how it commits."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from runlog_core.exceptions import RunlogError, StoreError
from runlog_core.store import BOOL, IMAGE, LIST, NUMBER, ROW, STR, TABLE, ArtifactInfo, Batch, SeriesRef, Store

from ._store_helpers import T0, batch_of, new_run, same_value, write_points

__all__ = [
    "test_a_bool_in_a_number_series_or_a_list_reads_back_as_a_bool",
    "test_a_number_series_keeps_each_values_type_across_batches",
    "test_a_refused_batch_leaves_nothing_behind",
    "test_a_series_created_twice_is_one_series",
    "test_artifacts_are_listed_by_name_and_replaced",
    "test_params_of_every_type_read_back_equal_and_keep_their_first_value",
    "test_points_keep_their_logged_order_across_batches",
    "test_points_of_every_kind_read_back_as_python_values",
    "test_reads_from_other_threads_see_whole_batches_while_writing",
    "test_tags_are_overwritten_by_a_later_value",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

KIND_CASES: list[tuple[str, str, list[Any]]] = [
    ("float", NUMBER, [1.5, math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, 5e-324, -2.25]),
    ("int", NUMBER, [0, 1, -1, INT64_MIN, INT64_MAX, 42]),
    ("int-and-float", NUMBER, [1, 1.0, 2, 2.5, -0.0, 0, math.nan, INT64_MAX]),
    ("bool", BOOL, [True, False, True]),
    ("str", STR, ["", "héllo", "日本語 🚀", "a\nb\tc", "'; DROP TABLE runs; --", "x" * 5000]),
    ("list", LIST, [1.0, 2, math.nan, -0.5, "label"]),
    ("row", ROW, [{"x": 1, "y": 2.5}, {"x": 2, "y": None, "z": "ü"}, {"nan": math.nan, "big": INT64_MAX}]),
    ("table", TABLE, [{"a": [1, 2, 3], "b": ["x", "y", "z"]}, {"a": [], "b": []},
                      {"c": [1.5, None, math.inf]}]),
    ("image", IMAGE, ["images/plot/step_0.png", "images/plot/step_1.jpg", "images/日本/step_2.png"]),
]


@pytest.mark.parametrize(("kind", "values"), [case[1:] for case in KIND_CASES], ids=[case[0] for case in KIND_CASES])
def test_points_of_every_kind_read_back_as_python_values(store: Store, kind: str, values: list[Any]) -> None:
    run = new_run(store)
    series = SeriesRef(run.id, f"metric/{kind} é", kind, "what it measures")
    write_points(store, series, values, steps=[10 * i for i in range(len(values))])
    assert series.id is not None  # set by the store when it created the series
    points = store.get_points(series.id)
    assert [step for step, _, _ in points] == [10 * i for i in range(len(values))]
    assert [ts for _, _, ts in points] == [T0 + i for i in range(len(values))]
    got = [value for _, value, _ in points]
    assert all(same_value(g, e) for g, e in zip(got, values)) and len(got) == len(values), (got, values)
    assert store.count_points(series.id) == len(values)
    [info] = store.get_series(run.id)
    assert (info.id, info.run_id, info.name, info.kind, info.description) == (
        series.id, run.id, series.name, kind, "what it measures")
    assert (info.last_step, info.last_time) == (10 * (len(values) - 1), T0 + len(values) - 1)
    assert same_value(info.last_value, values[-1]), info.last_value


def test_a_number_series_keeps_each_values_type_across_batches(store: Store) -> None:
    run = new_run(store)
    series = SeriesRef(run.id, "loss", NUMBER)
    batches: list[list[Any]] = [[0.5, 0.25], [3, 4], [5, 0.125, math.nan], [INT64_MIN], [-0.0]]
    for index, values in enumerate(batches):
        write_points(store, series, values, steps=list(range(len(values))), new=index == 0)
    expected = [value for values in batches for value in values]
    assert series.id is not None
    got = [value for _, value, _ in store.get_points(series.id)]
    assert len(got) == len(expected) and all(same_value(g, e) for g, e in zip(got, expected)), got
    [info] = store.get_series(run.id)
    assert same_value(info.last_value, -0.0)


@pytest.mark.parametrize("kind", [NUMBER, LIST])
def test_a_bool_in_a_number_series_or_a_list_reads_back_as_a_bool(store: Store, kind: str) -> None:
    # #9: every point reads back with its own type; SQLite keeps a bool as 0/1, an int
    run = new_run(store)
    series = SeriesRef(run.id, "flag", kind)
    batches: list[list[Any]] = [[True], [0.5, False, 3, True, True, 1, 0], [False, False], [1.5, True], [0, 1]]
    for index, values in enumerate(batches):
        write_points(store, series, values, steps=list(range(len(values))), new=index == 0)
        [info] = store.get_series(run.id)
        assert same_value(info.last_value, values[-1]), (info.last_value, values[-1])
    expected = [value for values in batches for value in values]
    assert series.id is not None
    got = [value for _, value, _ in store.get_points(series.id)]
    assert len(got) == len(expected) and all(same_value(g, e) for g, e in zip(got, expected)), got
    assert store.count_points(series.id) == len(expected)
    write_points(store, series, [True], steps=[99], new=False)
    [info] = store.get_series(run.id)
    assert same_value(info.last_value, True) and info.last_step == 99


def test_points_keep_their_logged_order_across_batches(store: Store) -> None:
    run = new_run(store)
    a, b = SeriesRef(run.id, "a", NUMBER), SeriesRef(run.id, "b", NUMBER)
    store.write(batch_of([(a, 5, 1.0), (b, 0, 10), (a, 5, 2.0), (a, 3, 3.0)], new=[a, b]))
    store.write(batch_of([(b, 0, 11), (a, 10, 4.0), (b, 9, 12)], time0=T0 + 100))
    store.write(batch_of([(a, 0, 5.0)] + [(b, step, step) for step in range(10_000)], time0=T0 + 200))
    assert a.id is not None and b.id is not None
    # repeated and lower steps are kept, in the order written; points are never sorted by step
    assert [(step, value) for step, value, _ in store.get_points(a.id)] == [
        (5, 1.0), (5, 2.0), (3, 3.0), (10, 4.0), (0, 5.0)]
    points_b = store.get_points(b.id)
    assert [(step, value) for step, value, _ in points_b[:3]] == [(0, 10), (0, 11), (9, 12)]
    assert [value for _, value, _ in points_b[3:]] == list(range(10_000))
    assert store.count_points(b.id) == 10_003
    last = {info.name: (info.last_step, info.last_value) for info in store.get_series(run.id)}
    assert last == {"a": (0, 5.0), "b": (9_999, 9_999)}


def test_a_series_created_twice_is_one_series(store: Store) -> None:
    run = new_run(store)
    first = SeriesRef(run.id, "acc", NUMBER)
    write_points(store, first, [0.5])
    again = SeriesRef(run.id, "acc", NUMBER)  # the writer resends a series after a failed batch
    write_points(store, again, [0.75], steps=[1])
    assert again.id == first.id is not None
    assert [value for _, value, _ in store.get_points(first.id)] == [0.5, 0.75]
    assert [info.name for info in store.get_series(run.id)] == ["acc"]


PARAMS: dict[str, Any] = {
    "lr": 0.001, "epochs": 10, "big": 2**80, "negative": -(2**70), "int64": INT64_MAX, "flag": True,
    "off": False, "none": None, "empty": "", "solver": "adam", "optimizer.betas": [0.9, 0.999],
    "model.layers.0.units": 128, "mixed": [[1, 2], {"a": "b"}, None, "x"], "unicode ü": "日本語",
    "zero": -0.0, "dict": {"k": 1},
}


def test_params_of_every_type_read_back_equal_and_keep_their_first_value(store: Store) -> None:
    run = new_run(store)
    batch = Batch()
    batch.params.extend((run.id, key, value) for key, value in PARAMS.items())
    store.write(batch)
    later = Batch()
    later.params.extend([(run.id, "lr", 0.5), (run.id, "late", "yes")])
    store.write(later)
    params = store.get_params(run.id)
    assert list(params) == [*PARAMS, "late"]  # the order first logged
    assert all(same_value(params[key], value) for key, value in PARAMS.items()), params
    assert params["late"] == "yes"
    assert store.get_params(new_run(store).id) == {}


def test_tags_are_overwritten_by_a_later_value(store: Store) -> None:
    run, other = new_run(store), new_run(store)
    first = Batch()
    first.tags.extend([(run.id, "team", "vision"), (run.id, "note", ""), (other.id, "team", "nlp")])
    store.write(first)
    second = Batch()
    second.tags.extend([(run.id, "team", "audio"), (run.id, "ü", "日本")])
    store.write(second)
    assert store.get_tags(run.id) == {"team": "audio", "note": "", "ü": "日本"}
    assert list(store.get_tags(run.id)) == ["team", "note", "ü"]
    assert store.get_tags(other.id) == {"team": "nlp"}


def test_artifacts_are_listed_by_name_and_replaced(store: Store) -> None:
    run = new_run(store)
    uri = store.artifacts.uri(run.id, "outputs/model.pt")
    batch = Batch()
    batch.artifacts.extend([
        ArtifactInfo(run.id, "outputs/model.pt", 10, "a" * 64, uri, T0),
        ArtifactInfo(run.id, "logs/stdout.txt", 5, "", store.artifacts.uri(run.id, "logs/stdout.txt"), T0 + 1),
    ])
    store.write(batch)
    replaced = Batch()
    replaced.artifacts.append(ArtifactInfo(run.id, "outputs/model.pt", 20, "b" * 64, uri, T0 + 2))
    store.write(replaced)
    assert store.get_artifacts(run.id) == [
        ArtifactInfo(run.id, "logs/stdout.txt", 5, "", store.artifacts.uri(run.id, "logs/stdout.txt"), T0 + 1),
        ArtifactInfo(run.id, "outputs/model.pt", 20, "b" * 64, uri, T0 + 2),
    ]


def test_a_refused_batch_leaves_nothing_behind(store: Store) -> None:
    run = new_run(store)
    good, bad = SeriesRef(run.id, "good", NUMBER), SeriesRef(run.id, "bad", NUMBER)
    batch = batch_of([(good, 0, 1.0), (good, 1, 2.0), (bad, 2**63, 1.0)], new=[good, bad])  # a step beyond int64
    batch.params.append((run.id, "alpha", 0.1))
    batch.tags.append((run.id, "team", "x"))
    batch.ends.append((run.id, "Completed", T0, None))
    with pytest.raises(RunlogError) as caught:
        store.write(batch)
    # refused for what is in it: not an error that asks the writer to retry the batch as is
    assert not isinstance(caught.value, (StoreError, OSError))
    assert store.get_series(run.id) == [] and store.get_params(run.id) == {} and store.get_tags(run.id) == {}
    got = store.get_run(run.id)
    assert got is not None and got.status == "Running" and got.end_time is None
    retry = SeriesRef(run.id, "good", NUMBER)  # the store is still usable, the names still free
    write_points(store, retry, [3.0])
    assert retry.id is not None and [v for _, v, _ in store.get_points(retry.id)] == [3.0]


def test_reads_from_other_threads_see_whole_batches_while_writing(store: Store) -> None:
    run = new_run(store)
    series = SeriesRef(run.id, "x", NUMBER)
    write_points(store, series, [0.0])
    assert series.id is not None
    series_id, size, batches = series.id, 50, 40
    done = threading.Event()
    failures: list[str] = []
    reads = [0, 0]

    def read(slot: int) -> None:
        try:
            while not done.is_set() or reads[slot] == 0:
                values = [value for _, value, _ in store.get_points(series_id)]
                if (len(values) - 1) % size or values != [float(i) for i in range(len(values))]:
                    failures.append(f"a partial or disordered read of {len(values)} points")
                [info] = store.get_series(run.id)
                if info.last_step is None or info.last_step < len(values) - 1:
                    failures.append(f"last_step {info.last_step} behind {len(values)} points read before")
                reads[slot] += 1
        except Exception as err:  # reported below, on the test's thread
            failures.append(repr(err))

    readers = [threading.Thread(target=read, args=(slot,)) for slot in range(2)]
    for reader in readers:
        reader.start()
    try:
        for index in range(batches):
            start = 1 + index * size
            write_points(store, series, [float(i) for i in range(start, start + size)],
                         steps=list(range(start, start + size)), new=False)
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=120)
    assert failures == [] and all(reads)
    assert store.count_points(series_id) == 1 + size * batches

"""Conformance tests of the optional page reads: ``get_points_page``, ``get_params_page``, ``get_tags_page``.

A store without one of them skips its test (the web UI then falls back to the whole reads).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from runlog_core.store import LIST, NUMBER, ROW, STR, SeriesRef, Store

from ._store_helpers import T0, batch_of, new_run, same_value, write_points

__all__ = [
    "test_a_page_of_params_or_tags_follows_the_key_order_from_a_cursor",
    "test_a_page_of_points_is_that_slice_of_get_points",
]

# each layout: a kind and the batches of values written to one series
LAYOUTS: list[tuple[str, str, list[list[Any]]]] = [
    ("floats", NUMBER, [[float(i) / 4 for i in range(70_000)], [math.nan, math.inf, -0.0], [1.5] * 7]),
    ("ints-then-floats", NUMBER, [list(range(50)), [0.5, 1.5], [7, 8, 9]]),
    ("ints-and-floats-in-a-batch", NUMBER, [[1, 2.5, 3, 4.5] * 5, [6.0] * 10, [True, False, 3, True]]),
    ("strings", STR, [[f"line {i} é" for i in range(300)], ["", "日本語 🚀"], [f"more {i}" for i in range(40)]]),
    ("rows", ROW, [[{"i": i, "x": i / 2} for i in range(30)], [{"i": None}]]),
    ("a list of bools and numbers", LIST, [[1.0, True, False, 2, "label"], [True] * 5, [0.25] * 5]),
]


def _check(got: list[Any], expected: list[Any], where: str) -> None:
    assert len(got) == len(expected), (where, len(got), len(expected))
    for (step, value, ts), (want_step, want_value, want_ts) in zip(got, expected):
        assert step == want_step and ts == want_ts and same_value(value, want_value), (where, step, value, want_value)


@pytest.mark.parametrize(("kind", "batches"), [case[1:] for case in LAYOUTS], ids=[case[0] for case in LAYOUTS])
def test_a_page_of_points_is_that_slice_of_get_points(store: Store, kind: str, batches: list[list[Any]]) -> None:
    page = getattr(store, "get_points_page", None)
    if page is None:
        pytest.skip("get_points_page is optional and this store has none")
    run = new_run(store)
    series = SeriesRef(run.id, f"paged {kind}", kind)
    step = 0
    for number, values in enumerate(batches):
        write_points(store, series, values, steps=list(range(step, step + len(values))), new=number == 0,
                     time0=T0 + step)
        step += len(values)
    assert series.id is not None
    everything = store.get_points(series.id)
    assert len(everything) == step
    offsets = sorted({0, 1, 5, 29, 30, 49, 50, 51, step // 2, step - 3, step - 1, step, step + 10, 65_535, 65_536})
    for offset in offsets:
        for limit in (0, 1, 3, 25, 500):
            _check(page(series.id, offset, limit), everything[offset:offset + limit], f"offset {offset} limit {limit}")
    _check(page(series.id, 0, step + 1), everything, "all of it")
    assert page(series.id + 10_000, 0, 10) == []


def _cursor_pages(read: Any, run_id: str, size: int, contains: str | None = None) -> tuple[list[Any], list[int]]:
    got: list[Any] = []
    totals = []
    after = None
    while True:
        items, total = read(run_id, after, size, contains)
        totals.append(total)
        assert len(items) <= size
        got.extend(items.items())
        if len(items) < size:
            return got, totals
        after = list(items)[-1]


KEYS = ["b", "a", "B", "_x", "a.b", "a/b", "a b", "é", "e", "z", "日本", "🚀", "layer.10", "layer.9", "layer.100",
        "Z", "~", "0", "10", "9"]


@pytest.mark.parametrize("table", ["params", "tags"])
def test_a_page_of_params_or_tags_follows_the_key_order_from_a_cursor(store: Store, table: str) -> None:
    read = getattr(store, f"get_{table}_page", None)
    if read is None:
        pytest.skip(f"get_{table}_page is optional and this store has none")
    run, other = new_run(store), new_run(store)
    batch = batch_of([])
    if table == "params":
        values: dict[str, Any] = {key: [i, {"nested": key}, None, 1.5, True, "text"][i % 6] for i, key in enumerate(KEYS)}
        batch.params.extend((run.id, key, value) for key, value in values.items())
        batch.params.append((other.id, "a", "another run's"))
    else:
        values = {key: f"tag {key}" for key in KEYS}
        batch.tags.extend((run.id, key, value) for key, value in values.items())
        batch.tags.append((other.id, "a", "another run's"))
    store.write(batch)
    expected = sorted(values.items())  # code point order: Python's
    for size in (1, 3, 7, len(KEYS), 100):
        got, totals = _cursor_pages(read, run.id, size)
        assert [key for key, _ in got] == [key for key, _ in expected], size
        assert all(same_value(value, values[key]) for key, value in got)
        assert set(totals) == {len(KEYS)}
    for needle, keys in (("a", sorted(k for k in KEYS if "a" in k)), ("layer.", ["layer.10", "layer.100", "layer.9"]),
                         ("日", ["日本"]), ("nothing", [])):
        got, totals = _cursor_pages(read, run.id, 2, needle)
        assert [key for key, _ in got] == keys and set(totals) == {len(keys)}, needle
    first, total = read(run.id, None, 2)
    assert list(first) == [expected[0][0], expected[1][0]] and total == len(KEYS)
    assert read(run.id, expected[-1][0], 10) == ({}, len(KEYS))
    assert read(run.id, None, 0) == ({}, len(KEYS))
    assert read("no-such-run", None, 10) == ({}, 0)

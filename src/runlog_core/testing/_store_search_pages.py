"""Conformance tests: a page of a search, its count, and the children of a page's runs (issue 21)."""

from __future__ import annotations

import pytest

from runlog_core.base.filter import parse_filter, parse_order_by
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.store import Batch, SeriesRef, Store

from ._store_helpers import batch_of, new_run

__all__ = [
    "test_a_page_of_a_search_is_that_slice_of_the_whole_answer",
    "test_children_are_counted_for_the_runs_asked_about",
    "test_count_runs_counts_what_search_runs_finds",
    "test_search_pages_refuse_a_negative_or_non_int_offset_or_limit",
]


def _fill(store: Store) -> dict[str, str]:
    """Experiment "pages": 12 top-level runs p00..p11 (mse 11 - k, alpha k % 3, newest last), three older ones
    whose mse is a text (s0), a series without points (n0) and rows (w0); p02 with children c0 (deleted), c1, c2
    and c3 (in experiment "elsewhere"), p05 with child c4; experiment "other": o0."""
    ids: dict[str, str] = {}
    batch = Batch()
    for k in range(12):
        info = new_run(store, "pages", f"p{k:02d}", start_time=1000.0 + k)
        ids[info.name] = info.id
        series = SeriesRef(info.id, "mse", "number")
        batch.series.append(series)
        part = batch_of([(series, 0, 11.0 - k)])
        batch.columns.append((series, batch.count, *part.columns[0][2:]))
        batch.count += 1
        batch.params.append((info.id, "alpha", k % 3))
    store.write(batch)
    # sorted by mse: a text sorts after every number, a series without points or of rows has no value
    for name, kind, values in (("s0", "str", ["high"]), ("n0", "number", []), ("w0", "row", [{"a": 1}])):
        info = new_run(store, "pages", name, start_time=900.0 + len(ids))
        ids[name] = info.id
        ref = SeriesRef(info.id, "mse", kind)
        store.write(batch_of([(ref, 0, value) for value in values], new=[ref]))
    for n, (parent, experiment) in enumerate((("p02", "pages"), ("p02", "pages"), ("p02", "pages"),
                                              ("p02", "elsewhere"), ("p05", "pages"))):
        info = new_run(store, experiment, f"c{n}", parent_id=ids[parent], start_time=2000.0 + n)
        ids[info.name] = info.id
    store.delete_runs([ids["c0"]], 3000.0)
    ids["o0"] = new_run(store, "other", "o0", start_time=500.0).id
    return ids


def _names(store: Store, text: str | None = None, order: list[str] | None = None, **kwargs: object) -> list[str]:
    expression = parse_filter(text) if text else None
    return [info.name for info in store.search_runs(expression, parse_order_by(order), **kwargs)]  # type: ignore[arg-type]


def test_a_page_of_a_search_is_that_slice_of_the_whole_answer(store: Store) -> None:
    _fill(store)
    pages = store.get_experiment_id("pages")
    cases: list[tuple[str | None, list[str], dict[str, object]]] = [
        (None, [], {"experiment_id": pages}),
        (None, ["metrics.mse"], {"experiment_id": pages, "include_children": False}),
        ("params.alpha >= 1", ["params.alpha DESC"], {"experiment_id": pages, "include_children": False}),
        ("metrics.mse < 8 or name = 'c1'", ["metrics.mse DESC"], {}),
        (None, ["name DESC"], {}),
        (None, ["metrics.mse DESC"], {"experiment_id": pages, "include_children": False}),
        (None, ["metrics.mse"], {}),
        ("params.alpha = 2 or name = 'n0' or name = 's0'", ["metrics.mse"], {"experiment_id": pages}),
    ]
    for text, order, kwargs in cases:
        whole = _names(store, text, order, **kwargs)
        assert len(whole) >= 4, (text, order, whole)
        for offset, limit in ((0, 3), (3, 3), (2, 100), (len(whole) - 1, 5), (len(whole), 5), (50, 1), (1, 0),
                              (0, len(whole)), (len(whole) - 4, 2), (len(whole) - 3, 2)):
            assert _names(store, text, order, offset=offset, limit=limit, **kwargs) == whole[offset:offset + limit], (
                text, order, offset, limit)
        assert _names(store, text, order, offset=2, **kwargs) == whole[2:]  # no limit: to the end
    assert _names(store, None, [], experiment_id=pages, include_children=False, limit=4) == ["p11", "p10", "p09", "p08"]
    assert _names(store, None, ["metrics.mse"], experiment_id=pages, include_children=False, offset=1, limit=2) == [
        "p10", "p09"]
    by_mse = ["s0", *(f"p{k:02d}" for k in range(12)), "w0", "n0"]  # text first, then numbers; no value: newest first
    assert _names(store, None, ["metrics.mse DESC"], experiment_id=pages, include_children=False) == by_mse
    assert _names(store, None, ["metrics.mse DESC"], experiment_id=pages, include_children=False, offset=12,
                  limit=2) == ["p11", "w0"]
    # children: only those of the run, newest first, the deleted one never
    p02 = store.find_run_ids("p02")[0]
    assert _names(store, None, [], parent_id=p02) == ["c3", "c2", "c1"]
    assert _names(store, None, [], parent_id=p02, offset=1, limit=1) == ["c2"]
    assert _names(store, None, ["name"], experiment_id=pages, parent_id=p02) == ["c1", "c2"]
    assert _names(store, None, [], include_children=False, limit=1) == ["p11"]


def test_count_runs_counts_what_search_runs_finds(store: Store) -> None:
    ids = _fill(store)
    pages = store.get_experiment_id("pages")
    for text in (None, "metrics.mse < 8", "params.alpha = 1 and metrics.mse >= 2", "experiment = 'pages'",
                 "name = 'c1' or name = 'c4'", "status = 'Running'", "metrics.missing > 0"):
        expression = parse_filter(text) if text else None
        for kwargs in ({}, {"experiment_id": pages}, {"include_children": False},
                       {"experiment_id": pages, "include_children": False}, {"parent_id": ids["p02"]}):
            found = store.search_runs(expression, [], **kwargs)
            assert store.count_runs(expression, **kwargs) == len(found), (text, kwargs)
    assert store.count_runs(None, pages) == 18 and store.count_runs(None, pages, include_children=False) == 15
    assert store.count_runs(parse_filter("metrics.mse < 8"), pages) == 8
    assert store.count_runs(None, store.get_experiment_id("other")) == 1


def test_children_are_counted_for_the_runs_asked_about(store: Store) -> None:
    ids = _fill(store)
    pages = store.get_experiment_id("pages")
    everyone = [ids[f"p{k:02d}"] for k in range(12)]
    assert store.count_children(everyone) == {ids["p02"]: 3, ids["p05"]: 1}  # c0 is deleted
    assert store.count_children(everyone, pages) == {ids["p02"]: 2, ids["p05"]: 1}  # c3 is elsewhere
    assert store.count_children([ids["p05"], ids["p00"], "no-such-run"]) == {ids["p05"]: 1}
    assert store.count_children([]) == {}
    many = [f"missing-{n}" for n in range(1500)] + [ids["p02"]]  # more ids than one statement may bind
    assert store.count_children(many) == {ids["p02"]: 3}


def test_search_pages_refuse_a_negative_or_non_int_offset_or_limit(store: Store) -> None:
    new_run(store, "pages", "only")
    for kwargs in ({"offset": -1}, {"limit": -5}, {"offset": 1.5}, {"limit": "10"}, {"offset": None}, {"limit": True}):
        name = next(iter(kwargs))
        with pytest.raises(InvalidArgumentError, match=name) as caught:
            store.search_runs(None, [], **kwargs)
        assert caught.value.argument == name
    assert [info.name for info in store.search_runs(None, [], offset=10**30, limit=10**30)] == []

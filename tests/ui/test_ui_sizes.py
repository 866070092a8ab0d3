"""Size caps (#24): a run with 200,000 params, compare of two of them, a 500,000-point str series and
files whose bytes are gone, served by a real UI server over a real SQLite store whose reads are counted."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, get_json, served

PARAMS = 200_000
POINTS = 500_000
A, B = "a" * 32, "b" * 32


class Counting:
    """A store that counts the calls made to it (and the points its page reads hand out), passing them on."""

    def __init__(self, inner: Any, hide: tuple[str, ...] = ()) -> None:
        self._inner, self._hide = inner, hide
        self.calls: dict[str, int] = {}
        self.points_handed = 0

    def __getattr__(self, name: str) -> Any:
        if name in self._hide:
            raise AttributeError(name)
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            out = found(*args, **kwargs)
            if name in ("get_points_page", "get_points"):
                self.points_handed += len(out)
            return out

        return counted


def key(n: int) -> str:
    return f"layer.{n:07d}.weight_decay"


def _fill(store: Any) -> int:
    """Runs A and B, 200,000 params each (B's values differ for every 1,000th), A with 1,500 tags and a
    500,000-point str series; returns that series' id."""
    from runlog_core.store import Batch, RunInfo, SeriesRef

    experiment = store.get_or_create_experiment("sizes")
    now = time.time()
    for run_id in (A, B):
        store.create_run(RunInfo(id=run_id, experiment_id=experiment, experiment_name="sizes", name=f"wide-{run_id[0]}",
                                 status="Completed", start_time=now, end_time=now + 1))
        for first in range(0, PARAMS, 50_000):
            batch = Batch()
            batch.params.extend((run_id, key(n), n + (0.5 if run_id == B and n % 1000 == 0 else 0))
                                for n in range(first, first + 50_000))
            store.write(batch)
    batch = Batch()
    batch.tags.extend((A, f"tag.{n:05d}", f"value {n}") for n in range(1500))
    store.write(batch)
    ref = SeriesRef(A, "notes", "str")
    for first in range(0, POINTS, 100_000):
        batch = Batch()
        if first == 0:
            batch.series.append(ref)
        steps = list(range(first, first + 100_000))
        batch.columns.append((ref, 0, steps, [f"note {s}" for s in steps], [now + s for s in steps]))
        batch.count = len(steps)
        store.write(batch)
    assert ref.id is not None
    return ref.id


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from runlog_core.integration import open_store
    from runlog_ui import start_server

    store = open_store(str(tmp_path_factory.mktemp("sizes") / "store"))
    series_id = _fill(store)
    counting = Counting(store)
    return {"store": store, "counting": counting, "url": served(start_server(counting)), "series": series_id}


def timed(url: str) -> tuple[float, int, Any]:
    started = time.perf_counter()
    status, _headers, body = get(url)
    took = time.perf_counter() - started
    assert status == 200, body[:300]
    return took, len(body), json.loads(body)


def test_a_run_with_200000_params_answers_its_first_page_and_a_way_to_the_rest(wide: dict[str, Any]) -> None:
    counting = wide["counting"]
    counting.calls.clear()
    took, size, run = timed(f"{wide['url']}/api/runs/{A}")
    print(f"run with {PARAMS:,} params: {size:,} bytes in {took * 1000:.0f} ms")
    assert size < 60_000  # before #24: 7.5 MB, every param
    assert list(run["params"]) == [key(n) for n in range(200)] and run["params_total"] == PARAMS
    assert run["params_next"] == key(199)
    assert len(run["tags"]) == 200 and run["tags_total"] == 1500 and run["tags_next"] == "tag.00199"
    assert "get_params" not in counting.calls and "get_tags" not in counting.calls
    # the next pages, from the cursor, and the last one says there is no more
    page = get_json(f"{wide['url']}/api/runs/{A}/params?after={quote(run['params_next'])}&limit=1000")
    assert list(page["params"]) == [key(n) for n in range(200, 1200)] and page["next"] == key(1199)
    last = get_json(f"{wide['url']}/api/runs/{A}/params?after={quote(key(PARAMS - 3))}")
    assert list(last["params"]) == [key(PARAMS - 2), key(PARAMS - 1)] and last["next"] is None
    found = get_json(f"{wide['url']}/api/runs/{A}/params?q=0199999")
    assert found == {"params": {key(199_999): 199_999}, "total": 1, "next": None}
    tags = get_json(f"{wide['url']}/api/runs/{A}/tags?after=tag.01400")
    assert list(tags["tags"]) == [f"tag.{n:05d}" for n in range(1401, 1500)] and tags["next"] is None
    assert get_json(f"{wide['url']}/api/runs/{A}/params?limit=0", status=400)["error"]
    assert get_json(f"{wide['url']}/api/runs/nope/params", status=404)["error"]
    assert "get_params" not in counting.calls


def test_compare_of_two_runs_of_200000_params_pages_their_union(wide: dict[str, Any]) -> None:
    took, size, data = timed(f"{wide['url']}/api/compare?runs={A},{B}")
    print(f"compare of 2 x {PARAMS:,} params: {size:,} bytes in {took * 1000:.0f} ms")
    assert size < 60_000  # before #24: 15.4 MB
    assert list(data["params"]) == [key(n) for n in range(200)] and data["params_totals"] == [PARAMS, PARAMS]
    assert data["params"][key(0)] == [0, 0.5] and data["params"][key(1)] == [1, 1]
    assert data["differs"]["params"] == [key(0)] and data["params_next"] == key(199)
    assert [r["name"] for r in data["runs"]] == ["wide-a", "wide-b"]
    after = get_json(f"{wide['url']}/api/compare?runs={A},{B}&part=params&params_after={quote(key(999))}")
    assert list(after["params"])[0] == key(1000) and after["differs"]["params"] == [key(1000)]
    assert "runs" not in after and "metrics" not in after
    assert "get_params" not in wide["counting"].calls


def test_compare_pages_cover_every_key_of_runs_with_different_keys(tmp_path: Path) -> None:
    """Run 1 has keys a..l, run 2 every other one and more: pages of 3 put every key of either run once, in
    order, with each run's value or null, whatever page a run runs out on."""
    from runlog_core.integration import open_store
    from runlog_core.store import Batch, RunInfo
    from runlog_ui import start_server

    store = open_store(str(tmp_path / "store"))
    experiment = store.get_or_create_experiment("union")
    one = {k: i for i, k in enumerate("abcdefghijkl")}
    two = {k: i * 10 for i, k in enumerate("acegikmnopqrs")}
    batch = Batch()
    for run_id, params in (("1" * 32, one), ("2" * 32, two)):
        store.create_run(RunInfo(id=run_id, experiment_id=experiment, experiment_name="union", name=run_id[:1],
                                 status="Completed", start_time=time.time()))
        batch.params.extend((run_id, k, v) for k, v in params.items())
    store.write(batch)
    for hidden in ((), ("get_params_page",)):  # the store's page read, and the fallback for a store without it
        base = served(start_server(Counting(store, hidden)))
        rows: dict[str, Any] = {}
        after = None
        while True:
            page = get_json(f"{base}/api/compare?runs={'1' * 32},{'2' * 32}&part=params&limit=3"
                            + (f"&params_after={after}" if after else ""))
            assert len(page["params"]) <= 3 and not set(page["params"]) & set(rows)
            rows.update(page["params"])
            after = page["params_next"]
            if after is None:
                break
        assert list(rows) == sorted(set(one) | set(two))
        assert all(rows[k] == [one.get(k), two.get(k)] for k in rows)


def test_a_series_page_reads_only_its_points(wide: dict[str, Any]) -> None:
    counting, url = wide["counting"], f"{wide['url']}/api/runs/{A}/series?name=notes"
    started = time.perf_counter()
    everything = wide["store"].get_points(wide["series"])
    whole = time.perf_counter() - started
    counting.calls.clear()
    counting.points_handed = 0
    took_first, _, first = timed(f"{url}&offset=0&limit=500")
    took_last, size, last = timed(f"{url}&offset={POINTS - 500}&limit=500")
    print(f"/series of {POINTS:,} str points: first page {took_first * 1000:.0f} ms, last page {took_last * 1000:.0f} ms "
          f"({size:,} bytes); get_points of all of it {whole * 1000:.0f} ms")
    assert first["count"] == POINTS and [p["value"] for p in first["points"]] == [f"note {s}" for s in range(500)]
    assert [p["step"] for p in last["points"]] == list(range(POINTS - 500, POINTS)) and last["offset"] == POINTS - 500
    assert [(p["step"], p["value"], p["time"]) for p in last["points"]] == [tuple(p) for p in everything[-500:]]
    # through the store contract: two page reads of 500 points each, never the whole series
    assert "get_points" not in counting.calls and counting.calls.get("get_points_page") == 2
    assert counting.points_handed == 1000
    assert took_last < whole / 2  # the last page is not a read of everything (0.5 s before #24)
    past = get_json(f"{url}&offset={POINTS + 10}")
    assert past["points"] == [] and past["count"] == POINTS


def test_a_store_without_page_reads_still_answers_pages(wide: dict[str, Any]) -> None:
    from runlog_ui import start_server

    plain = Counting(wide["store"], ("get_points_page", "get_params_page", "get_tags_page"))
    base = served(start_server(plain))
    run = get_json(f"{base}/api/runs/{A}")
    assert list(run["params"]) == [key(n) for n in range(200)] and run["params_total"] == PARAMS
    page = get_json(f"{base}/api/runs/{A}/series?name=notes&offset=1000&limit=3")
    assert [p["value"] for p in page["points"]] == ["note 1000", "note 1001", "note 1002"]
    assert plain.calls.get("get_params") == 1 and plain.calls.get("get_points") == 1

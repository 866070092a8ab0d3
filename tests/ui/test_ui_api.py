"""The UI's JSON API, served by a real `runlog ui` process over a store filled by the real run API; and by
an in-process server (`start_server`) over a store that counts its reads: 10,000 runs, polling."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, get_json, served, start_ui, stop

SPIKE_AT = 543_210
BIG = 1_000_000


def _fill(store: str, tmp: Path) -> dict[str, Any]:
    import numpy as np

    from runlog_core import Experiment

    ids: dict[str, Any] = {}
    exp = Experiment("train", store=store)
    for name, lr, scale in (("lr-0.1", 0.1, 1.0), ("lr-0.01", 0.01, 0.5), ("lr-0.001", 0.001, 0.25)):
        with exp.start_logging(name=name, tags={"team": "vision"}, outputs=None) as run:
            run.log_params({"lr": lr, "optimizer": "sgd"})
            for step in range(20):
                run.log_metrics({"loss": scale / (step + 1), "acc": 1 - scale / (step + 1)}, step=step)
            ids[name] = run.id
    with exp.start_logging(name="sweep", outputs=None) as parent:
        parent.log_params({"lr": 0.5})
        parent.log("loss", 0.9)
        for alpha in (0.1, 1.0):
            with parent.child_run(name=f"alpha={alpha}") as child:
                child.log_params({"alpha": alpha})
                child.log("score", alpha * 2)
                ids.setdefault("children", []).append(child.id)
        ids["sweep"] = parent.id

    every = Experiment("every", store=store)
    with every.start_logging(name="every-type", capture_output=True, outputs=None) as run:
        run.log("nan", float("nan"))
        run.log("inf", float("inf"))
        run.log("ninf", float("-inf"))
        run.log("flag", True)
        run.log_list("folds", [0.9, 0.8])
        run.log_row("per_epoch", epoch=0, train=0.5)
        run.log_row("per_epoch", epoch=1, train=0.25)
        run.log_table("confusion", {"label": ["cat", "dog"], "cat": [4, 1], "dog": [0, 5]})
        pixels = np.zeros((8, 8, 3), dtype="uint8")
        pixels[:, :4, 0] = 255
        run.log_image("samples", image=pixels, step=3)
        run.upload_file("outputs/report.html", b"<html><script>alert(1)</script></html>")
        run.upload_file("outputs/plot.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
        run.upload_file("outputs/notes.txt", "caf\u00e9 notes\n".encode())
        run.upload_file("outputs/data.json", b'{"a": 1}')
        run.upload_file("outputs/model.bin", b"\x00\x01weights")
        for line in range(3):
            print(f"line {line} of the log")
        ids["every"] = run.id

    big = Experiment("big", store=store)
    with big.start_logging(name="million", outputs=None) as run:
        rng = np.random.default_rng(0)
        values = rng.random(BIG)
        values[SPIKE_AT] = 1000.0
        log = run.log
        for step, value in enumerate(values.tolist()):
            log("noise", value, step=step)
        ids["big"] = run.id
    ids["experiments"] = {name: exp_id for exp_id, name in exp._store.list_experiments()}
    return ids


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("ui_api")
    store = str(folder / "store")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        ids = _fill(store, folder)
    finally:
        os.chdir(cwd)
    from runlog_core.plugins import manager as _plugins
    from runlog_core.writer import registry as _writers

    for opened in _plugins.open_stores():
        _writers.close_store(opened)
    proc, url = start_ui("--store", store)
    ids.update(url=url, store=store, proc=proc)
    yield ids
    assert stop(proc) == 0


def runs_of(ui: dict[str, Any], experiment: str, **query: Any) -> Any:
    exp_id = ui["experiments"][experiment]
    qs = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return get_json(f"{ui['url']}/api/experiments/{exp_id}/runs?{qs}")


def test_experiments_list_their_runs(ui: dict[str, Any]) -> None:
    data = get_json(ui["url"] + "/api/experiments")
    by_name = {e["name"]: e for e in data["experiments"]}
    assert by_name["train"]["runs"] == 6 and by_name["train"]["running"] == 0  # children count as runs
    assert by_name["every"]["runs"] == 1 and isinstance(by_name["train"]["last_start"], float)


def test_runs_table_shows_latest_values_and_folds_children(ui: dict[str, Any]) -> None:
    data = runs_of(ui, "train", columns="metrics.loss,params.lr,tags.team")
    assert data["total"] == 4 and data["columns"] == ["metrics.loss", "params.lr", "tags.team"]
    rows = {r["name"]: r for r in data["runs"]}
    assert set(rows) == {"lr-0.1", "lr-0.01", "lr-0.001", "sweep"}
    assert rows["lr-0.1"]["metrics"] == {"loss": pytest.approx(1.0 / 20)}
    assert rows["lr-0.01"]["params"] == {"lr": 0.01} and rows["lr-0.01"]["tags"] == {"team": "vision"}
    assert rows["sweep"]["children"] == 2 and rows["lr-0.1"]["children"] == 0
    assert rows["lr-0.1"]["status"] == "Completed" and rows["lr-0.1"]["duration"] >= 0
    # the default columns: the metrics most runs share (system metrics aside), as `runlog runs` picks them
    assert runs_of(ui, "train")["columns"][:2] == ["metrics.loss", "metrics.acc"]
    children = runs_of(ui, "train", parent=ui["sweep"])
    assert {r["name"] for r in children["runs"]} == {"alpha=0.1", "alpha=1.0"}
    assert all(r["parent_id"] == ui["sweep"] for r in children["runs"])
    assert runs_of(ui, "train", children=1)["total"] == 6


def test_runs_filter_sort_and_paging(ui: dict[str, Any]) -> None:
    found = runs_of(ui, "train", filter="metrics.loss < 0.04 and params.optimizer = 'sgd'")
    assert sorted(r["name"] for r in found["runs"]) == ["lr-0.001", "lr-0.01"]
    assert "metrics.loss" in found["columns"] and "params.optimizer" in found["columns"]
    ordered = runs_of(ui, "train", sort="metrics.loss desc")
    assert [r["name"] for r in ordered["runs"]] == ["sweep", "lr-0.1", "lr-0.01", "lr-0.001"]
    ascending = runs_of(ui, "train", sort="params.lr")
    assert [r["name"] for r in ascending["runs"]][:3] == ["lr-0.001", "lr-0.01", "lr-0.1"]
    first = runs_of(ui, "train", sort="metrics.loss desc", limit=3)
    second = runs_of(ui, "train", sort="metrics.loss desc", limit=3, offset=3)
    assert first["total"] == second["total"] == 4
    assert [r["name"] for r in first["runs"] + second["runs"]] == [r["name"] for r in ordered["runs"]]


def test_a_filter_that_does_not_parse_says_where(ui: dict[str, Any]) -> None:
    exp_id = ui["experiments"]["train"]
    text = "metrics.loss < 0.5 and and"
    body = get_json(f"{ui['url']}/api/experiments/{exp_id}/runs?filter={quote(text)}", status=400)
    assert body["filter"] == text and body["position"] == text.index("and and") + 4
    assert "character" in body["error"]
    bad_sort = get_json(f"{ui['url']}/api/experiments/{exp_id}/runs?sort={quote('metrics. desc')}", status=400)
    assert "error" in bad_sort
    assert get_json(f"{ui['url']}/api/experiments/{exp_id}/runs?limit=0", status=400)["error"]
    assert get_json(f"{ui['url']}/api/experiments/999/runs", status=404)["error"]


def test_keys_for_the_column_picker(ui: dict[str, Any]) -> None:
    exp_id = ui["experiments"]["train"]
    keys = get_json(f"{ui['url']}/api/experiments/{exp_id}/keys")
    assert keys["metrics"] == ["acc", "loss", "score"] and keys["params"] == ["alpha", "lr", "optimizer"]
    assert keys["tags"] == ["team"] and keys["truncated"] is False
    found = get_json(f"{ui['url']}/api/experiments/{exp_id}/keys?q=L&limit=1")
    assert found["metrics"] == ["loss"] and found["params"] == ["alpha"] and found["truncated"] is True


def test_run_details_and_every_kind_of_series(ui: dict[str, Any]) -> None:
    run = get_json(f"{ui['url']}/api/runs/{ui['every']}")
    assert run["name"] == "every-type" and run["experiment_name"] == "every" and run["status"] == "Completed"
    series = {s["name"]: s for s in run["series"]}
    assert series["nan"]["last_value"] == "NaN" and series["inf"]["last_value"] == "Infinity"
    assert series["ninf"]["last_value"] == "-Infinity" and series["flag"]["kind"] == "bool"
    assert {series[n]["kind"] for n in ("folds", "per_epoch", "confusion", "samples")} == {"list", "row", "table", "image"}
    names = {f["name"] for f in run["files"]}
    assert {"outputs/report.html", "outputs/plot.svg", "logs/std_log.txt"} <= names
    rows = get_json(f"{ui['url']}/api/runs/{ui['every']}/series?name=per_epoch")
    assert rows["count"] == 2 and [p["value"] for p in rows["points"]] == [{"epoch": 0, "train": 0.5},
                                                                           {"epoch": 1, "train": 0.25}]
    table = get_json(f"{ui['url']}/api/runs/{ui['every']}/series?name=confusion")
    assert table["points"][0]["value"]["dog"] == [0, 5]
    image = get_json(f"{ui['url']}/api/runs/{ui['every']}/series?name=samples")
    assert image["points"][0]["step"] == 3
    status, headers, body = get(f"{ui['url']}/api/runs/{ui['every']}/files/" + quote(image["points"][0]["value"]))
    assert status == 200 and headers["content-type"] == "image/png" and body[:4] == b"\x89PNG"
    assert "inline" in headers["content-disposition"] and headers["x-content-type-options"] == "nosniff"
    nan = get_json(f"{ui['url']}/api/runs/{ui['every']}/metric?name=nan")
    assert nan["y"] == ["NaN"]
    sweep = get_json(f"{ui['url']}/api/runs/{ui['sweep']}")
    assert {c["name"] for c in sweep["children"]} == {"alpha=0.1", "alpha=1.0"}
    assert get_json(f"{ui['url']}/api/runs/nope", status=404)["error"]
    assert get_json(f"{ui['url']}/api/runs/{ui['every']}/metric?name=missing", status=404)["error"]
    assert get_json(f"{ui['url']}/api/runs/{ui['every']}/metric?name=per_epoch", status=400)["error"]


def test_a_million_points_are_downsampled_and_the_spike_survives(ui: dict[str, Any]) -> None:
    url = f"{ui['url']}/api/runs/{ui['big']}/metric?name=noise&width=1000"
    status, _headers, body = get(url)
    data = json.loads(body)
    print(f"1,000,000-point series, width 1000: {len(body):,} bytes, {len(data['x'])} points")
    assert status == 200 and len(body) < 300_000
    assert data["count"] == BIG and data["cursor"] == BIG and data["downsampled"] is True
    assert len(data["x"]) <= 2000 and data["x"] == sorted(data["x"])
    assert data["x"][0] == 0 and data["x"][-1] == BIG - 1
    assert max(data["y"]) == 1000.0 and data["x"][data["y"].index(1000.0)] == SPIKE_AT
    # zoomed in: only the range, every point of it
    zoom = get_json(f"{url}&start={SPIKE_AT - 500}&end={SPIKE_AT + 499}")
    assert zoom["downsampled"] is False and zoom["x"] == list(range(SPIKE_AT - 500, SPIKE_AT + 500))
    assert zoom["y"][500] == 1000.0
    wider = get_json(f"{url}&start=0&end=99999")
    assert wider["downsampled"] is True and wider["x"][0] == 0 and wider["x"][-1] == 99_999
    by_time = get_json(f"{ui['url']}/api/runs/{ui['big']}/metric?name=noise&x=time&width=500")
    assert len(by_time["x"]) <= 1000 and 1000.0 in by_time["y"]
    assert by_time["x"] == sorted(by_time["x"])
    tail = get_json(f"{url}&since={BIG - 3}")
    assert tail["x"] == [BIG - 3, BIG - 2, BIG - 1] and tail["cursor"] == BIG
    assert get_json(f"{url}&x=epoch", status=400)["error"]


def test_log_tail_from_an_offset(ui: dict[str, Any]) -> None:
    base = f"{ui['url']}/api/runs/{ui['every']}/log"
    tail = get_json(base)
    assert "line 0 of the log" in tail["text"] and "line 2 of the log" in tail["text"]
    assert tail["next"] == tail["size"] and tail["offset"] == 0
    later = get_json(f"{base}?offset={tail['next']}")
    assert later["text"] == "" and later["next"] == tail["size"]
    middle = tail["text"].index("line 1")
    part = get_json(f"{base}?offset={len(tail['text'][:middle].encode())}")
    assert part["text"].startswith("line 1 of the log")
    assert get_json(f"{base}?name=outputs/missing.txt", status=404)["error"]


def test_compare_side_by_side(ui: dict[str, Any]) -> None:
    a, b = ui["lr-0.1"], ui["lr-0.01"]
    data = get_json(f"{ui['url']}/api/compare?runs={a},{b}")
    assert [r["name"] for r in data["runs"]] == ["lr-0.1", "lr-0.01"]
    assert data["params"]["lr"] == [0.1, 0.01] and data["params"]["optimizer"] == ["sgd", "sgd"]
    assert data["differs"]["params"] == ["lr"] and "loss" in data["differs"]["metrics"]
    curves = get_json(f"{ui['url']}/api/compare/metric?runs={a},{b}&name=loss&width=100")
    assert [s["run"] for s in curves["series"]] == [a, b] and curves["series"][0]["x"] == list(range(20))
    assert get_json(f"{ui['url']}/api/compare?runs={a}", status=400)["error"]


WRITER = textwrap.dedent("""
    import sys
    from runlog_core import Experiment
    run = Experiment("live", store=sys.argv[1]).start_logging(name="live", outputs=None)
    for step in range(10):
        run.log("loss", 1.0 / (step + 1))
    run.flush()
    print(run.id, flush=True)
    sys.stdin.readline()
    for step in range(10, 15):
        run.log("loss", 1.0 / (step + 1))
    run.flush()
    print("flushed", flush=True)
    sys.stdin.readline()
    run.complete()
""")


def test_live_points_from_another_process_show_up(ui: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), ui["store"]], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdin is not None and writer.stdout is not None
    try:
        run_id = writer.stdout.readline().strip()
        run = get_json(f"{ui['url']}/api/runs/{run_id}")
        assert run["status"] == "Running" and run["end_time"] is None
        first = get_json(f"{ui['url']}/api/runs/{run_id}/metric?name=loss")
        assert first["cursor"] == 10 and len(first["x"]) == 10
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "flushed"
        live = get_json(f"{ui['url']}/api/runs/{run_id}/live")
        assert live["status"] == "Running" and live["series"][0]["count"] == 15
        assert live["series"][0]["last_step"] == 14
        new = get_json(f"{ui['url']}/api/runs/{run_id}/metric?name=loss&since={first['cursor']}")
        assert new["x"] == [10, 11, 12, 13, 14] and new["cursor"] == 15
        assert new["y"] == [pytest.approx(1.0 / (s + 1)) for s in range(10, 15)]
        writer.stdin.write("end\n")
        writer.stdin.flush()
        assert writer.wait(30) == 0
        deadline = time.monotonic() + 30
        while get_json(f"{ui['url']}/api/runs/{run_id}/live")["status"] == "Running":
            assert time.monotonic() < deadline, "the run never read Completed"
            time.sleep(0.05)
        assert get_json(f"{ui['url']}/api/runs/{run_id}/live")["status"] == "Completed"
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_pages_are_the_single_page_app(ui: dict[str, Any]) -> None:
    for path in ("/", f"/experiments/{ui['experiments']['train']}", f"/runs/{ui['every']}",
                 f"/compare?runs={ui['lr-0.1']},{ui['lr-0.01']}"):
        status, headers, body = get(ui["url"] + path)
        assert status == 200 and headers["content-type"].startswith("text/html"), path
        assert b'src="/static/app.js"' in body
    status, headers, _body = get(ui["url"] + "/static/app.js")
    assert status == 200 and "javascript" in headers["content-type"]
    assert get_json(ui["url"] + "/api/nothing-here", status=404)["error"]
    assert math.isfinite(get_json(ui["url"] + "/api/experiments")["experiments"][0]["last_start"])


# -- the in-process server (start_server): reads per page and the column cache ---------------------


class Counting:
    """A store that counts the reads made through it (the Store contract, delegated)."""

    def __init__(self, store: Any) -> None:
        self._inner, self.calls = store, {}  # type: ignore[var-annotated]
        self.uri = store.uri

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return found(*args, **kwargs)

        return counted


def _ten_thousand_runs(store: Any) -> int:
    """10,000 runs x 20 metrics x 20 params, written through the store contract as the writer does."""
    from runlog_core.store import Batch, RunInfo, SeriesRef

    experiment_id = store.get_or_create_experiment("big-sweep")
    now = time.time()
    for first in range(0, 10_000, 1000):
        batch = Batch()
        for n in range(first, first + 1000):
            run_id = f"{n:016x}"
            store.create_run(RunInfo(id=run_id, experiment_id=experiment_id, experiment_name="big-sweep",
                                     name=f"trial-{n}", status="Running", start_time=now + n))
            for m in range(20):
                ref = SeriesRef(run_id, f"metric_{m}", "number")
                batch.series.append(ref)
                batch.columns.append((ref, batch.count, [0, 1], [float(n + m), float(n * 0.001 + m)], [now, now]))
                batch.count += 2
            batch.params.extend((run_id, f"param_{p}", n * 10 + p) for p in range(20))
            batch.ends.append((run_id, "Completed", now + n + 1, None))
        store.write(batch)
    return experiment_id


def test_the_first_page_of_10000_runs_reads_only_that_page(tmp_path: Path) -> None:
    from runlog_core.integration import open_store
    from runlog_ui import start_server

    store = open_store(str(tmp_path / "store"))
    experiment_id = _ten_thousand_runs(store)
    counting = Counting(store)
    base = served(start_server(counting))
    url = f"{base}/api/experiments/{experiment_id}/runs"
    started = time.perf_counter()
    page = get_json(url)
    first_page = time.perf_counter() - started
    assert page["total"] == 10_000 and len(page["runs"]) == 100
    assert page["runs"][0]["name"] == "trial-9999"  # newest first
    assert page["runs"][0]["metrics"]["metric_0"] == pytest.approx(9.999)
    assert page["columns"] == ["metrics.metric_0", "metrics.metric_1", "metrics.metric_2", "metrics.metric_3"]
    # no read per run of the experiment: per run of the page only
    assert counting.calls.get("get_series", 0) <= 100 and counting.calls.get("get_params", 0) <= 100
    assert counting.calls.get("search_runs") == 1
    counting.calls.clear()
    started = time.perf_counter()
    sorted_page = get_json(f"{url}?sort=metrics.metric_3&limit=100&offset=200&columns=metrics.metric_3,params.param_7")
    sorted_time = time.perf_counter() - started
    assert [r["metrics"]["metric_3"] for r in sorted_page["runs"]][:2] == [pytest.approx(3.2), pytest.approx(3.201)]
    assert sorted_page["runs"][0]["params"] == {"param_7": 2007}
    assert counting.calls.get("get_series", 0) <= 100 and counting.calls.get("get_params", 0) <= 100
    filtered = get_json(f"{url}?filter=params.param_0%20%3E%3D%2099900")
    assert filtered["total"] == 10 and {r["name"] for r in filtered["runs"]} == {f"trial-{n}" for n in range(9990, 10_000)}
    print(f"10,000 runs x 20 metrics x 20 params: first page {first_page * 1000:.0f} ms, "
          f"sorted by a metric (offset 200) {sorted_time * 1000:.0f} ms")


def test_page_two_of_a_filtered_sorted_table_holds_the_right_runs_total_and_children(tmp_path: Path) -> None:
    """Issue 21: the store finds the page; what the table shows is what slicing every run showed."""
    from runlog_core.integration import open_store
    from runlog_core.store import Batch, RunInfo, SeriesRef
    from runlog_ui import start_server

    store = open_store(str(tmp_path / "store"))
    experiment_id = store.get_or_create_experiment("paged")
    runs: dict[str, dict[str, Any]] = {}
    batch = Batch()

    def add(name: str, n: int, parent: str | None, score: float) -> str:
        run_id = f"{name}-{n:04d}"
        store.create_run(RunInfo(id=run_id, experiment_id=experiment_id, experiment_name="paged", name=name,
                                 status="Completed", start_time=1000.0 + n, parent_id=parent, end_time=2000.0 + n))
        ref = SeriesRef(run_id, "score", "number")
        batch.series.append(ref)
        batch.columns.append((ref, batch.count, [0], [score], [1000.0 + n]))
        batch.count += 1
        batch.params.append((run_id, "group", n % 4))
        runs[run_id] = {"name": name, "parent": parent, "score": score, "group": n % 4, "start": 1000.0 + n}
        return run_id

    for n in range(250):
        top = add(f"trial-{n}", n, None, float((n * 37) % 250))
        for c in range(n % 3 if n % 10 == 0 else 0):  # children match the filter or not: counted alike
            add(f"child-{n}-{c}", 1000 + n * 3 + c, top, 500.0 + c)
    store.write(batch)
    deleted = next(i for i, r in runs.items() if r["parent"] == "trial-10-0010")
    store.delete_runs([deleted], 5000.0)  # a deleted child is not counted
    del runs[deleted]
    base = served(start_server(store))
    url = f"{base}/api/experiments/{experiment_id}/runs"
    children = {i: sum(1 for r in runs.values() if r["parent"] == i) for i in runs}

    def expected(keep: Any, key: Any) -> list[str]:
        return sorted((i for i, r in runs.items() if keep(r)), key=key)

    query = f"filter={quote('params.group >= 2')}&sort={quote('metrics.score desc')}&limit=20"
    page = get_json(f"{url}?{query}&offset=20")
    wanted = expected(lambda r: r["parent"] is None and r["group"] >= 2, lambda i: -runs[i]["score"])
    assert page["total"] == len(wanted) == 124 and (page["offset"], page["limit"]) == (20, 20)
    assert [r["id"] for r in page["runs"]] == wanted[20:40]
    assert [r["metrics"]["score"] for r in page["runs"]] == [runs[i]["score"] for i in wanted[20:40]]
    shown = [row for offset in range(0, 140, 20) for row in get_json(f"{url}?{query}&offset={offset}")["runs"]]
    assert [r["id"] for r in shown] == wanted
    assert {r["id"]: r["children"] for r in shown} == {i: children[i] for i in wanted}
    assert sum(r["children"] for r in shown) > 0  # parents among them

    newest = get_json(f"{url}?offset=100&limit=100")  # no filter, no sort: newest first
    wanted = expected(lambda r: r["parent"] is None, lambda i: -runs[i]["start"])
    assert newest["total"] == 250 and [r["id"] for r in newest["runs"]] == wanted[100:200]
    assert {r["id"]: r["children"] for r in newest["runs"]} == {i: children[i] for i in wanted[100:200]}
    assert sum(r["children"] for r in newest["runs"]) > 0

    everyone = get_json(f"{url}?children=1&filter={quote('metrics.score >= 240')}&offset=5&limit=10")
    wanted = expected(lambda r: r["score"] >= 240, lambda i: -runs[i]["start"])
    assert everyone["total"] == len(wanted) and [r["id"] for r in everyone["runs"]] == wanted[5:15]

    last = get_json(f"{url}?offset=240&limit=100")
    assert last["total"] == 250 and len(last["runs"]) == 10
    assert get_json(f"{url}?offset=1000")["runs"] == []

    (listed,) = [e for e in get_json(f"{base}/api/experiments")["experiments"] if e["id"] == experiment_id]
    assert (listed["runs"], listed["children"], listed["running"]) == (len(runs), len(runs) - 250, 0)
    assert listed["last_start"] == max(r["start"] for r in runs.values())

    parent = "trial-20-0020"
    kids = get_json(f"{url}?parent={parent}&sort={quote('metrics.score desc')}&offset=1&limit=5")
    assert kids["total"] == children[parent] == 2
    assert [r["name"] for r in kids["runs"]] == ["child-20-0"] and kids["runs"][0]["children"] == 0


def test_polling_a_series_reads_it_again_only_when_it_grew(tmp_path: Path) -> None:
    from runlog_core import Experiment
    from runlog_ui import start_server

    experiment = Experiment("poll", store=str(tmp_path / "store"))
    run = experiment.start_logging(name="growing", outputs=None)
    for step in range(1000):
        run.log("loss", 1.0 / (step + 1))
    run.flush()
    counting = Counting(experiment._store)
    base = served(start_server(counting))
    url = f"{base}/api/runs/{run.id}/metric?name=loss&width=100"
    first = get_json(url)
    assert first["count"] == 1000 and first["downsampled"] is True
    for _ in range(3):
        assert get_json(url) == first
    assert counting.calls.get("get_point_columns") == 1  # read once, then from the cache while the count holds
    run.log("loss", 123.0)
    run.flush()
    grown = get_json(f"{url}&since={first['cursor']}")
    assert grown["x"] == [1000] and grown["y"] == [123.0] and grown["cursor"] == 1001
    assert counting.calls.get("get_point_columns") == 2
    run.complete()
    status, _headers, body = get(f"{base}/api/runs/{run.id}/live")
    assert status == 200 and json.loads(body)["status"] == "Completed"


def test_a_runs_html_in_another_process_links_to_the_running_ui(ui: dict[str, Any]) -> None:
    from runlog_core import Experiment

    runs = [r for r in Experiment("train", store=ui["store"]).get_runs() if r.id == ui["lr-0.1"]]
    card = runs[0]._repr_html_()
    assert f'href="{ui["url"]}/runs/{ui["lr-0.1"]}"' in card and "open in runlog ui" in card


def test_keys_search_among_thousands(tmp_path: Path) -> None:
    from runlog_core import Experiment
    from runlog_ui import start_server

    experiment = Experiment("wide", store=str(tmp_path / "store"))
    with experiment.start_logging(name="wide", outputs=None) as run:
        run.log_metrics({f"layer_{n:04d}/grad_norm": float(n) for n in range(3000)})
        run.log_params({f"hp_{n:04d}": n for n in range(2000)})
    base = served(start_server(experiment._store))
    experiment_id = experiment._store.get_experiment_id("wide")
    everything = get_json(f"{base}/api/experiments/{experiment_id}/keys")
    assert len(everything["metrics"]) == 200 and everything["truncated"] is True
    found = get_json(f"{base}/api/experiments/{experiment_id}/keys?q=LAYER_012&limit=50")
    assert found["metrics"] == [f"layer_{n:04d}/grad_norm" for n in range(120, 130)] and found["params"] == []
    assert found["truncated"] is False
    table = get_json(f"{base}/api/experiments/{experiment_id}/runs?columns=metrics.layer_2999/grad_norm,params.hp_1999")
    assert table["runs"][0]["metrics"] == {"layer_2999/grad_norm": 2999.0} and table["runs"][0]["params"] == {"hp_1999": 1999}


def test_a_chart_keeps_each_buckets_first_last_lowest_and_highest_point(tmp_path: Path) -> None:
    """#21: the downsampled chart, computed without copying the series, is exactly the first, last,
    lowest and highest point of each bucket of consecutive points, NaN and infinities included, the
    shorter last bucket too; asked again it is the same; once the series grew, it shows the new points."""
    import random

    from runlog_core import Experiment
    from runlog_ui import start_server

    rng = random.Random(21)
    n, width = 10_007, 100  # 50 buckets of 201 points, the last one of 158
    values = [rng.uniform(-1.0, 1.0) for _ in range(n)]
    for at in (5, 777, 4_000, 9_990, n - 1):
        values[at] = math.nan
    values[1_234], values[9_900], values[9_950] = math.inf, -math.inf, -5.0
    experiment = Experiment("buckets", store=str(tmp_path / "store"))
    run = experiment.start_logging(name="buckets", outputs=None)
    run.log_metrics({"loss": values[0]}, step=0)
    for step, value in enumerate(values[1:], start=1):
        run.log("loss", value, step=step)
    run.flush()
    base = served(start_server(experiment._store))
    url = f"{base}/api/runs/{run.id}/metric?name=loss&width={width}"
    answer = get_json(url)
    size = -(-n // (width // 2))
    expected: set[int] = set()
    for first in range(0, n, size):
        bucket = range(first, min(first + size, n))
        numbers = [i for i in bucket if not math.isnan(values[i])]
        expected.update({bucket[0], bucket[-1], min(numbers, key=lambda i: values[i]),
                         max(numbers, key=lambda i: values[i])})
    assert answer["downsampled"] is True and answer["x"] == sorted(expected)
    named = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    shown = [named.get(y, y) for y in answer["y"]]
    assert all(y == values[x] or (math.isnan(y) and math.isnan(values[x])) for x, y in zip(answer["x"], shown))
    assert get_json(url) == answer
    run.log("loss", 100.0, step=n)
    run.flush()
    grown = get_json(url)
    assert grown["count"] == n + 1 and grown["x"][-1] == n and grown["y"][-1] == 100.0
    run.complete()

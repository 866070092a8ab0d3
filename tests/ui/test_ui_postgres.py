"""`runlog ui` on a PostgreSQL store under 20 concurrent clients (#24): it holds at most
RUNLOG_UI_DB_CONNECTIONS connections (the server's pg_stat_activity counts them), answers every
request, closes them once idle, and pages params, tags and points from PostgreSQL."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("psycopg", reason="the PostgreSQL store needs psycopg: pip install 'runlog[postgres]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, get_json, start_ui, stop

A, B = "a" * 32, "b" * 32


def _sessions(database: str) -> int:
    import psycopg

    from fixtures_postgres import SERVER

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'runlog'",
                            (database,)).fetchone()
    return int(row[0]) if row else 0


def _fill(uri: str) -> int:
    from runlog_core.base.records import Batch, RunInfo, SeriesRef
    from runlog_core.store.postgres.store import PostgresStore

    store = PostgresStore(uri)
    try:
        experiment = store.get_or_create_experiment("pg-ui")
        now = time.time()
        batch = Batch()
        for run_id in (A, B):
            store.create_run(RunInfo(id=run_id, experiment_id=experiment, experiment_name="pg-ui", name=run_id[:1],
                                     status="Completed", start_time=now))
            batch.params.extend((run_id, f"p.{i:05d}", i if run_id == A else -i) for i in range(5000))
            batch.tags.extend((run_id, f"t.{i:03d}", str(i)) for i in range(300))
        ref = SeriesRef(A, "notes", "str")
        batch.series.append(ref)
        batch.columns.append((ref, 0, list(range(20_000)), [f"n{i}" for i in range(20_000)], [now] * 20_000))
        batch.count = 20_000
        store.write(batch)
        assert ref.id is not None
        return ref.id
    finally:
        store.close()


def test_twenty_clients_share_at_most_four_connections_released_when_idle(pg_uri: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    _fill(pg_uri)
    database = pg_uri.rsplit("/", 1)[-1]
    env = {**os.environ, "RUNLOG_UI_DB_CONNECTIONS": "4", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    proc, url = start_ui("--store", pg_uri, env=env)
    try:
        paths = [f"/api/runs/{A}", f"/api/runs/{A}/params?after=p.02000", f"/api/runs/{A}/tags?q=t.1",
                 f"/api/runs/{A}/series?name=notes&offset=19000", f"/api/compare?runs={A},{B}", "/api/experiments",
                 f"/api/runs/{A}/live"]
        answers: list[int] = []
        most = 0
        done = threading.Event()

        def client(n: int) -> None:
            for i in range(15):
                status, _headers, _body = get(url + paths[(n + i) % len(paths)])
                answers.append(status)

        def watch() -> None:
            nonlocal most
            while not done.is_set():
                most = max(most, _sessions(database))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        clients = [threading.Thread(target=client, args=(n,)) for n in range(20)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        done.set()
        watcher.join()
        print(f"20 clients x 15 requests: at most {most} connections to PostgreSQL")
        assert answers == [200] * 300
        assert 1 <= most <= 4  # before #24: 21, one per request thread and kept
        deadline = time.monotonic() + 30
        while _sessions(database) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _sessions(database) == 0  # idle for 10 s: every one closed
        # and the pages come from PostgreSQL's page reads, in code point order
        run = get_json(f"{url}/api/runs/{A}")
        assert list(run["params"])[:2] == ["p.00000", "p.00001"] and run["params_total"] == 5000
        assert run["params_next"] == "p.00199" and run["tags_total"] == 300
        page = get_json(f"{url}/api/runs/{A}/params?after={quote('p.04998')}")
        assert page == {"params": {"p.04999": 4999}, "total": 5000, "next": None}
        points = get_json(f"{url}/api/runs/{A}/series?name=notes&offset=19998")
        assert [p["value"] for p in points["points"]] == ["n19998", "n19999"] and points["count"] == 20_000
        both = get_json(f"{url}/api/compare?runs={A},{B}&part=params&params_after=p.00001&limit=2")
        assert both["params"] == {"p.00002": [2, -2], "p.00003": [3, -3]} and both["params_next"] == "p.00003"
    finally:
        stop(proc)


def test_the_bound_is_a_setting(pg_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    _fill(pg_uri)
    env = {**os.environ, "RUNLOG_UI_DB_CONNECTIONS": "many", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    import subprocess

    from _ui_helpers import RUNLOG

    result = subprocess.run([RUNLOG, "ui", "--store", pg_uri, "--port", "0"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "RUNLOG_UI_DB_CONNECTIONS" in result.stderr

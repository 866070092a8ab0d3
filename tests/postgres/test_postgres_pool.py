"""PostgresStore.limit_connections (#24): reads from many threads share at most N connections, wait for
a free one rather than open more, and the idle ones are closed; a writer thread keeps its own. Counted by
the server itself (pg_stat_activity), on a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from runlog_core.base.records import Batch, RunInfo
from runlog_core.exceptions import StoreError


def _sessions(store: Any) -> int:
    """The sessions the server has open to the store's database (runlog's own, application_name runlog)."""
    import psycopg

    from fixtures_postgres import SERVER

    database = store.uri.rsplit("/", 1)[-1]
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'runlog'",
                            (database,)).fetchone()
    return int(row[0]) if row else 0


class Watch:
    """Samples the store's sessions every 20 ms in a thread; ``most`` is the highest seen."""

    def __init__(self, store: Any) -> None:
        self.store, self.most, self._stop = store, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, _sessions(self.store))
            time.sleep(0.02)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _run_with_params(store: Any, n: int) -> str:
    experiment = store.get_or_create_experiment("pool")
    run_id = "p" * 32
    store.create_run(RunInfo(id=run_id, experiment_id=experiment, experiment_name="pool", name="pool",
                             status="Completed", start_time=time.time()))
    batch = Batch()
    batch.params.extend((run_id, f"key.{i:05d}", i) for i in range(n))
    store.write(batch)
    return run_id


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as err:  # reported by the assertion of the caller
            results[i] = err

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_reads_from_twenty_threads_share_at_most_the_bound_and_idle_ones_close(
        pg_store_factory: Callable[[], Any]) -> None:
    store = pg_store_factory()
    run_id = _run_with_params(store, 2000)
    store.limit_connections(3, idle_seconds=1.0)
    # a slow statement on every read keeps them overlapping: 20 threads x 3 reads
    slow = lambda conn: conn.execute("SELECT pg_sleep(0.05)").fetchone()  # noqa: E731
    with Watch(store) as watch:
        results = _in_threads(20, lambda i: [(store._run(slow), store.get_params_page(run_id, None, 10)[1],
                                              store.count_points(1)) for _ in range(3)])
    assert all(isinstance(r, list) and r[0][1] == 2000 for r in results), results
    assert 1 <= watch.most <= 3, watch.most
    deadline = time.monotonic() + 10
    while _sessions(store) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sessions(store) == 0  # idle for a second: closed
    assert store.get_params_page(run_id, None, 1)[1] == 2000  # and opened again on the next read
    assert _sessions(store) == 1


def test_without_a_bound_each_thread_keeps_its_own_connection(pg_store_factory: Callable[[], Any]) -> None:
    """The writer's and the trainers' behaviour is unchanged: a connection per thread, kept."""
    store = pg_store_factory()
    run_id = _run_with_params(store, 10)
    barrier = threading.Barrier(8)

    def read(i: int) -> int:
        barrier.wait()
        return int(store.get_params_page(run_id, None, 5)[1])

    assert _in_threads(8, read) == [10] * 8
    assert _sessions(store) >= 8


def test_a_write_never_waits_for_busy_readers(pg_store_factory: Callable[[], Any]) -> None:
    store = pg_store_factory()
    run_id = _run_with_params(store, 10)
    store.limit_connections(2, idle_seconds=5.0)
    started = threading.Barrier(3)

    def hold(i: int) -> Any:
        def action(conn: Any) -> Any:
            started.wait()
            return conn.execute("SELECT pg_sleep(1.5)").fetchone()

        return store._run(action)

    holders = threading.Thread(target=lambda: _in_threads(2, hold))
    holders.start()
    started.wait()  # both pooled connections are busy now
    began = time.perf_counter()
    batch = Batch()
    batch.tags.append((run_id, "written", "while reads held every pooled connection"))
    store.write(batch)
    took = time.perf_counter() - began
    holders.join()
    assert took < 1.0 and store.get_tags(run_id) == {"written": "while reads held every pooled connection"}


def test_a_read_that_finds_every_connection_busy_waits_then_says_so(pg_store_factory: Callable[[], Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "1")
    store = pg_store_factory()  # waits at most 2 s (RUNLOG_STORE_TIMEOUT, 2 s at least)
    run_id = _run_with_params(store, 10)
    store.limit_connections(1, idle_seconds=5.0)
    started = threading.Event()

    def hold() -> None:
        def action(conn: Any) -> Any:
            started.set()
            return conn.execute("SELECT pg_sleep(4)").fetchone()

        store._run(action)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait()
    began = time.perf_counter()
    with pytest.raises(StoreError, match="all 1 connections .* stayed in use"):
        store.get_params_page(run_id, None, 1)
    assert 1.5 < time.perf_counter() - began < 3.5
    holder.join()
    assert store.get_params_page(run_id, None, 1)[1] == 10

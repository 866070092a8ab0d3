"""The store never fails silently: bounded commits and memory, a locked store, a deleted store (issue 9);
runs started while the store refuses writes are made at once (issue 23)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from runlog_core import Experiment, Run, StoreBusyError, StoreError, search_runs
from runlog_core.writer import writer as _writer
from waiting import wait_until


def test_a_big_backlog_is_committed_in_bounded_transactions(store_dir: Path) -> None:
    exp = Experiment("cadence", store=store_dir)
    run = exp.start_logging(outputs=None)
    writer = run._writer
    before = writer.commits
    n = 5 * _writer.MAX_ENTRIES_PER_COMMIT
    for i in range(n):
        run.log("x", float(i))
    run.flush()
    # at most MAX_ENTRIES_PER_COMMIT entries a transaction: a commit at least every interval
    assert writer.commits - before >= 5
    assert [p.step for p in run.get_metric_history("x")] == list(range(n))
    exp.close()


def test_flush_waits_for_a_backlog_the_writer_is_committing_past_the_timeout(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """#21: a backlog taking longer than RUNLOG_STORE_TIMEOUT to commit, transaction after transaction,
    is waited for: the store answers all along (before, flush() raised "the store did not answer")."""
    monkeypatch.setattr(_writer, "MAX_ENTRIES_PER_COMMIT", 10_000)  # 200 transactions for the backlog
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "600")  # nothing committed before the flush asks
    exp = Experiment("backlog", store=store_dir)
    run = exp.start_logging(outputs=None)
    writer = run._writer
    n = 2_000_000
    log = run.log
    for i in range(n):
        log("x", i * 0.5, step=i)
    before = writer.commits
    writer.flush(timeout=0.5)  # each transaction well within 0.5 s; all of them together not
    assert writer.commits - before >= 200
    history = run.get_metric_history("x")
    assert len(history) == n and history[-1].step == n - 1 and history[-1].value == (n - 1) * 0.5
    run.complete()
    exp.close()


def test_a_flush_outlasted_by_one_transaction_says_the_writer_is_still_writing(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """#21: one transaction longer than the flush's timeout on a store that answers: the error says the
    writer is still at work and how many points are left, not that the store did not answer."""
    monkeypatch.setattr(_writer, "MAX_ENTRIES_PER_COMMIT", 10_000_000)  # the whole backlog in one transaction
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "600")
    exp = Experiment("one-long", store=store_dir)
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.flush()
    n = 3_000_000
    log = run.log
    for i in range(1, n + 1):
        log("x", float(i))
    with pytest.raises(StoreError) as caught:
        run._writer.flush(timeout=0.01)
    message = str(caught.value)
    assert not isinstance(caught.value, StoreBusyError)
    assert f"{n:,} points logged before flush() still to be written" in message, message
    assert "did not answer" not in message and "RUNLOG_STORE_TIMEOUT" in message, message
    run.flush()  # nothing lost: the writer went on
    assert [p.value for p in run.get_metric_history("x")] == [float(i) for i in range(n + 1)]
    run.complete()
    exp.close()


def test_points_waiting_for_a_refusing_store_are_packed(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the flush that gives up is told 0.5 s below; complete() then writes the 900,000 points that
    # waited, which takes seconds on a loaded machine: it gets a generous RUNLOG_STORE_TIMEOUT
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "300")
    exp = Experiment("packed", store=store_dir)
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.log_metrics({"a": 1.0, "b": 2}, step=0)
    run.flush()
    store, writer = exp._store, run._writer
    n = 300_000

    def all_packed() -> bool:  # read between two cycles, not between a retry's take and put_back
        with writer._cycle_lock:
            return not writer._points and writer._pending.points == 3 * n

    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match="could not write to the store"):
            monkeypatch.setattr(store, "write",
                                lambda batch: (_ for _ in ()).throw(OSError(28, "No space left on device")))
            for i in range(1, n + 1):
                run.log("x", float(i))
                run.log_metrics({"a": 1.0, "b": i}, step=i)
            with pytest.raises(StoreError):
                writer.flush(timeout=0.5)
            # the writer goes on taking what was handed over (100,000 points a cycle) after the
            # flush gave up: under load that takes a while, so wait for it rather than race it
            assert wait_until(all_packed, timeout=300, interval=0.02), (len(writer._points), writer._pending.points)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with writer._cycle_lock:
        pending = writer._pending.points
    assert pending == 3 * n
    assert held / pending < 32  # bytes a point while the store refuses (Python tuples: 100+)
    monkeypatch.undo()
    run.complete()
    assert [p.value for p in run.get_metric_history("x")] == [float(i) for i in range(n + 1)]
    assert [p.value for p in run.get_metric_history("b")][-3:] == [n - 2, n - 1, n]
    exp.close()


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()          # hold the write lock until told
    conn.execute("COMMIT")
""")


def test_a_store_locked_by_another_process_fails_loudly_and_keeps_the_bound(
        store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "1")
    monkeypatch.setenv("RUNLOG_MAX_BUFFERED_POINTS", "1000")
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.1")
    exp = Experiment("locked", store=store_dir)
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.flush()
    script = tmp_path / "hold.py"
    script.write_text(HOLD_LOCK)
    holder = subprocess.Popen([sys.executable, str(script), str(store_dir / "runlog.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.warns(RuntimeWarning, match="could not write to the store") as caught:
            for i in range(1, 5001):
                run.log("x", float(i))   # never blocks: it only hands the point over
            with pytest.raises(StoreBusyError) as busy:
                run.flush()
            assert wait_until(lambda: run._writer.dropped >= 4000, timeout=60, interval=0.02)
            # issue 23: a new run is made at once, its creation waiting in the buffer with its data
            started = time.monotonic()
            later = exp.start_logging(name="later", outputs=None)
            child = run.child_run(name="fold")
            assert time.monotonic() - started < 0.5
            later.log_params({"fold": 1})
            child.tag("phase", "locked")
            with pytest.raises(StoreBusyError):
                run.get_metrics()
            with pytest.raises(StoreBusyError):
                search_runs("metrics.x > 0", experiment=exp)
        error = busy.value
        assert error.waited == 1.0 and f"pid {holder.pid}" in str(error)
        assert any(f"pid {holder.pid}" in h for h in error.holders)
        assert sum("could not write" in str(w.message) for w in caught) == 1
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    run.complete()  # the lock is gone: what was kept is written
    values = [p.value for p in run.get_metric_history("x")]
    assert values[0] == 0.0 and values[-1] == 5000.0 and len(values) == 1001
    assert run.get_status() == "Completed"
    later.complete()
    child.complete()
    again = {r.name: r for r in exp.get_runs(include_children=True)}
    assert again["later"].get_params() == {"fold": 1} and again["later"].get_status() == "Completed"
    assert again["fold"].get_tags() == {"phase": "locked"} and again["fold"].parent == run
    exp.close()


def test_a_store_deleted_under_a_live_run_is_recreated_with_the_run(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.1")
    exp = Experiment("deleted", store=store_dir)
    run = exp.start_logging(name="survivor", tags={"team": "a"}, outputs=None)
    run.log_params({"lr": 0.1})
    for i in range(10):
        run.log("loss", float(i))
    run.flush()
    shutil.rmtree(store_dir)
    with pytest.warns(RuntimeWarning, match="was deleted") as caught:
        for i in range(10, 20):
            run.log("loss", float(i))
            run.log_metrics({"acc": 0.5}, step=i)
        run.flush()
        assert (store_dir / "runlog.db").is_file()
        for i in range(20, 30):
            run.log("loss", float(i))
        run.complete()
    assert sum("was deleted" in str(w.message) for w in caught) == 1
    again = Run(Experiment("deleted", store=store_dir), run.id)
    assert again.name == "survivor" and again.get_status() == "Completed"
    assert again.get_params() == {"lr": 0.1} and again.get_tags()["team"] == "a"
    history = again.get_metric_history("loss")
    assert [p.step for p in history] == list(range(10, 30))  # what the deleted file held is gone
    assert len(again.get_metric_history("acc")) == 10
    exp.close()


def test_closing_the_store_folds_the_wal_back(store_dir: Path) -> None:
    exp = Experiment("wal", store=store_dir)
    with exp.start_logging(outputs=None) as run:
        for i in range(200_000):
            run.log("x", float(i))
    exp.close()
    wal = store_dir / "runlog.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert len(Run(Experiment("wal", store=store_dir), run.id).get_metric_history("x")) == 200_000


@pytest.mark.parametrize("content", [b"", b"this is not a database, just 100 bytes of text " * 2,
                                     b"SQLite format 3\x00" + b"\x00" * 84], ids=["empty", "garbage", "truncated"])
def test_a_file_that_is_not_a_runlog_store_is_an_error_not_a_fresh_store(store_dir: Path, content: bytes) -> None:
    store_dir.mkdir()
    (store_dir / "runlog.db").write_bytes(content)
    with pytest.raises(StoreError, match="runlog.db") as caught:
        Experiment("x", store=store_dir)
    assert "Traceback" not in str(caught.value)
    assert (store_dir / "runlog.db").read_bytes() == content  # left as it was
    done = subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "runs", "--store", str(store_dir)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode != 0 and "Traceback" not in done.stderr


def test_a_second_connection_sees_data_version_change_each_commit(store_dir: Path) -> None:
    # the benchmark measures the commit gap this way (benchmarks/reliability.py)
    exp = Experiment("dv", store=store_dir)
    run = exp.start_logging(outputs=None)
    run.flush()
    reader = sqlite3.connect(store_dir / "runlog.db")
    first = reader.execute("PRAGMA data_version").fetchone()[0]
    run.log("x", 1.0)
    run.flush()
    assert reader.execute("PRAGMA data_version").fetchone()[0] != first
    reader.close()
    run.complete()
    exp.close()

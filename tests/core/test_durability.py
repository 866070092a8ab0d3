"""Crashes, signals, exceptions and many writers, with real processes and a real SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runlog_core import Experiment, Run, StoreError

FAST_HEARTBEAT = {"RUNLOG_HEARTBEAT_INTERVAL": "0.2", "RUNLOG_HEARTBEAT_TIMEOUT": "1.0", "RUNLOG_FLUSH_INTERVAL": "0.2"}


def _python(code: str, cwd: Path, env: dict[str, str] | None = None, **kwargs):  # type: ignore[no-untyped-def]
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full_env, **kwargs)


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_sigkill_keeps_every_flushed_point_and_the_run_reads_killed(store_dir: Path, tmp_path: Path) -> None:
    child = _python(
        f"""
        import sys
        from runlog_core import Experiment
        run = Experiment("crash", store={str(store_dir)!r}).start_logging()
        print(run.id, flush=True)
        step = 0
        while True:
            for _ in range(500):
                run.log("loss", float(step), step=step)
                step += 1
            run.flush()
            print(step, flush=True)   # every step below this is durable
        """,
        tmp_path, FAST_HEARTBEAT, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    acknowledged = 0
    while acknowledged < 20_000:
        acknowledged = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    run = Run(Experiment("crash", store=store_dir), run_id)
    steps = [p.step for p in run.get_metric_history("loss")]
    assert steps[:acknowledged] == list(range(acknowledged))
    assert steps == list(range(len(steps)))  # a gap-free, duplicate-free prefix
    assert _integrity(store_dir / "runlog.db") == "ok"
    deadline = time.time() + 10
    while run.get_status() == "Running" and time.time() < deadline:
        time.sleep(0.2)
    assert run.get_status() == "Killed"
    assert run.get_details()["endTimeUtc"] is not None


def test_a_live_run_stays_running_while_its_heartbeat_is_fresh(store_dir: Path, tmp_path: Path) -> None:
    child = _python(
        f"""
        import time
        from runlog_core import Experiment
        run = Experiment("alive", store={str(store_dir)!r}).start_logging()
        print(run.id, flush=True)
        time.sleep(60)
        """,
        tmp_path, FAST_HEARTBEAT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        run = Run(Experiment("alive", store=store_dir), run_id)
        for _ in range(12):  # 3 s, three times the dead-after timeout
            assert run.get_status() == "Running"
            time.sleep(0.25)
    finally:
        child.kill()
        child.wait()


def test_sigterm_loses_nothing_and_ends_the_run_killed(store_dir: Path, tmp_path: Path) -> None:
    child = _python(
        f"""
        import time
        from runlog_core import Experiment
        run = Experiment("term", store={str(store_dir)!r}).start_logging()
        for i in range(5000):
            run.log("x", float(i))
        print(run.id, flush=True)
        time.sleep(60)
        """,
        tmp_path, {"RUNLOG_FLUSH_INTERVAL": "30"}, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGTERM  # the process still dies of SIGTERM
    run = Run(Experiment("term", store=store_dir), run_id)
    assert len(run.get_metric_history("x")) == 5000
    assert run.get_status() == "Killed"


def test_user_sigterm_handler_is_still_called(store_dir: Path, tmp_path: Path) -> None:
    child = _python(
        f"""
        import signal, sys, time
        def handler(signum, frame):
            print("user handler", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, handler)
        from runlog_core import Experiment
        run = Experiment("term2", store={str(store_dir)!r}).start_logging()
        run.log("x", 1.0)
        print(run.id, flush=True)
        time.sleep(60)
        """,
        tmp_path, {"RUNLOG_FLUSH_INTERVAL": "30"}, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=30)
    assert "user handler" in out and child.returncode == 3
    run = Run(Experiment("term2", store=store_dir), run_id)
    assert run.get_metrics() == {"x": 1.0} and run.get_status() == "Killed"


def test_exception_in_with_block_fails_the_run_and_propagates_unchanged(store_dir: Path) -> None:
    class Boom(Exception):
        pass

    error = Boom("diverged")
    exp = Experiment("exc", store=store_dir)
    with pytest.raises(Boom) as caught:
        with exp.start_logging() as run:
            run.log("loss", 1.0)
            raise error
    assert caught.value is error
    reopened = Run(exp, run.id)
    assert reopened.get_status() == "Failed"
    details = reopened.get_details()
    assert "Traceback (most recent call last)" in details["error"] and "Boom: diverged" in details["error"]
    assert reopened.get_metrics() == {"loss": 1.0}


@pytest.mark.parametrize(
    ("ending", "status", "exit_code"),
    [
        ("pass", "Completed", 0),
        ("raise ValueError('uncaught')", "Failed", 1),
        ("raise KeyboardInterrupt", "Canceled", -signal.SIGINT),
    ],
    ids=["normal-exit", "uncaught-exception", "ctrl-c"],
)
def test_runs_left_open_end_with_the_interpreter(store_dir: Path, tmp_path: Path, ending: str, status: str,
                                                 exit_code: int) -> None:
    child = _python(
        f"""
        from runlog_core import Experiment
        run = Experiment("open", store={str(store_dir)!r}).start_logging()
        print(run.id, flush=True)
        for i in range(1000):
            run.log("x", float(i))
        {ending}
        """,
        tmp_path, {"RUNLOG_FLUSH_INTERVAL": "30"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == exit_code, err
    run = Run(Experiment("open", store=store_dir), out.split()[0])
    assert run.get_status() == status
    assert len(run.get_metric_history("x")) == 1000
    if status == "Failed":
        assert "ValueError: uncaught" in run.get_details()["error"]
        assert "ValueError: uncaught" in err  # the user still sees their traceback
    assert "runlog" not in err.replace(str(store_dir), "")  # no noise from runlog at exit


def test_get_context_outside_a_submitted_run_logs_into_the_default_store(tmp_path: Path) -> None:
    script = tmp_path / "train_model.py"
    script.write_text(textwrap.dedent(
        """
        from runlog_core import Run
        run = Run.get_context()
        assert Run.get_context() is run
        run.log("accuracy", 0.5)
        print(run.id)
        """
    ))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    exp = Experiment("train_model", store=tmp_path / "runlog")
    run = Run(exp, out.strip())
    assert run.get_status() == "Completed" and run.get_metrics() == {"accuracy": 0.5}


def test_get_context_attaches_to_the_run_named_in_the_environment(store_dir: Path, tmp_path: Path) -> None:
    exp = Experiment("submitted", store=store_dir)
    parent_side = exp.start_logging()
    env = {**os.environ, "RUNLOG_RUN_ID": parent_side.id, "RUNLOG_STORE": exp.store}
    code = "from runlog_core import Run\nrun = Run.get_context()\nrun.log('from child', 42)\nprint(run.id)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == parent_side.id
    assert parent_side.get_status() == "Running"  # the child does not end a run it attached to
    assert parent_side.get_metrics() == {"from child": 42}
    parent_side.complete()


def test_many_processes_logging_into_one_store_lose_nothing(store_dir: Path, tmp_path: Path) -> None:
    Experiment("parallel", store=store_dir)  # create the store once, as a user would
    code = f"""
        import sys
        from runlog_core import Experiment
        run = Experiment("parallel", store={str(store_dir)!r}).start_logging(name=sys.argv[1])
        for i in range(5000):
            if i % 2:
                run.log("x", float(i), step=i)
            else:
                run.log_metrics({{"x": float(i)}}, step=i)
        run.complete()
        """
    children = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), f"p{i}"], cwd=tmp_path,
                         env={**os.environ, "RUNLOG_FLUSH_INTERVAL": "0.05"}, stderr=subprocess.PIPE, text=True)
        for i in range(8)
    ]
    errors = [child.communicate(timeout=240)[1] for child in children]
    assert [child.returncode for child in children] == [0] * 8, errors
    assert not any("locked" in e or "Traceback" in e for e in errors), errors
    exp = Experiment("parallel", store=store_dir)
    runs = exp.get_runs()
    assert sorted(r.name for r in runs) == [f"p{i}" for i in range(8)]
    total = 0
    for run in runs:
        steps = [p.step for p in run.get_metric_history("x")]
        assert steps == list(range(5000))
        total += len(steps)
    assert total == 40_000
    assert _integrity(store_dir / "runlog.db") == "ok"


def test_a_failing_store_keeps_points_in_memory_and_retries(store_dir: Path) -> None:
    exp = Experiment("retry", store=store_dir)
    store = exp._store
    original = store.write
    failures = {"left": 3}

    def flaky(batch):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return original(batch)

    run = exp.start_logging()
    store.write = flaky
    try:
        with pytest.warns(RuntimeWarning, match="could not write to the store"):
            for i in range(100):
                run.log("x", float(i))
            deadline = time.time() + 20
            while failures["left"] and time.time() < deadline:
                time.sleep(0.1)
        run.complete()
    finally:
        del store.write
    assert [p.value for p in run.get_metric_history("x")] == [float(i) for i in range(100)]
    assert run.get_status() == "Completed"


def test_processes_sharing_one_run_keep_every_point(store_dir: Path, tmp_path: Path) -> None:
    """Workers attached to one run (as DDP ranks or a submitted script's helpers are) lose nothing."""
    exp = Experiment("shared", store=store_dir)
    owner = exp.start_logging()
    code = textwrap.dedent("""
        import sys
        from runlog_core import Run
        run = Run.get_context()
        worker = int(sys.argv[1])
        for step in range(1000):
            run.log(f"own/{worker}", float(step), step=step)
            run.log("shared", float(worker), step=step)
        run.tag(f"worker{worker}", "done")
    """)
    env = {**os.environ, "RUNLOG_RUN_ID": owner.id, "RUNLOG_STORE": exp.store, "RUNLOG_FLUSH_INTERVAL": "0.05"}
    children = [subprocess.Popen([sys.executable, "-c", code, str(i)], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                                 text=True) for i in range(4)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [c.returncode for c in children] == [0] * 4, errors
    owner.complete()
    for worker in range(4):
        assert [p.value for p in owner.get_metric_history(f"own/{worker}")] == [float(s) for s in range(1000)]
    shared = owner.get_metric_history("shared")
    assert len(shared) == 4000
    assert sorted((p.step, p.value) for p in shared) == sorted((s, float(w)) for s in range(1000) for w in range(4))
    assert owner.get_tags() == {f"worker{w}": "done" for w in range(4)}
    assert owner.get_status() == "Completed"


def test_a_store_failing_at_exit_costs_one_line_and_not_the_exit_status(store_dir: Path, tmp_path: Path) -> None:
    child = _python(
        f"""
        import sys
        from runlog_core import Experiment
        run = Experiment("full", store={str(store_dir)!r}).start_logging()
        run.log("x", 1.0)
        run.flush()
        def full(batch):
            raise OSError(28, "No space left on device")
        run._store.write = full  # the disk fills up just before the interpreter exits
        run.log("x", 2.0)
        sys.exit(4)
        """,
        tmp_path, {"RUNLOG_FLUSH_INTERVAL": "30"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 4
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1 and err.startswith("runlog: at exit")


def test_a_store_that_stays_down_takes_bounded_memory(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_MAX_BUFFERED_POINTS", "1000")
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "0.5")
    from runlog_core.store.sqlite.store import SQLiteStore

    store = SQLiteStore(store_dir / "runlog.db")  # a store (and writer) of this test's own
    exp = Experiment("down", store=store)
    run = exp.start_logging()
    run.log("x", 0.0)
    run.flush()

    def down(batch):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database is locked")

    real = store.write
    store.write = down
    try:
        with pytest.warns(RuntimeWarning):
            for i in range(1, 5001):
                run.log("x", float(i))
            with pytest.raises(StoreError, match="did not take the writes"):
                run.flush()
        assert run._writer.dropped == 4000
    finally:
        store.write = real
    run.complete()
    values = [p.value for p in run.get_metric_history("x")]
    assert values == [0.0] + [float(i) for i in range(4001, 5001)]  # the newest kept, in order


def test_a_value_the_store_refuses_costs_only_that_value(store_dir: Path) -> None:
    """A refusal for what is in a batch (not a busy store) must not block every later write."""
    exp = Experiment("poison", store=store_dir)
    run = exp.start_logging()
    run.log_params({"huge": 2**70, "lr": 0.1})  # an int beyond SQLite's range, as a param
    for i in range(100):
        run.log("x", float(i))
    run.complete()
    again = Run(exp, run.id)
    assert again.get_params() == {"huge": 2**70, "lr": 0.1}
    assert len(again.get_metric_history("x")) == 100 and again.get_status() == "Completed"

    original = exp._store.write

    def refuses_tags(batch):  # type: ignore[no-untyped-def]
        if batch.tags:
            raise sqlite3.IntegrityError("CHECK constraint failed: tags")
        return original(batch)

    exp._store.write = refuses_tags
    try:
        other = exp.start_logging()
        with pytest.warns(RuntimeWarning, match=r"refused tag 'bad'.*everything else in the batch was written"):
            other.tag("bad", "x")
            other.log_metrics({"y": 1.0, "z": 2.0}, step=0)
            other.log_params({"kept": True})
            other.flush()
        other.log("y", 3.0)
        other.complete()
    finally:
        del exp._store.write
    assert other.get_metrics() == {"y": [1.0, 3.0], "z": 2.0}
    assert other.get_params() == {"kept": True} and other.get_tags() == {}
    assert other.get_status() == "Completed"

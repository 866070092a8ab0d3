"""Deleting, restoring and removing runs for good (issue 20) on the SQLite store: the run API, the
``runlog delete / restore / gc`` commands, crash safety, and an old store upgraded in place."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from runlog_core import Experiment, InvalidArgumentError, Run, RunNotFoundError, RunStateError, search_runs
from runlog_core.cli.main import main
from runlog_core.store.gc import collect_garbage
from runlog_core.store.sqlite.schema import SCHEMA_VERSION

OLD_STORE = Path(__file__).parent / "data" / "v0_1_0" / "store"


def _finished(exp: Experiment, name: str, points: int = 10, child: bool = False) -> Run:
    with exp.start_logging(name=name) as run:
        for step in range(points):
            run.log("loss", 1.0 / (step + 1))
        run.log_params({"alpha": 0.5})
        run.upload_file("outputs/model.bin", __file__)
        if child:
            with run.child_run(name=f"{name}-child") as kid:
                kid.log("score", 0.9)
    return run


def test_a_deleted_run_is_hidden_readable_by_id_and_restored_whole(store_dir: Path) -> None:
    exp = Experiment("retain", store=store_dir)
    gone, kept = _finished(exp, "gone", child=True), _finished(exp, "kept")
    child = gone.get_children()[0]
    gone.delete()
    assert [run.id for run in exp.get_runs()] == [kept.id]
    assert [run.id for run in exp.get_runs(include_children=True)] == [kept.id]
    assert {run.id for run in exp.get_runs(include_deleted=True, include_children=True)} == {gone.id, kept.id, child.id}
    assert [run.id for run in search_runs("metrics.loss < 1", experiment=exp)] == [kept.id]
    again = Run(exp, gone.id)
    details = again.get_details()
    assert details["deleted"] is True and details["deletedTimeUtc"] and details["status"] == "Completed"
    assert Run(exp, child.id).get_details()["deleted"] is True
    again.restore()
    assert {run.id for run in exp.get_runs()} == {gone.id, kept.id}
    assert Run(exp, child.id).get_details()["deleted"] is False
    assert again.get_metrics()["loss"][-1] == pytest.approx(0.1) and again.get_params() == {"alpha": 0.5}
    assert again.get_file_names() == kept.get_file_names()


def test_bad_input_changes_nothing(store_dir: Path) -> None:
    exp = Experiment("retain", store=store_dir)
    run = _finished(exp, "done")
    with pytest.raises(RunStateError, match="not deleted.*nothing to restore"):
        run.restore()
    live = exp.start_logging(name="live")
    with pytest.raises(RunStateError, match="Running.*force=True") as caught:
        live.delete()
    assert caught.value.run_id == live.id
    parent = exp.start_logging(name="parent")
    parent.child_run(name="still running")
    parent_info = exp._store.get_run(parent.id)
    assert parent_info is not None and parent_info.status == "Running"
    with pytest.raises(InvalidArgumentError, match="force must be True or False"):
        run.delete(force="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="older_than must be a number of days"):
        collect_garbage(exp._store, older_than=-1)
    assert {r.id for r in exp.get_runs()} == {run.id, live.id, parent.id}
    live.delete(force=True)  # forced: it may go on logging, hidden
    live.log("late", 1.0)
    live.complete()
    assert Run(exp, live.id).get_metrics()["late"] == 1.0


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_delete_restore_and_gc(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = Experiment("cli", store=store_dir)
    bad, good, other = _finished(exp, "bad", points=2000, child=True), _finished(exp, "good"), _finished(exp, "other")
    exp.close()
    store = str(store_dir)
    code, _, err = _cli(capsys, "--store", store, "delete", "-e", "cli", "--filter", "metrics.loss < 0.01")
    assert code == 2 and err.count("\n") == 1 and "--yes" in err  # no terminal: it will not ask
    assert _cli(capsys, "--store", store, "restore", good.id)[2].startswith("runlog: run ")
    code, out, _ = _cli(capsys, "--store", store, "delete", "-e", "cli", "--filter", "metrics.loss < 0.01", "--yes")
    assert code == 0 and "deleted 1 run and 1 child run" in out
    code, out, _ = _cli(capsys, "--store", store, "runs", "--all", "--json")
    assert bad.id not in out and good.id in out and other.id in out
    code, out, _ = _cli(capsys, "--store", store, "show", bad.id)
    assert code == 0 and "deleted" in out
    code, out, _ = _cli(capsys, "--store", store, "gc", "--dry-run")
    assert code == 0 and "would remove 2 deleted runs: 2,001 points" in out
    assert (store_dir / "artifacts" / bad.id / "outputs" / "model.bin").exists()
    code, out, _ = _cli(capsys, "--store", store, "gc", "--older-than", "1")
    assert code == 0 and "removed 0 deleted runs" in out  # deleted just now
    code, out, _ = _cli(capsys, "--store", store, "gc")
    assert code == 0 and "removed 2 deleted runs: 2,001 points, 1 file (" in out
    assert not (store_dir / "artifacts" / bad.id).exists()
    code, out, err = _cli(capsys, "--store", store, "show", bad.id)
    assert code == 2 and "no run matches" in err
    survivor = Run(Experiment("cli", store=store_dir), good.id)
    assert len(survivor.get_metric_history("loss")) == 10 and survivor.get_file_names() == ["outputs/model.bin"]
    for args in (("gc", "--older-than", "-1"), ("restore", "nope"), ("delete", other.id, "-e", "cli"),
                 ("delete", "nope", "--yes"), ("restore", good.id)):
        code, _, err = _cli(capsys, "--store", store, *args)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, args
    assert len(Experiment("cli", store=store_dir).get_runs()) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_cli_delete_asks_on_a_terminal(store_dir: Path) -> None:
    import pty
    import subprocess

    exp = Experiment("tty", store=store_dir)
    runs = [_finished(exp, name) for name in ("first", "second")]
    exp.close()
    for answer, expected in ((b"n\n", 2), (b"y\n", 1)):
        leader, follower = pty.openpty()
        process = subprocess.Popen([sys.executable, "-m", "runlog_core.cli.main", "--store", str(store_dir), "delete",
                                    runs[0].id], stdin=follower, stdout=follower, stderr=follower)
        os.close(follower)
        seen = b""
        while b"[y/N]" not in seen:
            try:
                seen += os.read(leader, 4096)
            except OSError:  # the command ended without asking
                pytest.fail(f"it did not ask: {seen!r}, exit status {process.wait()}")
        os.write(leader, answer)
        assert process.wait(timeout=60) == (1 if answer == b"n\n" else 0)
        os.close(leader)
        assert runs[0].name.encode() in seen and b"will be deleted" in seen
        assert len(Experiment("tty", store=store_dir).get_runs()) == expected


def test_gc_killed_midway_is_finished_by_the_next_one(store_dir: Path) -> None:
    exp = Experiment("crash", store=store_dir)
    gone, kept = _finished(exp, "gone", points=500, child=True), _finished(exp, "kept", points=500)
    child = gone.get_children()[0]
    gone.delete()
    store = exp._store
    # what a gc killed after its first slice leaves: the run marked, its files gone, part of its rows gone
    assert store.start_purge(gone.id)
    shutil.rmtree(store_dir / "artifacts" / gone.id)
    store.purge_step(gone.id)
    with pytest.raises(RunStateError, match="being removed"):
        Run(exp, gone.id).restore()
    assert [run.id for run in exp.get_runs()] == [kept.id]
    summary = collect_garbage(store, older_than=30)  # a run gc began is finished whatever its age
    assert [info.id for info in summary.runs][0] == gone.id
    with pytest.raises(RunNotFoundError):
        Run(exp, gone.id)
    assert [info.id for info in store.deleted_runs()] == [child.id]  # deleted just now: not old enough yet
    again = Run(exp, kept.id)
    assert len(again.get_metric_history("loss")) == 500 and again.get_params() == {"alpha": 0.5}


def test_a_run_logging_during_gc_loses_nothing_and_the_file_shrinks(store_dir: Path) -> None:
    exp = Experiment("busy", store=store_dir)
    doomed = [_finished(exp, f"old-{index}", points=20_000) for index in range(4)]
    for run in doomed:
        run.delete()
    exp._store.close()
    size = (store_dir / "runlog.db").stat().st_size
    live = exp.start_logging(name="live")
    stop = threading.Event()
    logged = [0]

    def train() -> None:
        while not stop.is_set() or logged[0] < 1000:
            live.log("loss", float(logged[0]))
            logged[0] += 1
            if logged[0] % 100 == 0:
                time.sleep(0.001)

    worker = threading.Thread(target=train)
    worker.start()
    summary = collect_garbage(exp._store)
    stop.set()
    worker.join()
    live.complete()
    assert len(summary.runs) == 4 and summary.points == 80_000
    assert summary.database_bytes is not None and summary.database_bytes > 0
    assert len(Run(exp, live.id).get_metric_history("loss")) == logged[0]
    exp._store.close()
    assert (store_dir / "runlog.db").stat().st_size < size


def test_an_old_store_is_upgraded_and_can_delete_restore_and_gc(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    shutil.copytree(OLD_STORE, folder)
    exp = Experiment("pickled", store=folder)
    (run,) = exp.get_runs()
    version = sqlite3.connect(folder / "runlog.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION and run.get_metrics()["loss"] == 0.5
    exp._store.close()
    with Experiment("pickled", store=folder) as again:
        run = again.get_runs()[0]
        run.delete()
        assert again.get_runs() == []
        run.restore()
        assert [r.id for r in again.get_runs()] == [run.id]
        run.delete()
        summary = collect_garbage(again._store, rewrite=True)
        assert [info.id for info in summary.runs] == [run.id] and summary.points == 1
    auto_vacuum = sqlite3.connect(folder / "runlog.db").execute("PRAGMA auto_vacuum").fetchone()[0]
    assert auto_vacuum == 2  # rewritten once: later gcs give space back a slice at a time


def test_push_all_leaves_deleted_runs_behind(store_dir: Path, tmp_path: Path) -> None:
    from runlog_core import push

    exp = Experiment("pushed", store=store_dir)
    gone, kept = _finished(exp, "gone", child=True), _finished(exp, "kept")
    gone.delete()
    push(exp._store, str(tmp_path / "team"), all=True)
    copied = Experiment("pushed", store=tmp_path / "team")
    assert [run.id for run in copied.get_runs(include_deleted=True, include_children=True)] == [kept.id]

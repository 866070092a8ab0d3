"""Issue 23, points 2, 6 and 7: a PostgreSQL store that goes away while a program runs costs one warning,
never the training, never a point: runs made meanwhile are made at once, SIGTERM spills what waits
like every other exit, and a program whose store is down at its end waits once. The outage is real:
runlog reaches the real PostgreSQL through a TCP relay that the test cuts (connections reset, the
port refusing), stalls (nothing forwarded, nothing closed) and restores."""

from __future__ import annotations

import os
import signal
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from _team_helpers import runlog_warnings, start_program, wait_for_file

from runlog_core import Experiment, Run
from tcp_relay import Relay


def test_child_runs_made_during_an_outage_return_at_once_and_everything_arrives_later(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.05")
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "2")
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(tmp_path / "spill"))
    through = relay.uri(pg_uri)
    exp = Experiment("folds", store=through)
    parent = exp.start_logging(name="search", outputs=None)
    parent.log("best", 0.0)
    parent.flush()
    relay.cut()
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = []
        for fold in range(3):  # a cross-validation loop: the store is down the whole time
            before = time.monotonic()
            child = parent.child_run(name=f"fold-{fold}")
            assert time.monotonic() - before < 0.5  # at once: its id is made here, its creation waits
            with child:
                for step in range(500):
                    child.log("acc", step / 500)
                child.log_params({"fold": fold})
            made.append(child)
            parent.log("best", float(fold))
        # another Experiment object of the same name, and a run in it, while the store is down
        later = Experiment("folds", store=through).start_logging(name="after the folds", outputs=None)
        later.log("x", 1.0)
        trained = time.monotonic() - started
        relay.start()  # the store is back: everything that waited is written, in order
        later.complete()
        parent.complete()
        exp.close()
    assert trained < 2 + 1.5  # one wait of RUNLOG_STORE_TIMEOUT (the first fold's end), not one per fold
    told = runlog_warnings(caught)
    assert len(told) == 1 and "could not write to the store" in told[0], told  # one warning, training went on

    reader = Experiment("folds", store=pg_uri)
    search = Run(reader, parent.id)
    assert [p.value for p in search.get_metric_history("best")] == [0.0, 0.0, 1.0, 2.0]
    children = sorted(search.get_children(), key=lambda run: run.name)
    assert [run.name for run in children] == ["fold-0", "fold-1", "fold-2"]
    assert [run.id for run in children] == [child.id for child in made]
    for fold, child in enumerate(children):
        assert [p.value for p in child.get_metric_history("acc")] == [step / 500 for step in range(500)]
        assert child.get_params() == {"fold": fold} and child.get_status() == "Completed"
    [after] = [run for run in reader.get_runs() if run.name == "after the folds"]
    assert after.get_metrics() == {"x": 1.0} and after.get_status() == "Completed"
    assert search.get_status() == "Completed"


PREEMPTED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])
    run = Experiment("preempted", store=store).start_logging(name="preempted", outputs=None)
    for step in range(1000):
        run.log("loss", float(step))
    run.flush()
    (folder / "run-id").write_text(run.id)
    while not (folder / "down").exists():
        time.sleep(0.02)
    for step in range(1000, 2851):
        run.log("loss", float(step))
        if step % 200 == 0:
            time.sleep(0.05)
    (folder / "model.bin").write_bytes(b"weights" * 1000)
    run.upload_file("model.bin", str(folder / "model.bin"))  # the bytes are kept; the index entry waits
    run.log_params({"epochs": 3})
    (folder / "ready").write_text("")
    while True:  # training goes on until the scheduler preempts the job
        time.sleep(0.1)
""")


@pytest.mark.parametrize("fault", ["refused", "silent"])
def test_sigterm_while_the_store_is_unreachable_spills_everything_and_exits_in_time(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    spill_dir = tmp_path / "spill"
    timeout = 2.0
    env = {**os.environ, "RUNLOG_SPILL_DIR": str(spill_dir), "RUNLOG_STORE_TIMEOUT": str(timeout),
           "RUNLOG_FLUSH_INTERVAL": "0.1", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    through = relay.uri(pg_uri)
    proc, run_id, deadline = start_program(PREEMPTED, tmp_path, [through, str(tmp_path)], env)
    if fault == "refused":
        relay.cut()  # connections reset, the port refuses
    else:
        relay.stall()  # nothing forwarded, nothing closed: a write hangs
    (tmp_path / "down").write_text("")
    wait_for_file(tmp_path / "ready", proc, deadline)
    time.sleep(0.3)
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - asked
    assert proc.returncode == -signal.SIGTERM  # it dies of SIGTERM, as it would have without runlog
    assert took < timeout + 1.5, took  # within RUNLOG_STORE_TIMEOUT and a second or so, then the grace is ours
    said = [line for line in err.splitlines() if line.startswith("runlog: on SIGTERM")]
    assert len(said) == 1 and "kept in" in said[0] and str(spill_dir) in said[0], err
    assert "Traceback" not in err

    if fault == "refused":
        relay.start()
    else:
        relay.resume()
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(spill_dir))
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    with pytest.warns(RuntimeWarning, match="wrote into"):
        again = Run(Experiment("preempted", store=through), run_id)
    history = again.get_metric_history("loss")
    assert [p.step for p in history] == list(range(2851))  # 2,851 logged, 2,851 stored, in order
    assert again.get_file_names() == ["model.bin"]  # the file uploaded during the outage is in the index
    assert again.get_params() == {"epochs": 3}
    assert again.get_status() == "Killed" and "SIGTERM" in (again.get_details().get("error") or "")


ENDING_DOWN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])
    run = Experiment("ends-down", store=store).start_logging(name="ends down", outputs=None)
    run.log("loss", 0.0)
    run.flush()
    (folder / "run-id").write_text(run.id)
    while not (folder / "down").exists():
        time.sleep(0.02)
    for step in range(1, 500):
        run.log("loss", float(step))
    (folder / "ending").write_text("")
    run.complete()
    print("completed", flush=True)
""")


def test_a_program_whose_store_is_down_at_its_end_waits_once(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spill_dir = tmp_path / "spill"
    timeout = 3.0
    env = {**os.environ, "RUNLOG_SPILL_DIR": str(spill_dir), "RUNLOG_STORE_TIMEOUT": str(timeout),
           "RUNLOG_FLUSH_INTERVAL": "0.1", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    through = relay.uri(pg_uri)
    proc, run_id, deadline = start_program(ENDING_DOWN, tmp_path, [through, str(tmp_path)], env)
    relay.cut()
    (tmp_path / "down").write_text("")
    while not (tmp_path / "ending").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    ending = time.monotonic()
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - ending
    assert proc.returncode == 0 and out.strip() == "completed", err  # complete() warned, and training went on
    assert took < timeout + 1.5, took  # complete() waited RUNLOG_STORE_TIMEOUT; the exit did not wait again
    assert "Traceback" not in err
    at_exit = [line for line in err.splitlines() if line.startswith("runlog: at exit")]
    assert len(at_exit) == 1 and "kept in" in at_exit[0], err

    relay.start()
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(spill_dir))
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    with pytest.warns(RuntimeWarning, match="wrote into"):
        again = Run(Experiment("ends-down", store=through), run_id)
    assert [p.step for p in again.get_metric_history("loss")] == list(range(500))
    assert again.get_status() == "Completed"

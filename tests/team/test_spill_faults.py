"""Issue 23, point 4: spill files never strand a point. A damaged file (or one the store refuses) is moved
aside with one line naming it, and the others are written; a ``*.writing`` file left by a replayer that was killed is written the
next time; two programs opening the store at once write the files once, in logged order. The files
are made by a real program whose PostgreSQL went away (a TCP relay the test cuts), and replayed by
real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _team_helpers import start_program

from runlog_core import Experiment, Run
from tcp_relay import Relay

SPILLING = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder, points, every = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    run = Experiment("spilled", store=store).start_logging(name="spilled", outputs=None)
    run.log("loss", 0.0)
    run.flush()
    (folder / "run-id").write_text(run.id)
    while not (folder / "cut").exists():
        time.sleep(0.02)
    for step in range(1, points + 1):
        run.log("loss", float(step))
        if step % every == 0:
            time.sleep(0.25)  # a batch each: one spill file each when the program ends
    run.log_params({"lr": 0.1})
    run.tag("phase", "offline")
    (folder / "model.bin").write_bytes(b"weights")
    run.upload_file("model.bin", str(folder / "model.bin"))
    # the program ends here, the store down: the run ends Completed, what waits is spilled
""")

REPLAYER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, go = sys.argv[1], Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.002)
    Experiment("spilled", store=store).close()  # opening the store replays the files
""")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RUNLOG_SPILL_DIR": str(tmp_path / "spill"), "RUNLOG_STORE_TIMEOUT": "2",
            "RUNLOG_FLUSH_INTERVAL": "0.05", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}


def _waiting(spill_dir: Path) -> list[Path]:
    """The spill files waiting (not those moved aside), oldest first."""
    return sorted((p for p in spill_dir.glob("*/*") if p.suffix in (".json", ".writing")),
                  key=lambda p: p.stem)


def _spill(relay: Relay, pg_uri: str, tmp_path: Path, points: int, every: int) -> str:
    """Run a program that logs ``points`` points after its store went away; returns the run's id."""
    proc, run_id, _ = start_program(SPILLING, tmp_path, [relay.uri(pg_uri), str(tmp_path), str(points), str(every)],
                                    _env(tmp_path))
    relay.cut()
    (tmp_path / "cut").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "kept in" in err, err
    relay.start()
    return run_id


def _points_in(path: Path) -> int:
    return sum(len(column[2]) for column in json.loads(path.read_text())["columns"])


def _use_spills(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(tmp_path / "spill"))
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))


def test_a_damaged_spill_file_is_moved_aside_named_and_the_others_are_written(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _spill(relay, pg_uri, tmp_path, points=4000, every=500)
    files = _waiting(tmp_path / "spill")
    assert len(files) >= 4
    damaged = files[1]
    lost = _points_in(damaged)
    assert 0 < lost < 4000
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # truncated, as by a full disk

    _use_spills(monkeypatch, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Run(Experiment("spilled", store=relay.uri(pg_uri)), run_id)
    told = [str(w.message) for w in caught if str(w.message).startswith("runlog")]
    aside = damaged.parent / "damaged" / damaged.name
    about = [line for line in told if damaged.name in line]
    assert len(about) == 1 and "\n" not in about[0], told  # one line: what it was, what it held, where it is
    assert "damaged" in about[0] and str(aside) in about[0] and run_id in about[0] and "bytes" in about[0]
    assert any("wrote into" in line for line in told), told
    assert aside.is_file() and _waiting(tmp_path / "spill") == []

    steps = [p.step for p in again.get_metric_history("loss")]
    assert len(steps) == 4001 - lost  # every point but the damaged file's
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # in logged order, none twice
    assert again.get_params() == {"lr": 0.1} and again.get_tags()["phase"] == "offline"
    assert again.get_file_names() == ["model.bin"] and again.get_status() == "Completed"


def test_a_writing_file_left_by_a_killed_replayer_is_written_the_next_time(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _spill(relay, pg_uri, tmp_path, points=400_000, every=100_000)
    spill_dir = tmp_path / "spill"
    assert len(_waiting(spill_dir)) >= 3
    script = tmp_path / "replay.py"
    script.write_text(REPLAYER)
    (tmp_path / "go").write_text("")
    replayer = subprocess.Popen([sys.executable, str(script), relay.uri(pg_uri), str(tmp_path / "go")],
                                env=_env(tmp_path), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:  # the moment it writes a file, the network goes silent: the write hangs; then it is killed
        writing = [p for p in _waiting(spill_dir) if p.suffix == ".writing"]
        if writing:
            relay.stall()
            if writing[0].exists():
                break
            relay.resume()
        assert replayer.poll() is None and time.monotonic() < deadline, replayer.communicate()
        time.sleep(0.001)
    replayer.send_signal(signal.SIGKILL)
    replayer.wait(timeout=30)
    relay.resume()
    assert [p.suffix for p in _waiting(spill_dir)][0] == ".writing"  # what the killed replayer left

    _use_spills(monkeypatch, tmp_path)
    with pytest.warns(RuntimeWarning, match="wrote into"):
        again = Run(Experiment("spilled", store=relay.uri(pg_uri)), run_id)
    assert _waiting(spill_dir) == []
    steps = [p.step for p in again.get_metric_history("loss")]
    assert len(steps) == 400_001 and steps == list(range(400_001))  # every point, once, in order
    assert again.get_status() == "Completed"


def test_two_programs_replaying_at_once_write_each_file_once_in_logged_order(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _spill(relay, pg_uri, tmp_path, points=6000, every=300)
    spill_dir = tmp_path / "spill"
    assert len(_waiting(spill_dir)) >= 10
    script = tmp_path / "replay.py"
    script.write_text(REPLAYER)
    go = tmp_path / "go"
    replayers = [subprocess.Popen([sys.executable, str(script), relay.uri(pg_uri), str(go)], env=_env(tmp_path),
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.5)  # both started and waiting: they open the store at the same moment
    go.write_text("")
    errors = [replayer.communicate(timeout=120)[1] for replayer in replayers]
    assert [replayer.returncode for replayer in replayers] == [0, 0], errors
    assert _waiting(spill_dir) == []

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    again = Run(Experiment("spilled", store=pg_uri), run_id)
    history = again.get_metric_history("loss")
    assert [p.step for p in history] == list(range(6001))  # none twice, in logged order
    [series] = again._store.get_series(run_id)
    assert series.last_step == 6000 and series.last_value == 6000.0  # the latest value is the last logged
    assert again.get_status() == "Completed"


def test_a_spill_file_the_store_refuses_is_moved_aside_named_and_the_others_are_written(
        pg_store_factory: Callable[[], Any]) -> None:
    from runlog_core.store import NUMBER, Batch, RunInfo, SeriesRef
    from runlog_core.store.spill import replay, spill

    store = pg_store_factory()
    experiment_id = store.get_or_create_experiment("refused")
    now = time.time()
    store.create_run(RunInfo("r1", experiment_id, "refused", "r1", "Running", now, heartbeat=now))
    series = SeriesRef("r1", "x", NUMBER)
    batches = []
    for seq, (step, value) in enumerate([(0, 0.0), (2**63, 1.0), (2, 2.0)], start=1):  # 2**63: beyond int64
        batch = Batch("writer-1", seq)
        if seq == 1:
            batch.series.append(series)
        batch.columns.append((series, 0, [step], [value], [now]))
        batch.count = 1
        batches.append(batch)
    folder, files = spill(store.uri, batches)
    assert files == 3
    refused = sorted(folder.glob("*.json"))[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert replay(store) == 2
    told = [str(w.message) for w in caught if str(w.message).startswith("runlog")]
    assert len(told) == 1 and refused.name in told[0] and "refused it" in told[0] and "1 point of run r1" in told[0]
    assert (folder / "refused" / refused.name).is_file() and not list(folder.glob("*.json"))
    [info] = store.get_series("r1")
    assert [(step, value) for step, value, _ in store.get_points(info.id)] == [(0, 0.0), (2, 2.0)]

"""Issue 23, point 1: a COMMIT whose reply is lost (the server committed, the client never heard) is not
written again when the client retries: not by the writer, not by a spill replay. The fault is real:
runlog reaches the real PostgreSQL through a TCP relay that resets the connection right after the
server's CommandComplete for a COMMIT, before the client gets it."""

from __future__ import annotations

import os
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from _team_helpers import runlog_warnings, start_program

from runlog_core import Experiment, Run
from tcp_relay import Relay


def test_a_lost_commit_reply_makes_the_writer_retry_and_stores_every_point_once(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.05")
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(tmp_path / "spill"))
    exp = Experiment("lost-replies", store=relay.uri(pg_uri))
    run = exp.start_logging(name="cut five times", outputs=None)
    relay.lose_commit_replies(5, every=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(6000):
            run.log("loss", 1.0 / (step + 1))
            if step % 100 == 99:
                time.sleep(0.03)  # batches of about a hundred points: the cuts fall among them
        run.log_params({"lr": 0.1})
        run.tag("phase", "cut")
        run.complete()
        exp.close()
    assert relay.replies_lost == 5

    reader = Experiment("lost-replies", store=pg_uri)
    direct = Run(reader, run.id)
    history = direct.get_metric_history("loss")
    assert len(history) == 6000  # logged 6,000: stored 6,000, none twice
    assert [p.step for p in history] == list(range(6000))  # in logged order: the history never steps back
    assert [p.value for p in history] == [1.0 / (step + 1) for step in range(6000)]
    [series] = reader._store.get_series(run.id)
    assert series.last_step == 5999 and series.last_value == 1 / 6000  # the latest value is the last logged
    assert direct.get_params() == {"lr": 0.1} and direct.get_tags() == {"phase": "cut"}
    assert direct.get_status() == "Completed"
    told = runlog_warnings(caught)
    assert len(told) == 1, told  # one line: the store did not answer, the points wait and are retried
    assert "could not write to the store" in told[0] and "retrying" in told[0]


SPILLING = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])
    run = Experiment("replayed", store=store).start_logging(name="spilled", outputs=None)
    run.log("loss", 0.0)
    run.flush()
    (folder / "run-id").write_text(run.id)
    while not (folder / "cut").exists():
        time.sleep(0.02)
    for step in range(1, 4001):
        run.log("loss", float(step))
        if step % 500 == 0:
            time.sleep(0.3)  # a batch each: one spill file each when the program ends
    run.log_params({"lr": 0.1})
""")


def _spill_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".json", ".writing") and p.parent.name not in
            ("damaged", "refused")]


def test_a_lost_commit_reply_during_a_spill_replay_stores_every_point_once(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spill_dir = tmp_path / "spill"
    env = {**os.environ, "RUNLOG_SPILL_DIR": str(spill_dir), "RUNLOG_STORE_TIMEOUT": "2",
           "RUNLOG_FLUSH_INTERVAL": "0.1", "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    through = relay.uri(pg_uri)
    proc, run_id, deadline = start_program(SPILLING, tmp_path, [through, str(tmp_path)], env)
    relay.cut()
    (tmp_path / "cut").write_text("")
    _, err = proc.communicate(timeout=120)
    assert "kept in" in err, err
    files = len(_spill_files(spill_dir))
    assert files >= 5

    relay.start()
    # each opening commits twice before a file is written: its schema check, then the first file.
    # every second COMMIT's reply is lost: the first file (written, then again as a retry) four times
    relay.lose_commit_replies(4, every=2)
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(spill_dir))
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    opened = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while _spill_files(spill_dir) and opened < 10:
            Experiment("replayed", store=through).close()  # opening the store replays the files
            opened += 1
    assert relay.replies_lost == 4 and opened == 5  # four replays cut short, the fifth finishes
    assert sum("did not take yet" in message for message in runlog_warnings(caught)) == 4

    again = Run(Experiment("replayed", store=pg_uri), run_id)
    history = again.get_metric_history("loss")
    assert len(history) == 4001  # 4,001 logged, 4,001 stored
    assert [p.step for p in history] == list(range(4001))
    assert [p.value for p in history] == [float(step) for step in range(4001)]
    assert again.get_params() == {"lr": 0.1} and again.get_status() == "Completed"

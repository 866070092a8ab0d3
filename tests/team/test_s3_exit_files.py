"""Issue 23, points 5 and 2: files S3 does not take before the program ends, and a bounded exit with S3
stalled. A file of the ``outputs/`` folder and an ``upload_file`` made while S3 is down are kept under
``RUNLOG_SPILL_DIR`` (never indexed while the bucket lacks them) and uploaded, then indexed, at the next
open; a program stopping with S3 stalled waits ``RUNLOG_STORE_TIMEOUT`` at most on it, then keeps what
is left. S3 is moto in server mode behind a TCP relay the test cuts or stalls; runs are in the real
PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import signal
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _team_helpers import relay_to_s3, run_cli, runlog_warnings, s3_object, start_program, wait_for_file

from runlog_core import Experiment
from tcp_relay import Relay

MODEL = "outputs/model.bin"
EXTRA = "weights/extra.bin"
LOG = "logs/std_log.txt"
TIMEOUT = 3.0  # RUNLOG_STORE_TIMEOUT of the programs

PROGRAM = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder, how = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    exp = Experiment("s3-exit", store=store)
    run = exp.start_logging(name="train", outputs=str(folder / "outputs"), capture_output=how != "cut")
    print("epoch 00 (before the outage)")
    run.log("loss", 1.0)
    (folder / "run-id").write_text(run.id)
    while not (folder / "go").exists():
        time.sleep(0.02)
    (folder / "outputs").mkdir()
    (folder / "outputs" / "model.bin").write_bytes(os.urandom(300_000))
    print("epoch 01 (S3 is down)")
    if how == "cut":  # S3 refuses: the upload is kept for later, training goes on
        (folder / "extra.bin").write_bytes(os.urandom(50_000) + bytes(range(256)))
        info = run.upload_file("weights/extra.bin", folder / "extra.bin")
        assert info.size == 50_256, info
        run.log("loss", 0.5)
        run.complete()
    elif how == "sigterm":
        (folder / "waiting").write_text("")
        while True:  # until the scheduler's SIGTERM
            time.sleep(0.05)
    (folder / "stopping").write_text(str(time.time()))
    # how == "exit": the run is left open and ended (Completed) by the interpreter's exit
""")


@pytest.fixture
def s3_relay(s3_endpoint: str) -> Iterator[Relay]:
    yield from relay_to_s3(s3_endpoint)


def _open(pg_uri: str) -> tuple[Experiment, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exp = Experiment("s3-exit", store=pg_uri)
    return exp, runlog_warnings(caught)


def _close(exp: Experiment) -> None:
    from runlog_core.plugins.manager import forget_store

    forget_store(exp._store)
    exp._store.close()


def _env(s3_bucket: str, s3_relay: Relay, spill: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in (("RUNLOG_ARTIFACTS", s3_bucket), ("AWS_ENDPOINT_URL", s3_relay.url()),
                        ("RUNLOG_SPILL_DIR", str(spill))):
        monkeypatch.setenv(name, value)  # the test's own opens see the same store and spill folder
    return {**os.environ, "RUNLOG_FLUSH_INTERVAL": "0.05", "RUNLOG_STORE_TIMEOUT": f"{TIMEOUT:g}",
            "RUNLOG_STOP_GRACE": "10"}


def test_files_s3_refuses_at_the_end_are_kept_then_uploaded_and_indexed_at_the_next_open(
        pg_uri: str, s3_bucket: str, s3_client: Any, s3_relay: Relay, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    spill = tmp_path / "spill"
    env = _env(s3_bucket, s3_relay, spill, monkeypatch)
    proc, run_id, deadline = start_program(PROGRAM, tmp_path, [pg_uri, str(tmp_path), "cut"], env)
    s3_relay.cut()  # S3 refuses connections from now on
    (tmp_path / "go").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    model = (tmp_path / "outputs" / "model.bin").read_bytes()
    extra = (tmp_path / "extra.bin").read_bytes()

    # at exit: one line says how many files and where; the bucket lacks them, and so does the index
    told = [line for line in err.splitlines() if "before the program ended" in line]
    assert len(told) == 1 and "2 files" in told[0] and str(spill) in told[0], err
    assert MODEL in told[0] and EXTRA in told[0] and "next opened" in told[0], told
    assert s3_object(s3_client, s3_bucket, f"{run_id}/{MODEL}") is None
    assert s3_object(s3_client, s3_bucket, f"{run_id}/{EXTRA}") is None
    exp, said = _open(pg_uri)  # S3 still refused: the copies stay kept, the rest is written
    assert len(said) == 1 and "did not take yet" in said[0], said
    run = exp._store.get_run(run_id)
    assert run is not None and run.status == "Completed"
    assert [a.name for a in exp._store.get_artifacts(run_id) if a.name in (MODEL, EXTRA)] == []
    assert sorted(p.suffix for p in (spill.rglob("*.bin"))) == [".bin", ".bin"]
    _close(exp)

    # S3 is back: the next open uploads them, indexes each with the object's size and sha256
    s3_relay.start()
    exp, said = _open(pg_uri)
    assert len(said) == 1 and "wrote into" in said[0], said
    assert s3_object(s3_client, s3_bucket, f"{run_id}/{MODEL}") == model
    assert s3_object(s3_client, s3_bucket, f"{run_id}/{EXTRA}") == extra
    index = {a.name: (a.size, a.sha256) for a in exp._store.get_artifacts(run_id)}
    assert index[MODEL] == (len(model), hashlib.sha256(model).hexdigest())
    assert index[EXTRA] == (len(extra), hashlib.sha256(extra).hexdigest())
    assert [a.name for a in exp._store.get_artifacts(run_id)].count(MODEL) == 1
    assert not [p for p in spill.rglob("*") if p.is_file() and p.name != "replay.lock"]
    _close(exp)
    for name, data in ((MODEL, model), (EXTRA, extra)):
        target = tmp_path / name.replace("/", "_")
        result = run_cli("download", run_id, name, str(target), "--store", pg_uri, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert target.read_bytes() == data


@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_a_program_stopping_with_s3_stalled_waits_the_store_timeout_at_most_then_keeps_the_rest(
        how: str, pg_uri: str, s3_bucket: str, s3_client: Any, s3_relay: Relay, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    spill = tmp_path / "spill"
    env = _env(s3_bucket, s3_relay, spill, monkeypatch)
    proc, run_id, deadline = start_program(PROGRAM, tmp_path, [pg_uri, str(tmp_path), how], env)
    s3_relay.stall()  # S3 goes silent: connections open, nothing answered, nothing refused
    (tmp_path / "go").write_text("")
    if how == "sigterm":
        wait_for_file(tmp_path / "waiting", proc, deadline)
        asked = time.time()
        proc.send_signal(signal.SIGTERM)
    else:
        wait_for_file(tmp_path / "stopping", proc, deadline)
        asked = float((tmp_path / "stopping").read_text())
    _, err = proc.communicate(timeout=120)
    took = time.time() - asked
    assert proc.returncode == (-signal.SIGTERM if how == "sigterm" else 0), err
    # S3's own timeouts would be 30 s a read, 3 attempts (before: 90 s and more)
    assert took < TIMEOUT + 2.5, (took, err)
    model = (tmp_path / "outputs" / "model.bin").read_bytes()
    told = [line for line in err.splitlines() if "before the program ended" in line]
    assert len(told) == 1 and str(spill) in told[0] and MODEL in told[0], err

    # S3 answers again: the next open uploads the model and the log's end, then indexes them
    s3_relay.resume()
    exp, said = _open(pg_uri)
    assert any("wrote into" in line for line in said), said
    assert s3_object(s3_client, s3_bucket, f"{run_id}/{MODEL}") == model
    log = s3_object(s3_client, s3_bucket, f"{run_id}/{LOG}")
    assert log is not None and [line[:8] for line in log.decode().splitlines()] == ["epoch 00", "epoch 01"]
    index = {a.name: (a.size, a.sha256) for a in exp._store.get_artifacts(run_id)}
    assert index[MODEL] == (len(model), hashlib.sha256(model).hexdigest())
    assert index[LOG] == (len(log), hashlib.sha256(log).hexdigest())
    run = exp._store.get_run(run_id)
    assert run is not None and run.status == ("Killed" if how == "sigterm" else "Completed")
    _close(exp)


def test_a_file_uploaded_while_s3_is_down_is_uploaded_and_indexed_once_s3_answers_again(
        pg_uri: str, s3_bucket: str, s3_client: Any, s3_relay: Relay, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.artifacts import s3_client as s3_connection

    monkeypatch.setattr(s3_connection, "DOWN_SECONDS", 0.0)  # tried again at the next round
    _env(s3_bucket, s3_relay, tmp_path / "spill", monkeypatch)
    exp = Experiment("s3-exit", store=pg_uri)
    data = os.urandom(20_000)
    with exp.start_logging(name="train", outputs=None) as run:
        s3_relay.cut()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = run.upload_file(EXTRA, data)  # S3 refuses: kept, training goes on
            run.upload_file("weights/second.bin", b"second")
        [said] = runlog_warnings(caught)
        assert "a copy is kept" in said and EXTRA in said, said
        assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert EXTRA not in run.get_file_names() and s3_object(s3_client, s3_bucket, f"{run.id}/{EXTRA}") is None
        s3_relay.start()
        deadline = time.monotonic() + 60
        while not {EXTRA, "weights/second.bin"} <= set(run.get_file_names()):  # the background uploads, then their index entries
            assert time.monotonic() < deadline, "the kept file was never uploaded"
            time.sleep(0.1)
    assert s3_object(s3_client, s3_bucket, f"{run.id}/{EXTRA}") == data
    index = {a.name: (a.size, a.sha256) for a in exp._store.get_artifacts(run.id)}
    assert index[EXTRA] == (len(data), hashlib.sha256(data).hexdigest())
    assert index["weights/second.bin"] == (6, hashlib.sha256(b"second").hexdigest())
    _close(exp)

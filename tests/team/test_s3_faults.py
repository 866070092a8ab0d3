"""Issue 23, points 5 and 7: files in S3 under faults. The run's file index records only what the bucket
holds; a log whose end S3 does not take before the program ends is kept on local disk and uploaded
(then indexed) when the store is next opened; a download whose object is not what the index records
fails naming both sizes; multipart uploads that failed are aborted once S3 answers again, and stale
ones at the next open. S3 is moto in server mode behind a TCP relay the test cuts; runs are in the
real PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _team_helpers import relay_to_s3, run_cli, runlog_warnings, s3_object, start_program

from runlog_core import Experiment, Run
from runlog_core.exceptions import S3ArtifactError
from tcp_relay import Relay

LOG = "logs/std_log.txt"

PROGRAM = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])
    exp = Experiment("s3-faults", store=store)
    run = exp.start_logging(name="train", outputs=None, capture_output=True)
    for i in range(15):
        print(f"epoch {i:02d}: loss {1 / (i + 1):.4f} (before the outage)")
    (folder / "run-id").write_text(run.id)
    while not (folder / "cut").exists():
        time.sleep(0.02)
    for i in range(15, 30):
        print(f"epoch {i:02d}: loss {1 / (i + 1):.4f} (S3 is down)")
    run.complete()
""")


@pytest.fixture
def s3_relay(s3_endpoint: str) -> Iterator[Relay]:
    yield from relay_to_s3(s3_endpoint)


def test_a_log_whose_end_s3_did_not_take_is_indexed_as_stored_then_uploaded_at_the_next_open(
        pg_uri: str, s3_bucket: str, s3_client: Any, s3_relay: Relay, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    spill = tmp_path / "spill"
    env = {**os.environ, "RUNLOG_ARTIFACTS": s3_bucket, "AWS_ENDPOINT_URL": s3_relay.url(),
           "RUNLOG_SPILL_DIR": str(spill), "RUNLOG_FLUSH_INTERVAL": "0.05", "RUNLOG_STORE_TIMEOUT": "5"}
    proc, run_id, deadline = start_program(PROGRAM, tmp_path, [pg_uri, str(tmp_path)], env)
    while (s3_object(s3_client, s3_bucket, f"{run_id}/{LOG}") or b"").count(b"\n") < 15:  # the first upload
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    s3_relay.cut()  # S3 goes away: the rest of the log cannot be uploaded before the program ends
    (tmp_path / "cut").write_text("")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    # what the bucket holds, and the index says exactly that (before: the spooled size, no digest)
    held = s3_object(s3_client, s3_bucket, f"{run_id}/{LOG}")
    assert held is not None and held.count(b"\n") == 15
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_relay.url())
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(spill))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = Experiment("s3-faults", store=pg_uri)._store  # the relay is cut: the kept log stays kept
    [waits] = runlog_warnings(caught)
    assert "did not take yet" in waits and "cannot reach the S3 endpoint" in waits, waits
    [entry] = [a for a in store.get_artifacts(run_id) if a.name == LOG]
    assert (entry.size, entry.sha256) == (len(held), hashlib.sha256(held).hexdigest())
    told = [line for line in err.splitlines() if "before the program ended" in line]
    assert len(told) == 1 and str(spill) in told[0] and LOG in told[0] and "next opened" in told[0], err
    assert Run(Experiment("s3-faults", store=pg_uri), run_id).get_status() == "Completed"
    from runlog_core.plugins.manager import forget_store

    forget_store(store)
    store.close()

    # S3 is back: the next open uploads the kept log whole, then indexes it
    s3_relay.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reopened = Experiment("s3-faults", store=pg_uri)
    [wrote] = runlog_warnings(caught)
    assert "wrote into" in wrote and "1 batch" in wrote, wrote
    whole = s3_object(s3_client, s3_bucket, f"{run_id}/{LOG}")
    assert whole is not None
    lines = whole.decode().splitlines()
    assert [line[:8] for line in lines] == [f"epoch {i:02d}" for i in range(30)]  # each once, in order
    [entry] = [a for a in reopened._store.get_artifacts(run_id) if a.name == LOG]
    assert (entry.size, entry.sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert not [p for p in spill.rglob("*") if p.is_file() and p.name != "replay.lock"]

    # an object that is not what the index records: the download fails naming both sizes, writes nothing
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{run_id}/{LOG}", Body=whole[:100])
    result = run_cli("download", run_id, LOG, str(tmp_path / "got.txt"), "--store", pg_uri, cwd=tmp_path)
    assert result.returncode != 0 and not (tmp_path / "got.txt").exists()
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "100 bytes" in result.stderr and f"{len(whole):,} bytes" in result.stderr, result.stderr
    same_size = whole.replace(b"0", b"#")  # as long, other bytes
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{run_id}/{LOG}", Body=same_size)
    with pytest.raises(S3ArtifactError) as refused:
        Run(reopened, run_id).download_file(LOG, tmp_path / "api.txt")
    assert refused.value.code == "mismatch" and entry.sha256 in str(refused.value)
    assert not (tmp_path / "api.txt").exists()
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{run_id}/{LOG}", Body=whole)  # as indexed: fine
    assert run_cli("download", run_id, LOG, str(tmp_path / "ok.txt"), "--store", pg_uri, cwd=tmp_path).returncode == 0
    assert (tmp_path / "ok.txt").read_bytes() == whole


def _uploads(s3_client: Any, s3_bucket: str) -> list[str]:
    bucket = s3_bucket[len("s3://"):].partition("/")[0]
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_a_multipart_upload_that_failed_with_s3_down_is_aborted_when_s3_answers_again(
        s3_bucket: str, s3_client: Any, s3_relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.artifacts import s3_client as s3_connection
    from runlog_core.store.artifacts import s3_transfer
    from runlog_core.store.artifacts.s3 import S3ArtifactStore

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_relay.url())
    monkeypatch.setattr(s3_connection, "DOWN_SECONDS", 0.0)  # retried at once when the relay is back
    artifacts = S3ArtifactStore(s3_bucket)
    size = 20 << 20
    gate, given = threading.Event(), [0]

    def read(n: int) -> bytes:  # the first part, then waits for the test to cut S3
        if given[0] > s3_transfer.MULTIPART_THRESHOLD:
            gate.wait()
        n = min(n, size - given[0])
        given[0] += n
        return b"w" * n

    failed: list[BaseException] = []

    def upload() -> None:
        try:
            s3_transfer.upload(artifacts._s3, "model.pt", artifacts.key("run1", "model.pt"), read, "weights", size)
        except BaseException as err:
            failed.append(err)

    thread = threading.Thread(target=upload)
    thread.start()
    deadline = time.monotonic() + 60
    while not _uploads(s3_client, s3_bucket):  # the multipart upload is open on the server
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    s3_relay.cut()
    gate.set()
    thread.join(120)
    assert len(failed) == 1 and isinstance(failed[0], S3ArtifactError), failed
    assert _uploads(s3_client, s3_bucket) == ["team/run1/model.pt"]  # boto3's own abort could not reach S3
    s3_relay.start()
    artifacts.put_bytes("run1", "notes.txt", b"S3 answers again")
    assert _uploads(s3_client, s3_bucket) == []


def test_stale_multipart_uploads_under_the_prefix_are_aborted_at_the_next_open(
        s3_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.artifacts import s3_client as s3_connection
    from runlog_core.store.artifacts.s3 import S3ArtifactStore

    bucket = s3_bucket[len("s3://"):].partition("/")[0]
    s3_client.create_multipart_upload(Bucket=bucket, Key="team/run1/killed.bin")  # a program killed mid-upload
    s3_client.create_multipart_upload(Bucket=bucket, Key="elsewhere/not-ours.bin")  # outside the prefix
    # (moto reports every upload as started in 2010: the age is not what this test can check)
    monkeypatch.setenv("RUNLOG_S3_STALE_UPLOAD_SECONDS", "0")
    monkeypatch.setattr(s3_connection, "_swept", set(), raising=False)  # as in another process: not swept yet
    S3ArtifactStore(s3_bucket)  # that process opens the store: it sweeps in the background
    deadline = time.monotonic() + 30
    while "team/run1/killed.bin" in _uploads(s3_client, s3_bucket):
        assert time.monotonic() < deadline, "the stale upload was not aborted"
        time.sleep(0.05)
    assert _uploads(s3_client, s3_bucket) == ["elsewhere/not-ours.bin"]


def test_a_live_log_downloads_in_the_process_that_writes_it(
        pg_uri: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    exp = Experiment("live-log", store=pg_uri)
    with exp.start_logging(name="train", outputs=None) as run:
        run._append_log(LOG, "epoch 1\n")
        deadline = time.monotonic() + 30
        while not [a for a in exp._store.get_artifacts(run.id) if a.name == LOG]:  # uploaded, then indexed
            assert time.monotonic() < deadline, "the log's first upload was never indexed"
            run.flush()
            time.sleep(0.05)
        run._append_log(LOG, "epoch 2\n")
        run.flush()  # the spool holds both lines, the index the first upload (the next is seconds away)
        assert Path(run.download_file(LOG, tmp_path / "live.txt")).read_text() == "epoch 1\nepoch 2\n"
    [entry] = [a for a in exp._store.get_artifacts(run.id) if a.name == LOG]
    assert entry.size == len("epoch 1\nepoch 2\n")  # the run ended: its log uploaded and indexed

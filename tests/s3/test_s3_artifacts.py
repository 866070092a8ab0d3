"""Artifacts in S3 (issue 11): the S3 artifact store against a real moto server over HTTP, alone and
under the SQLite store with ``RUNLOG_ARTIFACTS=s3://...``: round trips, multipart, logs, hostile names,
conflicts, failures and the Azure flow end to end."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from runlog_core import Experiment
from runlog_core.exceptions import (
    ArtifactConflictError,
    ArtifactWriteError,
    ConfigError,
    RunlogError,
    RunNotFoundError,
    UnsafeArtifactNameError,
)
from runlog_core.store.artifacts.s3 import S3ArtifactStore
from runlog_core.store.artifacts.s3_transfer import ObjectReader

RUN = "0123456789abcdef"
MB = 1 << 20


@pytest.fixture
def artifacts(s3_bucket: str) -> Iterator[S3ArtifactStore]:
    """An S3 artifact store on a fresh bucket and prefix, closed after the test."""
    store = S3ArtifactStore(s3_bucket)
    yield store
    store.close()


def _bucket_keys(client: Any, s3_url: str) -> list[str]:
    """Every key of the bucket, the whole bucket, not just the prefix."""
    bucket = s3_url[len("s3://"):].partition("/")[0]
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _closed_port() -> int:
    """A loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(condition: Any, what: str, seconds: float = 60.0) -> None:
    """Poll ``condition`` until it holds (a condition, not a fixed sleep); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        threading.Event().wait(0.05)


class _OneWay(io.RawIOBase):
    """A non-seekable stream, as a pipe or a socket is."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 300_000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# -- the store alone -------------------------------------------------------------------------------

def test_put_open_download_and_digest_round_trip(artifacts: S3ArtifactStore, s3_client: Any, s3_bucket: str,
                                                 tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(5000))
    stored = {
        "notes/a.txt": (artifacts.put_bytes(RUN, "notes/a.txt", b"hello"), b"hello"),
        "notes/text.txt": (artifacts.put_stream(RUN, "notes/text.txt", io.StringIO("héllo wörld")),
                           "héllo wörld".encode()),
        "weights.bin": (artifacts.put_file(RUN, "weights.bin", source), source.read_bytes()),
        "empty": (artifacts.put_bytes(RUN, "empty", b""), b""),
    }
    bucket = s3_bucket[len("s3://"):].partition("/")[0]
    for name, ((size, sha), data) in stored.items():
        assert (size, sha) == (len(data), _sha(data))
        assert artifacts.uri(RUN, name) == f"{s3_bucket}/{RUN}/{name}"
        with artifacts.open(RUN, name) as stream:
            assert stream.read() == data
        assert artifacts.digest(RUN, name) == (len(data), _sha(data))
        head = s3_client.head_object(Bucket=bucket, Key=f"team/{RUN}/{name}")
        assert head["Metadata"]["sha256"] == _sha(data)  # a single PUT carries its digest
        copy = artifacts.download(RUN, name, tmp_path / "down" / "deep" / name)
        assert copy.read_bytes() == data
    with artifacts.open(RUN, "weights.bin") as stream:  # seekable, as `runlog` reads log tails
        assert stream.seek(0, 2) == 5000
        stream.seek(4000)
        assert stream.read() == source.read_bytes()[4000:]
    assert _bucket_keys(s3_client, s3_bucket) == sorted(f"team/{RUN}/{name}" for name in stored)


def test_a_20_mb_file_goes_up_in_parts_and_comes_down_streamed_and_identical(
        artifacts: S3ArtifactStore, s3_client: Any, s3_bucket: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(20 * MB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    bucket = s3_bucket[len("s3://"):].partition("/")[0]

    assert artifacts.put_file(RUN, "model/big.bin", source) == (len(data), _sha(data))
    etag = s3_client.head_object(Bucket=bucket, Key=f"team/{RUN}/model/big.bin")["ETag"]
    parts = re.search(r"-(\d+)\"?$", etag)
    assert parts is not None and int(parts.group(1)) == 3, etag  # 8 + 8 + 4 MB

    assert artifacts.put_stream(RUN, "model/piped.bin", _OneWay(data)) == (len(data), _sha(data))  # type: ignore[arg-type]
    etag = s3_client.head_object(Bucket=bucket, Key=f"team/{RUN}/model/piped.bin")["ETag"]
    assert re.search(r"-\d+\"?$", etag), etag  # a stream of unknown size: multipart too

    reads: list[int] = []
    readinto = ObjectReader.readinto

    def spying(self: ObjectReader, buffer: Any) -> int:
        reads.append(len(buffer))
        return readinto(self, buffer)

    monkeypatch.setattr(ObjectReader, "readinto", spying)
    copy = artifacts.download(RUN, "model/big.bin", tmp_path / "copy.bin")
    assert _sha(copy.read_bytes()) == _sha(data)
    assert len(reads) >= 20 and max(reads) <= MB, "the download must stream in chunks, not hold the object"
    assert artifacts.digest(RUN, "model/big.bin") == (len(data), _sha(data))  # read back: no metadata
    with artifacts.open(RUN, "model/piped.bin") as stream:
        stream.seek(12 * MB)
        assert stream.read(MB) == data[12 * MB: 13 * MB]


def test_appended_logs_keep_every_line_and_are_not_rewritten_per_append(
        artifacts: S3ArtifactStore, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads: list[int] = []
    upload = artifacts._upload

    def counting(*args: Any, **kwargs: Any) -> tuple[int, str]:
        uploads.append(1)
        return upload(*args, **kwargs)

    monkeypatch.setattr(artifacts, "_upload", counting)
    lines = [f"line {i} {'x' * (i % 50)}\n" for i in range(3000)]
    for line in lines:
        size = artifacts.append_text(RUN, "logs/std_log.txt", line)
    expected = "".join(lines).encode()
    assert size == len(expected)
    with artifacts.open(RUN, "logs/std_log.txt") as stream:  # reading it here uploads what is spooled
        assert stream.read() == expected
    assert len(uploads) < 30, f"{len(uploads)} uploads for 3000 appends"

    artifacts.append_text(RUN, "logs/std_log.txt", "the last line\n")
    artifacts.close()  # the end of the program: the rest goes up
    bucket = s3_bucket[len("s3://"):].partition("/")[0]
    body = s3_client.get_object(Bucket=bucket, Key=f"team/{RUN}/logs/std_log.txt")["Body"].read()
    assert body == expected + b"the last line\n"

    later = S3ArtifactStore(s3_bucket)  # a continued run, in another process: appends after what is there
    try:
        later.append_text(RUN, "logs/std_log.txt", "continued\n")
        with later.open(RUN, "logs/std_log.txt") as stream:
            assert stream.read() == expected + b"the last line\ncontinued\n"
    finally:
        later.close()


HOSTILE = ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a\\..\\b", "C:/x", "a//b", "./a", "..", "a/..",
           "%2e%2e/x", "\uff0e\uff0e/x", "a\u2215b", "s3://other/x", "x\x00y", "", "con", "a/ b /c "]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n) for n in HOSTILE])
def test_hostile_names_are_refused_and_nothing_lands_outside_the_run(name: str, artifacts: S3ArtifactStore,
                                                                     s3_client: Any, s3_bucket: str,
                                                                     tmp_path: Path) -> None:
    artifacts.put_bytes(RUN, "ok.txt", b"fine")
    for call in (lambda: artifacts.put_bytes(RUN, name, b"evil"),
                 lambda: artifacts.put_stream(RUN, name, io.BytesIO(b"evil")),
                 lambda: artifacts.append_text(RUN, name, "evil"),
                 lambda: artifacts.open(RUN, name),
                 lambda: artifacts.download(RUN, name, tmp_path / "out"),
                 lambda: artifacts.digest(RUN, name),
                 lambda: artifacts.uri(RUN, name)):
        with pytest.raises(UnsafeArtifactNameError):
            call()
    for run_id in ("..", "../other-run", "a/b", ""):
        with pytest.raises(UnsafeArtifactNameError):
            artifacts.put_bytes(run_id, "x.txt", b"evil")
    artifacts.close()
    assert _bucket_keys(s3_client, s3_bucket) == [f"team/{RUN}/ok.txt"]
    assert not (tmp_path / "out").exists()


def test_a_file_where_a_folder_is_needed_conflicts_as_in_the_local_store(artifacts: S3ArtifactStore,
                                                                          s3_client: Any, s3_bucket: str) -> None:
    artifacts.put_bytes(RUN, "col", b"a file")
    with pytest.raises(ArtifactConflictError) as first:
        artifacts.put_bytes(RUN, "col/x", b"under it")
    assert first.value.existing == "col"
    artifacts.put_bytes(RUN, "dir/inside/a.txt", b"a")
    with pytest.raises(ArtifactConflictError) as second:
        artifacts.put_bytes(RUN, "dir", b"over it")
    assert second.value.existing == "dir/inside/a.txt"
    assert _bucket_keys(s3_client, s3_bucket) == [f"team/{RUN}/col", f"team/{RUN}/dir/inside/a.txt"]


def test_a_missing_artifact_is_not_found_and_creates_nothing(artifacts: S3ArtifactStore, tmp_path: Path) -> None:
    for call in (lambda: artifacts.open(RUN, "nothing.txt"), lambda: artifacts.digest(RUN, "nothing.txt"),
                 lambda: artifacts.download(RUN, "nothing.txt", tmp_path / "d" / "x.txt")):
        with pytest.raises(RunNotFoundError):
            call()
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("value", ["s3://", "s3:///prefix", "s3://bucket/../up", "gs://bucket/x"])
def test_a_malformed_artifact_root_is_a_config_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", value)
    with pytest.raises(ConfigError, match="RUNLOG_ARTIFACTS"):
        Experiment("bad-root")


# -- failures --------------------------------------------------------------------------------------

def _break(case: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Break S3 as ``case`` says; returns the RUNLOG_ARTIFACTS value to use."""
    if case == "credentials":
        monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys from now on
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-that-must-never-be-shown")
        return s3_bucket
    if case == "bucket":
        return f"s3://runlog-missing-{uuid.uuid4().hex[:12]}/team"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    return s3_bucket


@pytest.mark.parametrize("case", ["credentials", "bucket", "unreachable"])
def test_upload_file_fails_with_a_clear_runlog_error(case: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    root = _break(case, s3_bucket, monkeypatch)
    monkeypatch.setenv("RUNLOG_ARTIFACTS", root)
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    run = Experiment("s3-broken").start_logging(outputs=None)
    with pytest.raises(ArtifactWriteError) as info:
        run.upload_file("model.bin", source)
    error = info.value
    assert isinstance(error, RunlogError) and type(error).__module__.startswith("runlog_core")
    assert error.code == case  # type: ignore[attr-defined]
    message = str(error)
    bucket = root[len("s3://"):].partition("/")[0]
    assert f"s3://{bucket}/team/{run.id}/model.bin" in message
    fix = {"credentials": "AWS_SECRET_ACCESS_KEY", "bucket": "does not exist", "unreachable": "AWS_ENDPOINT_URL"}
    assert fix[case] in message
    assert "wrong-secret" not in message and "runlog-test-secret" not in message
    assert run.get_file_names() == []
    run.complete()


def test_automatic_uploads_warn_once_when_s3_is_down(s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", _break("unreachable", s3_bucket, monkeypatch))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for i in range(3):
        (outputs / f"f{i}.txt").write_text(str(i))
    exp = Experiment("s3-down")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = exp.start_logging(outputs=str(outputs), capture_output=True)
        print("printed while S3 is down")
        logging.getLogger("s3-test").warning("logged while S3 is down")
        run.complete()  # never raises for what it uploads by itself
        exp.close()  # the store closes: the logs' last upload attempt
    messages = [str(w.message) for w in caught]
    about_outputs = [m for m in messages if str(outputs) in m]
    about_logs = [m for m in messages if "log" in m and "s3://" in m and str(outputs) not in m]
    assert len(about_outputs) == 1 and "3 file(s)" in about_outputs[0], messages
    assert "AWS_ENDPOINT_URL" in about_outputs[0]
    assert len(about_logs) == 1, messages
    for path in re.findall(r"(/\S+runlog-log-\S+?\.txt)", about_logs[0]):  # the kept copies: clean up
        Path(path).unlink(missing_ok=True)
    assert run.get_status() == "Completed"


def test_a_log_is_retried_after_an_outage(artifacts: S3ArtifactStore, s3_client: Any, s3_bucket: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        artifacts.append_text(RUN, "logs/python_logging.txt", "first\n")
        _wait_for(lambda: any("could not upload the log" in str(w.message) for w in caught), "the warning")
        artifacts.append_text(RUN, "logs/python_logging.txt", "second\n")
        monkeypatch.setattr("moto.settings.INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))  # S3 is back
        artifacts.close()
    assert sum("log" in str(w.message) for w in caught) == 1
    bucket = s3_bucket[len("s3://"):].partition("/")[0]
    body = s3_client.get_object(Bucket=bucket, Key=f"team/{RUN}/logs/python_logging.txt")["Body"].read()
    assert body == b"first\nsecond\n"


# -- end to end, over the SQLite store ---------------------------------------------------------------

def test_the_azure_flow_over_sqlite_keeps_every_file_in_s3(s3_bucket: str, s3_client: Any,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "model.pt").write_bytes(os.urandom(3000))
    checkpoints = tmp_path / "ckpt"
    (checkpoints / "sub").mkdir(parents=True)
    (checkpoints / "a.txt").write_text("a")
    (checkpoints / "sub" / "b.txt").write_text("b")
    data = tmp_path / "input.bin"
    data.write_bytes(os.urandom(10_000))

    exp = Experiment("s3-azure")
    run = exp.start_logging(capture_output=True)  # outputs/ of the working folder, uploaded at the end
    print("hello from training")
    logging.getLogger("train").warning("a logged record")
    run.log("loss", 0.25)
    run.upload_file("data/input.bin", str(data))
    image = run.log_image("sample", image=np.zeros((4, 4, 3), dtype=np.uint8))
    assert run.upload_folder("ckpt", checkpoints) == ["ckpt/a.txt", "ckpt/sub/b.txt"]
    run.complete()

    names = set(run.get_file_names())
    assert {"data/input.bin", image, "ckpt/a.txt", "ckpt/sub/b.txt", "outputs/model.pt", "logs/std_log.txt",
            "logs/python_logging.txt"} <= names
    assert run.download_file("data/input.bin", tmp_path / "dl" / "input.bin") == str(tmp_path / "dl" / "input.bin")
    assert (tmp_path / "dl" / "input.bin").read_bytes() == data.read_bytes()
    assert "hello from training" in Path(run.download_file("logs/std_log.txt", tmp_path / "dl")).read_text()
    assert "a logged record" in Path(run.download_file("logs/python_logging.txt", tmp_path / "dl")).read_text()

    keys = _bucket_keys(s3_client, s3_bucket)
    assert all(key.startswith(f"team/{run.id}/") for key in keys), keys
    assert {key[len(f"team/{run.id}/"):] for key in keys} == names
    assert all(info.uri.startswith(f"{s3_bucket}/{run.id}/") for info in exp._store.get_artifacts(run.id))
    local = tmp_path / "runlog" / "artifacts"
    assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))

    script = Path(sys.executable).parent / "runlog"
    command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                     "import sys; from runlog_core.cli.main import main; "
                                                     "sys.exit(main(sys.argv[1:]))"]
    result = subprocess.run([*command, "download", run.id, "ckpt", str(tmp_path / "cli")], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli" / "ckpt" / "sub" / "b.txt").read_text() == "b"
    assert (tmp_path / "cli" / "ckpt" / "a.txt").read_text() == "a"


def test_the_sqlite_stores_artifact_root_argument_still_means_a_local_folder(s3_bucket: str, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.artifacts.local import LocalArtifactStore
    from runlog_core.store.sqlite.store import SQLiteStore

    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    local = SQLiteStore(tmp_path / "a" / "runlog.db", artifact_root=tmp_path / "files")
    in_s3 = SQLiteStore(tmp_path / "b" / "runlog.db")
    try:
        assert isinstance(local.artifacts, LocalArtifactStore) and local.artifacts.root == tmp_path / "files"
        assert isinstance(in_s3.artifacts, S3ArtifactStore)
        assert in_s3.artifacts.uri(RUN, "x.txt") == f"{s3_bucket}/{RUN}/x.txt"
    finally:
        local.close()
        in_s3.close()

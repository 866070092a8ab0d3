"""File/folder conflicts and round trips of S3 uploads (issue 16), against a real moto server over HTTP.

The store remembers the folders and files its uploads stored and skips the checks they make needless;
these tests hold it to what a user sees: every conflict is still refused (by this store and by
another process's), with the same error as before; every object holds its bytes; and an upload costs
no more requests than stated in docs/s3.md.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from runlog_core import Experiment
from runlog_core.exceptions import ArtifactConflictError
from runlog_core.store.artifacts.s3 import S3ArtifactStore

RUN = "0123456789abcdef"


@pytest.fixture
def artifacts(s3_bucket: str) -> Iterator[S3ArtifactStore]:
    """An S3 artifact store on a fresh bucket and prefix, closed after the test."""
    store = S3ArtifactStore(s3_bucket)
    yield store
    store.close()


@pytest.fixture
def other_process(s3_bucket: str) -> Iterator[S3ArtifactStore]:
    """A second store on the same bucket and prefix, remembering nothing: another process's."""
    store = S3ArtifactStore(s3_bucket)
    yield store
    store.close()


def _requests(store: S3ArtifactStore) -> Counter[str]:
    """A counter of the requests ``store``'s boto3 client sends from now on, by operation."""
    sent: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        sent[event_name.rsplit(".", 1)[-1]] += 1

    store._get_client().meta.events.register("before-send.s3", count)
    return sent


def _objects(client: Any, s3_url: str) -> dict[str, bytes]:
    """Every object under the store's prefix: name (after ``<prefix>/<run>/``) -> bytes."""
    bucket, _, prefix = s3_url[len("s3://"):].partition("/")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/{RUN}/")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return {key[len(f"{prefix}/{RUN}/"):]: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_a_file_then_a_name_under_it_is_refused_however_often_the_file_is_stored(
        artifacts: S3ArtifactStore, other_process: S3ArtifactStore, s3_client: Any, s3_bucket: str) -> None:
    artifacts.put_bytes(RUN, "col", b"first")
    artifacts.put_bytes(RUN, "col", b"second")  # stored again: the same name, a file still
    for store in (artifacts, other_process):
        for name in ("col/x", "col/deep/er.txt"):
            with pytest.raises(ArtifactConflictError) as refused:
                store.put_bytes(RUN, name, b"under a file")
            assert refused.value.existing == "col"
    with warnings.catch_warnings(record=True) as caught:  # a log under it: refused when it goes up
        warnings.simplefilter("always")
        artifacts.append_text(RUN, "col/log.txt", "a log under a file\n")
        artifacts.close()
    about_logs = [str(w.message) for w in caught if "log" in str(w.message)]
    assert len(about_logs) == 1, about_logs
    for path in re.findall(r"(/\S+runlog-log-\S+?\.txt)", about_logs[0]):  # the kept copy: clean up
        Path(path).unlink(missing_ok=True)
    assert _objects(s3_client, s3_bucket) == {"col": b"second"}


def test_a_folder_then_a_file_of_its_name_is_refused_after_uploads_into_it(
        artifacts: S3ArtifactStore, other_process: S3ArtifactStore, s3_client: Any, s3_bucket: str) -> None:
    artifacts.put_bytes(RUN, "dir/inside/a.txt", b"a")
    artifacts.put_bytes(RUN, "dir/inside/b.txt", b"b")  # into folders this store knows
    artifacts.put_bytes(RUN, "dir/c.txt", b"c")
    for store in (artifacts, other_process):
        for name, existing in (("dir", "dir/c.txt"), ("dir/inside", "dir/inside/a.txt")):
            with pytest.raises(ArtifactConflictError) as refused:
                store.put_bytes(RUN, name, b"over a folder")
            assert refused.value.existing == existing  # the first object under it, as before
    assert _objects(s3_client, s3_bucket) == {"dir/inside/a.txt": b"a", "dir/inside/b.txt": b"b", "dir/c.txt": b"c"}


def test_what_another_process_stored_is_seen_by_a_store_that_remembers(
        artifacts: S3ArtifactStore, other_process: S3ArtifactStore, s3_client: Any, s3_bucket: str) -> None:
    artifacts.put_bytes(RUN, "shared/a.txt", b"a")  # this store knows "shared" is a folder
    other_process.put_bytes(RUN, "shared/b", b"a file")  # the other one makes shared/b a file
    with pytest.raises(ArtifactConflictError) as refused:
        artifacts.put_bytes(RUN, "shared/b/c.txt", b"under the other's file")
    assert refused.value.existing == "shared/b"
    other_process.put_bytes(RUN, "late/x.txt", b"x")  # and a folder this store never saw
    with pytest.raises(ArtifactConflictError) as refused:
        artifacts.put_bytes(RUN, "late", b"over the other's folder")
    assert refused.value.existing == "late/x.txt"
    assert _objects(s3_client, s3_bucket) == {"shared/a.txt": b"a", "shared/b": b"a file", "late/x.txt": b"x"}


def test_objects_hold_their_bytes_and_digest_when_stored_again(artifacts: S3ArtifactStore, s3_client: Any,
                                                              s3_bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "model.pt"
    for epoch in range(3):  # a checkpoint overwritten each epoch
        data = f"weights of epoch {epoch}".encode() * 100
        source.write_bytes(data)
        assert artifacts.put_file(RUN, "outputs/model.pt", source) == (len(data), hashlib.sha256(data).hexdigest())
        assert artifacts.digest(RUN, "outputs/model.pt") == (len(data), hashlib.sha256(data).hexdigest())
        with artifacts.open(RUN, "outputs/model.pt") as stream:
            assert stream.read() == data
    assert _objects(s3_client, s3_bucket) == {"outputs/model.pt": data}


def test_requests_per_upload(artifacts: S3ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 100)
    sent = _requests(artifacts)

    def cost(name: str) -> dict[str, int]:
        sent.clear()
        artifacts.put_file(RUN, name, source)
        artifacts.uri(RUN, name)
        return dict(sent)

    assert cost("outputs/model.pt") == {"HeadObject": 1, "ListObjectsV2": 1, "PutObject": 1}
    assert cost("outputs/optimizer.pt") == {"ListObjectsV2": 1, "PutObject": 1}  # "outputs" is known
    assert cost("outputs/model.pt") == {"PutObject": 1}  # stored again: known to be a file
    assert cost("a/b/c/d.bin") == {"HeadObject": 3, "ListObjectsV2": 1, "PutObject": 1}
    assert cost("a/b/c/e.bin") == {"ListObjectsV2": 1, "PutObject": 1}
    assert cost("a/b/x/y.bin") == {"HeadObject": 1, "ListObjectsV2": 1, "PutObject": 1}  # only a/b/x is new


def test_upload_folder_of_ten_files_costs_one_head_per_new_folder(s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
                                                                  s3_client: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    files = {f"f{i}.bin" if i < 5 else f"sub/f{i}.bin": bytes([i]) * (i + 1) for i in range(10)}
    for relative, data in files.items():
        (folder / relative).write_bytes(data)
    exp = Experiment("s3-round-trips")
    run = exp.start_logging(outputs=None)
    sent = _requests(exp._store.artifacts)  # type: ignore[arg-type]
    assert run.upload_folder("ckpt", folder) == sorted(f"ckpt/{relative}" for relative in files)
    assert dict(sent) == {"HeadObject": 2, "ListObjectsV2": 10, "PutObject": 10}  # HEADs of ckpt and ckpt/sub
    with pytest.raises(ArtifactConflictError) as refused:
        run.upload_file("ckpt/sub", b"over a folder")
    assert refused.value.existing == "ckpt/sub/f5.bin"
    run.complete()
    assert set(run.get_file_names()) == {f"ckpt/{relative}" for relative in files}
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    for relative, data in files.items():
        assert s3_client.get_object(Bucket=bucket, Key=f"{prefix}/{run.id}/ckpt/{relative}")["Body"].read() == data
    exp.close()

"""Artifacts in an S3 bucket (AWS, MinIO, Ceph...): ``RUNLOG_ARTIFACTS=s3://bucket/prefix`` (issue 11).

Every artifact of a run is the object ``<prefix>/<run_id>/<name>``; nothing outside ``<prefix>/<run_id>/``
is ever written, listed or read. Endpoint, region and credentials come from boto3's usual sources
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...).

This module is the store itself, :class:`S3ArtifactStore`: names to keys, and the calls of the
artifact store contract. The rest lives beside it:

- :mod:`~runlog_core.store.artifacts.s3_client`: the boto3 client, bounded timeouts and retries, and
  failing at once for a while after the endpoint was unreachable;
- :mod:`~runlog_core.store.artifacts.s3_errors`: boto3's failures as :class:`S3ArtifactError`, naming
  the bucket, the key and the fix, never a secret;
- :mod:`~runlog_core.store.artifacts.s3_conflicts`: ``col`` then ``col/x`` (or the reverse) refused as
  in the local store, with as few HEAD and LIST requests as that allows;
- :mod:`~runlog_core.store.artifacts.s3_transfer`: one PUT or a multipart upload, hashed on the way,
  and seekable ranged reads;
- :mod:`~runlog_core.store.artifacts.s3_logs`: ``append_text``, spooled locally and uploaded whole in
  the background;
- :mod:`~runlog_core.store.artifacts.s3_kept`: files S3 did not take while unreachable, kept locally,
  uploaded when it answers (or kept under ``RUNLOG_SPILL_DIR`` at the exit).

A download checks what it reads against the run's file index, when the metadata store hands one over
(:meth:`S3ArtifactStore.check_with_index`): an object whose size or sha256 is not the index's is an
:class:`S3ArtifactError` naming both sizes, and nothing is left at the destination (issue 23).

An upload checks its name once, in ``put_*`` (a later check of the same name, such as ``uri()``'s,
is answered by the memo of :mod:`~runlog_core.base.artifact_names`), then sends the requests of the
conflict check (none for a name this store stored before), then the PUT.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

from runlog_core.base.artifact_names import check_artifact_name
from runlog_core.base.records import ArtifactInfo
from runlog_core.exceptions import (
    ArtifactWriteError,
    MissingDependencyError,
    RunNotFoundError,
    S3ArtifactError,
    UnsafeArtifactNameError,
)
from runlog_core.store.artifacts import s3_transfer
from runlog_core.store.artifacts.local import copy_to_file, digest_of
from runlog_core.store.artifacts.s3_client import (
    CONNECT_TIMEOUT,
    DOWN_SECONDS,
    MAX_ATTEMPTS,
    READ_TIMEOUT,
    S3Client,
    parse_s3_uri,
    sweep_in_background,
)
from runlog_core.store.artifacts.s3_conflicts import ConflictCheck
from runlog_core.store.artifacts.s3_kept import KeptFilesMixin
from runlog_core.store.artifacts.s3_logs import LOG_BANDWIDTH, LOG_INTERVAL, LogSpoolMixin
from runlog_core.store.artifacts.s3_transfer import CHUNK, MULTIPART_THRESHOLD, PART_SIZE, STREAM_PART_SIZE

__all__ = ["CONNECT_TIMEOUT", "DOWN_SECONDS", "LOG_BANDWIDTH", "LOG_INTERVAL", "MAX_ATTEMPTS",
           "MULTIPART_THRESHOLD", "PART_SIZE", "READ_TIMEOUT", "STREAM_PART_SIZE", "S3ArtifactError",
           "S3ArtifactStore", "parse_s3_uri"]


class S3ArtifactStore(LogSpoolMixin, KeptFilesMixin):
    """Artifacts as objects ``<prefix>/<run_id>/<name>`` in one S3 bucket; see the module docstring.

    Args:
        uri: ``s3://bucket`` or ``s3://bucket/prefix``.

    Raises:
        InvalidArgumentError: ``uri`` is not such a URI.
        MissingDependencyError: boto3 is not installed.

    Example::

        store = S3ArtifactStore("s3://ml-team/runlog")
        store.put_bytes(run_id, "outputs/notes.txt", b"hello")
    """

    def __init__(self, uri: str) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        try:
            import boto3  # noqa: F401  (checked now, so a missing one is found when the store opens)
        except ImportError as err:
            raise MissingDependencyError("boto3", f"RUNLOG_ARTIFACTS={uri!r}") from err
        self._s3 = S3Client(self.bucket, self.prefix)
        self._conflicts = ConflictCheck(self._s3)
        self._index: Callable[[str, str], ArtifactInfo | None] | None = None
        self._init_logs()
        self._init_kept()
        sweep_in_background(self.bucket, self.prefix)  # multipart uploads a killed program left open

    def __repr__(self) -> str:
        return f"S3ArtifactStore('s3://{self.bucket}/{self.prefix}')"

    def _get_client(self) -> Any:
        """The boto3 client (made on first use)."""
        return self._s3.get()

    # -- keys --------------------------------------------------------------------------------------

    def _run_prefix(self, run_id: str) -> str:
        if not isinstance(run_id, str) or "/" in run_id:
            raise UnsafeArtifactNameError(run_id, "a run id must be one plain path segment")
        check_artifact_name(run_id)
        return f"{self.prefix}/{run_id}/" if self.prefix else f"{run_id}/"

    def key(self, run_id: str, name: str) -> str:
        """The object key of ``name``, checked to lie inside ``<prefix>/<run_id>/``."""
        check_artifact_name(name)
        return self._run_prefix(run_id) + name  # a checked name has no empty, "." or ".." segment

    def uri(self, run_id: str, name: str) -> str:
        """The artifact's ``s3://bucket/prefix/run_id/name``."""
        return f"s3://{self.bucket}/{self.key(run_id, name)}"

    # -- writing -----------------------------------------------------------------------------------

    def _prepare(self, run_id: str, name: str) -> str:
        """The key of ``name``, its name checked; an :class:`ArtifactConflictError` when the run has a file
        where a folder is needed (``col`` before ``col/x``) or the reverse, as in the local store."""
        check_artifact_name(name)
        return self._conflicts.check(self._run_prefix(run_id), name)

    def _upload(self, name: str, key: str, read: Callable[[int], bytes | str], source: str,
                size: int | None = None, metadata: bool = True) -> tuple[int, str]:
        """Upload what ``read`` gives (see :func:`s3_transfer.upload`); returns ``(size, sha256)``."""
        stored = s3_transfer.upload(self._s3, name, key, read, source, size, metadata)
        self._conflicts.stored(key, name)
        return stored

    def put_stream(self, run_id: str, name: str, stream: IO[bytes] | IO[str]) -> tuple[int, str]:
        """Upload the rest of a readable stream (str chunks as UTF-8); returns ``(size, sha256)``.

        Raises:
            UnsafeArtifactNameError: ``name`` is not a safe artifact name.
            ArtifactConflictError: the run has a file where the name needs a folder, or the reverse.
            ArtifactWriteError: the stream cannot be read, or (as :class:`S3ArtifactError`) S3 refuses or
                cannot be reached; nothing is stored under the name.
        """
        key = self._prepare(run_id, name)
        return self._upload(name, key, stream.read, str(getattr(stream, "name", "the stream")))

    def put_file(self, run_id: str, name: str, source: str | os.PathLike[str]) -> tuple[int, str]:
        """Upload a local file (in parts when large); returns ``(size, sha256)``."""
        key = self._prepare(run_id, name)
        try:
            stream = open(source, "rb")
            size = os.fstat(stream.fileno()).st_size
        except OSError as err:
            raise ArtifactWriteError(name, os.fspath(source), err, "reading") from err
        with stream:
            return self._upload(name, key, stream.read, os.fspath(source), size)

    def put_bytes(self, run_id: str, name: str, data: bytes) -> tuple[int, str]:
        """Upload ``data``; returns ``(size, sha256)``."""
        return self.put_stream(run_id, name, io.BytesIO(data))

    def within(self, work: Callable[[], tuple[int, str]], run_id: str, name: str, deadline: float | None = None,
               idle: float | None = None, progress: list[float] | None = None) -> tuple[int, str]:
        """An upload ``work()`` waited for until ``deadline`` at most, and no longer than ``idle`` seconds
        after it last read its source (``progress[0]``); past either, an :class:`S3ArtifactError`
        (``code`` ``"unreachable"``) and S3 is taken as down for a while (see :meth:`S3Client.within`)."""
        return self._s3.within(work, deadline, "writing", name, self.key(run_id, name), idle, progress)

    def close(self) -> None:
        """Upload every log that changed and drop the spools; a log that cannot be uploaded stays in its
        spool file, named in one warning. The store can be used again afterwards."""
        self._close_logs()

    # -- reading -----------------------------------------------------------------------------------

    def open(self, run_id: str, name: str) -> BinaryIO:
        """The artifact opened for reading: seekable, streamed in ranged GETs.

        Raises:
            RunNotFoundError: there is no such artifact.
            ArtifactWriteError: S3 refuses or cannot be reached (an :class:`S3ArtifactError`).
        """
        key = self.key(run_id, name)
        stale = self._synced(run_id, name)
        if stale is not None and stale.based:  # S3 is down: this process's copy is the whole log
            return open(stale.path, "rb")
        head = self._s3.head(name, key, "reading")
        if head is None:
            raise RunNotFoundError("artifact", name)
        return io.BufferedReader(s3_transfer.ObjectReader(self._s3, name, key, int(head["ContentLength"])), CHUNK)

    def check_with_index(self, lookup: Callable[[str, str], ArtifactInfo | None] | None) -> None:
        """Check each download against ``lookup(run_id, name)``, the run's index entry of the artifact
        (``None``: not indexed, not checked)."""
        self._index = lookup

    def download(self, run_id: str, name: str, destination: str | os.PathLike[str]) -> Path:
        """Stream the artifact to ``destination`` (its folder is created), written beside it and renamed.

        Raises:
            RunNotFoundError: there is no such artifact.
            ArtifactWriteError: ``destination`` cannot be written, or S3 fails; or (as :class:`S3ArtifactError`,
                ``code`` ``"mismatch"``) the object's size or sha256 is not what the run's index records.
                Nothing is left under its name.
        """
        with self._lock:  # a log this process writes: its index entry follows its uploads, not checked
            live = self._pid == os.getpid() and (run_id, name) in self._spools
        entry = self._index(run_id, name) if self._index is not None and not live else None
        with self.open(run_id, name) as source:  # before anything is created
            if entry is None:
                return copy_to_file(source, name, Path(destination))
            size = source.seek(0, 2)
            source.seek(0)
            if size != entry.size:
                raise self._mismatch(run_id, name, entry, f"it holds {size:,} bytes")
            checked = _Checked(source, lambda digest: None if not entry.sha256 or digest == entry.sha256 else
                               self._mismatch(run_id, name, entry, f"its {size:,} bytes have the sha256 {digest}"))
            return copy_to_file(checked, name, Path(destination))  # type: ignore[arg-type]

    def _mismatch(self, run_id: str, name: str, entry: ArtifactInfo, found: str) -> S3ArtifactError:
        sha = f" (sha256 {entry.sha256})" if entry.sha256 else ""
        return S3ArtifactError(
            name, self.uri(run_id, name), "downloading",
            f"the object in the bucket is not the file the run's index records: {found}, the index "
            f"{entry.size:,} bytes{sha}",
            "the object was changed or cut short outside runlog, or its upload did not finish; upload the "
            "file again (or restore the object)", "mismatch")

    def digest(self, run_id: str, name: str) -> tuple[int, str]:
        """``(size, sha256)``: from the object's ``x-amz-meta-sha256`` when it has one, else read back."""
        key = self.key(run_id, name)
        if self._synced(run_id, name) is None:
            head = self._s3.head(name, key, "reading")
            if head is None:
                raise RunNotFoundError("artifact", name)
            stored = (head.get("Metadata") or {}).get("sha256")
            if stored:
                return int(head["ContentLength"]), str(stored)
        with self.open(run_id, name) as source:
            return digest_of(source)


class _Checked:
    """A reader over ``source`` that hashes what it hands out; at the end, ``check(sha256 hex)`` returns
    the error to raise (before the download is renamed into place), or ``None``."""

    def __init__(self, source: BinaryIO, check: Callable[[str], S3ArtifactError | None]) -> None:
        self._source, self._check, self._digest = source, check, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._digest.update(data)
            return data
        failure = self._check(self._digest.hexdigest())
        if failure is not None:
            raise failure
        return data

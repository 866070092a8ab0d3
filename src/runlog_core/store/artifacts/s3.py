"""Artifacts in an S3 bucket (AWS, MinIO, Ceph...): ``RUNLOG_ARTIFACTS=s3://bucket/prefix`` (issue 11).

Every artifact of a run is the object ``<prefix>/<run_id>/<name>``; nothing outside ``<prefix>/<run_id>/``
is ever written, listed or read. Endpoint, region and credentials come from boto3's usual sources
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...).

Writes
    A file or stream up to :data:`MULTIPART_THRESHOLD` goes up in one ``PutObject`` with its sha256 in
    the object's metadata (``x-amz-meta-sha256``); a larger one in a multipart upload through boto3's
    managed transfer, read once, sequentially, hashing as it goes (its sha256 is returned and kept in
    the run's index; :meth:`S3ArtifactStore.digest` reads such an object back). Both are atomic for a
    reader: the key shows the object only once it is complete, and a failed multipart upload is aborted.

Logs (``append_text``)
    S3 objects cannot be appended to. Each log is spooled to a private local file and the whole file is
    uploaded in the background, at most every :data:`LOG_INTERVAL` seconds (and less often for large
    logs: at most about :data:`LOG_BANDWIDTH` bytes a second per log), when it is read in this process,
    and when the store closes (at the end of the program). A log continued from an earlier process
    starts from the object already in the bucket. So ``append_text`` never waits on the network and a
    long log is not rewritten quadratically often.

Failures
    S3 refusing or unreachable is an :class:`S3ArtifactError` (an :class:`ArtifactWriteError`, so a
    :class:`RunlogError` and an :class:`OSError`) naming the bucket, the key and the fix, never a
    botocore exception and never a secret. Timeouts and retries are bounded (:data:`CONNECT_TIMEOUT`,
    :data:`READ_TIMEOUT`, :data:`MAX_ATTEMPTS`); after a connection failure, calls fail at once for
    :data:`DOWN_SECONDS`, so the ``outputs/`` folder of a run ending with the endpoint down costs one
    timeout, not one per file. A log that cannot be uploaded costs one warning and is retried.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Final

from runlog_core.exceptions import (
    ArtifactConflictError,
    ArtifactWriteError,
    InvalidArgumentError,
    MissingDependencyError,
    RunlogError,
    RunNotFoundError,
    S3ArtifactError,
    UnsafeArtifactNameError,
)
from runlog_core.store.artifacts.local import copy_to_file
from runlog_core.store.artifacts.names import check_artifact_name

__all__ = ["S3ArtifactError", "S3ArtifactStore", "parse_s3_uri"]

MULTIPART_THRESHOLD: Final = 8 << 20
"""Files larger than this (bytes) go up in parts."""
PART_SIZE: Final = 8 << 20
"""The smallest part of a multipart upload; larger for files over ``9000 x PART_SIZE`` (S3 takes 10,000 parts)."""
STREAM_PART_SIZE: Final = 64 << 20
"""The part size of a stream of unknown size that outgrows the first part (up to 640 GB)."""
CONNECT_TIMEOUT: Final = 5.0
"""Seconds to wait for a connection to the endpoint."""
READ_TIMEOUT: Final = 30.0
"""Seconds to wait for the endpoint's next bytes."""
MAX_ATTEMPTS: Final = 3
"""Attempts per request, the first included (botocore's ``standard`` retry mode, with backoff)."""
DOWN_SECONDS: Final = 10.0
"""After a connection failure, how long calls fail at once instead of waiting on the endpoint again."""
LOG_INTERVAL: Final = 5.0
"""The least time between two uploads of one log."""
LOG_BANDWIDTH: Final = 1 << 20
"""Bytes a second a log may cost at most: a log of N bytes is uploaded at most every N / LOG_BANDWIDTH s."""
_CHUNK = 1 << 20

_AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                         "AccessDenied", "AllAccessDisabled", "InvalidClientTokenId", "UnrecognizedClientException",
                         "403", "Forbidden", "AuthorizationHeaderMalformed"})
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def parse_s3_uri(value: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (the prefix without slashes at its ends, maybe empty).

    Raises:
        InvalidArgumentError: it names no bucket, or the prefix has an empty, ``.`` or ``..`` segment.
    """
    if not value.startswith("s3://"):
        raise InvalidArgumentError("RUNLOG_ARTIFACTS", value, "an s3://bucket/prefix URI")
    bucket, _, prefix = value[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    if not bucket or any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise InvalidArgumentError("RUNLOG_ARTIFACTS", value, "s3://bucket or s3://bucket/prefix, with plain segments")
    return bucket, prefix


def _endpoint_url() -> str | None:
    """The endpoint boto3 would use, passed explicitly so that boto3 older than 1.28.57 honours it too."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class _HashingReader(io.RawIOBase):
    """A non-seekable reader over ``head`` and then ``read``, hashing and counting what it hands out.

    Being non-seekable makes boto3's transfer read it once, in order (so the digest is the file's), and
    an ``OSError`` of the source is kept in ``error`` to tell it from S3's.
    """

    def __init__(self, head: bytes, read: Callable[[int], bytes | str], digest: Any, limit: int | None = None) -> None:
        self._head = memoryview(head)
        self._read = read
        self.digest = digest
        self.size = len(head)
        self.error: OSError | None = None
        self._left = None if limit is None else limit - len(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        want = len(view) if self._left is None else min(len(view), self._left)
        if want <= 0:
            return 0
        try:
            data = self._read(want)
        except OSError as err:
            self.error = err
            raise
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.digest.update(data)
        self.size += len(data)
        if self._left is not None:
            self._left -= len(data)
        count = min(len(view), len(data))
        view[:count] = data[:count]
        if count < len(data):  # str chunks grow when encoded: the rest comes on the next call
            self._head = memoryview(data[count:])
        return count

    def read(self, size: int | None = -1) -> bytes:
        """Exactly ``size`` bytes unless the end comes first: boto3 makes a part of each read."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            count = self.readinto(view[filled:])
            if not count:
                break
            filled += count
        return bytes(view[:filled])


class _ObjectReader(io.RawIOBase):
    """A seekable reader of one object: each read after a seek is one ranged, streamed GET."""

    def __init__(self, store: S3ArtifactStore, name: str, key: str, size: int) -> None:
        self._store, self._name, self._key, self._size = store, name, key, size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._drop_body()
            self._pos = position
        return self._pos

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None:
            answer = self._store._call("reading", self._name, self._key, "get_object", Bucket=self._store.bucket,
                                       Key=self._key, Range=f"bytes={self._pos}-")
            self._body = answer["Body"]
        try:
            chunk = self._body.read(len(buffer))
        except Exception as err:  # a connection lost mid-object
            self._drop_body()
            raise self._store._error(err, "reading", self._name, self._key) from err
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._drop_body()
        super().close()


class _Spool:
    """The local copy of one log artifact, uploaded whole now and then (see the module docstring)."""

    def __init__(self, run_id: str, name: str, key: str) -> None:
        self.run_id, self.name, self.key = run_id, name, key
        fd, self.path = tempfile.mkstemp(prefix="runlog-log-", suffix=".txt")  # 0600
        os.close(fd)
        self.size = 0  # bytes in the file
        self.uploaded = 0  # bytes of the file the object holds
        self.based = False  # whether the object's earlier content (another process's) was read in
        self.last_upload = 0.0
        self.failed = False
        self.lock = threading.Lock()  # one upload of this log at a time, so an older copy never lands last

    def due(self) -> float:
        """When the next upload may start (``time.monotonic()``)."""
        return self.last_upload + max(LOG_INTERVAL, self.size / LOG_BANDWIDTH)


class S3ArtifactStore:
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
        self._lock = threading.RLock()
        self._client: Any = None
        self._pid = os.getpid()
        self._spools: dict[tuple[str, str], _Spool] = {}
        self._uploader: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)
        self._warned: set[str] = set()
        self._down_until = 0.0
        self._down_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"S3ArtifactStore('s3://{self.bucket}/{self.prefix}')"

    # -- keys --------------------------------------------------------------------------------------

    def _run_prefix(self, run_id: str) -> str:
        if not isinstance(run_id, str) or "/" in run_id:
            raise UnsafeArtifactNameError(run_id, "a run id must be one plain path segment")
        check_artifact_name(run_id)
        return f"{self.prefix}/{run_id}/" if self.prefix else f"{run_id}/"

    def key(self, run_id: str, name: str) -> str:
        """The object key of ``name``, checked to lie inside ``<prefix>/<run_id>/``."""
        check_artifact_name(name)
        base = self._run_prefix(run_id)
        return base + name  # a checked name has no empty, "." or ".." segment: it stays under `base`

    def uri(self, run_id: str, name: str) -> str:
        """The artifact's ``s3://bucket/prefix/run_id/name``."""
        return f"s3://{self.bucket}/{self.key(run_id, name)}"

    # -- the client and its errors -------------------------------------------------------------------

    def _get_client(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: boto3 clients and our threads do not survive fork
                self._pid = os.getpid()
                self._client, self._uploader, self._spools = None, None, {}
                self._wake = threading.Condition(self._lock)
            if self._client is None:
                import boto3.session
                from botocore.config import Config

                options: dict[str, Any] = {
                    "connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT,
                    "retries": {"max_attempts": MAX_ATTEMPTS, "mode": "standard"}, "user_agent_extra": "runlog",
                }
                try:  # botocore >= 1.36 adds CRC checksums that some S3-compatible servers refuse
                    config = Config(**options, request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required")
                except TypeError:
                    config = Config(**options)
                self._client = boto3.session.Session().client("s3", endpoint_url=_endpoint_url(), config=config)
            return self._client

    def _where(self) -> str:
        return _endpoint_url() or "the AWS endpoint"

    def _error(self, err: BaseException, action: str, name: str, key: str) -> S3ArtifactError:
        """The :class:`S3ArtifactError` for a boto3/botocore failure: what happened and how to fix it."""
        from botocore import exceptions as bce

        uri = f"s3://{self.bucket}/{key}"
        if isinstance(err, S3ArtifactError):
            return err
        if isinstance(err, (bce.NoCredentialsError, bce.PartialCredentialsError)):
            return S3ArtifactError(name, uri, action, "no AWS credentials were found",
                                   "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)", "credentials")
        if isinstance(err, (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError,
                            bce.ConnectionClosedError, bce.ConnectionError, bce.HTTPClientError)):
            return S3ArtifactError(name, uri, action, f"cannot reach the S3 endpoint {self._where()} "
                                   f"({type(err).__name__})",
                                   "check AWS_ENDPOINT_URL and that the server is up and reachable", "unreachable")
        if isinstance(err, bce.ClientError):
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = str(error.get("Message") or code or status)
            if code == "NoSuchBucket":
                return S3ArtifactError(name, uri, action, f"the bucket {self.bucket!r} does not exist at "
                                       f"{self._where()}", f"create it (aws s3 mb s3://{self.bucket}) or fix "
                                       "RUNLOG_ARTIFACTS", "bucket")
            if code in _AUTH_CODES or status == 403:
                return S3ArtifactError(name, uri, action, f"S3 refused the credentials ({code or status}: {text})",
                                       "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or "
                                       f"AWS_PROFILE), and that they may read, write and list s3://{self.bucket}/"
                                       f"{self.prefix}", "credentials")
            if status == 404:  # a HEAD-less 404 without S3's code: the bucket, or not an S3 endpoint at all
                return S3ArtifactError(name, uri, action, f"{self._where()} answered 404 ({text})",
                                       f"check that the bucket {self.bucket!r} exists there and AWS_ENDPOINT_URL",
                                       "bucket")
            return S3ArtifactError(name, uri, action, f"S3 answered {code or status}: {text}",
                                   "check the bucket's settings and RUNLOG_ARTIFACTS", code or str(status))
        if isinstance(err, bce.BotoCoreError):
            return S3ArtifactError(name, uri, action, f"{type(err).__name__}: {err}",
                                   "check AWS_ENDPOINT_URL, the credentials and RUNLOG_ARTIFACTS", "botocore")
        return S3ArtifactError(name, uri, action, f"{type(err).__name__}: {err}",
                               "check AWS_ENDPOINT_URL, the credentials and RUNLOG_ARTIFACTS", "other")

    def _check_up(self, action: str, name: str, key: str) -> None:
        """Fail at once while the endpoint was unreachable less than :data:`DOWN_SECONDS` ago."""
        down = self._down_error
        if down is not None and time.monotonic() < self._down_until:
            failed = self._error(down, action, name, key)
            failed.message += f" (it failed less than {DOWN_SECONDS:g} s ago; not retried yet)"
            raise failed from down

    def _failed(self, err: BaseException, action: str, name: str, key: str) -> S3ArtifactError:
        failure = self._error(err, action, name, key)
        if failure.code == "unreachable":
            self._down_error, self._down_until = err, time.monotonic() + DOWN_SECONDS
        return failure

    def _call(self, action: str, name: str, key: str, method: str, **kwargs: Any) -> Any:
        """``client.<method>(**kwargs)``; an :class:`S3ArtifactError` when S3 refuses or is unreachable."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._check_up(action, name, key)
        try:
            answer = getattr(self._get_client(), method)(**kwargs)
        except (BotoCoreError, ClientError) as err:
            raise self._failed(err, action, name, key) from err
        self._down_error = None
        return answer

    def _exists(self, name: str, key: str, action: str) -> dict[str, Any] | None:
        """The object's HEAD answer, or ``None`` when there is none."""
        from botocore.exceptions import ClientError

        try:
            return self._call(action, name, key, "head_object", Bucket=self.bucket, Key=key)
        except S3ArtifactError as err:
            cause = err.__cause__
            if isinstance(cause, ClientError) and str(cause.response.get("Error", {}).get("Code")) in _MISSING_KEY_CODES:
                return None
            raise

    # -- writing -----------------------------------------------------------------------------------

    def _prepare(self, run_id: str, name: str) -> str:
        """The key of ``name``; an :class:`ArtifactConflictError` when the run has a file where a folder
        is needed (``col`` before ``col/x``) or the reverse, as in the local store."""
        key = self.key(run_id, name)
        base = self._run_prefix(run_id)
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if self._exists(name, base + folder, "checking") is not None:
                raise ArtifactConflictError(name, folder)
        inside = self._call("checking", name, key, "list_objects_v2", Bucket=self.bucket, Prefix=key + "/", MaxKeys=1)
        contents = inside.get("Contents") or []
        if contents:
            raise ArtifactConflictError(name, f"{name}/{contents[0]['Key'][len(key) + 1:]}")
        return key

    def _transfer_config(self, size: int | None) -> Any:
        from boto3.s3.transfer import TransferConfig

        part = STREAM_PART_SIZE if size is None else max(PART_SIZE, -(-size // 9000 // (1 << 20)) << 20)
        return TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=part, max_concurrency=4)

    def _upload(self, name: str, key: str, read: Callable[[int], bytes | str], source: str,
                size: int | None = None, metadata: bool = True) -> tuple[int, str]:
        """Upload what ``read`` gives until it gives nothing (or ``size`` bytes); returns ``(size, sha256)``."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._check_up("writing", name, key)
        digest = hashlib.sha256()
        head = bytearray()
        reader = _HashingReader(b"", read, digest, size)
        try:
            while len(head) <= MULTIPART_THRESHOLD:
                chunk = reader.read(min(_CHUNK, MULTIPART_THRESHOLD + 1 - len(head)))
                if not chunk:
                    break
                head += chunk
        except OSError as err:
            raise ArtifactWriteError(name, source, err, "reading") from err
        if len(head) <= MULTIPART_THRESHOLD:  # the whole of it: one PUT, with its digest
            extra = {"Metadata": {"sha256": digest.hexdigest()}} if metadata else {}
            self._call("writing", name, key, "put_object", Bucket=self.bucket, Key=key, Body=bytes(head), **extra)
            return len(head), digest.hexdigest()
        rest = _HashingReader(bytes(head), reader.read, hashlib.sha256())  # `reader` hashes on; `rest` only counts
        try:
            self._get_client().upload_fileobj(rest, self.bucket, key, Config=self._transfer_config(size))
        except (BotoCoreError, ClientError) as err:  # boto3 aborted the multipart upload: nothing under the key
            if reader.error is not None:
                raise ArtifactWriteError(name, source, reader.error, "reading") from reader.error
            raise self._failed(err, "writing", name, key) from err
        except OSError as err:
            if reader.error is not None:
                raise ArtifactWriteError(name, source, reader.error, "reading") from err
            raise self._failed(err, "writing", name, key) from err
        except Exception as err:  # s3transfer may wrap what it met
            if reader.error is not None:
                raise ArtifactWriteError(name, source, reader.error, "reading") from err
            raise
        self._down_error = None
        return reader.size, digest.hexdigest()

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

    # -- logs --------------------------------------------------------------------------------------

    def append_text(self, run_id: str, name: str, text: str) -> int:
        """Append UTF-8 text to a log artifact: spooled locally, uploaded whole in the background.

        Returns:
            The log's size in bytes, as it will be in the bucket.

        Raises:
            ArtifactWriteError: the local spool file cannot be written.
        """
        key = self.key(run_id, name)
        data = text.encode("utf-8", "replace")
        with self._lock:
            self._get_client()  # resets the state after a fork
            spool = self._spools.get((run_id, name))
            try:
                if spool is None:
                    spool = self._spools[(run_id, name)] = _Spool(run_id, name, key)
                with open(spool.path, "ab") as out:
                    out.write(data)
            except OSError as err:
                raise ArtifactWriteError(name, spool.path if spool else tempfile.gettempdir(), err,
                                         "appending to") from err
            spool.size += len(data)
            self._start_uploader()
            return spool.size

    def _start_uploader(self) -> None:
        if self._uploader is None or not self._uploader.is_alive():
            self._uploader = threading.Thread(target=self._upload_loop, name="runlog-s3-logs", daemon=True)
            self._uploader.start()
        self._wake.notify_all()

    def _upload_loop(self) -> None:
        """Upload each log that changed once it is due; ends when every log is uploaded."""
        me = threading.current_thread()
        while True:
            with self._lock:
                if self._uploader is not me:
                    return
                pending = [s for s in self._spools.values() if s.size > s.uploaded or not s.based]
                if not pending:
                    self._uploader = None
                    return
                now = time.monotonic()
                due = [s for s in pending if s.due() <= now]
                if not due:
                    self._wake.wait(min(s.due() for s in pending) - now)
                    continue
            for spool in due:
                self._sync(spool, warn=True)

    def _rebase(self, spool: _Spool) -> None:
        """Start the spool with the object's content from an earlier process (a continued run), once."""
        with self._lock:
            if spool.based:
                return
        _prepare_conflicts = self._prepare(spool.run_id, spool.name)  # a conflicting name fails here, as locally
        del _prepare_conflicts
        earlier = self._exists(spool.name, spool.key, "reading")
        fd, path = tempfile.mkstemp(prefix="runlog-log-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as out:
                if earlier is not None:
                    with io.BufferedReader(_ObjectReader(self, spool.name, spool.key,
                                                         int(earlier["ContentLength"]))) as source:
                        for chunk in iter(lambda: source.read(_CHUNK), b""):
                            out.write(chunk)
                base = out.tell()
                with self._lock:
                    with open(spool.path, "rb") as mine:
                        for chunk in iter(lambda: mine.read(_CHUNK), b""):
                            out.write(chunk)
                    os.replace(path, spool.path)
                    spool.size += base
                    spool.based = True
        except BaseException:
            if os.path.exists(path):
                os.unlink(path)
            raise

    def _sync(self, spool: _Spool, warn: bool) -> bool:
        """Upload the spool's file whole if it changed; returns whether the object is now up to date."""
        try:
            with spool.lock:
                self._rebase(spool)
                with self._lock:
                    size = spool.size
                if size == spool.uploaded:
                    return True
                with open(spool.path, "rb") as source:  # append-only: its first `size` bytes are final
                    self._upload(spool.name, spool.key, source.read, spool.path, size, metadata=False)
                with self._lock:
                    spool.uploaded, spool.last_upload, spool.failed = size, time.monotonic(), False
                return True
        except (RunlogError, OSError) as err:
            with self._lock:
                spool.last_upload, spool.failed = time.monotonic(), True
            if warn:
                self._warn_once("log-upload",
                                f"runlog: could not upload the log {self.uri(spool.run_id, spool.name)}: {err}; "
                                f"it is kept in {spool.path} and uploaded again every {LOG_INTERVAL:g} s or more")
            return False

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _synced(self, run_id: str, name: str) -> _Spool | None:
        """Upload the log ``name`` first if this process appended to it; returns its spool if that failed."""
        with self._lock:
            spool = self._spools.get((run_id, name)) if self._pid == os.getpid() else None
        if spool is None or self._sync(spool, warn=True):
            return None
        return spool

    def close(self) -> None:
        """Upload every log that changed and drop the spools; a log that cannot be uploaded stays in its
        spool file, named in one warning. The store can be used again afterwards."""
        with self._lock:
            if self._pid != os.getpid():
                return
            spools, self._spools, self._uploader = list(self._spools.values()), {}, None
            self._wake.notify_all()
        kept = [spool.path for spool in spools if not self._sync(spool, warn=False)]
        for spool in spools:
            if spool.path not in kept:
                try:
                    os.unlink(spool.path)
                except OSError:
                    pass
        if kept:  # one warning about logs per store: the uploader's, if it warned already
            self._warn_once("log-upload", f"runlog: {len(kept)} log(s) could not be uploaded to "
                            f"s3://{self.bucket}/{self.prefix}; they are kept in {', '.join(kept)}")

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
        head = self._exists(name, key, "reading")
        if head is None:
            raise RunNotFoundError("artifact", name)
        return io.BufferedReader(_ObjectReader(self, name, key, int(head["ContentLength"])), _CHUNK)

    def download(self, run_id: str, name: str, destination: str | os.PathLike[str]) -> Path:
        """Stream the artifact to ``destination`` (its folder is created), written beside it and renamed.

        Raises:
            RunNotFoundError: there is no such artifact.
            ArtifactWriteError: ``destination`` cannot be written, or S3 fails; nothing is left under its name.
        """
        with self.open(run_id, name) as source:  # before anything is created
            return copy_to_file(source, name, Path(destination))

    def digest(self, run_id: str, name: str) -> tuple[int, str]:
        """``(size, sha256)``: from the object's ``x-amz-meta-sha256`` when it has one, else read back."""
        key = self.key(run_id, name)
        if self._synced(run_id, name) is None:
            head = self._exists(name, key, "reading")
            if head is None:
                raise RunNotFoundError("artifact", name)
            stored = (head.get("Metadata") or {}).get("sha256")
            if stored:
                return int(head["ContentLength"]), str(stored)
        digest = hashlib.sha256()
        size = 0
        with self.open(run_id, name) as source:
            for chunk in _chunks(source):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: source.read(_CHUNK), b"")

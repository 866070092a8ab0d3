"""The S3 artifact store's connection: one boto3 client, bounded waits, and fast failure while S3 is down.

Endpoint, region and credentials come from boto3's usual sources (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...). Timeouts and retries are
bounded (:data:`CONNECT_TIMEOUT`, :data:`READ_TIMEOUT`, :data:`MAX_ATTEMPTS`); after a connection
failure, calls fail at once for :data:`DOWN_SECONDS`, so the ``outputs/`` folder of a run ending
with the endpoint down costs one timeout, not one per file. Every failure is an
:class:`S3ArtifactError` (see :mod:`runlog_core.store.artifacts.s3_errors`).

Multipart uploads left open (issue 23): a multipart upload that failed (boto3 aborts it, unless the
endpoint is down then too) is remembered and aborted as soon as the endpoint answers again; and the
first use of a store in a process aborts, in the background, the multipart uploads under the store's
prefix (every key there is runlog's; not a key this process is uploading) started more than
:data:`STALE_UPLOAD_SECONDS` ago (default a day; ``RUNLOG_S3_STALE_UPLOAD_SECONDS``): those of a
program killed while uploading.

boto3 and botocore are imported only when the client is first needed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from runlog_core.exceptions import InvalidArgumentError, S3ArtifactError
from runlog_core.store.artifacts import s3_errors

__all__ = ["CONNECT_TIMEOUT", "DOWN_SECONDS", "MAX_ATTEMPTS", "READ_TIMEOUT", "STALE_UPLOAD_SECONDS", "S3Client",
           "endpoint_url", "parse_s3_uri", "stale_upload_seconds", "sweep_in_background"]

CONNECT_TIMEOUT: Final = 5.0
"""Seconds to wait for a connection to the endpoint."""
READ_TIMEOUT: Final = 30.0
"""Seconds to wait for the endpoint's next bytes."""
MAX_ATTEMPTS: Final = 3
"""Attempts per request, the first included (botocore's ``standard`` retry mode, with backoff)."""
DOWN_SECONDS: Final = 10.0
"""After a connection failure, how long calls fail at once instead of waiting on the endpoint again."""
STALE_UPLOAD_SECONDS: Final = 86400.0
"""A multipart upload under the store's prefix started longer ago than this is aborted when a process
first uses the store (``RUNLOG_S3_STALE_UPLOAD_SECONDS`` overrides it)."""


def stale_upload_seconds() -> float:
    """:data:`STALE_UPLOAD_SECONDS`, or ``RUNLOG_S3_STALE_UPLOAD_SECONDS`` (a ``ConfigError`` when it is not a number)."""
    from runlog_core.base import config

    return config.s3_stale_upload_seconds(STALE_UPLOAD_SECONDS)


_T = TypeVar("_T")

_swept: set[tuple[int, str, str]] = set()  # (pid, bucket, prefix) swept by this process
_in_progress: dict[tuple[str, str], int] = {}  # (bucket, key) -> multipart uploads of it under way here
_swept_lock = threading.Lock()


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


def endpoint_url() -> str | None:
    """The endpoint boto3 would use, passed explicitly so that boto3 older than 1.28.57 honours it too."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class S3Client:
    """The boto3 client of one store's bucket, made on first use (again in a forked child).

    Args:
        bucket: the bucket.
        prefix: the store's prefix in it (named in error messages).
    """

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix
        self._lock = threading.Lock()
        self._client: Any = None
        self._pid = os.getpid()
        self._down_until = 0.0
        self._down_error: BaseException | None = None
        self._failed_uploads: list[str] = []  # keys of multipart uploads that failed

    def get(self) -> Any:
        """The boto3 S3 client (boto3 clients do not survive fork: a forked child makes its own)."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._client = os.getpid(), None
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
                self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url(), config=config)
            return self._client

    def error(self, err: BaseException, action: str, name: str, key: str) -> S3ArtifactError:
        """The :class:`S3ArtifactError` for ``err``, met while ``action`` the artifact ``name`` at ``key``."""
        return s3_errors.translate(err, bucket=self.bucket, prefix=self.prefix,
                                   where=endpoint_url() or "the AWS endpoint", action=action, name=name, key=key)

    def check_up(self, action: str, name: str, key: str) -> None:
        """Fail at once while the endpoint was unreachable less than :data:`DOWN_SECONDS` ago."""
        down = self._down_error
        if down is not None and time.monotonic() < self._down_until:
            failed = self.error(down, action, name, key)
            failed.message += f" (it failed less than {DOWN_SECONDS:g} s ago; not retried yet)"
            raise failed from down

    def failed(self, err: BaseException, action: str, name: str, key: str) -> S3ArtifactError:
        """:meth:`error`, remembering an unreachable endpoint for :data:`DOWN_SECONDS`."""
        failure = self.error(err, action, name, key)
        if failure.code == "unreachable":
            self._down_error, self._down_until = err, time.monotonic() + DOWN_SECONDS
        return failure

    def is_down(self) -> bool:
        """Whether the endpoint was unreachable less than :data:`DOWN_SECONDS` ago."""
        return self._down_error is not None and time.monotonic() < self._down_until

    def succeeded(self) -> None:
        """The endpoint answered: calls wait on it again, and multipart uploads that failed are aborted."""
        self._down_error = None
        if self._failed_uploads:
            self.abort_failed_uploads()

    @contextlib.contextmanager
    def uploading(self, key: str) -> Iterator[None]:
        """Mark a multipart upload of ``key`` as under way in this process: never stale to its sweep."""
        mark = (self.bucket, key)
        with _swept_lock:
            _in_progress[mark] = _in_progress.get(mark, 0) + 1
        try:
            yield
        finally:
            with _swept_lock:
                _in_progress[mark] -= 1
                if not _in_progress[mark]:
                    del _in_progress[mark]

    def upload_failed(self, key: str) -> None:
        """A multipart upload of ``key`` failed: boto3's own abort may have failed too, so the open
        multipart uploads of ``key`` are aborted once the endpoint answers (:meth:`succeeded`)."""
        with self._lock:
            self._failed_uploads.append(key)

    def abort_failed_uploads(self) -> int:
        """Abort the open multipart uploads of the uploads that failed; returns how many were aborted.
        Those that cannot be listed or aborted now are tried again the next time the endpoint answers."""
        with self._lock:
            failed, self._failed_uploads = self._failed_uploads, []
        aborted, left = 0, []
        for key in failed:
            try:  # every open upload of that very key: an object of one run, which only its upload writes
                aborted += self._abort_uploads(key, lambda initiated: True, exact=True)
            except Exception:  # still down, or refused: later
                left.append(key)
        if left:
            with self._lock:
                self._failed_uploads[:0] = left
        return aborted

    def abort_stale_uploads(self, older_than: float | None = None) -> int:
        """Abort the multipart uploads under the store's prefix started more than ``older_than`` seconds
        ago (default :func:`stale_upload_seconds`); returns how many were aborted.

        Raises:
            S3ArtifactError: S3 refuses the listing or cannot be reached.
        """
        age = stale_upload_seconds() if older_than is None else older_than
        folder = f"{self.prefix}/" if self.prefix else ""
        try:
            return self._abort_uploads(folder, lambda initiated: initiated < time.time() - age, exact=False,
                                       skip_ours=True)
        except Exception as err:
            raise self.error(err, "cleaning up", "(multipart uploads)", folder) from err

    def _abort_uploads(self, prefix: str, chosen: Any, exact: bool, skip_ours: bool = False) -> int:
        """Abort the multipart uploads whose key is ``prefix`` (``exact``) or starts with it, and whose
        start time (seconds since the epoch) ``chosen`` accepts; with ``skip_ours``, not those of a key
        this process is uploading now."""
        client = self.get()
        aborted = 0
        options: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = client.list_multipart_uploads(**options)
            for upload in page.get("Uploads") or []:
                key = str(upload["Key"])
                if exact and key != prefix:
                    continue
                if skip_ours:
                    with _swept_lock:
                        if (self.bucket, key) in _in_progress:
                            continue
                initiated = upload.get("Initiated")
                when = initiated.timestamp() if hasattr(initiated, "timestamp") else 0.0
                if chosen(when):
                    client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            options["KeyMarker"] = page.get("NextKeyMarker", "")
            options["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def call(self, action: str, name: str, key: str, method: str, **kwargs: Any) -> Any:
        """``client.<method>(**kwargs)``; an :class:`S3ArtifactError` when S3 refuses or is unreachable."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.check_up(action, name, key)
        try:
            answer = getattr(self.get(), method)(**kwargs)
        except (BotoCoreError, ClientError) as err:
            raise self.failed(err, action, name, key) from err
        self.succeeded()
        return answer

    def head(self, name: str, key: str, action: str) -> dict[str, Any] | None:
        """The object's HEAD answer, or ``None`` when there is none."""
        try:
            answer: dict[str, Any] = self.call(action, name, key, "head_object", Bucket=self.bucket, Key=key)
        except S3ArtifactError as err:
            if s3_errors.is_missing_key(err):
                return None
            raise
        return answer

    def within(self, work: Callable[[], _T], deadline: float | None, action: str, name: str, key: str,
               idle: float | None = None, progress: list[float] | None = None) -> _T:
        """``work()``, waited for until ``deadline`` (``time.monotonic()``) at most, and, with ``idle``,
        no longer than ``idle`` seconds after ``progress[0]`` (the last time it read its source, which
        ``work`` updates). Past either, ``work`` is left to finish (or not) on its daemon thread, the
        endpoint is taken as down for :data:`DOWN_SECONDS` (later calls fail at once), and an
        :class:`S3ArtifactError` (``code`` ``"unreachable"``) is raised: a process stopping never waits on
        a stalled S3 past its deadline (issue 23), whatever S3's own timeouts and retries.
        Without ``deadline`` and ``idle``, just ``work()``."""
        if deadline is None and idle is None:
            return work()
        result: list[Any] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(work())
            except BaseException as err:
                failure.append(err)

        thread = threading.Thread(target=run, name="runlog-s3-bounded", daemon=True)
        thread.start()
        while thread.is_alive():
            now = time.monotonic()
            ends = [deadline] if deadline is not None else []
            if idle is not None:
                ends.append((progress[0] if progress else now) + idle)
            if min(ends) <= now:
                break
            thread.join(min(min(ends) - now, 0.25))
        if thread.is_alive():
            from botocore.exceptions import ReadTimeoutError

            waited = ReadTimeoutError(endpoint_url=endpoint_url() or "the AWS endpoint")
            failed = self.failed(waited, action, name, key)
            failed.message += " (no answer before the stop deadline, RUNLOG_STORE_TIMEOUT)"
            raise failed
        if failure:
            raise failure[0]
        return result[0]

    def first_under(self, name: str, folder_key: str, action: str) -> str | None:
        """The first key under ``folder_key + "/"`` (one LIST of at most one key), or ``None``."""
        inside = self.call(action, name, folder_key, "list_objects_v2", Bucket=self.bucket,
                           Prefix=folder_key + "/", MaxKeys=1)
        contents = inside.get("Contents") or []
        return str(contents[0]["Key"]) if contents else None




def sweep_in_background(bucket: str, prefix: str) -> None:
    """:meth:`S3Client.abort_stale_uploads` for ``s3://bucket/prefix`` on a daemon thread with a client of
    its own, once per process; failures are silent (the next process tries again)."""
    with _swept_lock:
        if (os.getpid(), bucket, prefix) in _swept:
            return
        _swept.add((os.getpid(), bucket, prefix))

    def sweep() -> None:
        try:
            S3Client(bucket, prefix).abort_stale_uploads()
        except Exception:
            pass

    threading.Thread(target=sweep, name="runlog-s3-sweep", daemon=True).start()

"""The S3 artifact store's connection: one boto3 client, bounded waits, and fast failure while S3 is down.

Endpoint, region and credentials come from boto3's usual sources (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``...). Timeouts and retries are
bounded (:data:`CONNECT_TIMEOUT`, :data:`READ_TIMEOUT`, :data:`MAX_ATTEMPTS`); after a connection
failure, calls fail at once for :data:`DOWN_SECONDS`, so the ``outputs/`` folder of a run ending
with the endpoint down costs one timeout, not one per file. Every failure is an
:class:`S3ArtifactError` (see :mod:`runlog_core.store.artifacts.s3_errors`).

boto3 and botocore are imported only when the client is first needed.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Final

from runlog_core.exceptions import InvalidArgumentError, S3ArtifactError
from runlog_core.store.artifacts import s3_errors

__all__ = ["CONNECT_TIMEOUT", "DOWN_SECONDS", "MAX_ATTEMPTS", "READ_TIMEOUT", "S3Client", "endpoint_url",
           "parse_s3_uri"]

CONNECT_TIMEOUT: Final = 5.0
"""Seconds to wait for a connection to the endpoint."""
READ_TIMEOUT: Final = 30.0
"""Seconds to wait for the endpoint's next bytes."""
MAX_ATTEMPTS: Final = 3
"""Attempts per request, the first included (botocore's ``standard`` retry mode, with backoff)."""
DOWN_SECONDS: Final = 10.0
"""After a connection failure, how long calls fail at once instead of waiting on the endpoint again."""


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

    def succeeded(self) -> None:
        """The endpoint answered: calls wait on it again."""
        self._down_error = None

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

    def first_under(self, name: str, folder_key: str, action: str) -> str | None:
        """The first key under ``folder_key + "/"`` (one LIST of at most one key), or ``None``."""
        inside = self.call(action, name, folder_key, "list_objects_v2", Bucket=self.bucket,
                           Prefix=folder_key + "/", MaxKeys=1)
        contents = inside.get("Contents") or []
        return str(contents[0]["Key"]) if contents else None

"""Bytes to and from S3: one PUT or a multipart upload, hashed on the way; seekable ranged reads.

Writes
    A file or stream up to :data:`MULTIPART_THRESHOLD` goes up in one ``PutObject`` with its sha256 in
    the object's metadata (``x-amz-meta-sha256``); a larger one in a multipart upload through boto3's
    managed transfer, read once, sequentially, hashing as it goes (its sha256 is returned and kept in
    the run's index). Both are atomic for a reader: the key shows the object only once it is complete,
    and a failed multipart upload is aborted (by boto3 at once, else by the client when the endpoint
    answers again: :meth:`S3Client.upload_failed <runlog_core.store.artifacts.s3_client.S3Client.upload_failed>`).

Reads
    :class:`ObjectReader` is a seekable reader of one object: each read after a seek is one ranged,
    streamed GET.

boto3 and botocore are imported only inside the functions: this module comes with the S3 store only.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any, Final

from runlog_core.exceptions import ArtifactWriteError
from runlog_core.store.artifacts.s3_client import S3Client

__all__ = ["CHUNK", "MULTIPART_THRESHOLD", "PART_SIZE", "STREAM_PART_SIZE", "HashingReader", "ObjectReader",
           "transfer_config", "upload"]

MULTIPART_THRESHOLD: Final = 8 << 20
"""Files larger than this (bytes) go up in parts."""
PART_SIZE: Final = 8 << 20
"""The smallest part of a multipart upload; larger for files over ``9000 x PART_SIZE`` (S3 takes 10,000 parts)."""
STREAM_PART_SIZE: Final = 64 << 20
"""The part size of a stream of unknown size that outgrows the first part (up to 640 GB)."""
CHUNK: Final = 1 << 20
"""Bytes read at a time, from a source and from an object."""


class HashingReader(io.RawIOBase):
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
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            count = self.readinto(view[filled:])
            if not count:
                break
            filled += count
        return bytes(view[:filled])


class ObjectReader(io.RawIOBase):
    """A seekable reader of the object ``key`` (the artifact ``name``, ``size`` bytes): ranged, streamed GETs."""

    def __init__(self, client: S3Client, name: str, key: str, size: int) -> None:
        self._client, self._name, self._key, self._size = client, name, key, size
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
            answer = self._client.call("reading", self._name, self._key, "get_object", Bucket=self._client.bucket,
                                       Key=self._key, Range=f"bytes={self._pos}-")
            self._body = answer["Body"]
        try:
            chunk = self._body.read(len(buffer))
        except Exception as err:  # a connection lost mid-object
            self._drop_body()
            raise self._client.error(err, "reading", self._name, self._key) from err
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._drop_body()
        super().close()


def transfer_config(size: int | None) -> Any:
    """boto3's ``TransferConfig`` for a multipart upload of ``size`` bytes (``None``: unknown)."""
    from boto3.s3.transfer import TransferConfig

    part = STREAM_PART_SIZE if size is None else max(PART_SIZE, -(-size // 9000 // (1 << 20)) << 20)
    return TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=part, max_concurrency=4)


def upload(client: S3Client, name: str, key: str, read: Callable[[int], bytes | str], source: str,
           size: int | None = None, metadata: bool = True) -> tuple[int, str]:
    """Upload what ``read`` gives until it gives nothing (or ``size`` bytes) as ``key``; returns ``(size, sha256)``.

    Args:
        client: the store's connection.
        name: the artifact (for error messages).
        key: its object key.
        read: reads up to n bytes (or str, sent as UTF-8) of the source.
        source: the source, in words (a path), for error messages.
        size: the number of bytes to send, when known; ``None`` reads to the end.
        metadata: whether a single PUT carries ``x-amz-meta-sha256``.

    Raises:
        ArtifactWriteError: the source cannot be read, or (as :class:`S3ArtifactError`) S3 refuses or
            cannot be reached; nothing is stored under the key.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client.check_up("writing", name, key)
    digest = hashlib.sha256()
    head = bytearray()
    reader = HashingReader(b"", read, digest, size)
    try:
        while len(head) <= MULTIPART_THRESHOLD:
            chunk = reader.read(min(CHUNK, MULTIPART_THRESHOLD + 1 - len(head)))
            if not chunk:
                break
            head += chunk
    except OSError as err:
        raise ArtifactWriteError(name, source, err, "reading") from err
    if len(head) <= MULTIPART_THRESHOLD:  # the whole of it: one PUT, with its digest
        extra = {"Metadata": {"sha256": digest.hexdigest()}} if metadata else {}
        client.call("writing", name, key, "put_object", Bucket=client.bucket, Key=key, Body=bytes(head), **extra)
        return len(head), digest.hexdigest()
    rest = HashingReader(bytes(head), reader.read, hashlib.sha256())  # `reader` hashes on; `rest` only counts
    try:
        try:
            with client.uploading(key):  # never taken for a stale one by this process's sweep
                client.get().upload_fileobj(rest, client.bucket, key, Config=transfer_config(size))
        except BaseException:  # boto3's abort of the multipart upload may have failed too (the endpoint down)
            client.upload_failed(key)
            raise
    except (BotoCoreError, ClientError) as err:  # nothing under the key
        if reader.error is not None:
            raise ArtifactWriteError(name, source, reader.error, "reading") from reader.error
        raise client.failed(err, "writing", name, key) from err
    except OSError as err:
        if reader.error is not None:
            raise ArtifactWriteError(name, source, reader.error, "reading") from err
        raise client.failed(err, "writing", name, key) from err
    except Exception as err:  # s3transfer may wrap what it met
        if reader.error is not None:
            raise ArtifactWriteError(name, source, reader.error, "reading") from err
        raise
    client.succeeded()
    return reader.size, digest.hexdigest()

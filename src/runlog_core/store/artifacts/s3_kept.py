"""Files S3 did not take while it was unreachable, kept for later (issue 23).

A file a run uploads while S3 cannot be reached (``run.upload_file``, the ``outputs/`` folder at the
run's end), beside a remote metadata store, is not lost and not indexed: :meth:`KeptFilesMixin.keep_file`
copies it to a private local file (size and sha256 taken on the way), and a background thread uploads
it once S3 answers again, every :data:`~runlog_core.store.artifacts.s3_logs.LOG_INTERVAL` seconds or
more; its index entry (the uploaded object's size and sha256) goes to the writer like a log's
(:meth:`~runlog_core.store.artifacts.s3_logs.LogSpoolMixin.take_log_entries`). What is still kept when
the program ends is handed to the writer's stop by
:meth:`~runlog_core.store.artifacts.s3_logs.LogSpoolMixin.finish_logs` beside the logs whose end S3 did
not take, kept under ``RUNLOG_SPILL_DIR`` and uploaded, then indexed, at the next open of the store.

:class:`KeptFilesMixin` is part of :class:`~runlog_core.store.artifacts.s3.S3ArtifactStore`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from runlog_core.base.records import ArtifactInfo
from runlog_core.exceptions import ArtifactWriteError, RunlogError, S3ArtifactError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runlog_core.store.artifacts.s3_client import S3Client

__all__ = ["KeptFile", "KeptFilesMixin"]

_CHUNK = 1 << 20


class KeptFile:
    """The local copy of a file S3 has not taken yet."""

    __slots__ = ("run_id", "name", "path", "size", "sha256", "lock")

    def __init__(self, run_id: str, name: str, path: str, size: int, sha256: str) -> None:
        self.run_id, self.name, self.path, self.size, self.sha256 = run_id, name, path, size, sha256
        self.lock = threading.Lock()


class KeptFilesMixin:
    """``keep_file`` and the background upload of kept files (the store calls :meth:`_init_kept`)."""

    if TYPE_CHECKING:  # what the store provides
        _s3: S3Client
        _lock: threading.RLock
        _wake: threading.Condition
        _pid: int
        _entries: list[ArtifactInfo]
        _indexed: Callable[[], None] | None

        def uri(self, run_id: str, name: str) -> str: ...
        def put_file(self, run_id: str, name: str, source: str | os.PathLike[str]) -> tuple[int, str]: ...
        def _warn_once(self, key: str, message: str) -> None: ...
        def _after_fork(self) -> None: ...

    def _init_kept(self) -> None:
        self._kept: dict[tuple[str, str], KeptFile] = {}
        self._retrier: threading.Thread | None = None
        self._stop_by: float | None = None

    def stop_deadline(self) -> float:
        """When a process that is stopping gives up waiting on S3 (``time.monotonic()``): one
        ``RUNLOG_STORE_TIMEOUT`` from the first time it asks, for every later wait too."""
        if self._stop_by is None:
            from runlog_core.base import config

            self._stop_by = time.monotonic() + config.store_timeout()
        return self._stop_by

    def keep_file(self, run_id: str, name: str, source: IO[Any]) -> tuple[int, str, str]:
        """Copy the rest of ``source`` to a private local file, uploaded as the artifact ``name`` once S3
        answers (see the module docstring); returns ``(size, sha256, path of the copy)``.

        Raises:
            ArtifactWriteError: ``source`` cannot be read or the copy cannot be written.
        """
        self._after_fork()
        fd, path = tempfile.mkstemp(prefix="runlog-file-", suffix=".bin")  # 0600
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    if not chunk:
                        break
                    data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
                    digest.update(data)
                    size += len(data)
                    out.write(data)
        except OSError as err:
            os.unlink(path)
            raise ArtifactWriteError(name, path, err, "keeping a copy in") from err
        kept = KeptFile(run_id, name, path, size, digest.hexdigest())
        with self._lock:
            older = self._kept.get((run_id, name))
            self._kept[(run_id, name)] = kept
            if self._retrier is None or not self._retrier.is_alive():
                self._retrier = threading.Thread(target=self._retry_kept, name="runlog-s3-kept", daemon=True)
                self._retrier.start()
        if older is not None:  # the same name uploaded again meanwhile: the later copy wins
            _unlink(older.path)
        return kept.size, kept.sha256, path

    def _retry_kept(self) -> None:
        """Upload the kept files while S3 answers; ends when none is left."""
        me = threading.current_thread()
        from runlog_core.store.artifacts.s3_logs import LOG_INTERVAL

        while True:
            with self._lock:
                if self._retrier is not me:
                    return
                if not self._kept:
                    self._retrier = None
                    return
                self._wake.wait(LOG_INTERVAL)
                waiting = list(self._kept.values())
            for kept in waiting:
                if self._s3.is_down():
                    break
                self._upload_kept(kept)

    def _upload_kept(self, kept: KeptFile) -> bool:
        """Upload one kept file and index it; whether it is no longer this store's to upload."""
        key = (kept.run_id, kept.name)
        with kept.lock:
            with self._lock:
                if self._kept.get(key) is not kept:
                    return True  # replaced, or handed over at the program's end
            try:
                size, sha256 = self.put_file(kept.run_id, kept.name, kept.path)
            except S3ArtifactError as err:
                if err.code == "unreachable":
                    return False
                return self._drop_kept(kept, err)
            except (RunlogError, OSError) as err:
                return self._drop_kept(kept, err)
            with self._lock:
                if self._kept.get(key) is kept:
                    del self._kept[key]
                self._entries.append(ArtifactInfo(kept.run_id, kept.name, size, sha256,
                                                  self.uri(kept.run_id, kept.name), time.time()))
                told = self._indexed
            _unlink(kept.path)
        if told is not None:
            told()
        return True

    def _drop_kept(self, kept: KeptFile, err: BaseException) -> bool:
        """S3 refuses the file for good (a conflicting name, credentials): forget it, with one warning."""
        with self._lock:
            if self._kept.get((kept.run_id, kept.name)) is kept:
                del self._kept[(kept.run_id, kept.name)]
        self._warn_once("kept-refused", f"runlog: S3 refused {self.uri(kept.run_id, kept.name)}, kept while S3 was "
                        f"unreachable: {err}; its copy stays in {kept.path}")
        return True

    def _take_kept(self, kept: list[KeptFile]) -> list[KeptFile]:
        """Of ``kept``, those still waiting, now the caller's (this store forgets them)."""
        taken = []
        with self._lock:
            for item in kept:
                if self._kept.get((item.run_id, item.name)) is item:
                    del self._kept[(item.run_id, item.name)]
                    taken.append(item)
        return taken


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

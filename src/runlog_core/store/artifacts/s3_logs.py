"""Logs in S3 (``append_text``): spooled to a local file, uploaded whole in the background.

S3 objects cannot be appended to. Each log is spooled to a private local file and the whole file is
uploaded in the background, at most every :data:`LOG_INTERVAL` seconds (and less often for large
logs: at most about :data:`LOG_BANDWIDTH` bytes a second per log), when it is read in this process,
and when the store closes (at the end of the program). A log continued from an earlier process
starts from the object already in the bucket. So ``append_text`` never waits on the network and a
long log is not rewritten quadratically often. A log that cannot be uploaded costs one warning and
is retried.

The run's file index records only what the bucket holds (issue 23): once a metadata store's writer
asks for them (:meth:`LogSpoolMixin.index_logs_with`), each upload leaves an index entry with the
size and sha256 of the uploaded object, which the writer takes into its next batch
(:meth:`LogSpoolMixin.take_log_entries`); ``append_text`` itself records nothing. When the program
ends, :meth:`LogSpoolMixin.finish_logs` uploads what changed; a log whose tail cannot be uploaded
then is handed to the caller, which keeps it on local disk with the points a remote store did not
take (:mod:`runlog_core.store.spill`), and it is uploaded (:meth:`LogSpoolMixin.upload_log_file`)
and indexed the next time the store is opened.

:class:`LogSpoolMixin` is the part of :class:`~runlog_core.store.artifacts.s3.S3ArtifactStore` that
does this; no boto3 here: it uploads through the store's ``_upload``.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Final

from runlog_core.base.records import ArtifactInfo
from runlog_core.exceptions import ArtifactWriteError, RunlogError, S3ArtifactError
from runlog_core.store.artifacts.s3_transfer import CHUNK, ObjectReader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runlog_core.store.artifacts.s3_client import S3Client

__all__ = ["LOG_BANDWIDTH", "LOG_INTERVAL", "LogSpoolMixin", "LogTail"]

LOG_INTERVAL: Final = 5.0
"""The least time between two uploads of one log."""
LOG_BANDWIDTH: Final = 1 << 20
"""Bytes a second a log may cost at most: a log of N bytes is uploaded at most every N / LOG_BANDWIDTH s."""


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
        self.stored: tuple[int, str] | None = None  # (size, sha256) of the object this process last uploaded
        self.lock = threading.Lock()  # one upload of this log at a time, so an older copy never lands last

    def due(self) -> float:
        """When the next upload may start (``time.monotonic()``)."""
        return self.last_upload + max(LOG_INTERVAL, self.size / LOG_BANDWIDTH)


class LogTail:
    """A log whose last part (or a file, ``kind`` ``"file"``) could not be uploaded before the program
    ended: its local copy."""

    __slots__ = ("run_id", "name", "uri", "path", "based", "kind")

    def __init__(self, run_id: str, name: str, uri: str, path: str, based: bool, kind: str = "log") -> None:
        self.run_id, self.name, self.uri, self.path, self.based = run_id, name, uri, path, based
        self.kind = kind  # "log", or "file": a whole file S3 did not take (s3_kept), ``based`` then

    def __repr__(self) -> str:
        return f"LogTail({self.uri!r}, {self.path!r})"


class LogSpoolMixin:
    """``append_text`` and the background upload of logs, for the S3 store (which calls :meth:`_init_logs`)."""

    if TYPE_CHECKING:  # what the store provides
        bucket: str
        prefix: str
        _s3: S3Client
        _kept: dict[tuple[str, str], Any]
        _retrier: threading.Thread | None
        _stop_by: float | None

        def _upload_kept(self, kept: Any) -> bool: ...
        def _take_kept(self, kept: list[Any]) -> list[Any]: ...
        def key(self, run_id: str, name: str) -> str: ...
        def uri(self, run_id: str, name: str) -> str: ...
        def _prepare(self, run_id: str, name: str) -> str: ...
        def _upload(self, name: str, key: str, read: Callable[[int], bytes | str], source: str,
                    size: int | None = None, metadata: bool = True) -> tuple[int, str]: ...

    def _init_logs(self) -> None:
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._spools: dict[tuple[str, str], _Spool] = {}
        self._uploader: threading.Thread | None = None
        self._wake = threading.Condition(self._lock)
        self._warned: set[str] = set()
        self._indexed: Callable[[], None] | None = None  # told after each upload (the writer's)
        self._entries: list[ArtifactInfo] = []  # index entries of uploads, for the writer's next batch

    # -- the run's file index ----------------------------------------------------------------------

    def index_logs_with(self, uploaded: Callable[[], None] | None) -> None:
        """Keep an index entry for each log upload from now on, and call ``uploaded()`` after each (a
        writer queues a batch then); :meth:`take_log_entries` hands the entries over."""
        with self._lock:
            self._indexed = uploaded

    @property
    def indexes_logs(self) -> bool:
        """Whether log uploads make their own index entries (the writer then records none for a log)."""
        return self._indexed is not None

    def take_log_entries(self, upload_now: set[str] | frozenset[str] = frozenset()) -> list[ArtifactInfo]:
        """The index entries of the uploads since the last call, oldest first; the logs of the runs in
        ``upload_now`` (runs ending) are uploaded first, unless S3 failed less than a while ago."""
        if upload_now:
            with self._lock:
                spools = [s for s in self._spools.values() if s.run_id in upload_now] \
                    if self._pid == os.getpid() else []

            def upload() -> None:
                for spool in spools:
                    if self._s3.is_down():
                        break
                    self._sync(spool, warn=True)

            if spools:
                try:  # a stalled S3 holds the writer one RUNLOG_STORE_TIMEOUT at most (issue 23)
                    self._s3.within(upload, self._wait_until(), "writing", "(the logs of runs ending)", self.prefix)
                except S3ArtifactError:
                    pass  # taken as down: the logs stay spooled, retried later or kept at the exit
        with self._lock:
            entries, self._entries = self._entries, []
        return entries

    def finish_logs(self, keep_tails: bool, deadline: float | None = None) -> list[LogTail]:
        """Upload every log that changed, and the files kept while S3 was unreachable
        (:mod:`~runlog_core.store.artifacts.s3_kept`), now (their index entries wait for
        :meth:`take_log_entries`); waiting on S3 until ``deadline`` (``time.monotonic()``) at most, and
        :meth:`stop_deadline` once a run ended at the exit asked for it (issue 23): what is not uploaded
        then is left to the uploads under way and counts as not uploaded.

        With ``keep_tails``, returns the logs and files that could not be uploaded: they are the
        caller's (their files are left where they are and this store forgets them). Else they stay in
        this store, for its later attempts and :meth:`close`'s warning, and none is returned.
        """
        with self._lock:
            mine = self._pid == os.getpid()
            spools = list(self._spools.values()) if mine else []
            kept = list(self._kept.values()) if mine else []
        if self._stop_by is not None:
            deadline = self._stop_by if deadline is None else min(deadline, self._stop_by)
        done: set[int] = set()

        def upload() -> None:
            for spool in spools:
                with self._lock:
                    if self._spools.get((spool.run_id, spool.name)) is not spool:
                        continue  # handed over meanwhile (the deadline passed)
                if self._sync(spool, warn=False):
                    done.add(id(spool))
            for item in kept:
                if self._upload_kept(item):
                    done.add(id(item))

        try:
            self._s3.within(upload, deadline, "writing", "(the logs and kept files)", self.prefix)
        except S3ArtifactError:
            pass  # S3 stalled past the deadline: what is not done is kept
        if not keep_tails:
            return []
        tails = []
        with self._lock:
            for spool in spools:
                if id(spool) not in done and self._spools.get((spool.run_id, spool.name)) is spool:
                    del self._spools[(spool.run_id, spool.name)]
                    tails.append(LogTail(spool.run_id, spool.name, self.uri(spool.run_id, spool.name), spool.path,
                                         spool.based))
        tails.extend(LogTail(item.run_id, item.name, self.uri(item.run_id, item.name), item.path, True, "file")
                     for item in self._take_kept([item for item in kept if id(item) not in done]))
        return tails

    def _wait_until(self) -> float:
        """The most a wait on S3 for runs ending may last: half a ``RUNLOG_STORE_TIMEOUT`` from now (so a
        flush waiting on the writer does not give up first), or the stop deadline when that is sooner."""
        from runlog_core.base import config

        until = time.monotonic() + 0.5 * config.store_timeout()  # the writer's flush waits the whole of it
        return until if self._stop_by is None else min(until, self._stop_by)

    def upload_log_file(self, run_id: str, name: str, path: str, based: bool) -> tuple[int, str]:
        """Upload the local copy of a log kept when its program ended (a :class:`LogTail`): whole when
        ``based`` (it holds the object's earlier content), else after what the bucket holds now.
        Returns ``(size, sha256)`` of the uploaded object.

        Raises:
            ArtifactWriteError: the file cannot be read, or (as :class:`S3ArtifactError`) S3 refuses or
                cannot be reached; the object is left as it was.
        """
        spool = self._kept_spool(run_id, name, path, based)
        self._rebase(spool)  # the object's earlier content first, unless the file holds it
        with open(spool.path, "rb") as source:
            return self._upload(name, spool.key, source.read, spool.path, spool.size, metadata=False)

    def rebase_log_file(self, run_id: str, name: str, path: str) -> None:
        """Put what the bucket holds of the log now before the local copy ``path`` (kept by a program
        that never read it), so that the copy is the whole log (``based``) from then on."""
        self._rebase(self._kept_spool(run_id, name, path, False))

    def _kept_spool(self, run_id: str, name: str, path: str, based: bool) -> _Spool:
        spool = _Spool.__new__(_Spool)
        spool.run_id, spool.name, spool.key, spool.path = run_id, name, self.key(run_id, name), path
        spool.size, spool.uploaded, spool.based, spool.last_upload = os.path.getsize(path), 0, based, 0.0
        spool.failed, spool.stored, spool.lock = False, None, threading.Lock()
        return spool

    def _after_fork(self) -> None:
        """In a forked child, forget the parent's spools and uploader (threads do not survive fork)."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._uploader, self._spools = None, {}
                self._kept, self._retrier = {}, None  # the parent's kept files are the parent's
                self._wake = threading.Condition(self._lock)

    def append_text(self, run_id: str, name: str, text: str) -> int:
        """Append UTF-8 text to a log artifact: spooled locally, uploaded whole in the background.

        Returns:
            The log's size in bytes, as it will be in the bucket.

        Raises:
            ArtifactWriteError: the local spool file cannot be written.
        """
        key = self.key(run_id, name)
        data = text.encode("utf-8", "replace")
        self._after_fork()
        with self._lock:
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
        self._prepare(spool.run_id, spool.name)  # a conflicting name fails here, as locally
        earlier = self._s3.head(spool.name, spool.key, "reading")
        fd, path = tempfile.mkstemp(prefix="runlog-log-", suffix=".txt", dir=os.path.dirname(spool.path))
        try:
            with os.fdopen(fd, "wb") as out:
                if earlier is not None:
                    size = int(earlier["ContentLength"])
                    with io.BufferedReader(ObjectReader(self._s3, spool.name, spool.key, size)) as source:
                        for chunk in iter(lambda: source.read(CHUNK), b""):
                            out.write(chunk)
                base = out.tell()
                with self._lock:
                    with open(spool.path, "rb") as mine:
                        for chunk in iter(lambda: mine.read(CHUNK), b""):
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
        told: list[Callable[[], None]] = []
        done = self._sync_locked(spool, warn, told)
        for tell in told:  # outside the spool's lock: the writer may be waiting on it
            tell()
        return done

    def _sync_locked(self, spool: _Spool, warn: bool, told: list[Callable[[], None]]) -> bool:
        try:
            with spool.lock:
                self._rebase(spool)
                with self._lock:
                    size = spool.size
                if size == spool.uploaded:
                    return True
                with open(spool.path, "rb") as source:  # append-only: its first `size` bytes are final
                    stored = self._upload(spool.name, spool.key, source.read, spool.path, size, metadata=False)
                with self._lock:
                    spool.uploaded, spool.last_upload, spool.failed, spool.stored = size, time.monotonic(), False, stored
                    if self._indexed is not None:  # in upload order: spool.lock is held
                        self._entries.append(ArtifactInfo(spool.run_id, spool.name, stored[0], stored[1],
                                                          self.uri(spool.run_id, spool.name), time.time()))
                        told.append(self._indexed)
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

    def _close_logs(self) -> None:
        """Upload every log that changed and drop the spools; a log that cannot be uploaded stays in its
        spool file, named in one warning."""
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

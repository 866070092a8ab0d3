"""Stopping a writer: the last commit, within a bounded wait, and what a remote store did not take kept on disk.

:meth:`Writer.close <runlog_core.writer.writer.Writer.close>` commits what is buffered and ends the
thread. For a remote store (PostgreSQL: ``store.remote``) still refusing writes after the timeout,
everything not written (the batches waiting, the one a stuck thread is sending, what was handed over
since) goes to :mod:`runlog_core.store.spill`, one file a batch, in order, with their identities: a
batch the store did commit after all is not written twice when the files are replayed. The writer
then takes a new id, so its later batches never rank with the ones on disk.

A thread stuck in a write on a network that went silent (no reset, no refusal) is not waited for
past the timeout: it is abandoned, and whatever it returns with is ignored.

Logs in S3 are uploaded after the last commit of the points (a slow S3 never holds those back), and
their index entries committed then, within the same deadline; for a remote store, a log whose end S3
does not take is kept on disk beside the batches and uploaded, then indexed, when the store is next
opened (:func:`runlog_core.store.spill.spill_logs`); so are the files kept while S3 was unreachable
(``upload_file``, the ``outputs/`` folder). S3 is waited on until the same deadline at most, however
it fails (a stalled endpoint too): what it has not taken then is kept (issue 23).
"""

from __future__ import annotations

import threading
import time

from runlog_core.exceptions import StoreBusyError, StoreError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from runlog_core.base.records import Batch
    from runlog_core.writer.writer import Writer

__all__ = ["close", "raise_for", "spill_all", "stop_thread"]


def raise_for(writer: Writer, error: BaseException | None, waited: float, goal: int | None = None) -> None:
    """Raise what a flush that gave up after ``waited`` seconds raises, from the last ``error`` seen.

    ``goal``: how many points the writer must have committed for the flush to return (for the
    message: how many are still to write).
    """
    uri = getattr(writer.store, "uri", "")
    if isinstance(error, StoreBusyError):
        raise StoreBusyError(error.path, waited, error.holders) from error
    if isinstance(error, StoreError):
        raise error
    if error is None and not getattr(writer.store, "remote", False):
        # a local store does not go silent: the writer is at work (a long transaction on a busy
        # machine or disk), and no other process holds the lock (that would be an error above)
        raise StoreError(_still_writing(writer, uri, waited, goal))
    if error is None:  # no answer at all: a write in flight on a silent network
        raise StoreError(f"runlog: the store {uri} did not answer within {waited:g} s (RUNLOG_STORE_TIMEOUT); "
                         "the data is kept in memory and retried")
    raise StoreError(f"runlog: the store {uri} did not take the writes: {error!r}; "
                     "the data is kept in memory and retried") from error


def _still_writing(writer: Writer, uri: str, waited: float, goal: int | None) -> str:
    """What a flush says when the store answers but the writer finished no transaction in ``waited`` s."""
    left = "" if goal is None else f"{max(0, goal - writer._durable):,} points logged before flush() "
    batch = writer._in_flight
    if batch is not None:
        points = sum(len(column[2]) for column in batch.columns)
        doing = (f"a transaction of {points:,} points has been under way for "
                 f"{time.monotonic() - writer._in_flight_since:.1f} s")
    else:
        doing = "it is preparing the next batch"
    return (f"runlog: {left or 'what was logged '}still to be written to {uri}: the writer is busy ({doing}) "
            f"and finished no transaction within {waited:g} s (RUNLOG_STORE_TIMEOUT); the store refused nothing "
            "and no other process holds it: the machine or its disk is slow. Nothing is lost: the writer goes "
            "on, and flush() again waits for it")


def close(writer: Writer, timeout: float | None) -> None:
    """Commit everything buffered and end the thread; spill for a remote store that refuses (see the module)."""
    waited = writer.store_timeout if timeout is None else timeout
    deadline = time.monotonic() + waited
    remote = getattr(writer.store, "remote", False)
    finish_logs = getattr(getattr(writer.store, "artifacts", None), "finish_logs", None)
    tails: list[Any] | None = None  # the logs' last uploads: after the points, so a slow S3 never holds them
    try:
        writer.flush(waited)
        if finish_logs is not None:  # S3 waited on until the deadline at most, then what is left is kept
            tails = finish_logs(keep_tails=remote, deadline=deadline if remote else None)
            writer.flush(max(0.5, deadline - time.monotonic()) if remote else waited)  # their index entries
    except StoreError as err:
        if not remote:
            stop_thread(writer, None)
            raise
        stop_thread(writer, deadline)
        if tails is None and finish_logs is not None:
            tails = finish_logs(keep_tails=True, deadline=deadline)
        kept = spill_all(writer)  # the logs' index entries too
        keep_tails(writer, tails or [])
        if kept is None:
            raise
        folder, files = kept
        raise StoreError(f"{err}; what it did not take ({files} batch{'es' if files > 1 else ''}) is kept in "
                         f"{folder} and written when {getattr(writer.store, 'uri', '')} is next opened") from err
    stop_thread(writer, deadline if remote else None)
    keep_tails(writer, tails or [])


def keep_tails(writer: Writer, tails: list[Any]) -> None:
    """Keep the logs S3 did not take (``LogTail``s) on disk for the store; one warning says where."""
    if not tails:
        return
    from runlog_core.store.spill import spill_logs

    uri = getattr(writer.store, "uri", "")
    try:
        folder = spill_logs(uri, tails)
    except Exception as err:
        writer._warn_once("log-tails", f"runlog: could not upload {', '.join(t.uri for t in tails)} before the "
                          f"program ended, nor keep them on local disk ({err!r}); they stay in "
                          f"{', '.join(t.path for t in tails)}")
        return
    logs = [t.uri for t in tails if getattr(t, "kind", "log") != "file"]
    files = [t.uri for t in tails if getattr(t, "kind", "log") == "file"]
    what = [f"the end of {len(logs)} log{'s' if len(logs) > 1 else ''} ({', '.join(logs)})"] if logs else []
    if files:
        what.append(f"{len(files)} file{'s' if len(files) > 1 else ''} ({', '.join(files)})")
    writer._warn_once("log-tails", f"runlog: could not upload {' and '.join(what)} before the program ended; "
                      f"kept in {folder} and uploaded (then listed with the run's files) when {uri} is next opened")


def stop_thread(writer: Writer, deadline: float | None) -> None:
    """End the writer's thread; with a ``deadline``, abandon it if it is still stuck in a write then."""
    writer._stopped = True
    writer._wake.set()
    thread = writer._thread
    if thread is not None and thread is not threading.current_thread():
        thread.join(None if deadline is None else max(0.1, deadline - time.monotonic()))
        if thread.is_alive():
            writer._abandoned = thread  # what it holds (writer._in_flight) is spilled by the caller
    writer._thread = None
    writer._stopped = False


def spill_all(writer: Writer) -> tuple[Path, int] | None:
    """Everything not written, as batches, kept on local disk for the store; ``None`` if that failed."""
    from runlog_core.store.spill import spill

    try:
        batches: list[Batch] = []
        in_flight = writer._in_flight
        if in_flight is not None and writer._abandoned is not None:
            batches.append(in_flight)  # older than every batch still waiting
        while writer._pending:
            batches.append(writer._pending.take()[0])
        points, ops = writer._points[:], writer._ops[:]
        del writer._points[:]
        del writer._ops[:]
        batches.append(writer._build(points, ops)[0])
        kept = spill(getattr(writer.store, "uri", ""), batches)
    except Exception as err:
        writer._warn_once("spill", f"runlog: could not keep what {getattr(writer.store, 'uri', '')} did not take "
                          f"on local disk ({err!r}); it is lost")
        return None
    writer.new_identity()
    return kept

"""``runlog push``: copy runs, with their ids, from one store (the local default) to another (a team store).

Runs are logged offline into the local store, then pushed. A push copies each run's row (status,
start, end, error, parent, heartbeat), its series and their points (steps, values and wall times
kept exactly, every kind), params, tags, and the artifact index with the files' bytes. It writes
only through the public store contract (:mod:`runlog_core.store`), and is incremental:

- **points**: points are append-only and read back in the order written, so the destination's
  ``count_points`` of a series (matched by run id and name) is how many of the source's points it
  already has; only the rest is sent, in batches of at most :data:`BATCH_POINTS` points, each one
  transaction. Pushing twice copies nothing twice; an interrupted push (Ctrl-C, a lost connection)
  loses at most the batch in flight, and pushing again continues where it stopped;
- **params** keep their first value (only keys the destination lacks are sent); **tags** are
  replaced when they differ;
- **files** are compared by ``(name, size, sha256, uri)`` with the destination's index; logs that
  grow (empty sha256) by size; only those that differ are copied;
- **status**: a run that ended at the source ends the same at the destination; a run still
  Running is created with the source's heartbeat (it reads Running at the destination only while
  that heartbeat is fresh), and a later push while it still runs beats its heartbeat there.

A run id the destination has with another experiment name or start time did not come from this
store: it is refused (one line in ``summary.refused``), its child runs are skipped, the others go.
Parents are pushed before their children (a child's parent must exist at the destination).

The parts: :mod:`~runlog_core.transfer.push_plan` chooses the runs and their order,
:mod:`~runlog_core.transfer.push_copy` copies one run, :mod:`~runlog_core.transfer.push_summary`
counts and draws what was done.
"""

from __future__ import annotations

import os
import warnings

from runlog_core.exceptions import InvalidArgumentError, PushError, PushInterrupted, StoreError
from runlog_core.transfer.push_copy import BATCH_POINTS, Pusher
from runlog_core.transfer.push_plan import select_runs
from runlog_core.transfer.push_summary import PushProgress, PushSummary, lines

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from runlog_core.store import Store

__all__ = ["BATCH_POINTS", "PushError", "PushInterrupted", "PushProgress", "PushSummary", "lines", "push"]


def push(source: Any, destination: Any, runs: Sequence[str] | None = None, experiment: str | None = None,
         all: bool = False, artifacts: str | None = None,
         progress: Callable[[PushSummary], None] | None = None, batch_points: int = BATCH_POINTS) -> PushSummary:
    """Copy runs with their ids from ``source`` to ``destination``; again: copies only what is new.

    Args:
        source: the store to read (a store object, a folder or a URI).
        destination: the store to write (a store object or a URI such as ``postgresql://...``).
        runs: run ids, unique id prefixes or names: these runs, their child runs (and their parents
            when the destination lacks them).
        experiment: every run of the experiment of this name, child runs included.
        all: every run of the source.
        artifacts: where the files go (a folder, ``file://`` or ``s3://bucket/prefix``); default:
            the destination store's own artifact store (``RUNLOG_ARTIFACTS``).
        progress: called as ``progress(summary)`` after each batch and each run.
        batch_points: the most points written in one transaction.

    Returns:
        A :class:`PushSummary`; a refused or skipped run is one line in it, and the others go.

    Raises:
        InvalidArgumentError: not exactly one of ``runs``, ``experiment`` and ``all``, or the
            destination is the source.
        RunlogError: a run or experiment not found in the source.
        PushError: the destination failed meanwhile (what was pushed before stays; push again).
        PushInterrupted: Ctrl-C (what was pushed before stays; push again to resume).

    Example::

        push("runlog", "postgresql://me@db.example.com/runs", all=True).line()
    """
    from runlog_core.plugins.manager import open_store

    chosen = sum((bool(runs), experiment is not None, bool(all)))
    if chosen != 1:
        raise InvalidArgumentError("runs", runs, "exactly one of: RUN ids, -e EXPERIMENT, --all")
    if batch_points < 1:
        raise InvalidArgumentError("batch_points", batch_points, "a positive number of points")
    src: Store = open_store(source)
    with warnings.catch_warnings():
        if artifacts is not None:  # the files go where ``artifacts`` says, not to the store's default
            warnings.filterwarnings("ignore", message=".*RUNLOG_ARTIFACTS is not set")
        dst: Store = open_store(destination)
    if src is dst or src.uri == dst.uri:
        raise InvalidArgumentError("destination", dst.uri, "another store than the source")
    target = dst.artifacts
    if artifacts is not None:
        from runlog_core.store.artifacts.roots import open_artifact_store

        target = open_artifact_store(os.getcwd(), artifacts)
    selected = select_runs(src, runs, experiment, bool(all))
    summary = PushSummary(dst.uri)
    pusher = Pusher(src, dst, target, summary, progress, batch_points)
    try:
        pusher.plan(selected)
        for info in selected:
            pusher.push_run(info)
    except KeyboardInterrupt:
        raise PushInterrupted(summary) from None
    except StoreError as err:
        if isinstance(err, PushError):
            raise
        raise PushError(summary, err) from err
    return summary

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
"""

from __future__ import annotations

import os
import time
import warnings

from runlog_core.base.records import ArtifactInfo, Batch, RunInfo, SeriesRef
from runlog_core.exceptions import (
    InvalidArgumentError,
    PushError,
    PushInterrupted,
    RunlogError,
    RunNotFoundError,
    StoreError,
)
from runlog_core.run.state import RUNNING

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import IO, Any

    from runlog_core.store import ArtifactStore, SeriesInfo, Store

__all__ = ["BATCH_POINTS", "PushError", "PushInterrupted", "PushProgress", "PushSummary", "push"]

BATCH_POINTS = 100_000
"""The most points one transaction at the destination holds: what a lost connection can cost."""
_FILES_PER_BATCH = 100
_BYTES_PER_BATCH = 64 << 20


class PushSummary:
    """What a push did: runs created, updated, already up to date; points, files and bytes sent; refusals.

    Attributes:
        destination: the destination's URI, without a password.
        runs_total: the runs selected (ancestors pushed with them included).
        runs_done: the runs handled so far.
        points_total: the points those runs hold at the source (when the push started).
        points_done: the points the destination holds of them so far (the bar's progress).
        created, updated, unchanged: runs new at the destination, brought up to date, already there.
        points, files, bytes: what was sent.
        refused: one line per run refused (its id exists at the destination for another run).
        skipped: one line per run, series or file that could not be copied, and why.
    """

    __slots__ = ("destination", "runs_total", "runs_done", "points_total", "points_done", "created", "updated",
                 "unchanged", "points", "files", "bytes", "refused", "skipped")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.runs_total = self.runs_done = self.points_total = self.points_done = 0
        self.created = self.updated = self.unchanged = 0
        self.points = self.files = self.bytes = 0
        self.refused: list[str] = []
        self.skipped: list[str] = []

    def line(self) -> str:
        """One line: ``3 runs pushed to URI (2 new, 1 updated): 12,400 points, 5 files (1.2 MB); 1 already up to date``."""
        pushed = self.created + self.updated
        text = (f"{pushed:,} run{'' if pushed == 1 else 's'} pushed to {self.destination}"
                f" ({self.created:,} new, {self.updated:,} updated): {self.points:,} points, "
                f"{self.files:,} file{'' if self.files == 1 else 's'} ({size_text(self.bytes)})")
        if self.unchanged:
            text += f"; {self.unchanged:,} already up to date"
        if self.refused:
            text += f"; {len(self.refused):,} refused"
        if self.skipped:
            text += f"; {len(self.skipped):,} not copied"
        return text

    def __repr__(self) -> str:
        return f"PushSummary({self.line()})"


def size_text(count: int) -> str:
    """Bytes as people read them: ``512 B``, ``1.2 MB``."""
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{count} B"  # pragma: no cover


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


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
    selected = _select(src, runs, experiment, bool(all))
    summary = PushSummary(dst.uri)
    pusher = _Pusher(src, dst, target, summary, progress, batch_points)
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


# -- which runs ------------------------------------------------------------------------------------

def _select(src: Store, keys: Sequence[str] | None, experiment: str | None, every: bool) -> list[RunInfo]:
    """The runs to push, parents before children, then oldest first."""
    if every:
        found = {info.id: info for info in src.list_runs()}
    elif experiment is not None:
        experiment_id = src.get_experiment_id(experiment)
        if experiment_id is None:
            names = ", ".join(repr(name) for _, name in src.list_experiments()[:20]) or "none"
            raise RunlogError(f"no experiment {experiment!r} in {src.uri}; its experiments: {names}")
        found = {info.id: info for info in src.list_runs(experiment_id=experiment_id)}
    else:
        from runlog_core.cli.access import resolve_run

        found = {}
        pending = [resolve_run(src, key) for key in keys or ()]
        while pending:  # the named runs and their descendants
            info = pending.pop()
            if info.id not in found:
                found[info.id] = info
                pending.extend(src.list_runs(parent_id=info.id))
    for info in list(found.values()):  # a child's parent must exist at the destination
        parent_id = info.parent_id
        while parent_id is not None and parent_id not in found:
            parent = src.get_run(parent_id)
            if parent is None:
                break
            found[parent.id] = parent
            parent_id = parent.parent_id
    return sorted(found.values(), key=lambda info: (_depth(info, found), info.start_time, info.id))


def _depth(info: RunInfo, runs: dict[str, RunInfo]) -> int:
    depth, seen, parent = 0, set(), info.parent_id
    while parent in runs and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = runs[parent].parent_id
    return depth


def _columns(store: Store, series_id: int) -> tuple[list[int], list[Any], list[float]]:
    """A series' points as three lists of plain Python values."""
    reader = getattr(store, "get_point_columns", None)
    if reader is None:
        points = store.get_points(series_id)
        return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
    return tuple(_as_list(column) for column in reader(series_id))  # type: ignore[return-value]


def _as_list(column: Any) -> list[Any]:
    to_list = getattr(column, "tolist", None)  # numpy arrays and array.array: plain ints, floats, bools
    return list(to_list()) if to_list is not None else list(column)


# -- the copy ------------------------------------------------------------------------------------

class _Pusher:
    """One push: the stores, the summary, and the batch being filled."""

    def __init__(self, src: Store, dst: Store, target: ArtifactStore, summary: PushSummary,
                 progress: Callable[[PushSummary], None] | None, batch_points: int) -> None:
        self.src, self.dst, self.target = src, dst, target
        self.summary, self.progress, self.batch_points = summary, progress, batch_points
        self.experiments: dict[str, int] = {}
        self.left_out: set[str] = set()  # refused or failed runs: their children are not pushed
        self.batch = Batch()
        self.changed = False

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.summary)

    def plan(self, selected: list[RunInfo]) -> None:
        self.summary.runs_total = len(selected)
        self.summary.points_total = sum(self.src.count_points(s.id) for info in selected
                                        for s in self.src.get_series(info.id))
        self.report()

    def flush(self) -> None:
        """Commit the batch being filled (one transaction at the destination)."""
        batch, self.batch = self.batch, Batch()
        if not batch:
            return
        self.dst.write(batch)
        self.changed = True
        self.summary.points += batch.count
        self.summary.points_done += batch.count
        self.report()

    def push_run(self, info: RunInfo) -> None:
        summary = self.summary
        label = f"run {info.id} ({info.name})"
        try:
            if info.parent_id in self.left_out:
                self.left_out.add(info.id)
                summary.skipped.append(f"{label}: not pushed, its parent run {info.parent_id} was not")
                return
            there = self.dst.get_run(info.id)
            if there is not None and (there.experiment_name != info.experiment_name
                                      or there.start_time != info.start_time):
                self.left_out.add(info.id)
                summary.refused.append(_refusal(label, info, there, self.dst.uri))
                return
            self.changed = False
            created = there is None
            if created:
                self.create(info)
            self.copy_points(info, created, label)
            self.copy_files(info, created, label)
            self.copy_status(info, there)
            self.flush()
        except StoreError:
            raise  # the destination is gone or refuses every write: stop (pushing again resumes)
        except RunlogError as err:  # a value or file this destination refuses costs this run only
            self.batch = Batch()
            self.left_out.add(info.id)
            summary.skipped.append(f"{label}: {_one_line(err)}")
            return
        finally:
            summary.runs_done += 1
        if created:
            summary.created += 1
        elif self.changed:
            summary.updated += 1
        else:
            summary.unchanged += 1
        self.report()

    def create(self, info: RunInfo) -> None:
        experiment_id = self.experiments.get(info.experiment_name)
        if experiment_id is None:
            experiment_id = self.experiments[info.experiment_name] = \
                self.dst.get_or_create_experiment(info.experiment_name)
        # as the source reads it: a Running run keeps its heartbeat, so it reads Killed here once that is stale
        self.dst.create_run(RunInfo(
            id=info.id, experiment_id=experiment_id, experiment_name=info.experiment_name, name=info.name,
            status=info.status, start_time=info.start_time, parent_id=info.parent_id, end_time=info.end_time,
            heartbeat=info.heartbeat, heartbeat_timeout=info.heartbeat_timeout, pid=info.pid, host=info.host,
            error=info.error))
        self.changed = True

    def copy_points(self, info: RunInfo, created: bool, label: str) -> None:
        run_id = info.id
        theirs: dict[str, SeriesInfo] = {} if created else {s.name: s for s in self.dst.get_series(run_id)}
        params = self.src.get_params(run_id)
        have_params = {} if created else self.dst.get_params(run_id)
        self.batch.params.extend((run_id, key, value) for key, value in params.items() if key not in have_params)
        have_tags = {} if created else self.dst.get_tags(run_id)
        self.batch.tags.extend((run_id, key, value) for key, value in self.src.get_tags(run_id).items()
                               if have_tags.get(key) != value)
        for series in self.src.get_series(run_id):
            there = theirs.get(series.name)
            if there is not None and there.kind != series.kind:
                self.summary.skipped.append(f"{label}: series {series.name!r} is of kind {there.kind!r} at the "
                                            f"destination, {series.kind!r} here; not copied")
                continue
            have = 0 if there is None else self.dst.count_points(there.id)
            self.summary.points_done += have
            if there is None:
                ref = SeriesRef(run_id, series.name, series.kind, series.description)
                self.batch.series.append(ref)
            else:
                ref = SeriesRef(run_id, series.name, series.kind, series.description, id=there.id)
            if self.src.count_points(series.id) <= have:
                continue
            steps, values, times = _columns(self.src, series.id)
            if have and there is not None and (there.last_step != steps[have - 1] or there.last_time != times[have - 1]):
                self.summary.skipped.append(f"{label}: series {series.name!r} at the destination is not a copy of "
                                            "this one (its points differ); not copied")
                continue
            self.add_points(ref, steps, values, times, have)

    def add_points(self, ref: SeriesRef, steps: list[int], values: list[Any], times: list[float], start: int) -> None:
        """Queue the points from ``start`` on, committing a batch each time it is full."""
        while start < len(steps):
            room = self.batch_points - self.batch.count
            stop = min(len(steps), start + room)
            self.batch.columns.append((ref, self.batch.count, steps[start:stop], values[start:stop],
                                       times[start:stop]))
            self.batch.count += stop - start
            start = stop
            if self.batch.count >= self.batch_points:
                self.flush()

    def copy_files(self, info: RunInfo, created: bool, label: str) -> None:
        run_id = info.id
        theirs = {} if created else {a.name: a for a in self.dst.get_artifacts(run_id)}
        pending = 0
        for artifact in self.src.get_artifacts(run_id):
            name = artifact.name
            there = theirs.get(name)
            try:
                where = self.target.uri(run_id, name)
                if there is not None and (there.size, there.sha256, there.uri) == (artifact.size, artifact.sha256,
                                                                                    where):
                    continue
                if artifact.uri == where:  # the same place (one artifact root for both stores): index only
                    size, sha256 = artifact.size, artifact.sha256
                else:
                    with self.src.artifacts.open(run_id, name) as stream:
                        size, sha256 = self.target.put_stream(run_id, name, _Counted(stream, self))  # type: ignore[arg-type]
                    self.summary.files += 1
            except StoreError:
                raise
            except RunNotFoundError:
                self.summary.skipped.append(f"{label}: file {name!r} is in its index but missing; not copied")
                continue
            if not artifact.sha256:  # a log that grows: its index as the source has it, compared by size
                size, sha256 = artifact.size, ""
            self.batch.artifacts.append(ArtifactInfo(run_id, name, size, sha256, where, artifact.time))
            pending += size
            if len(self.batch.artifacts) >= _FILES_PER_BATCH or pending >= _BYTES_PER_BATCH:
                self.flush()
                pending = 0

    def copy_status(self, info: RunInfo, there: RunInfo | None) -> None:
        """End the run as at the source, or keep it Running (its heartbeat beaten when the source's is newer)."""
        if there is None:
            return  # created as the source reads it
        if info.status == RUNNING:
            if there.status != RUNNING:  # the source continued the run (or it read Killed here)
                self.batch.ends.append((info.id, RUNNING, None, None))  # type: ignore[arg-type]  # no end: running again
                self.flush()  # a heartbeat is stamped only on a Running run: after this commit
            if there.status != RUNNING or (info.heartbeat or 0) > (there.heartbeat or 0):
                # the store stamps "now": the source beat at most a heartbeat interval before
                self.batch.heartbeats.append(info.id)
            return
        same_error = info.error is None or info.error == there.error
        if (there.status, there.end_time) != (info.status, info.end_time) or not same_error:
            self.batch.ends.append((info.id, info.status, info.end_time if info.end_time is not None else time.time(),
                                    info.error))


class _Counted:
    """A binary stream that adds the bytes read to the summary (a file's copy shows in the progress bar)."""

    def __init__(self, stream: IO[bytes], pusher: _Pusher) -> None:
        self.stream, self.pusher = stream, pusher

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.pusher.summary.bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = self.stream.readinto(buffer)  # type: ignore[attr-defined]
        self.pusher.summary.bytes += count or 0
        return int(count or 0)

    def readable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _refusal(label: str, info: RunInfo, there: RunInfo, destination: str) -> str:
    from datetime import datetime, timezone

    def started(moment: float) -> str:
        return datetime.fromtimestamp(moment, timezone.utc).isoformat()

    differs = []
    if there.experiment_name != info.experiment_name:
        differs.append(f"experiment {there.experiment_name!r} there, {info.experiment_name!r} here")
    if there.start_time != info.start_time:
        differs.append(f"started {started(there.start_time)} there, {started(info.start_time)} here")
    return (f"refused {label}: {destination} already has a run with this id that did not come from this store "
            f"({'; '.join(differs)}); not pushed")


# -- the command line's progress bar -------------------------------------------------------------

class PushProgress:
    """The progress bar of ``runlog push`` on one line of stderr, redrawn in place on a terminal only."""

    def __init__(self, stream: IO[str] | None = None, every: float = 0.1) -> None:
        import sys

        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.last = 0.0
        self.drawn = False

    def __call__(self, summary: PushSummary) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        finished = summary.runs_done >= summary.runs_total
        if not finished and now - self.last < self.every:
            return
        self.last = now
        width = 30
        total = summary.points_total
        fraction = (summary.points_done / total if total else summary.runs_done / max(summary.runs_total, 1))
        filled = min(width, int(width * fraction))
        self.stream.write(f"\rpushing [{'#' * filled}{'.' * (width - filled)}] {summary.runs_done}/"
                          f"{summary.runs_total} runs, {summary.points:,} points, {summary.files:,} files, "
                          f"{size_text(summary.bytes)}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (before the summary is printed)."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def lines(summary: PushSummary) -> Iterable[str]:
    """The refusals and skips of a push, one line each."""
    yield from summary.refused
    yield from summary.skipped

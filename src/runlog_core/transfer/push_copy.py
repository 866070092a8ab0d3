"""Copying one run to the destination: its row, params, tags, the points it lacks, its files, its status.

What is sent goes in batches (:class:`~runlog_core.base.records.Batch`), each one transaction at the
destination: at most ``batch_points`` points, or :data:`_FILES_PER_BATCH` files, or about
:data:`_BYTES_PER_BATCH` bytes of them. See :mod:`runlog_core.transfer.push` for what is compared.
"""

from __future__ import annotations

import itertools
import os
import time

from runlog_core.base.records import ArtifactInfo, Batch, RunInfo, SeriesRef
from runlog_core.exceptions import RunlogError, RunNotFoundError, StoreError
from runlog_core.run.state import RUNNING

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any

    from runlog_core.store import ArtifactStore, SeriesInfo, Store
    from runlog_core.transfer.push_summary import PushSummary

__all__ = ["BATCH_POINTS", "Pusher"]

BATCH_POINTS = 100_000
"""The most points one transaction at the destination holds: what a lost connection can cost."""
_FILES_PER_BATCH = 100
_BYTES_PER_BATCH = 64 << 20


class Pusher:
    """One push: the stores, the summary, and the batch being filled."""

    def __init__(self, src: Store, dst: Store, target: ArtifactStore, summary: PushSummary,
                 progress: Callable[[PushSummary], None] | None, batch_points: int) -> None:
        self.src, self.dst, self.target = src, dst, target
        self.summary, self.progress, self.batch_points = summary, progress, batch_points
        self.experiments: dict[str, int] = {}
        self.left_out: set[str] = set()  # refused or failed runs: their children are not pushed
        # each batch carries an identity of this push (as the writer's do): the destination writes
        # nothing twice however a batch reaches it (a push is resumed by comparing counts besides)
        self.writer, self.numbers = f"push-{os.urandom(8).hex()}", itertools.count(1)
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
        batch.writer, batch.seq = self.writer, next(self.numbers)
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

    def __init__(self, stream: IO[bytes], pusher: Pusher) -> None:
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


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


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

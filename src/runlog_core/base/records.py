"""The records the run API and the stores exchange, kept free of heavy imports.

The ``Store`` protocol itself is in :mod:`runlog_core.store`.
"""

from __future__ import annotations

import itertools
import sys
from collections import namedtuple
from itertools import compress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["BULK", "CANCELED", "COMPLETED", "ENDED_STATUSES", "FAILED", "KILLED", "RUNNING", "ArtifactInfo", "Batch",
           "LoggedPoint", "MetricPoint", "ModelInfo", "RunInfo", "SeriesInfo", "SeriesRef"]

# the statuses of a run
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"
KILLED = "Killed"
ENDED_STATUSES = (COMPLETED, FAILED, CANCELED, KILLED)

MetricPoint = namedtuple("MetricPoint", ["step", "value", "timestamp"])
MetricPoint.__doc__ = "One logged value of a metric: its step, the value and the wall time (seconds since the epoch)."

LoggedPoint = namedtuple("LoggedPoint", ["name", "step", "value", "timestamp"])
LoggedPoint.__doc__ = "A metric point with its name, as handed to the ``runlog_metrics_logged`` hook."
# pickled under their public path, wherever the module that defines them moves
MetricPoint.__module__ = LoggedPoint.__module__ = "runlog_core"


class _Record:
    """Plain records: keyword or positional construction, equality and a readable repr."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        defaults = getattr(self, "_defaults", {})
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} values")
        for name, value in zip(names, args):
            setattr(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                setattr(self, name, kwargs.pop(name))
            elif name in defaults:
                setattr(self, name, defaults[name])
            else:
                raise TypeError(f"{type(self).__name__} is missing {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected {sorted(kwargs)}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class RunInfo(_Record):
    """A run's row: identity, lineage and lifecycle."""

    __slots__ = ("id", "experiment_id", "experiment_name", "name", "status", "start_time", "parent_id",
                 "end_time", "heartbeat", "heartbeat_timeout", "pid", "host", "error", "deleted_time")
    id: str
    experiment_id: int
    experiment_name: str
    name: str
    status: str
    start_time: float
    parent_id: str | None
    end_time: float | None
    heartbeat: float | None
    heartbeat_timeout: float | None
    pid: int | None
    host: str | None
    error: str | None
    deleted_time: float | None  # when run.delete() hid it (issue 20); None for a run that is not deleted
    _defaults = {"parent_id": None, "end_time": None, "heartbeat": None, "heartbeat_timeout": None,
                 "pid": None, "host": None, "error": None, "deleted_time": None}


class ModelInfo(_Record):
    """A registered model version (issue 20): the files ``path`` names among its run's artifacts.

    ``files`` holds ``[name, size, sha256]`` of each artifact it is made of, ``tags`` and
    ``properties`` dicts of strings, ``created_time`` seconds since the epoch.
    """

    __slots__ = ("name", "version", "run_id", "experiment_name", "path", "files", "tags", "properties",
                 "description", "created_time")
    name: str
    version: int
    run_id: str
    experiment_name: str
    path: str
    files: list[list[Any]]
    tags: dict[str, str]
    properties: dict[str, str]
    description: str | None
    created_time: float
    _defaults = {"description": None, "created_time": 0.0}


class SeriesInfo(_Record):
    """A named series of a run (a metric, a list, rows, tables or images) and its latest point."""

    __slots__ = ("id", "run_id", "name", "kind", "description", "last_step", "last_value", "last_time")
    id: int
    run_id: str
    name: str
    kind: str
    description: str | None
    last_step: int | None
    last_value: Any
    last_time: float | None


class ArtifactInfo(_Record):
    """A stored file of a run: its name, size, SHA-256 (empty for logs that grow) and where it is."""

    __slots__ = ("run_id", "name", "size", "sha256", "uri", "time")
    run_id: str
    name: str
    size: int
    sha256: str
    uri: str
    time: float


_series_keys = itertools.count()

# A buffered entry is (series key, step, value, time), or for log_metrics' bulk path
# (BULK, series keys, step, values, time): one entry per call, expanded by the writer.
BULK = -1


class SeriesRef:
    """The writer's handle on a series: the store fills ``id`` when it first commits the series."""

    __slots__ = ("run_id", "name", "kind", "description", "id", "next_step", "key")

    def __init__(self, run_id: str, name: str, kind: str, description: str | None = None,
                 id: int | None = None, next_step: int = 0) -> None:
        # buffered points name their series by this small int, not by the object: tuples of plain
        # numbers are untracked by the garbage collector, tuples holding objects are walked by it
        self.key = next(_series_keys)
        # interned, so the run's fast path can compare kinds with `is`
        self.run_id, self.name, self.kind = run_id, name, sys.intern(kind)
        self.description, self.id, self.next_step = description, id, next_step


class Batch:
    """Everything the writer commits in one transaction.

    ``columns`` holds, per series, ``(SeriesRef, first, steps, values, times)``: the points the
    batch has for it, in logging order, and ``first``, the position of its first point among the
    batch's ``count`` points (a store orders points across batches with it). A series appears in
    ``series`` before its first point is written; a run created by this process during an outage
    appears in ``runs`` before anything of it.

    ``writer`` and ``seq`` are the batch's identity, chosen by the client: the writer that built it
    (a random id, one per writer, process and store) and its number there, increasing. A store
    writes nothing of a batch whose writer already committed that ``seq`` or a later one, so a batch
    sent again after a lost reply (or replayed from a spill file twice) is stored once. ``writer``
    ``None``: no identity (an importer's batch), written as it comes.
    """

    __slots__ = ("series", "columns", "count", "params", "tags", "artifacts", "ends", "heartbeats", "runs",
                 "writer", "seq")

    def __init__(self, writer: str | None = None, seq: int = 0) -> None:
        self.writer, self.seq = writer, seq
        self.runs: list[RunInfo] = []
        self.series: list[SeriesRef] = []
        # steps, values and times: lists, or packed arrays for a batch that waited (see _pending)
        self.columns: list[tuple[SeriesRef, int, Sequence[int], Sequence[Any], Sequence[float]]] = []
        self.count = 0
        self.params: list[tuple[str, str, Any]] = []
        self.tags: list[tuple[str, str, str]] = []
        self.artifacts: list[ArtifactInfo] = []
        self.ends: list[tuple[str, str, float, str | None]] = []
        self.heartbeats: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.runs or self.series or self.columns or self.params or self.tags or self.artifacts
                    or self.ends or self.heartbeats)

    def holds_data(self) -> bool:
        """Whether the batch holds anything but heartbeats (what is worth keeping on disk)."""
        return bool(self.runs or self.series or self.columns or self.params or self.tags or self.artifacts
                    or self.ends)


def build_columns(entries: list[tuple[Any, ...]], series_by_key: dict[int, SeriesRef]
                  ) -> tuple[list[tuple[SeriesRef, int, Sequence[int], Sequence[Any], Sequence[float]]], int]:
    """Group buffered entries by series, keeping each series' order; returns ``(columns, count)``.

    The writer must keep up with a loop that logs a few million points a second, so the usual
    shapes of a buffer are grouped by ``zip`` (in C): many ``log`` calls over a few series, and
    many ``log_metrics`` calls with the same names. Anything else takes the general loop.
    """
    if not entries:
        return [], 0
    first_key = entries[0][0]
    if first_key != BULK:
        keys, steps, values, times = zip(*entries)  # a BULK entry among them shows in keys
        distinct = set(keys)
        if BULK not in distinct and len(distinct) <= 8:
            if len(distinct) == 1:
                return [(series_by_key[first_key], 0, steps, values, times)], len(entries)
            columns: list[tuple[SeriesRef, int, Sequence[int], Sequence[Any], Sequence[float]]] = []
            for key in sorted(distinct, key=keys.index):
                mask = [k == key for k in keys]
                columns.append((series_by_key[key], keys.index(key), list(compress(steps, mask)),
                                list(compress(values, mask)), list(compress(times, mask))))
            return columns, len(entries)
    else:
        names = entries[0][1]
        if all(entry[0] == BULK and entry[1] is names for entry in entries):
            at = [entry[2] for entry in entries]
            when = [entry[4] for entry in entries]
            per_series = zip(*[entry[3] for entry in entries])
            width = len(names)
            return [(series_by_key[key], position, at, column, when)
                    for position, (key, column) in enumerate(zip(names, per_series))], width * len(entries)
    return _build_columns_loop(entries, series_by_key)


def _build_columns_loop(entries: list[tuple[Any, ...]], series_by_key: dict[int, SeriesRef]
                        ) -> tuple[list[tuple[SeriesRef, int, Sequence[int], Sequence[Any], Sequence[float]]], int]:
    columns: dict[int, tuple[int, list[int], list[Any], list[float]]] = {}
    index = 0
    for entry in entries:
        key = entry[0]
        if key == BULK:
            _, keys, step, values, ts = entry
            for key, value in zip(keys, values):
                column = columns.get(key)
                if column is None:
                    columns[key] = column = (index, [], [], [])
                column[1].append(step)
                column[2].append(value)
                column[3].append(ts)
                index += 1
        else:
            column = columns.get(key)
            if column is None:
                columns[key] = column = (index, [], [], [])
            column[1].append(entry[1])
            column[2].append(entry[2])
            column[3].append(entry[3])
            index += 1
    return [(series_by_key[key], *column) for key, column in columns.items()], index


def expand_entries(entries: list[tuple[Any, ...]]):  # type: ignore[no-untyped-def]
    """Yield ``(key, step, value, time)`` for every point of the entries, in logging order."""
    for entry in entries:
        if entry[0] == BULK:
            _, keys, step, values, ts = entry
            for key, value in zip(keys, values):
                yield key, step, value, ts
        else:
            yield entry


# the store contract's records, pickled under its public path (runlog_core.store), wherever this module moves
for _cls in (RunInfo, SeriesInfo, ArtifactInfo, SeriesRef, Batch):
    _cls.__module__ = "runlog_core.store"

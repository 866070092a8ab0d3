"""The boundary between the run API and a store: records, batches and the Store protocol.

The run API and the background writer speak only this protocol; SQL lives in the
store modules (``_sqlite.py`` today, PostgreSQL later).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, NamedTuple, Protocol

__all__ = [
    "ArtifactInfo",
    "Batch",
    "LoggedPoint",
    "MetricPoint",
    "RunInfo",
    "SeriesInfo",
    "Store",
]


class MetricPoint(NamedTuple):
    """One logged value of a metric: its step, the value and the wall time (seconds since the epoch)."""

    step: int
    value: Any
    timestamp: float


class LoggedPoint(NamedTuple):
    """A metric point with its name, as handed to the ``runlog_metrics_logged`` hook."""

    name: str
    step: int
    value: Any
    timestamp: float


@dataclasses.dataclass
class RunInfo:
    """A run's row: identity, lineage and lifecycle."""

    id: str
    experiment_id: int
    experiment_name: str
    name: str
    status: str
    start_time: float
    parent_id: str | None = None
    end_time: float | None = None
    heartbeat: float | None = None
    heartbeat_timeout: float | None = None
    pid: int | None = None
    host: str | None = None
    error: str | None = None


@dataclasses.dataclass
class SeriesInfo:
    """A named series of a run (a metric, a list, rows, tables or images) and its latest point."""

    id: int
    run_id: str
    name: str
    kind: str
    description: str | None
    last_step: int | None
    last_value: Any
    last_time: float | None


@dataclasses.dataclass
class ArtifactInfo:
    run_id: str
    name: str
    size: int
    sha256: str
    uri: str
    time: float


class SeriesRef:
    """The writer's handle on a series: the store fills ``id`` when it first commits the series."""

    __slots__ = ("run_id", "name", "kind", "description", "id", "next_step")

    def __init__(self, run_id: str, name: str, kind: str, description: str | None = None,
                 id: int | None = None, next_step: int = 0) -> None:
        # interned, so the run's fast path can compare kinds with `is`
        self.run_id, self.name, self.kind = run_id, name, sys.intern(kind)
        self.description, self.id, self.next_step = description, id, next_step


@dataclasses.dataclass
class Batch:
    """Everything the writer commits in one transaction.

    ``points`` holds ``(SeriesRef, step, value, timestamp)`` tuples in logging order;
    a series appears in ``series`` before its first point is written.
    """

    series: list[SeriesRef] = dataclasses.field(default_factory=list)
    points: list[tuple[SeriesRef, int, Any, float]] = dataclasses.field(default_factory=list)
    params: list[tuple[str, str, Any]] = dataclasses.field(default_factory=list)
    tags: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    artifacts: list[ArtifactInfo] = dataclasses.field(default_factory=list)
    ends: list[tuple[str, str, float, str | None]] = dataclasses.field(default_factory=list)
    heartbeats: list[str] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.series or self.points or self.params or self.tags or self.artifacts
                    or self.ends or self.heartbeats)


class Store(Protocol):
    """What a store offers the run API. Implementations: :class:`runlog_core._sqlite.SQLiteStore`."""

    uri: str
    artifacts: Any

    def get_or_create_experiment(self, name: str) -> int: ...
    def get_experiment_id(self, name: str) -> int | None: ...
    def list_experiments(self) -> list[tuple[int, str]]: ...
    def create_run(self, info: RunInfo) -> None: ...
    def reattach_run(self, run_id: str, pid: int, host: str, heartbeat_timeout: float) -> None: ...
    def write(self, batch: Batch) -> None: ...
    def get_run(self, run_id: str) -> RunInfo | None: ...
    def find_run_ids(self, prefix: str) -> list[str]: ...
    def list_runs(self, experiment_id: int | None = None, status: str | None = None,
                  tags: dict[str, str | None] | None = None, parent_id: str | None = None,
                  include_children: bool = True) -> list[RunInfo]: ...
    def search_runs(self, expression: Any, order_by: list[tuple[Any, bool]],
                    experiment_id: int | None = None) -> list[RunInfo]: ...
    def get_series(self, run_id: str) -> list[SeriesInfo]: ...
    def get_points(self, series_id: int) -> list[tuple[int, Any, float]]: ...
    def get_params(self, run_id: str) -> dict[str, Any]: ...
    def get_tags(self, run_id: str) -> dict[str, str]: ...
    def get_artifacts(self, run_id: str) -> list[ArtifactInfo]: ...
    def close(self) -> None: ...

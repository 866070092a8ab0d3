"""What every part of a :class:`~runlog_core.Run` shares: its state, and the run statuses.

``Run`` is assembled from one mixin per concern (:mod:`.log`: logging values; :mod:`.files`:
files; :mod:`.end`: ending and capturing output; :mod:`.read`: reading back); each of them
works on the attributes declared here, set by ``Run.__init__``. The statuses live in
:mod:`runlog_core.base.records`, below the stores, and are re-exported here.
"""

from __future__ import annotations

from runlog_core.base.records import CANCELED, COMPLETED, ENDED_STATUSES, FAILED, KILLED, RUNNING

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any, Protocol

    from runlog_core.base.records import RunInfo, SeriesRef
    from runlog_core.store import Store
    from runlog_core.writer.writer import Writer

    class ExperimentHandle(Protocol):
        """A run's :class:`~runlog_core.Experiment` as its type says (``run.experiment`` is an Experiment;
        its module imports this one, not the other way round, so the type is told by its shape)."""

        name: str
        id: int
        _store: Store

        @property
        def store(self) -> str: ...

        def start_logging(self, name: str | None = None, tags: Any = None, snapshot_directory: Any = None,
                          outputs: Any = "outputs", capture_output: bool = False, run_id: str | None = None,
                          monitor_system: bool = False) -> Any: ...

        def get_runs(self, status: str | None = None, tags: Any = None, include_children: bool = False,
                     include_deleted: bool = False) -> Any: ...

        def submit(self, config: Any, tags: Any = None) -> Any: ...

        def close(self) -> None: ...

        def _handle(self, run_id: str, info: RunInfo | None = None) -> Any: ...

        def _start(self, name: str | None, tags: Any, parent: Any, run_id: str | None,
                   run_class: Any = None, start_time: float | None = None) -> Any: ...

__all__ = ["CANCELED", "COMPLETED", "ENDED_STATUSES", "FAILED", "KILLED", "RUNNING", "RunState"]



class RunState:
    """The attributes of a run handle (declared for the type checker; ``Run.__init__`` sets them)."""

    experiment: ExperimentHandle
    id: str
    name: str
    _parent_id: str | None
    _store: Store
    _writer: Writer
    # the writer's buffers, through its bound methods: a point is a tuple of plain numbers
    _add: Callable[[tuple[Any, ...]], None]
    _add_many: Callable[[Any], None]
    _series: dict[str, SeriesRef]
    # log_metrics' fast path: names of an all-numeric dict -> (series keys, series)
    _bulk: dict[tuple[str, ...], tuple[tuple[int, ...], tuple[SeriesRef, ...]]]
    _params: dict[str, Any]
    _tags: dict[str, str]  # set through this handle (to rebuild a deleted store)
    _start_info: RunInfo | None
    _lock: threading.RLock
    _loaded: bool
    _ended: bool
    _ending: bool
    _end_status: str | None
    _owned: bool
    _capture: Any
    _monitor: Any
    _outputs: Path | None

    def _load(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def _check_open(self) -> None:
        raise NotImplementedError

    def _put(self, name: str, write: Callable[[], tuple[int, str]]) -> Any:
        raise NotImplementedError

    def _upload_outputs(self, path: Path, stopping: bool = False) -> list[str]:
        raise NotImplementedError

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        raise NotImplementedError

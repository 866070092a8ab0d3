"""What every part of a :class:`~runlog_core.Run` shares: its state, and the run statuses.

``Run`` is assembled from one mixin per concern (``_run_log``: logging values; ``_run_files``:
files; ``_run_end``: ending and capturing output; ``_run_read``: reading back); each of them
works on the attributes declared here, set by ``Run.__init__``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from runlog_core.base.records import RunInfo, SeriesRef
    from runlog_core.run.experiment import Experiment
    from runlog_core.store import Store
    from runlog_core.writer.writer import Writer

__all__ = ["CANCELED", "COMPLETED", "ENDED_STATUSES", "FAILED", "KILLED", "RUNNING", "RunState"]

RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"
KILLED = "Killed"
ENDED_STATUSES = (COMPLETED, FAILED, CANCELED, KILLED)


class RunState:
    """The attributes of a run handle (declared for the type checker; ``Run.__init__`` sets them)."""

    experiment: Experiment
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

    def _upload_outputs(self, path: Path) -> list[str]:
        raise NotImplementedError

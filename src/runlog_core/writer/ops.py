"""What ``Run`` hands the writer besides points: one small record class per kind of event.

Points themselves travel as tuples of plain numbers (see :mod:`runlog_core.base.records`): they are
the hot path. Everything else is rare and is queued as one of these records, in call order,
and turned into a :class:`~runlog_core.base.records.Batch` and hook calls by the writer thread.
"""

from __future__ import annotations

from runlog_core.base.records import ArtifactInfo, RunInfo, SeriesRef, _Record

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.base.handle import RunHandle as Run

__all__ = ["AppendLog", "CreateRun", "EndRun", "LogParams", "LogsUploaded", "NewSeries", "Op", "Release", "RunStarted",
           "SetTags", "StoreArtifact"]


class Op(_Record):
    """Base of the writer's queued events."""

    __slots__ = ()


class CreateRun(Op):
    """A run started while the store refused writes: created in the store with its first batch.

    Its id was made here, so the program logs into it at once; the batch that creates it comes
    before any other of its rows (and is spilled with them when the program ends first).
    """

    __slots__ = ("info",)
    info: RunInfo


class NewSeries(Op):
    """A series was created; queued before its first point."""

    __slots__ = ("series",)
    series: SeriesRef


class LogParams(Op):
    """New params of ``run`` (flattened name -> value)."""

    __slots__ = ("run", "params")
    run: Run
    params: dict[str, Any]


class SetTags(Op):
    """Tags of ``run`` to set (a later value replaces an earlier one)."""

    __slots__ = ("run_id", "tags")
    run_id: str
    tags: dict[str, str]


class StoreArtifact(Op):
    """A file was stored for ``run``; its record goes into the store."""

    __slots__ = ("run", "info")
    run: Run
    info: ArtifactInfo


class AppendLog(Op):
    """Text to append to the log artifact ``name`` of ``run`` (captured output)."""

    __slots__ = ("run", "name", "text")
    run: Run
    name: str
    text: str


class EndRun(Op):
    """``run`` ended with ``status`` at ``time`` (``error``: the traceback of a failure)."""

    __slots__ = ("run", "status", "time", "error")
    run: Run
    status: str
    time: float
    error: str | None


class RunStarted(Op):
    """``run`` was started or reattached by this process."""

    __slots__ = ("run",)
    run: Run


class Release(Op):
    """``run_id`` ended: the writer stops holding its Run once everything before this is written."""

    __slots__ = ("run_id",)
    run_id: str


class LogsUploaded(Op):
    """The artifact store uploaded a log: its index entry waits there for the next batch (no data here)."""

    __slots__ = ()

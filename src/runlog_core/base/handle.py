"""A run as the floors below the run API see it: the few attributes they read from a handle.

The writer and the plugins' hooks sit below :mod:`runlog_core.run` (it imports them, never the
reverse). The writer holds run handles (real :class:`runlog_core.Run` objects) for the hooks and
for rebuilding a deleted store, and reads only what is named here; the hooks' specifications name
their ``run`` argument by the public part of it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any, Protocol

    from runlog_core.base.records import RunInfo

    class ExperimentRef(Protocol):
        """The experiment of a run, as the writer reads it (to recreate it in a deleted store)."""

        name: str
        id: int

    class PublicRun(Protocol):
        """What every run handle has (a :class:`runlog_core.Run` has far more)."""

        @property
        def id(self) -> str: ...

        @property
        def name(self) -> str: ...

        @property
        def experiment(self) -> ExperimentRef: ...

    class RunHandle(PublicRun, Protocol):
        """A run as the writer reads it: its identity, and what it set through this process."""

        @property
        def _parent_id(self) -> str | None: ...

        @property
        def _start_info(self) -> RunInfo | None: ...

        @property
        def _params(self) -> dict[str, Any]: ...

        @property
        def _tags(self) -> dict[str, str]: ...

__all__: list[str] = []

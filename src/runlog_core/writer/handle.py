"""What the writer knows of a run: the few attributes it reads from the handles it is given.

The writer sits below the run API (``runlog_core.run`` imports it, never the reverse): it holds
run handles for the hooks and for rebuilding a deleted store, and reads only what is named here.
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

    class RunHandle(Protocol):
        """A run as the writer reads it: its identity, and what it set through this process."""

        @property
        def id(self) -> str: ...

        @property
        def name(self) -> str: ...

        @property
        def experiment(self) -> ExperimentRef: ...

        @property
        def _parent_id(self) -> str | None: ...

        @property
        def _start_info(self) -> RunInfo | None: ...

        @property
        def _params(self) -> dict[str, Any]: ...

        @property
        def _tags(self) -> dict[str, str]: ...

__all__: list[str] = []

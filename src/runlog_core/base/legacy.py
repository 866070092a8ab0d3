"""Import paths of runlog 0.1's flat layout, kept for what recorded them: pickles.

A pickle names each class by the module that defined it. Until the core was laid out in folders
(issue 16) a pickled ``Run`` recorded ``runlog_core._experiment.Experiment`` and a pickled
``RunlogLogger`` ``runlog_core._guard.WarnOnce``. Those modules are gone; this finder answers each
old name with a small module that looks names up in the module that holds them now. Classes a
pickle may record are also given their public path as ``__module__`` (``runlog_core.Experiment``,
``runlog_core.integration.WarnOnce``...), so pickles written from now on do not depend on the layout.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["MOVED", "install"]

# old module -> where its names live now
MOVED = {
    "_experiment": "runlog_core.run.experiment", "_run": "runlog_core.run.run", "_handle": "runlog_core.run.state",
    "_records": "runlog_core.base.records", "_values": "runlog_core.base.values", "_config": "runlog_core.base.config",
    "_guard": "runlog_core.integration.guard", "_target": "runlog_core.integration.target",
    "_autolog": "runlog_core.integration.autolog", "_script_config": "runlog_core.submit.config",
    "_script_run": "runlog_core.submit.script_run", "_submit": "runlog_core.submit.api",
    "_sweep": "runlog_core.submit.sweep", "_push": "runlog_core.transfer.push", "_html": "runlog_core.views.html",
    "_store": "runlog_core.store", "_sqlite": "runlog_core.store.sqlite.store",
    "_postgres": "runlog_core.store.postgres.store", "_s3": "runlog_core.store.artifacts.s3",
    "_artifacts": "runlog_core.store.artifacts.local", "_ops": "runlog_core.writer.ops",
    "_writer": "runlog_core.writer.writer", "_search": "runlog_core.base.filter",
}


class _LegacyFinder:
    """A ``sys.meta_path`` finder for ``runlog_core.<old name>``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, name = fullname.rpartition(".")
        if package != "runlog_core" or name not in MOVED:
            return None
        from importlib.machinery import ModuleSpec

        return ModuleSpec(fullname, self)  # type: ignore[arg-type]  # a loader by its two methods

    def create_module(self, spec: Any) -> None:
        return None  # a plain module, filled in below

    def exec_module(self, module: ModuleType) -> None:
        import importlib

        now = MOVED[module.__name__.rpartition(".")[2]]
        module.__doc__ = f"Moved to {now} (kept for pickles written by runlog 0.1)."

        def __getattr__(name: str) -> Any:
            for where in (now, "runlog_core"):
                found = getattr(importlib.import_module(where), name, _MISSING)
                if found is not _MISSING:
                    return found
            raise AttributeError(f"module {module.__name__!r} (moved to {now}) has no attribute {name!r}")

        module.__getattr__ = __getattr__  # type: ignore[method-assign]


_MISSING = object()


def install() -> None:
    """Answer the old module names from now on (once per process)."""
    if not any(isinstance(finder, _LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.append(_LegacyFinder())

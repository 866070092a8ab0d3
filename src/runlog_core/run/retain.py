"""Deleting and restoring a run, and registering its model (issue 20): a mixin of :class:`~runlog_core.Run`.

A deleted run (and every run below it) is hidden from ``get_runs``, ``search_runs``, the command
line's listings, the web UI and ``runlog push --all``; ``Run(exp, run_id)`` still opens it, and its
details say ``"deleted": True``. ``restore()`` brings it back whole, until ``runlog gc`` removes it
for good.
"""

from __future__ import annotations

import time

from runlog_core.base.records import RUNNING
from runlog_core.exceptions import RunNotFoundError, RunStateError
from runlog_core.run.state import RunState

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from runlog_core.run.models import Model

__all__ = ["RetainMixin"]


class RetainMixin(RunState):
    """``delete``, ``restore`` and ``register_model``."""

    def _info_now(self) -> Any:
        info = self._store.get_run(self.id)
        if info is None:
            raise RunNotFoundError("run", self.id, f"{self._store.uri} (it was removed by `runlog gc`)")
        return info

    def delete(self, force: bool = False) -> None:
        """Hide the run and its child runs from every listing; :meth:`restore` brings them back.

        Args:
            force: delete it even while it (or a child) is Running; its process may go on logging into it.

        Raises:
            RunStateError: the run or one of its children is Running and ``force`` is False.
        """
        if not isinstance(force, bool):
            from runlog_core.exceptions import InvalidArgumentError

            raise InvalidArgumentError("force", force, "True or False")
        self.flush()
        info = self._info_now()
        if info.deleted_time is not None:
            return
        if not force:
            pending, seen = [info], set()
            while pending:
                current = pending.pop()
                if current.status == RUNNING:
                    which = "" if current.id == self.id else f"'s child run {current.id}"
                    raise RunStateError(self.id if not which else f"{self.id}{which}", RUNNING,
                                        "end it first (run.complete()), or pass force=True to delete it while it runs")
                seen.add(current.id)
                pending.extend(child for child in self._store.list_runs(parent_id=current.id, include_deleted=True)
                               if child.id not in seen)
        self._store.delete_runs([self.id], time.time())

    def restore(self) -> None:
        """Bring back a deleted run, with the child runs deleted with it (and its deleted parents).

        Raises:
            RunStateError: the run is not deleted, or ``runlog gc`` has begun to remove it.
        """
        info = self._info_now()
        if info.deleted_time is None:
            raise RunStateError(self.id, "not deleted", "there is nothing to restore")
        if self.id not in self._store.restore_runs([self.id]):
            raise RunStateError(self.id, "being removed by `runlog gc`", "it can no longer be restored")

    def register_model(self, model_name: str, model_path: str | None = None, tags: Mapping[str, Any] | None = None,
                       properties: Mapping[str, Any] | None = None, description: str | None = None,
                       **kwargs: Any) -> Model:
        """Register a file or folder among the run's files as the next version of the model ``model_name``.

        Args:
            model_name: the model's name: letters, digits, '-', '_', '.' (e.g. ``"ridge"``).
            model_path: a file or folder among the run's files (e.g. ``"outputs/ridge.pkl"``); default
                ``model_name``, as in Azure.
            tags: a dict of str to str, to find the model by (``Model.list(tags=...)``).
            properties: a dict of str to str.
            description: free text.
            **kwargs: Azure's other arguments (``model_framework``, ``datasets``...) are accepted and ignored.

        Returns:
            The :class:`Model`; versions count up from 1 per name.

        Raises:
            InvalidNameError: the name is empty or path-like.
            InvalidArgumentError: ``model_path`` is not among the run's files; nothing is registered.

        Example::

            run.upload_file("outputs/ridge.pkl", "ridge.pkl")
            model = run.register_model("ridge", model_path="outputs/ridge.pkl", tags={"area": "diabetes"})
        """
        from runlog_core.run.models import Model, model_record

        record = model_record(self, model_name, model_path, tags, properties, description)
        stored = self._store.register_model(record)
        return Model(stored.name, _info=stored, _store=self._store)

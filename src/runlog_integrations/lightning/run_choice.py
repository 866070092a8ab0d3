"""Which run a ``RunlogLogger`` writes into, and how a resumed fit finds it again.

The run is decided once, on rank 0: the logger's ``run=``, else the run a checkpoint names
(``fit(ckpt_path=...)``: the state callback hands its run id over when Lightning restores callback
states) or ``run_id=``, else the submitted run, else a new run in ``experiment_name=``,
``RUNLOG_EXPERIMENT`` or ``"lightning_logs"`` (:func:`runlog_core.integration.target.resolve_run`). Lightning
asks for ``logger.experiment`` and ``logger.version`` while a fit sets up, before it restores the
checkpoint, so until then ``experiment`` is a stand-in, ``version`` a provisional name and
hyperparameters wait.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runlog_core import Experiment, Run
from runlog_core.exceptions import RunNotFoundError
from runlog_core.integration import WarnOnce, resolve_run, submitted_run_id
from runlog_integrations.lightning.flavours import rank as _rank
from runlog_integrations.lightning.support import STATE_KEY, attach_state_callback, state_callback_class

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger as _Base
else:
    _Base = object

__all__ = ["DEFAULT_EXPERIMENT", "TOKEN_TAG", "RunChoice"]

DEFAULT_EXPERIMENT = "lightning_logs"
TOKEN_TAG = "runlog.lightning.logger"


class RunChoice(_Base):
    """The run-deciding half of the logger; ``RunlogLogger.__init__`` sets these attributes."""

    _callback_base: type
    _checkpoint_types: tuple[type, ...]
    _dummy_type: type
    _experiment_arg: str | None
    _store_arg: str | None
    _run_name: str | None
    _tags: dict[str, Any]
    _token: str
    _run: Run | None
    _run_id: str | None
    _resume: tuple[str, str | None] | None
    _given: tuple[str, str, str] | None
    _owns: bool
    _live: bool
    _fast: Run | None
    _pending_fit: bool
    _provisional_used: bool
    _trainer: Any
    _params: list[Any]
    _copied: bool
    _broken: bool
    _guard: WarnOnce
    _checkpoint_callback: Any

    def _log_params(self, params: Any) -> None:
        raise NotImplementedError

    # -- which run --------------------------------------------------------------------------

    def _decide(self) -> Run | None:
        """Start or continue the run (rank 0), once; ``None`` if that failed."""
        if self._run is not None:
            return self._run
        if self._broken:
            return None
        try:
            self._open()
        except Exception as err:
            self._broken = True
            self._guard("start the run", err)
            return None
        assert self._run is not None
        self._run_id = self._run.id
        self._pending_fit = False
        self._follow_checkpoint_folders()
        params, self._params = self._params, []
        for item in params:
            self._log_params(item)
        return self._run

    def _open(self) -> None:
        if self._given is not None:
            run_id, name, store = self._given
            self._run, self._owns, self._live = Run(Experiment(name, store=store), run_id), False, True
            return
        experiment = self._resume[1] if self._resume is not None and self._resume[1] else self._experiment_arg
        if self._resume is not None:
            try:
                self._run, self._owns = resolve_run(experiment=experiment, default=DEFAULT_EXPERIMENT,
                                                    store=self._store_arg, run_id=self._resume[0])
                self._live = True
                if self._owns:
                    self._run.set_tags({TOKEN_TAG: self._token})
                return
            except RunNotFoundError as err:
                self._guard("continue the run of the checkpoint or run_id", err)
        if self._copied and not submitted_run_id():
            # another copy of this logger (a ddp_spawn worker, the process that spawned it) may
            # have started the run: find it by the logger's token rather than start a second
            found = Experiment(str(self.name), store=self._store_arg).get_runs(tags={TOKEN_TAG: self._token})
            if found:
                self._run, self._live = found[0], False  # a write makes it Running again
                return
        self._run, self._owns = resolve_run(experiment=experiment, default=DEFAULT_EXPERIMENT,
                                            store=self._store_arg, name=self._run_name,
                                            tags={**self._tags, TOKEN_TAG: self._token})
        self._live = True

    def _writable(self) -> Run | None:
        """The run, Running again if an earlier ``finalize`` ended it (fit, then test)."""
        run = self._decide()
        if run is None or self._live:
            self._fast = run
            return run
        try:
            self._run = run.experiment.start_logging(run_id=run.id, outputs=None)
            self._live = True
            self._fast = self._run
            return self._run
        except Exception as err:
            self._broken = True
            self._guard("reopen the run", err)
            return None

    def _follow_checkpoint_folders(self) -> None:
        """Checkpoint callbacks that took the provisional folder move to the run's folder."""
        trainer, self._trainer = self._trainer, None
        if trainer is None or not self._provisional_used:
            return
        provisional = f"pending-{self._token[:12]}"
        for callback in getattr(trainer, "checkpoint_callbacks", ()):
            dirpath = getattr(callback, "dirpath", None)
            if isinstance(dirpath, str) and os.path.basename(os.path.dirname(dirpath)) == provisional:
                callback.dirpath = os.path.join(str(self.root_dir), str(self._run_id), os.path.basename(dirpath))

    # the state callback's side (see _lightning_support.state_callback_class)

    def _runlog_bind(self, trainer: Any) -> None:
        if _rank() == 0 and self._run is None:
            self._trainer = trainer

    def _runlog_state(self) -> dict[str, Any]:
        return {"run_id": self._run_id, "experiment": self.name} if self._run_id else {}

    def _runlog_restore(self, state: Mapping[str, Any]) -> None:
        """The checkpoint of a resumed fit names its run: continue it (rank 0)."""
        run_id, experiment = state.get("run_id"), state.get("experiment")
        if _rank() != 0 or not isinstance(run_id, str):
            return
        if self._run is None:
            self._resume = (run_id, experiment if isinstance(experiment, str) else None)
            self._decide()
        elif run_id != self._run_id:
            warnings.warn(f"runlog: the checkpoint belongs to run {run_id}; this fit logs into run "
                          f"{self._run_id}", RuntimeWarning, stacklevel=2)

    def _attach(self, trainer: Any) -> None:
        """Give the trainer the state callback; if it came too late for a restore, read the state now."""
        added = attach_state_callback(trainer, state_callback_class(self._callback_base), self._checkpoint_types)
        self._runlog_bind(trainer)
        if added and self._run is None and getattr(trainer, "ckpt_path", None):
            # the fit restored its checkpoint before this logger could add the callback (a Trainer
            # built by hand; the lightning callbacks_factory entry point adds it in time)
            loaded = getattr(getattr(trainer, "_checkpoint_connector", None), "_loaded_checkpoint", None)
            state = loaded.get("callbacks", {}).get(STATE_KEY) if isinstance(loaded, dict) else None
            if isinstance(state, Mapping):
                self._runlog_restore(state)

    # -- pickling (ddp_spawn, deepcopy) -----------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # a Run belongs to its process's writer: the copy reopens it by id, or finds it by token
        state.update(_run=None, _live=False, _fast=None, _checkpoint_callback=None, _trainer=None, _copied=True)
        if self._run is not None and not self._owns:
            state["_given"] = (self._run.id, self._run.experiment.name, self._run.experiment.store)
        elif self._run_id is not None and self._resume is None:
            state["_resume"] = (self._run_id, self.name)
        self._copied = True  # the copy may start the run: look for it by token before starting another
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

"""PyTorch Lightning: a ``Logger`` that records a fit into a runlog run.

``Trainer(logger=RunlogLogger())`` is all it takes: hyperparameters, every metric at the step
Lightning reports (with ``epoch`` beside it), checkpoints on request, and the run's end status.
``fit(ckpt_path=...)`` continues the run the checkpoint was written by: the logger's state
callback keeps the run id in ``checkpoint["callbacks"]["RunlogLogger"]``.

Both distributions are supported: :class:`RunlogLogger` subclasses ``lightning.pytorch``'s
``Logger`` (or ``pytorch_lightning``'s when only that one is installed), and
:class:`PLRunlogLogger` subclasses ``pytorch_lightning``'s when that one is installed too.
"""

from __future__ import annotations

import os
import sys
import uuid
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from runlog_core import Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import WarnOnce, check_target, experiment_from_environment
from runlog_integrations.lightning import autolog as _lightning_autolog
from runlog_integrations.lightning.flavours import BOTH, FLAVOURS, PendingRun, rank_zero_only
from runlog_integrations.lightning.flavours import rank as _rank
from runlog_integrations.lightning.run_choice import DEFAULT_EXPERIMENT, RunChoice
from runlog_integrations.lightning.support import (
    log_params_keep_first,
    scalars,
    state_callback_class,
    upload_checkpoints,
)

__all__ = ["PLRunlogLogger", "RunlogLogger", "attach_autolog", "callbacks_factory"]



class _RunlogLoggerMixin(RunChoice):
    """Everything :class:`RunlogLogger` does; the subclasses bind it to a Lightning distribution."""

    LOGGER_JOIN_CHAR = "-"
    _callback_base: type
    _checkpoint_types: tuple[type, ...]
    _dummy_type: type

    def __init__(
        self,
        experiment_name: str | None = None,
        run_name: str | None = None,
        run: Run | None = None,
        store: str | os.PathLike[str] | None = None,
        tags: Mapping[str, Any] | None = None,
        log_model: bool | Literal["all"] = False,
        prefix: str = "",
        save_dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> None:
        """Log a Lightning fit into a runlog run.

        Args:
            experiment_name: the runlog experiment of a run the logger starts; default
                ``RUNLOG_EXPERIMENT``, else ``"lightning_logs"``. Under ``runlog submit`` the
                submitted run is used instead.
            run_name: the run's display name; a friendly one is made up when ``None``.
            run: log into this existing run instead of starting one; it is left open for its owner.
            store: a store folder or URI; default ``RUNLOG_STORE``, else ``./runlog``.
            tags: tags set on a run the logger starts.
            log_model: ``True`` uploads the best checkpoint when the fit ends, ``"all"`` uploads
                every checkpoint as it is saved, ``False`` none.
            prefix: put in front of every metric name, joined with ``"-"``.
            save_dir: where ``ModelCheckpoint`` puts ``<name>/<run id>/checkpoints``;
                default: the current folder when the logger is made.
            run_id: continue this run of the experiment (it becomes Running again).

        Raises:
            InvalidArgumentError: an argument of the wrong type or value.

        Example::

            trainer = Trainer(logger=RunlogLogger(experiment_name="mnist", log_model=True))
            trainer.fit(model)
        """
        super().__init__()
        check_target(run, experiment_name, argument="experiment_name")
        if log_model not in (True, False, "all"):
            raise InvalidArgumentError("log_model", log_model, "True, False or 'all'")
        if not isinstance(prefix, str):
            raise InvalidArgumentError("prefix", prefix, "a str")
        for argument, value in (("run_name", run_name), ("run_id", run_id)):
            if value is not None and not isinstance(value, str):
                raise InvalidArgumentError(argument, value, "a str or None")
        if store is not None and not isinstance(store, (str, os.PathLike)):
            raise InvalidArgumentError("store", store, "a folder path, a store URI or None")
        if tags is not None and not isinstance(tags, Mapping):
            raise InvalidArgumentError("tags", tags, "a mapping of tag names to values, or None")
        self._experiment_arg = experiment_name
        self._run_name = run_name
        self._store_arg = os.fspath(store) if store is not None else None
        self._tags = dict(tags) if tags else {}
        self._log_model = log_model
        self._prefix = prefix
        self._join = prefix + self.LOGGER_JOIN_CHAR if prefix else ""
        self._save_dir = os.path.abspath(os.fspath(save_dir) if save_dir is not None else os.getcwd())
        self._token = uuid.uuid4().hex  # copies of this logger (ddp_spawn) find its run by this tag
        self._run: Run | None = run
        self._run_id: str | None = run.id if run is not None else None
        self._resume: tuple[str, str | None] | None = (run_id, None) if run_id is not None else None
        self._owns = run is None  # a run passed in (or the submitted one) is its owner's to end
        self._live = run is not None  # the run is Running under this process and may be written to
        self._given: tuple[str, str, str] | None = None  # a copy's (run id, experiment, store) of a run not its own
        self._fast: Run | None = None  # set once rank 0 may write: log_metrics' fast path
        self._pending_fit = False  # a fit is setting up and has not said which run it continues
        self._provisional_used = False  # ``version`` was asked before the run was known
        self._trainer: Any = None  # the fit's trainer, while it sets up (checkpoint folders follow the run)
        self._params: list[Any] = []  # hyperparameters sent before the run was known
        self._copied = False  # pickled or unpickled: another copy may have started the run already
        self._broken = False  # starting the run failed: don't try on every step
        self._guard = WarnOnce()
        self._last_step: int | None = None
        self._last_epoch: Any = None
        self._checkpoint_callback: Any = None
        self._uploaded: dict[str, float] = {}

    # -- identity Lightning asks for ------------------------------------------------------

    @property
    @override
    def name(self) -> str:
        """The runlog experiment's name: the run's, else the one a new run would go to."""
        if self._run is not None:
            return self._run.experiment.name
        if self._resume is not None and self._resume[1]:
            return self._resume[1]
        return self._experiment_arg or experiment_from_environment() or DEFAULT_EXPERIMENT

    @property
    @override
    def version(self) -> str | None:
        """The run id; ``None`` on other ranks before it is known.

        While a fit sets up and may yet continue a checkpoint's run, a provisional name;
        checkpoint folders made from it follow the run once it is known.
        """
        if self._run_id is None and _rank() == 0:
            if not self._pending_fit:
                self._decide()
            if self._run_id is None:
                self._provisional_used = True
                return f"pending-{self._token[:12]}"
        return self._run_id

    @property
    @override
    def save_dir(self) -> str:
        """The folder under which ``<name>/<version>/checkpoints`` go."""
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self.name)

    @property
    @override
    def log_dir(self) -> str:
        """``save_dir/name/version``, where ``ModelCheckpoint`` saves by default."""
        return os.path.join(self.root_dir, str(self.version))

    @property
    def experiment(self) -> Any:
        """The runlog :class:`~runlog_core.Run` on rank 0; a no-op object elsewhere.

        Before a fit has restored its checkpoint (which may name the run to continue), a
        stand-in that starts the run on first use.
        """
        if _rank() > 0:
            return self._dummy_type()
        if self._run is not None:
            return self._run
        if self._resume is None:
            self._pending_fit = True
            return PendingRun(self)
        run = self._decide()
        return run if run is not None else self._dummy_type()

    @property
    def run_id(self) -> str | None:
        return self.version

    # -- what Lightning sends -------------------------------------------------------------------

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace | Any, *args: Any, **kwargs: Any) -> None:
        """Log hyperparameters; nesting becomes ``a.b``, lists and empty values are kept."""
        if self._run is None and self._pending_fit:
            self._params.append(params)  # the checkpoint may yet name the run: log them into that one
            return
        self._log_params(params)

    def _log_params(self, params: Any) -> None:
        try:
            run = self._writable()
            if run is not None:
                log_params_keep_first(run, params)
        except Exception as err:
            self._guard("log hyperparameters", err)

    @override
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log every metric at ``step``; tensors are converted once each, plain numbers pass as they are."""
        run = self._fast  # set only on rank 0 once the run is Running here: no rank check per call
        if run is None:
            if _rank() != 0:
                return
            run = self._writable()
            if run is None:
                return
        try:
            if step == self._last_step and "epoch" in metrics and metrics["epoch"] == self._last_epoch:
                # Lightning re-sends epoch with every call at a step; keep one point per step
                metrics = {key: value for key, value in metrics.items() if key != "epoch"}
            else:
                self._last_step, self._last_epoch = step, metrics.get("epoch")
            for value in metrics.values():
                if type(value) is not float and type(value) is not int:
                    metrics = scalars(metrics)
                    break
            if self._join:
                metrics = {self._join + key: value for key, value in metrics.items()}
            run.log_metrics(metrics, step=step)
        except Exception as err:
            self._guard("log metrics", err)

    @override
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # called once per fit, with the module, after Lightning restored the checkpoint's callback
        # states: the trainer is reachable here; the run is decided at the latest now
        if _rank() != 0:
            return
        trainer = getattr(model, "_trainer", None)
        try:
            if trainer is not None:
                self._attach(trainer)
        except Exception as err:
            self._guard("attach to the trainer", err)
        if self._run is None and getattr(getattr(trainer, "strategy", None), "restore_checkpoint_after_setup", False):
            return  # this strategy restores the checkpoint after this call: the run waits for it
        self._writable()

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if _rank() != 0 or not self._log_model:
            return
        try:
            if self._log_model == "all" or getattr(checkpoint_callback, "save_top_k", None) == -1:
                run = self._writable()
                if run is not None:
                    upload_checkpoints(run, checkpoint_callback, False, self._uploaded)
            else:
                self._checkpoint_callback = checkpoint_callback
        except Exception as err:
            self._guard("upload checkpoints", err)

    @override
    def save(self) -> None:
        pass  # the store writes in the background; Lightning calls this after every log_metrics

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End a run the logger started: ``success`` Completed, ``failed`` Failed (Canceled on Ctrl+C), else Canceled."""
        if self._run is None and self._params:
            self._decide()  # hyperparameters waited for a checkpoint that never came
        if self._run is None or not self._live:
            return
        try:
            if self._checkpoint_callback is not None and status == "success":
                upload_checkpoints(self._run, self._checkpoint_callback, True, self._uploaded)
        except Exception as err:
            self._guard("upload the best checkpoint", err)
        try:
            if not self._owns:
                self._run.flush()
                return
            self._live, self._fast = False, None
            error = sys.exc_info()[1]
            if status in ("success", "finished"):
                self._run.complete()
            elif status == "failed" and isinstance(error, KeyboardInterrupt):
                self._run.cancel()  # Ctrl+C: the user stopped it, as runlog's own `with` block records
            elif status == "failed":
                self._run.fail(error or "the fit failed")
            else:
                self._run.cancel()
        except Exception as err:
            self._guard("end the run", err)


if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger as _LoggerBase
else:
    _LoggerBase = FLAVOURS[0][0]


class RunlogLogger(_RunlogLoggerMixin, _LoggerBase):
    """A Lightning ``Logger`` that records the fit in a runlog run.

    Subclasses ``lightning.pytorch.loggers.Logger`` (``pytorch_lightning``'s when only that
    distribution is installed). See :meth:`_RunlogLoggerMixin.__init__` for the arguments.

    Example::

        from lightning.pytorch import Trainer
        from runlog_integrations.lightning import RunlogLogger

        trainer = Trainer(logger=RunlogLogger(experiment_name="mnist"))
        trainer.fit(model)
    """

    _callback_base = FLAVOURS[0][1]
    _checkpoint_types = (FLAVOURS[0][3],)
    _dummy_type = FLAVOURS[0][4]


if BOTH:
    if TYPE_CHECKING:
        from pytorch_lightning.loggers import Logger as _PLLoggerBase
    else:
        _PLLoggerBase = FLAVOURS[1][0]

    class PLRunlogLogger(_RunlogLoggerMixin, _PLLoggerBase):
        """:class:`RunlogLogger` for the ``pytorch_lightning`` distribution (``import pytorch_lightning``)."""

        _callback_base = FLAVOURS[1][1]
        _checkpoint_types = (FLAVOURS[1][3],)
        _dummy_type = FLAVOURS[1][4]
else:
    PLRunlogLogger = RunlogLogger  # type: ignore[misc, assignment]

# Trainer class -> the logger class of its distribution
_LOGGER_FOR: dict[Any, type[_RunlogLoggerMixin]] = {FLAVOURS[0][2]: RunlogLogger}
if len(FLAVOURS) > 1:
    _LOGGER_FOR[FLAVOURS[1][2]] = PLRunlogLogger


def callbacks_factory() -> list[Any]:
    """Lightning's ``callbacks_factory`` entry point: the state callback for every ``Trainer``.

    With it, a ``Trainer`` built by hand restores the run id from ``fit(ckpt_path=...)``
    through Lightning's own callback restore. It does nothing unless a ``RunlogLogger`` is
    among the trainer's loggers.
    """
    return [state_callback_class(RunlogLogger._callback_base)()]


def pl_callbacks_factory() -> list[Any]:
    """:func:`callbacks_factory` for ``pytorch_lightning``'s ``Trainer``."""
    return [state_callback_class(PLRunlogLogger._callback_base)()]


# -- autolog: the runlog_autolog hook of the lightning entry point calls attach_autolog ---------


def attach_autolog(config: dict[str, Any]) -> None:
    """Give every ``Trainer`` built from now on a ``RunlogLogger`` (``logger=False`` is kept), or stop.

    Args:
        config: ``autolog()``'s: ``frameworks``, ``experiment`` (default ``RUNLOG_EXPERIMENT``,
            else ``"lightning_logs"``; the submitted run under ``runlog submit``) and ``disable``
            (put ``Trainer.__init__`` back, the very same function).
    """
    _lightning_autolog.attach(config, _LOGGER_FOR)

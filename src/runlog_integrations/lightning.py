"""PyTorch Lightning: a ``Logger`` that records a fit into a runlog run.

``Trainer(logger=RunlogLogger())`` is all it takes: hyperparameters, every metric at the step
Lightning reports (with ``epoch`` beside it), checkpoints on request, and the run's end status.

Both distributions are supported: :class:`RunlogLogger` subclasses ``lightning.pytorch``'s
``Logger`` (or ``pytorch_lightning``'s when only that one is installed), and
:class:`PLRunlogLogger` subclasses ``pytorch_lightning``'s when that one is installed too.
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, Literal

try:
    import torch
    from typing_extensions import override
except ImportError as err:  # pragma: no cover - torch comes with Lightning
    raise ImportError(
        "runlog_integrations.lightning needs PyTorch Lightning: pip install 'runlog[lightning]'"
    ) from err

# (Logger base, Callback base, Trainer class, Checkpoint class, dummy experiment), lightning first
_FLAVOURS: list[tuple[Any, ...]] = []
try:
    import lightning.pytorch as _lpt
    from lightning.fabric.loggers.logger import _DummyExperiment as _LDummy
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    _FLAVOURS.append((_lpt.loggers.Logger, _lpt.Callback, _lpt.Trainer, _lpt.callbacks.Checkpoint, _LDummy))
except ImportError:
    _lpt = None
try:
    import pytorch_lightning as _ptl
    from lightning_fabric.loggers.logger import _DummyExperiment as _PDummy
    from pytorch_lightning.utilities.rank_zero import rank_zero_only  # type: ignore[no-redef]  # the same object

    _FLAVOURS.append((_ptl.loggers.Logger, _ptl.Callback, _ptl.Trainer, _ptl.callbacks.Checkpoint, _PDummy))
except ImportError:
    _ptl = None
if not _FLAVOURS:
    raise ImportError(
        "runlog_integrations.lightning needs PyTorch Lightning: pip install 'runlog[lightning]'"
    )

from runlog_core import Experiment, Run  # noqa: E402
from runlog_core._guard import WarnOnce  # noqa: E402
from runlog_core.exceptions import ParamConflictError, RunNotFoundError  # noqa: E402

__all__ = ["PLRunlogLogger", "RunlogLogger"]

_STATE_KEY = "RunlogLogger"
_TOKEN_TAG = "runlog.lightning.logger"
_TRAINERS = tuple(flavour[2] for flavour in _FLAVOURS)
def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Convert tensor values to Python numbers, with one device sync per device."""
    out: dict[str, Any] = {}
    tensors: dict[Any, list[tuple[str, torch.Tensor]]] = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            tensors.setdefault(value.device, []).append((key, value))
        elif isinstance(value, torch.Tensor):
            continue  # not a scalar: Lightning never sends one; skip rather than fail the step
        else:
            out[key] = value
    for group in tensors.values():
        if len(group) == 1:
            key, tensor = group[0]
            out[key] = tensor.detach().item()
        else:
            stacked = torch.stack([t.detach().reshape(()).to(torch.float64) for _, t in group])
            for (key, tensor), number in zip(group, stacked.tolist()):
                out[key] = bool(number) if tensor.dtype is torch.bool else (
                    int(number) if not tensor.is_floating_point() else number)
    return {key: out[key] for key in metrics if key in out}


class _RunlogLoggerMixin:
    """Everything :class:`RunlogLogger` does; the subclasses bind it to a Lightning distribution."""

    LOGGER_JOIN_CHAR = "-"
    _trainer_types: tuple[type, ...] = _TRAINERS
    _callback_base: type
    _checkpoint_types: tuple[type, ...]
    _dummy_type: type

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
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
            experiment_name: the runlog experiment the run belongs to (the logger's ``name``).
            run_name: the run's display name; a friendly one is made up when ``None``.
            run: log into this existing run instead of starting one; it is left open for its owner.
            store: a store folder or URI; default ``RUNLOG_STORE``, else ``./runlog``.
            tags: tags set on a run the logger starts.
            log_model: ``True`` uploads the best checkpoint when the fit ends, ``"all"`` uploads
                every checkpoint as it is saved, ``False`` none.
            prefix: put in front of every metric name, joined with ``"-"``.
            save_dir: where ``ModelCheckpoint`` puts ``<experiment_name>/<run id>/checkpoints``;
                default: the current folder when the logger is made.
            run_id: continue this run of ``experiment_name`` (it becomes Running again).

        Example::

            trainer = Trainer(logger=RunlogLogger(experiment_name="mnist", log_model=True))
            trainer.fit(model)
        """
        super().__init__()
        if run is not None and not isinstance(run, Run):
            raise TypeError(f"run must be a runlog Run or None, got {type(run).__name__}: {run!r}")
        if log_model not in (True, False, "all"):
            raise ValueError(f"log_model must be True, False or 'all', got {log_model!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}: {prefix!r}")
        self._experiment_name = run.experiment.name if run is not None else experiment_name
        self._run_name = run_name
        if run is not None:
            self._store_arg: str | None = str(run._store.uri)
        else:
            self._store_arg = store if store is None or isinstance(store, str) else os.fspath(store)
        self._tags = dict(tags) if tags else {}
        self._log_model = log_model
        self._prefix = prefix
        self._save_dir = os.path.abspath(os.fspath(save_dir) if save_dir is not None else os.getcwd())
        self._token = uuid.uuid4().hex
        self._run: Run | None = run
        self._run_id: str | None = run.id if run is not None else run_id
        self._owns = run is None  # a run passed in is its owner's to end
        self._live = run is not None  # the run is Running under this process and may be written to
        self._copied = False  # pickled or unpickled: another copy may have started the run already
        self._broken = False  # starting the run failed: don't try on every step
        self._guard = WarnOnce()
        self._last_epoch: tuple[Any, Any] | None = None
        self._checkpoint_callback: Any = None
        self._uploaded: dict[str, float] = {}

    # -- identity Lightning asks for ------------------------------------------------------

    @property
    @override
    def name(self) -> str:
        """The runlog experiment's name."""
        return self._experiment_name

    @property
    @override
    def version(self) -> str | None:
        """The run id (starting the run on rank 0 if needed); ``None`` on other ranks before it is known."""
        if self._run_id is None and rank_zero_only.rank == 0:
            self._ensure_run()
        return self._run_id

    @property
    @override
    def save_dir(self) -> str:
        """The folder under which ``<name>/<version>/checkpoints`` go."""
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._experiment_name)

    @property
    @override
    def log_dir(self) -> str:
        """``save_dir/name/version``, where ``ModelCheckpoint`` saves by default."""
        return os.path.join(self.root_dir, str(self.version))

    @property
    def experiment(self) -> Run | Any:
        """The runlog :class:`~runlog_core.Run` on rank 0 (started on first use); a no-op object elsewhere."""
        if rank_zero_only.rank > 0:
            return self._dummy_type()
        run = self._ensure_run()
        return run if run is not None else self._dummy_type()

    @property
    def run_id(self) -> str | None:
        return self.version

    # -- the run --------------------------------------------------------------------------

    def _ensure_run(self) -> Run | None:
        if self._run is not None:
            return self._run
        if self._broken:
            return None
        try:
            trainer, ckpt_path = self._find_trainer()
            if trainer is not None:
                self._attach(trainer)
            experiment = Experiment(self._experiment_name, store=self._store_arg)
            run_id, resume = self._run_id, True
            if run_id is None and ckpt_path is not None:
                run_id = _run_id_in_checkpoint(ckpt_path)
            if run_id is None and self._copied:
                # another copy of this logger (a ddp_spawn worker, the process that spawned it)
                # may have started the run: find it by the logger's token rather than start a second
                found = experiment.get_runs(tags={_TOKEN_TAG: self._token})
                run_id, resume = (found[0].id, False) if found else (None, False)
            if run_id is not None:
                try:
                    if self._owns and resume:
                        self._run = experiment.start_logging(run_id=run_id, outputs=None)
                        self._run.set_tags({_TOKEN_TAG: self._token})  # copies of this logger find it
                        self._live = True
                    else:  # opened, not taken over: a write makes it Running again (owned) or just writes
                        self._run = Run(experiment, run_id)
                        self._live = not self._owns
                except RunNotFoundError as err:
                    self._guard("continue the run from the checkpoint or run_id", err)
            if self._run is None:
                self._run = experiment.start_logging(name=self._run_name, outputs=None,
                                                     tags={**self._tags, _TOKEN_TAG: self._token})
                self._live = True
            self._run_id = self._run.id
        except Exception as err:
            self._broken = True
            self._guard("start the run", err)
            return None
        return self._run

    def _writable(self) -> Run | None:
        """The run, Running again if an earlier ``finalize`` ended it (fit, then test)."""
        run = self._ensure_run()
        if run is None or self._live:
            return run
        try:
            self._run = run.experiment.start_logging(run_id=run.id, outputs=None)
            self._live = True
            return self._run
        except Exception as err:
            self._broken = True
            self._guard("reopen the run", err)
            return None

    def _find_trainer(self) -> tuple[Any, Any]:
        """The Trainer running us, and the checkpoint its ``fit`` resumes from, if any.

        Lightning touches ``logger.experiment`` in ``_call_setup_hook``, before it stores the
        checkpoint path on the Trainer, so the path is read from ``Trainer._run``'s frame.
        Only done once, when the run starts.
        """
        trainer = None
        frame = sys._getframe(1)
        for _ in range(40):
            if frame is None:
                break
            local = frame.f_locals
            for key in ("trainer", "self"):
                candidate = local.get(key)
                if isinstance(candidate, self._trainer_types) and any(
                        logger is self for logger in getattr(candidate, "loggers", ())):
                    trainer = candidate
                    if key == "self" and frame.f_code.co_name == "_run":
                        fitting = str(getattr(candidate.state, "fn", "")) in ("fit", "TrainerFn.FITTING")
                        return trainer, local.get("ckpt_path") if fitting else None
            frame = frame.f_back
        return trainer, None

    def _attach(self, trainer: Any) -> None:
        """Add the callback that saves the run id in checkpoints (once per trainer)."""
        callbacks = trainer.callbacks
        if any(getattr(cb, "_runlog_logger", None) is self for cb in callbacks):
            return
        callback = _state_callback(self._callback_base)(self)
        position = next((i for i, cb in enumerate(callbacks) if isinstance(cb, self._checkpoint_types)),
                        len(callbacks))
        callbacks.insert(position, callback)

    def _load_state(self, state: Mapping[str, Any]) -> None:
        run_id = state.get("run_id")
        if run_id and self._run_id is not None and run_id != self._run_id:
            warnings.warn(f"runlog: the checkpoint belongs to run {run_id}; this fit logs into run "
                          f"{self._run_id}", RuntimeWarning, stacklevel=2)

    # -- what Lightning sends -------------------------------------------------------------------

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace | Any, *args: Any, **kwargs: Any) -> None:
        """Log hyperparameters; nesting becomes ``a.b``, lists and empty values are kept."""
        try:
            run = self._writable()
            if run is None:
                return
            params = _plain_config(params)
            try:
                run.log_params(params)
            except ParamConflictError:
                # a resumed fit may change a value (more epochs): keep the first, note the new one
                from runlog_core._values import flatten_params

                drift = {}
                for key, value in flatten_params(params).items():
                    try:
                        run.log_params({key: value})
                    except ParamConflictError as err:
                        drift[f"param_drift.{key}"] = repr(err.new)
                run.set_tags(drift)
                warnings.warn(f"runlog: params changed since the run started, kept the first values: "
                              f"{sorted(k[len('param_drift.'):] for k in drift)}", RuntimeWarning, stacklevel=2)
        except Exception as err:
            self._guard("log hyperparameters", err)

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log every metric at ``step``; tensors are converted once each."""
        try:
            run = self._run if self._live else self._writable()
            if run is None:
                return
            epoch = metrics.get("epoch")
            if epoch is not None:
                # Lightning re-sends epoch with every call at a step; keep one point per step
                if self._last_epoch == (step, epoch):
                    metrics = {k: v for k, v in metrics.items() if k != "epoch"}
                else:
                    self._last_epoch = (step, epoch)
            for value in metrics.values():
                if type(value) is not float and type(value) is not int:
                    metrics = _scalars(metrics)
                    break
            if self._prefix:
                join = self._prefix + self.LOGGER_JOIN_CHAR
                metrics = {join + key: value for key, value in metrics.items()}
            run.log_metrics(metrics, step=step)
        except Exception as err:
            self._guard("log metrics", err)

    @override
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # called once per fit with the module: the place to find the Trainer when the run
        # was started before fit (logger.experiment touched early)
        try:
            trainer = getattr(model, "_trainer", None)
            if trainer is not None and rank_zero_only.rank == 0:
                self._attach(trainer)
        except Exception as err:
            self._guard("attach to the trainer", err)

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if rank_zero_only.rank != 0 or not self._log_model:
            return
        try:
            if self._log_model == "all" or getattr(checkpoint_callback, "save_top_k", None) == -1:
                self._upload_checkpoints(checkpoint_callback, best_only=False)
            else:
                self._checkpoint_callback = checkpoint_callback
        except Exception as err:
            self._guard("upload checkpoints", err)

    def _upload_checkpoints(self, checkpoint_callback: Any, best_only: bool) -> None:
        run = self._writable()
        if run is None:
            return
        best = getattr(checkpoint_callback, "best_model_path", "") or ""
        if best_only:
            paths = {best: getattr(checkpoint_callback, "best_model_score", None)} if best else {}
        else:
            paths = {}
            for path, score in getattr(checkpoint_callback, "best_k_models", {}).items():
                paths[path] = score
            last = getattr(checkpoint_callback, "last_model_path", "")
            if last:
                paths.setdefault(last, getattr(checkpoint_callback, "current_score", None))
            if best:
                paths.setdefault(best, getattr(checkpoint_callback, "best_model_score", None))
        for path, score in paths.items():
            if not path or not os.path.isfile(path):
                continue
            mtime = os.path.getmtime(path)
            if self._uploaded.get(path) == mtime:
                continue
            name = f"checkpoints/{os.path.basename(path)}"
            run.upload_file(name, path)
            self._uploaded[path] = mtime
            number = _to_number(score)
            run.log_row("checkpoints", file=name, path=os.path.abspath(path),
                        score=number, best=path == best)
        monitor = getattr(checkpoint_callback, "monitor", None)
        tags = {"checkpoint.best_model_path": os.path.abspath(best) if best else ""}
        if monitor:
            tags["checkpoint.monitor"] = monitor
            tags["checkpoint.mode"] = getattr(checkpoint_callback, "mode", "")
        best_score = _to_number(getattr(checkpoint_callback, "best_model_score", None))
        if best_score is not None:
            tags["checkpoint.best_model_score"] = repr(best_score)
        run.set_tags(tags)

    @override
    def save(self) -> None:
        pass  # the store writes in the background; Lightning calls this after every log_metrics

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End a run the logger started: ``success`` Completed, ``failed`` Failed (Canceled on Ctrl+C), else Canceled."""
        if self._run is None or not self._live:
            return
        try:
            if self._checkpoint_callback is not None and status == "success":
                self._upload_checkpoints(self._checkpoint_callback, best_only=True)
        except Exception as err:
            self._guard("upload the best checkpoint", err)
        try:
            if not self._owns:
                self._run.flush()
                return
            self._live = False
            if status in ("success", "finished"):
                self._run.complete()
            elif status == "failed" and isinstance(sys.exc_info()[1], KeyboardInterrupt):
                self._run.cancel()  # Ctrl+C: the user stopped it, as runlog's own `with` block records
            elif status == "failed":
                self._run.fail(sys.exc_info()[1] or "the fit failed")
            else:
                self._run.cancel()
        except Exception as err:
            self._guard("end the run", err)

    # -- pickling (ddp_spawn, deepcopy) -----------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # a Run belongs to its process's writer: the copy reopens it by id, or finds it by token
        state["_run"] = None
        state["_live"] = False
        state["_checkpoint_callback"] = None
        state["_copied"] = True
        self._copied = True  # the copy may start the run: look for it by token before starting another
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _plain_config(value: Any) -> Any:
    """Namespaces and OmegaConf configs, at any depth, as dicts and lists.

    The core flattens dicts, Namespaces and dataclasses, but reads an OmegaConf ``DictConfig``
    as a string (it looks for ``to_container`` on the config's class, where OmegaConf has none).
    """
    module = type(value).__module__
    if module.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Namespace):
        value = vars(value)
    if isinstance(value, dict):
        return {key: _plain_config(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and any(
            isinstance(item, (dict, Namespace)) or type(item).__module__.startswith("omegaconf") for item in value):
        return [_plain_config(item) for item in value]
    return value


def _to_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value.item() if isinstance(value, torch.Tensor) else value)
    except (TypeError, ValueError):
        return None


def _run_id_in_checkpoint(path: Any) -> str | None:
    """The run id saved by the logger's callback in a Lightning checkpoint, if any."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return None
    state = checkpoint.get("callbacks", {}).get(_STATE_KEY) if isinstance(checkpoint, dict) else None
    run_id = state.get("run_id") if isinstance(state, dict) else None
    return run_id if isinstance(run_id, str) else None


_CALLBACK_CLASSES: dict[type, type] = {}


def _state_callback(base: type) -> type:
    """A callback (of the right distribution) that saves the logger's run id in checkpoints."""
    cls = _CALLBACK_CLASSES.get(base)
    if cls is not None:
        return cls

    class _RunlogStateCallback(base):  # type: ignore[misc, valid-type]
        def __init__(self, logger: _RunlogLoggerMixin) -> None:
            self._runlog_logger = logger

        @property
        def state_key(self) -> str:
            return _STATE_KEY

        def state_dict(self) -> dict[str, Any]:
            logger = self._runlog_logger
            return {"run_id": logger._run_id, "experiment": logger._experiment_name}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self._runlog_logger._load_state(state_dict)

    _CALLBACK_CLASSES[base] = _RunlogStateCallback
    return _RunlogStateCallback


_logger_base, _callback_base, _trainer_cls, _checkpoint_cls, _dummy = _FLAVOURS[0]


class RunlogLogger(_RunlogLoggerMixin, _logger_base):  # type: ignore[misc, valid-type]
    """A Lightning ``Logger`` that records the fit in a runlog run.

    Subclasses ``lightning.pytorch.loggers.Logger`` (``pytorch_lightning``'s when only that
    distribution is installed). See :meth:`_RunlogLoggerMixin.__init__` for the arguments.

    Example::

        from lightning.pytorch import Trainer
        from runlog_integrations.lightning import RunlogLogger

        trainer = Trainer(logger=RunlogLogger(experiment_name="mnist"))
        trainer.fit(model)
    """

    _callback_base = _callback_base
    _checkpoint_types = (_checkpoint_cls,)
    _dummy_type = _dummy


if _ptl is not None and _lpt is not None:
    _pl_logger, _pl_callback, _pl_trainer, _pl_checkpoint, _pl_dummy = _FLAVOURS[1]

    class PLRunlogLogger(_RunlogLoggerMixin, _pl_logger):  # type: ignore[misc, valid-type]
        """:class:`RunlogLogger` for the ``pytorch_lightning`` distribution (``import pytorch_lightning``)."""

        _callback_base = _pl_callback
        _checkpoint_types = (_pl_checkpoint,)
        _dummy_type = _pl_dummy
else:
    PLRunlogLogger = RunlogLogger  # type: ignore[misc]

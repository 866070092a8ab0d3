"""Helpers of :mod:`runlog_integrations.lightning`: value conversion, checkpoint uploads, the state callback.

Kept apart so that the logger module holds only what Lightning calls. Nothing here imports
Lightning itself: the state callback class is made for whichever distribution's ``Callback`` it is given.
"""

from __future__ import annotations

import os
import warnings
import weakref
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runlog_core import Run
from runlog_core.exceptions import ParamConflictError

if TYPE_CHECKING:
    import torch

__all__ = ["STATE_KEY", "attach_state_callback", "log_params_keep_first", "plain_config", "scalars", "state_callback_class",
           "to_number", "upload_checkpoints"]

# the key of the logger's state in ``checkpoint["callbacks"]``; checkpoints written so far use it
STATE_KEY = "RunlogLogger"


def scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Tensor values as Python numbers, with one device sync per device; non-scalar tensors are skipped."""
    import torch  # the integration imports Lightning, and so torch, before any call

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


def plain_config(value: Any) -> Any:
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
        return {key: plain_config(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and any(
            isinstance(item, (dict, Namespace)) or type(item).__module__.startswith("omegaconf") for item in value):
        return [plain_config(item) for item in value]
    return value


def log_params_keep_first(run: Run, params: Any) -> None:
    """Log hyperparameters; a value changed since the run started (a resumed fit) keeps the first one.

    The new value is noted as a ``param_drift.<name>`` tag, with one warning.
    """
    params = plain_config(params)
    try:
        run.log_params(params)
        return
    except ParamConflictError:
        pass
    from runlog_core.integration import flatten_params

    drift = {}
    for key, value in flatten_params(params).items():
        try:
            run.log_params({key: value})
        except ParamConflictError as err:
            drift[f"param_drift.{key}"] = repr(err.new)
    run.set_tags(drift)
    warnings.warn(f"runlog: params changed since the run started, kept the first values: "
                  f"{sorted(k[len('param_drift.'):] for k in drift)}", RuntimeWarning, stacklevel=3)


def to_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None


def upload_checkpoints(run: Run, checkpoint_callback: Any, best_only: bool, uploaded: dict[str, float]) -> None:
    """Upload the best (or every kept) checkpoint file once each, with a ``checkpoints`` row and tags."""
    best = getattr(checkpoint_callback, "best_model_path", "") or ""
    paths: dict[str, Any] = {}
    if best_only:
        if best:
            paths[best] = getattr(checkpoint_callback, "best_model_score", None)
    else:
        paths.update(getattr(checkpoint_callback, "best_k_models", {}))
        last = getattr(checkpoint_callback, "last_model_path", "")
        if last:
            paths.setdefault(last, getattr(checkpoint_callback, "current_score", None))
        if best:
            paths.setdefault(best, getattr(checkpoint_callback, "best_model_score", None))
    for path, score in paths.items():
        if not path or not os.path.isfile(path):
            continue
        mtime = os.path.getmtime(path)
        if uploaded.get(path) == mtime:
            continue
        name = f"checkpoints/{os.path.basename(path)}"
        run.upload_file(name, path)
        uploaded[path] = mtime
        run.log_row("checkpoints", file=name, path=os.path.abspath(path), score=to_number(score), best=path == best)
    monitor = getattr(checkpoint_callback, "monitor", None)
    tags = {"checkpoint.best_model_path": os.path.abspath(best) if best else ""}
    if monitor:
        tags["checkpoint.monitor"] = monitor
        tags["checkpoint.mode"] = getattr(checkpoint_callback, "mode", "")
    best_score = to_number(getattr(checkpoint_callback, "best_model_score", None))
    if best_score is not None:
        tags["checkpoint.best_model_score"] = repr(best_score)
    run.set_tags(tags)


def _runlog_loggers(trainer: Any) -> list[Any]:
    return [logger for logger in getattr(trainer, "loggers", ()) if hasattr(logger, "_runlog_restore")]


_CALLBACK_CLASSES: dict[type, type] = {}


def state_callback_class(base: type) -> type:
    """The state callback for one distribution's ``Callback`` class (made once per base).

    It carries the run id of the trainer's ``RunlogLogger`` in ``checkpoint["callbacks"]``:
    ``state_dict`` saves it, and when ``fit(ckpt_path=...)`` restores callback states,
    ``load_state_dict`` hands it to the logger, which continues that run. It finds the logger
    through the trainer it is set up with, so one instance per trainer serves every logger.
    """
    cls = _CALLBACK_CLASSES.get(base)
    if cls is not None:
        return cls

    class _RunlogStateCallback(base):
        def __init__(self, trainer: Any = None) -> None:
            self._trainer: Any = weakref.ref(trainer) if trainer is not None else None

        @property
        def state_key(self) -> str:
            return STATE_KEY

        def _loggers(self) -> list[Any]:
            trainer = self._trainer() if self._trainer is not None else None
            return _runlog_loggers(trainer)

        def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
            self._trainer = weakref.ref(trainer)
            for logger in self._loggers():
                logger._runlog_bind(trainer)

        def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
            self._trainer = weakref.ref(trainer)  # called just before load_state_dict

        def state_dict(self) -> dict[str, Any]:
            for logger in self._loggers():
                state = logger._runlog_state()
                if state:
                    return state
            return {}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            for logger in self._loggers():
                logger._runlog_restore(state_dict)

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "_trainer": None}  # a weak reference does not pickle

    _CALLBACK_CLASSES[base] = _RunlogStateCallback
    return _RunlogStateCallback


def attach_state_callback(trainer: Any, callback_class: type, checkpoint_types: tuple[type, ...]) -> bool:
    """Put a state callback in ``trainer.callbacks`` before its checkpoint callbacks, unless one is there.

    Returns:
        Whether one was added now (so a restore that already happened went past it).
    """
    callbacks = trainer.callbacks
    if any(getattr(cb, "state_key", None) == STATE_KEY for cb in callbacks):
        return False
    position = next((i for i, cb in enumerate(callbacks) if isinstance(cb, checkpoint_types)), len(callbacks))
    callbacks.insert(position, callback_class(trainer))
    return True

"""``autolog()`` for Ray Tune: every ``Tuner`` built while it is on gets a :class:`RunlogLoggerCallback`.

``tune.Tuner.__init__`` is patched to add the callback to its ``RunConfig`` (one is made when none
was given) unless one is there already; ``autolog(disable=True)`` puts the original back.
``Tuner.restore(...)`` needs nothing: the callback travels in the Tuner's saved ``RunConfig``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from ray import tune

from runlog_core.integration import Patches, selected, warn_once
from runlog_integrations.ray.callback import RunlogLoggerCallback

__all__ = ["attach_autolog"]


class _Autolog:
    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None


_state = _Autolog()


def _with_callback(run_config: Any) -> Any:
    """``run_config`` (a ``tune.RunConfig`` or None) with a RunlogLoggerCallback among its callbacks."""
    callbacks = list(run_config.callbacks or []) if run_config is not None else []
    if any(isinstance(callback, RunlogLoggerCallback) for callback in callbacks):
        return run_config
    # a copy: the user's RunConfig, maybe shared by several Tuners, is left as it was
    run_config = copy.copy(run_config) if run_config is not None else tune.RunConfig()
    run_config.callbacks = [*callbacks, RunlogLoggerCallback(experiment=_state.experiment)]
    return run_config


def _wrap_init(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if _state.patches and kwargs.get("_tuner_internal") is None:  # Tuner.restore builds no new RunConfig
            try:
                kwargs["run_config"] = _with_callback(kwargs.get("run_config"))
            except Exception as err:
                warn_once("add the runlog callback to the Tuner", err)
        original(self, *args, **kwargs)

    return __init__


def attach_autolog(config: dict[str, Any]) -> None:
    """Patch ``tune.Tuner.__init__``, or put the very same original back.

    Called by runlog's ``runlog`` entry-point plugin when ``autolog()`` selects Ray.

    Args:
        config: ``autolog()``'s settings: ``frameworks`` (``None`` for all), ``experiment``
            (``None``: the submitted run, else ``RUNLOG_EXPERIMENT``, else ``"ray_tune"``)
            and ``disable``.
    """
    if not selected(config, "ray"):
        return
    if config.get("disable"):
        _state.patches.restore()
        return
    _state.experiment = config.get("experiment")
    _state.patches.patch(tune.Tuner, "__init__", _wrap_init)

"""``autolog()`` for Optuna: studies created while it is on get a :class:`RunlogCallback`.

``Study.__init__`` (what ``create_study`` and ``load_study`` build) notes each study made while
autolog is on; ``Study.optimize`` of such a study adds one callback shared by all of them (so a
study optimised twice continues its parent) and tracks the objective (``track_in_runlog``), unless
the call already has a ``RunlogCallback`` of the user's. ``autolog(disable=True)`` puts both
methods back, the very same functions.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any

import optuna

from runlog_core.integration import Patches, selected, warn_once
from runlog_integrations.optuna.callback import RunlogCallback

__all__ = ["attach_autolog"]


class _Autolog:
    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None
        self.callback: RunlogCallback | None = None
        self.studies: weakref.WeakSet[Any] = weakref.WeakSet()


_state = _Autolog()


def _wrap_init(original: Any) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if _state.patches:
            try:
                _state.studies.add(self)
            except TypeError as err:  # a study that cannot be referenced weakly: not recorded
                warn_once("note a study for autolog", err)

    return __init__


def _wrap_optimize(original: Any) -> Any:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def optimize(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.patches or self not in _state.studies:
            return original(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
            callbacks = list(bound.arguments.get("callbacks") or [])
            func = bound.arguments.get("func")
            if not any(isinstance(item, RunlogCallback) for item in callbacks):
                if _state.callback is None:
                    _state.callback = RunlogCallback(experiment=_state.experiment)
                callback = _state.callback
                bound.arguments["callbacks"] = [*callbacks, callback]
                if callable(func) and getattr(func, "__runlog_tracked__", None) is None:
                    bound.arguments["func"] = callback.track_in_runlog()(func)
                args, kwargs = bound.args[1:], bound.kwargs
        except Exception as err:  # never stop the study for runlog's sake
            warn_once("attach runlog to study.optimize", err)
        return original(self, *args, **kwargs)

    return optimize


def attach_autolog(config: dict[str, Any]) -> None:
    """Patch ``optuna.Study`` so studies created from now on are recorded, or put it back.

    Called by runlog's ``runlog`` entry-point plugin when ``autolog()`` selects Optuna.

    Args:
        config: ``autolog()``'s settings: ``frameworks`` (``None`` for all), ``experiment`` (where the
            studies' parents go: the submitted run under ``runlog submit``, else this, else
            ``RUNLOG_EXPERIMENT``, else ``"optuna"``) and ``disable``.
    """
    if not selected(config, "optuna"):
        return
    if config.get("disable"):
        _state.patches.restore()
        _state.studies = weakref.WeakSet()
        return
    experiment = config.get("experiment")
    if experiment != _state.experiment:
        _state.experiment, _state.callback = experiment, None
    study_class = optuna.study.Study
    _state.patches.patch(study_class, "__init__", _wrap_init)
    _state.patches.patch(study_class, "optimize", _wrap_optimize)

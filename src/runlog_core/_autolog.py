"""``autolog()``: attach every installed framework integration without changing the script.

Each integration implements the ``runlog_autolog(config)`` hook and patches its
framework's entry points (``xgboost.train``, scikit-learn's ``fit`` methods, Lightning's
``Trainer.__init__``, Keras ``Model.fit``); ``disable=True`` puts every original back,
the very same objects. Nothing here imports a framework at import time: the built-in
integrations are imported, and registered as plugins, when ``autolog()`` is called.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ._guard import WarnOnce
from .exceptions import InvalidArgumentError

__all__ = ["FRAMEWORKS", "AutologTarget", "Patches", "autolog", "nested", "warn_once"]

# framework name -> (module that must be importable, runlog module with its integration)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "sklearn": ("sklearn", "runlog_integrations.sklearn"),
    "xgboost": ("xgboost", "runlog_integrations.xgboost"),
    "lightning": ("lightning", "runlog_integrations.lightning"),
    "keras": ("keras", "runlog_integrations.keras"),
}
_ALIASES = {"scikit-learn": "sklearn", "xgb": "xgboost", "pytorch_lightning": "lightning",
            "lightning.pytorch": "lightning", "tf.keras": "keras"}

_lock = threading.RLock()

# True while runlog is already recording a fit in this context: patched functions reached from
# inside it (a search's candidate fits, XGBClassifier.fit -> xgb.train) pass straight through
nested: contextvars.ContextVar[bool] = contextvars.ContextVar("runlog_autolog_nested", default=False)

# a failure of runlog's own code inside a patched function: one warning per kind
warn_once = WarnOnce()


class Patches:
    """Patched attributes of one integration, restorable exactly.

    ``patch(owner, name, make)`` replaces ``owner.name`` by ``make(original)``; ``restore()``
    puts back what ``owner.__dict__`` held (or deletes the attribute when it was inherited),
    so ``owner.name is original`` holds again.
    """

    _MISSING = object()

    def __init__(self) -> None:
        self._saved: dict[tuple[int, str], tuple[Any, str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._saved)

    def patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        key = (id(owner), name)
        if key in self._saved:
            return
        raw = owner.__dict__.get(name, self._MISSING) if hasattr(owner, "__dict__") else self._MISSING
        original = getattr(owner, name)
        replacement = make(original)
        replacement.__runlog_original__ = original
        self._saved[key] = (owner, name, raw)
        setattr(owner, name, replacement)

    def original(self, owner: Any, name: str) -> Any:
        owner_, name_, raw = self._saved[(id(owner), name)]
        return getattr(owner, name).__runlog_original__

    def restore(self) -> None:
        for owner, name, raw in reversed(list(self._saved.values())):
            if raw is self._MISSING:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, raw)
        self._saved.clear()


def _frameworks(frameworks: str | Iterable[str] | None) -> set[str] | None:
    if frameworks is None:
        return None
    names = [frameworks] if isinstance(frameworks, str) else frameworks
    try:
        names = list(names)
    except TypeError:
        raise InvalidArgumentError("frameworks", frameworks,
                                   f"None or a list of names from {sorted(FRAMEWORKS)}") from None
    chosen = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError("frameworks", frameworks, f"names from {sorted(FRAMEWORKS)}")
        key = _ALIASES.get(name.lower(), name.lower())
        if key not in FRAMEWORKS:
            raise InvalidArgumentError("frameworks", name, f"one of {sorted(FRAMEWORKS)}")
        chosen.add(key)
    return chosen


def _register_builtins(selected: set[str] | None, import_missing: bool) -> None:
    from ._plugins import get_plugin_manager

    pm = get_plugin_manager()
    for name, (framework, module_name) in FRAMEWORKS.items():
        if selected is not None and name not in selected:
            continue
        plugin_name = f"runlog.autolog.{name}"
        if pm.get_plugin(plugin_name) is not None or pm.is_blocked(plugin_name):
            continue
        if name == "lightning":
            plugin: Any = LightningAutolog()
        elif name == "keras":
            plugin = KerasAutolog()
        else:
            if not import_missing and module_name not in sys.modules:
                continue
            try:
                if importlib.util.find_spec(framework) is None:
                    continue
                plugin = importlib.import_module(module_name)
            except ImportError:  # the framework is not installed: nothing to attach
                continue
        pm.register(plugin, name=plugin_name)


def autolog(frameworks: str | Iterable[str] | None = None, experiment: str | None = None,
            disable: bool = False) -> None:
    """Log every supported framework's training without changing the training script.

    Args:
        frameworks: names among ``"sklearn"``, ``"xgboost"``, ``"lightning"``, ``"keras"``;
            ``None`` for every one that is installed.
        experiment: the experiment the runs go to; default ``RUNLOG_EXPERIMENT``, else one
            per framework (``"sklearn"``, ``"xgboost"``, ``"lightning_logs"``, ``"keras"``).
        disable: detach instead: every patched function is put back exactly as it was.

    Raises:
        InvalidArgumentError: an unknown framework name, or a bad ``experiment``/``disable``.

    Example::

        import runlog_core
        runlog_core.autolog(experiment="diabetes")
        GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}).fit(X, y)   # a parent run + 2 child runs
    """
    chosen = _frameworks(frameworks)
    if experiment is not None and not isinstance(experiment, str):
        raise InvalidArgumentError("experiment", experiment, "an experiment name (str) or None")
    if not isinstance(disable, bool):
        raise InvalidArgumentError("disable", disable, "True or False")
    from ._plugins import call_hook

    with _lock:
        _register_builtins(chosen, import_missing=not disable)
        call_hook("runlog_autolog", config={"frameworks": chosen, "experiment": experiment,
                                            "disable": disable})


def default_experiment(config: dict[str, Any], fallback: str) -> str:
    return config.get("experiment") or os.environ.get("RUNLOG_EXPERIMENT") or fallback


class AutologTarget:
    """Where an integration's autolog runs go: the experiment ``autolog()`` named (else
    ``RUNLOG_EXPERIMENT``, else the framework's default) or, inside a submitted run with no
    experiment named, that submitted run."""

    def __init__(self, fallback: str) -> None:
        self.fallback = self.name = fallback
        self.explicit = False

    def configure(self, config: dict[str, Any]) -> None:
        self.name = default_experiment(config, self.fallback)
        self.explicit = bool(config.get("experiment") or os.environ.get("RUNLOG_EXPERIMENT"))

    def experiment(self) -> str | None:
        """The experiment name, or ``None`` for the submitted run (``Run.get_context()``)."""
        return None if os.environ.get("RUNLOG_RUN_ID") and not self.explicit else self.name


def selected(config: dict[str, Any], name: str) -> bool:
    frameworks = config.get("frameworks")
    return frameworks is None or name in frameworks


# -- Lightning and Keras: their integration modules hold the logger and callback -----------------


class LightningAutolog:
    """Adds a ``RunlogLogger`` to every ``Trainer`` built without one (``logger=False`` is kept)."""

    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None

    def _trainers(self) -> list[Any]:
        found = []
        for module in ("lightning.pytorch", "pytorch_lightning"):
            if importlib.util.find_spec(module.split(".")[0]) is None:
                continue
            try:
                found.append(importlib.import_module(module).Trainer)
            except ImportError:
                continue
        return found

    def runlog_autolog(self, config: dict[str, Any]) -> None:
        if not selected(config, "lightning"):
            return
        if config.get("disable"):
            self.patches.restore()
            return
        self.experiment = default_experiment(config, "lightning_logs")
        trainers = self._trainers()
        if not trainers:
            return
        try:
            from runlog_integrations.lightning import RunlogLogger
        except ImportError:
            return
        for trainer in trainers:
            self.patches.patch(trainer, "__init__", lambda original: self._wrap(original, RunlogLogger))

    def _wrap(self, original: Callable[..., None], logger_class: type) -> Callable[..., None]:
        autolog = self

        @functools.wraps(original)
        def __init__(trainer: Any, *args: Any, **kwargs: Any) -> None:
            try:
                logger = kwargs.get("logger", None)
                if logger is not False:
                    ours = logger_class(experiment_name=autolog.experiment)
                    if logger is None or logger is True:
                        kwargs["logger"] = ours
                    else:
                        loggers = list(logger) if isinstance(logger, Iterable) else [logger]
                        if not any(isinstance(item, logger_class) for item in loggers):
                            kwargs["logger"] = [*loggers, ours]
            except Exception as err:
                warn_once("add a RunlogLogger to the Trainer", err)
            original(trainer, *args, **kwargs)

        return __init__


class KerasAutolog:
    """Adds a ``RunlogCallback`` to every ``Model.fit`` call that has none."""

    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None

    def runlog_autolog(self, config: dict[str, Any]) -> None:
        if not selected(config, "keras"):
            return
        if config.get("disable"):
            self.patches.restore()
            return
        self.experiment = default_experiment(config, "keras")
        if importlib.util.find_spec("keras") is None:
            return
        try:
            import keras

            from runlog_integrations.keras import RunlogCallback
        except ImportError:
            return
        self.patches.patch(keras.Model, "fit", lambda original: self._wrap(original, RunlogCallback))

    def _wrap(self, original: Callable[..., Any], callback_class: type) -> Callable[..., Any]:
        autolog = self
        signature = inspect.signature(original)

        @functools.wraps(original)
        def fit(model: Any, *args: Any, **kwargs: Any) -> Any:
            if nested.get():
                return original(model, *args, **kwargs)
            try:
                bound = signature.bind(model, *args, **kwargs)
                callbacks = bound.arguments.get("callbacks")
                current = list(callbacks) if callbacks else []
                if not any(isinstance(item, callback_class) for item in current):
                    bound.arguments["callbacks"] = [*current, callback_class(experiment=autolog.experiment)]
                    args, kwargs = bound.args[1:], bound.kwargs
            except Exception as err:
                warn_once("add a RunlogCallback to Model.fit", err)
            token = nested.set(True)
            try:
                return original(model, *args, **kwargs)
            finally:
                nested.reset(token)

        return fit


# hookimpl markers are applied here, not at class creation, so that importing this module
# does not import pluggy before it is needed
def _mark(plugin_class: type) -> None:
    from .hookspecs import hookimpl

    plugin_class.runlog_autolog = hookimpl(plugin_class.runlog_autolog)  # type: ignore[attr-defined]


_mark(LightningAutolog)
_mark(KerasAutolog)

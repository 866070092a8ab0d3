"""``autolog()``: attach every installed framework integration without changing the script.

``autolog()`` checks its arguments and calls the ``runlog_autolog(config)`` hook. The built-in
integrations answer it as any third-party plugin would: they are entry points of the group
``runlog`` (``runlog_integrations._entry_points``), each importing its integration module, and
so its framework, only when selected and installed, then calling its ``attach_autolog(config)``.
That patches the framework's entry points (``xgboost.train``, scikit-learn's ``fit`` methods,
Lightning's ``Trainer.__init__``, Keras ``Model.fit``, Optuna's ``Study``); ``disable=True`` puts every original
back, the very same objects. The core never imports an integration or a framework.

The helpers below are shared by the integrations' ``attach_autolog``: :class:`Patches`,
:data:`nested`, :func:`selected` and :data:`warn_once`.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration.guard import WarnOnce

__all__ = ["ALIASES", "FRAMEWORKS", "Patches", "autolog", "nested", "selected", "warn_once"]

# the framework names autolog() takes; each names a plugin's framework, not a module of runlog
FRAMEWORKS: tuple[str, ...] = ("keras", "lightning", "optuna", "ray", "sklearn", "xgboost")
ALIASES: dict[str, str] = {"scikit-learn": "sklearn", "xgb": "xgboost", "pytorch_lightning": "lightning",
                           "lightning.pytorch": "lightning", "tf.keras": "keras",
                           "ray.tune": "ray"}

# autolog() calls are serialised: two threads attaching at once must not patch twice
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
    so ``owner.name is original`` holds again. ``owner`` may be a class, a module or an instance.

    Args:
        weak: hold the owners weakly (instances patched for one training): an owner that is
            garbage collected before ``restore()`` is skipped, and is never kept alive by its patch.
    """

    _MISSING = object()

    def __init__(self, weak: bool = False) -> None:
        self._weak = weak
        self._saved: dict[tuple[int, str], tuple[Callable[[], Any], str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._saved)

    def patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        key = (id(owner), name)
        saved = self._saved.get(key)
        if saved is not None and saved[0]() is owner:
            return
        raw = owner.__dict__.get(name, self._MISSING) if hasattr(owner, "__dict__") else self._MISSING
        original = getattr(owner, name)
        replacement = make(original)
        replacement.__runlog_original__ = original
        self._saved[key] = (weakref.ref(owner) if self._weak else _Strong(owner), name, raw)
        setattr(owner, name, replacement)

    def original(self, owner: Any, name: str) -> Any:
        return getattr(owner, name).__runlog_original__

    def restore(self) -> None:
        saved, self._saved = list(self._saved.values()), {}
        for ref, name, raw in reversed(saved):
            owner = ref()
            if owner is None:
                continue
            if raw is self._MISSING:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass
            else:
                setattr(owner, name, raw)


class _Strong:
    """A strong reference, called like a weak one."""

    __slots__ = ("target",)

    def __init__(self, target: Any) -> None:
        self.target = target

    def __call__(self) -> Any:
        return self.target


def _frameworks(frameworks: str | Iterable[str] | None) -> frozenset[str] | None:
    if frameworks is None:
        return None
    accepted = f"None, a name or a list of names from {list(FRAMEWORKS)}"
    if isinstance(frameworks, str):
        names: list[Any] = [frameworks]
    else:
        try:
            names = list(frameworks)
        except TypeError:
            raise InvalidArgumentError("frameworks", frameworks, accepted) from None
    chosen = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError("frameworks", frameworks, accepted)
        key = ALIASES.get(name.lower(), name.lower())
        if key not in FRAMEWORKS:
            raise InvalidArgumentError("frameworks", name, f"one of {list(FRAMEWORKS)} (or an alias: {sorted(ALIASES)})")
        chosen.add(key)
    return frozenset(chosen)


def autolog(frameworks: str | Iterable[str] | None = None, experiment: str | None = None,
            disable: bool = False) -> None:
    """Log every supported framework's training without changing the training script.

    Args:
        frameworks: names among ``"sklearn"``, ``"xgboost"``, ``"lightning"``, ``"keras"``,
            ``"optuna"``, ``"ray"``; ``None`` for every one that is installed.
        experiment: the experiment of the runs the integrations start. Under ``runlog submit``
            they log into the submitted run instead; else the default is ``RUNLOG_EXPERIMENT``,
            then one per framework (``"sklearn"``, ``"xgboost"``, ``"lightning_logs"``, ``"keras"``,
            ``"optuna"``: a parent per study).
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
    from runlog_core.plugins.manager import call_hook, get_plugin_manager

    with _lock:
        get_plugin_manager()  # loads the `runlog` entry points, the built-in integrations among them
        call_hook("runlog_autolog", config={"frameworks": chosen, "experiment": experiment, "disable": disable})


def selected(config: dict[str, Any], name: str) -> bool:
    """Whether ``autolog()``'s ``config`` selects the framework ``name``."""
    frameworks = config.get("frameworks")
    return frameworks is None or name in frameworks


# -- kept for integrations not yet on runlog_core.integration.target.resolve_run; removed once none uses them



Patches.__module__ = "runlog_core.integration"  # pickled (with a callback) under its public path

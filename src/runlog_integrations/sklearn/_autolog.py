"""``autolog()`` for scikit-learn: every ``fit`` records itself.

A search's ``fit`` runs as a :class:`TrackedSearch` (a parent run, one child run per
candidate); any other estimator's ``fit`` gets a run with its params, tag ``estimator_class``
and metric ``training_score``. Fits reached from inside one already recorded (a search's
candidate fits, a pipeline's steps) pass straight through.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.model_selection._search import BaseSearchCV

from runlog_core import Experiment, Run
from runlog_core.integration import Patches, end_run, nested, resolve_run, selected, warn_once

from ._results import plain
from ._search import DEFAULT_EXPERIMENT, TrackedSearch

__all__ = ["attach_autolog"]

Fit = Callable[..., Any]


class _Autolog:
    """What ``autolog()`` set: the patched ``fit`` methods and the experiment of the runs."""

    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | Experiment | None = None


_state = _Autolog()


@functools.lru_cache(maxsize=1)
def _fit_classes() -> tuple[type, ...]:
    """Every scikit-learn class with a ``fit`` of its own: the searches' base classes and
    each public estimator (found through ``sklearn.utils.all_estimators``, which imports
    every scikit-learn module once: about a second)."""
    from sklearn.utils import all_estimators

    classes: list[type] = [BaseSearchCV]
    try:
        from sklearn.model_selection._search_successive_halving import BaseSuccessiveHalving

        classes.append(BaseSuccessiveHalving)
    except ImportError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = all_estimators()
    for _, cls in found:
        if "fit" in cls.__dict__ and cls not in classes:
            classes.append(cls)
    return tuple(classes)


def _start(estimator: Any) -> Run:
    """The estimator's run: one of its own, or a child of the run it must log into (the submitted
    run), so that two fits never mix their params. Ended by the caller either way."""
    name = type(estimator).__name__
    target, owned = resolve_run(experiment=_state.experiment, default=DEFAULT_EXPERIMENT, name=name)
    run = target if owned else target.child_run(name=name)
    run.set_tags({"estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}"})
    run.log_params({k: plain(v) for k, v in estimator.get_params(deep=True).items()
                    if not isinstance(v, BaseEstimator)})
    return run


def _training_score(run: Run, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    if y is None or X is None or not hasattr(estimator, "score"):
        return
    token = nested.set(True)  # score() may fit nothing, but must not be recorded if it does
    try:
        run.log("training_score", float(estimator.score(X, y)))
    finally:
        nested.reset(token)


def _fit_estimator(original: Fit, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    run: Run | None = None
    try:
        run = _start(estimator)
    except Exception as err:
        warn_once("start a run for the estimator", err)
    token = nested.set(True)
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as err:
        if run is not None:
            try:
                end_run(run, err)
            except Exception as log_err:
                warn_once("end the estimator's run", log_err)
        raise
    finally:
        nested.reset(token)
    if run is not None:
        try:
            _training_score(run, estimator, args, kwargs)
        except Exception as err:
            warn_once("compute the training score", err)
        try:
            run.complete()
        except Exception as err:
            warn_once("end the estimator's run", err)
    return result


def _wrap_fit(original: Fit) -> Fit:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if nested.get() or not _state.patches:
            return original(self, *args, **kwargs)
        if isinstance(self, BaseSearchCV):
            TrackedSearch(self, experiment=_state.experiment).fit(*args, **kwargs)
            return self
        return _fit_estimator(original, self, args, kwargs)

    return fit


def attach_autolog(config: dict[str, Any]) -> None:
    """Patch scikit-learn's ``fit`` methods, or put the very same originals back.

    Called by runlog's ``runlog`` entry-point plugin when ``autolog()`` selects scikit-learn.

    Args:
        config: ``autolog()``'s settings: ``frameworks`` (``None`` for all), ``experiment``
            (``None``: the submitted run, else ``RUNLOG_EXPERIMENT``, else ``"sklearn"``)
            and ``disable``.
    """
    if not selected(config, "sklearn"):
        return
    if config.get("disable"):
        _state.patches.restore()
        return
    _state.experiment = config.get("experiment")
    for cls in _fit_classes():
        _state.patches.patch(cls, "fit", _wrap_fit)

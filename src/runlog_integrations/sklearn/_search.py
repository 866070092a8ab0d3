"""``TrackedSearch`` and ``log_search``: a search as a parent run with one child run per candidate."""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection._search import BaseSearchCV

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import WarnOnce, check_target, end_run, nested, resolve_run

from . import _live
from ._live import FoldTimes, LiveChildren
from ._results import (
    candidate_name,
    candidate_rows,
    failed_folds,
    fold_series,
    halving,
    number,
    plain,
    ranked,
    results_table,
    row_metrics,
    search_settings,
)

__all__ = ["DEFAULT_EXPERIMENT", "TrackedSearch", "log_search"]

DEFAULT_EXPERIMENT = "sklearn"

_SEARCHES = "a fitted scikit-learn search (GridSearchCV, RandomizedSearchCV... with cv_results_)"


def _check_search(search: Any) -> None:
    if not isinstance(search, BaseSearchCV):
        raise InvalidArgumentError("search", search, "a scikit-learn BaseSearchCV (GridSearchCV, "
                                   "RandomizedSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV...)")


def _check_max(max_child_runs: Any) -> None:
    if max_child_runs is not None and (isinstance(max_child_runs, bool) or not isinstance(max_child_runs, int)
                                       or max_child_runs < 0):
        raise InvalidArgumentError("max_child_runs", max_child_runs, "None or an int >= 0")


def _check_target(run: Any, experiment: Any) -> None:
    check_target(run, experiment)
    if run is not None and experiment is not None:
        raise InvalidArgumentError("experiment", experiment,
                                   "None when run= is given (pass run= or experiment=, not both)")


# -- logging a fitted search --------------------------------------------------------------------


def _log_parent(run: Run, search: Any, warn: WarnOnce) -> None:
    results = search.cv_results_
    try:
        run.log_params(search_settings(search))
    except Exception as err:
        warn("log the search's settings", err)
    try:
        best_params = getattr(search, "best_params_", None)
        if best_params is not None:
            run.log_params({"best_params": {k: plain(v) for k, v in best_params.items()}})
    except Exception as err:
        warn("log the best params", err)
    try:
        summary: dict[str, Any] = {"n_candidates": len(results["params"])}
        for name in ("best_score_", "best_index_", "refit_time_"):
            value = number(getattr(search, name, None))
            if value is not None:
                summary[name.rstrip("_")] = value
        run.log_metrics(summary)
    except Exception as err:
        warn("log the best score", err)
    try:
        run.log_table("cv_results", results_table(results))
    except Exception as err:
        warn("log cv_results_ as a table", err)
    try:
        primary = _primary_metric(results, getattr(search, "refit", None))
        if primary is not None:  # the UI's sweep view ranks the children by it (#17); scorers: higher is better
            run.set_tags({"runlog.sweep.primary_metric": primary, "runlog.sweep.goal": "maximize"})
    except Exception as err:
        warn("tag the search's primary metric", err)


def _primary_metric(results: Any, refit: Any) -> str | None:
    """The children's metric the search ranks by: ``mean_test_score``, else ``mean_test_<refit scorer>``."""
    if "mean_test_score" in results:
        return "mean_test_score"
    if isinstance(refit, str) and f"mean_test_{refit}" in results:
        return f"mean_test_{refit}"
    return None


def _span(times: FoldTimes) -> tuple[float | None, float | None]:
    """The first fold's start and the last fold's end, or ``(None, None)`` unless every fold was timed."""
    begins = [begin for begin, _ in times if begin is not None]
    ends = [end for _, end in times if end is not None]
    if not times or len(begins) < len(times) or len(ends) < len(times):
        return None, None
    return min(begins), max(ends)


def _log_child(child: Run, search: Any, rows: list[int], live: LiveChildren | None) -> None:
    """The numbers and per-fold series of each of the candidate's rows (earlier rows of a halving
    search prefixed ``iter{k}_``), and the fold times where they were followed."""
    results = search.cv_results_
    final = rows[-1]
    n_splits = int(getattr(search, "n_splits_", 0) or 0)
    folds = fold_series(results)
    for row in rows:
        prefix = "" if row == final else f"iter{int(results['iter'][row])}_"
        child.log_metrics({prefix + k: v for k, v in row_metrics(results, row).items()})
        for series, columns in folds.items():
            for fold, key in columns:
                value = number(results[key][row])
                if value is not None:
                    child.log(prefix + series, value, step=fold)
        if live is not None and n_splits:
            for fold, (begin, end) in enumerate(live.fold_times(row, n_splits)):
                if begin is not None and end is not None:
                    child.log(prefix + "fold_time", end - begin, step=fold)


def _log_children(run: Run, search: Any, warn: WarnOnce, max_child_runs: int | None,
                  live: LiveChildren | None = None) -> list[Run]:
    results = search.cv_results_
    is_halving = halving(search)
    resource = getattr(search, "resource", None)
    groups = candidate_rows(search, results)
    place = {row: i for i, row in enumerate(ranked(results, getattr(search, "refit", None)))}
    best_first = sorted(groups, key=lambda rows: place[rows[-1]])
    chosen = best_first if max_child_runs is None else best_first[:max_child_runs]
    error_score = getattr(search, "error_score", None)
    n_splits = int(getattr(search, "n_splits_", 0) or 0)
    if live is not None:
        live.check(results, resource)
    children = []
    for rows in sorted(chosen, key=lambda rows: rows[0]):
        try:
            final = rows[-1]
            params = results["params"][final]
            start, end = None, None
            if live is not None and n_splits:
                start, end = _span([span for row in rows for span in live.fold_times(row, n_splits)])
            child = live.children.get(rows[0]) if live is not None else None
            if child is None:
                name_params = {k: v for k, v in params.items() if not (is_halving and k == resource)}
                child = run.child_run(name=candidate_name(name_params), tags={"candidate_index": final},
                                      start_time=start)
                child.log_params({k: plain(v) for k, v in params.items()})
            else:
                child.set_tags({"candidate_index": final})
                if is_halving and resource in params:
                    child.log_params({resource: plain(params[resource])})
            if len(rows) > 1:
                child.set_tags({"cv_results_rows": ",".join(str(r) for r in rows)})
            _log_child(child, search, rows, live)
            failed = failed_folds(results, final, error_score)
            if failed:
                child.set_tags({"fit_failed": f"{failed}/{n_splits or failed} folds"})
                child.fail(f"{failed} of {n_splits or failed} folds failed to fit; their scores are "
                           f"error_score={error_score!r}", end_time=end)
            else:
                child.complete(end_time=end)
            children.append(child)
        except Exception as err:
            warn("log a candidate as a child run", err)
    if live is not None:  # candidates not followed to their end (never expected)
        kept = {rows[0] for rows in chosen}
        for index, child in live.children.items():
            if index not in kept:
                try:
                    child.complete()
                except Exception as err:
                    warn("end a child run", err)
    return children


def log_search(fitted_search: Any, run: Run | None = None, experiment: str | Experiment | None = None,
               max_child_runs: int | None = None) -> Run:
    """Log a search that was fitted elsewhere: the parent run's settings, best results and
    ``cv_results`` table, and one child run per candidate.

    Args:
        fitted_search: a fitted ``BaseSearchCV`` (it has ``cv_results_``).
        run: the parent run; it is left Running.
        experiment: with no ``run=``, a new parent run there (a name or an
            :class:`~runlog_core.Experiment`), ended Completed. With neither: the submitted run
            under ``runlog submit``, else a new run in ``RUNLOG_EXPERIMENT`` or ``"sklearn"``.
        max_child_runs: log only this many children, the best ranked; ``None`` for all.

    Returns:
        The parent run.

    Raises:
        InvalidArgumentError: ``fitted_search`` has no ``cv_results_``, ``run`` is not a Run,
            ``experiment`` is not a name or an Experiment (or is given with ``run``), or
            ``max_child_runs`` is not ``None`` or an int >= 0.

    Example::

        search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}).fit(X, y)
        parent = log_search(search, experiment="diabetes")
    """
    if not hasattr(fitted_search, "cv_results_"):
        raise InvalidArgumentError("fitted_search", fitted_search, _SEARCHES)
    _check_target(run, experiment)
    _check_max(max_child_runs)
    parent, owned = resolve_run(run=run, experiment=experiment, default=DEFAULT_EXPERIMENT,
                                name=type(fitted_search).__name__)
    warn = WarnOnce("the search stays as it is")
    try:
        _log_parent(parent, fitted_search, warn)
        _log_children(parent, fitted_search, warn, max_child_runs)
    except BaseException as err:
        if owned:
            end_run(parent, err)
        raise
    if owned:
        parent.complete()
    return parent


class TrackedSearch(MetaEstimatorMixin, BaseEstimator):
    """A scikit-learn search that records itself: a parent run and one child run per candidate.

    A meta-estimator: ``get_params``/``set_params``/``clone`` work (the search's params read
    as ``search__*``), and every attribute it does not have (``predict``, ``score``,
    ``best_estimator_``, ``cv_results_``...) is the wrapped search's. ``fit`` fits the
    wrapped search itself, so ``search.best_params_`` is set too.

    Args:
        search: a ``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV``,
            ``HalvingRandomSearchCV`` or another ``BaseSearchCV``.
        experiment: an experiment name or :class:`~runlog_core.Experiment`: each ``fit``
            starts a parent run there and ends it Completed, or Failed when ``fit`` raises.
        run: log into this run as the parent (it is left Running).
        max_child_runs: keep this many child runs, the best ranked; ``None`` (default) for all.

    Which run is the parent: ``run=``, else the submitted run under ``runlog submit`` (left
    Running), else a new run per fit in ``experiment=``, ``RUNLOG_EXPERIMENT`` or ``"sklearn"``.

    Raises:
        InvalidArgumentError: ``search`` is not a ``BaseSearchCV``, ``run`` is not a Run,
            ``experiment`` is not a name or an Experiment (or is given with ``run``), or
            ``max_child_runs`` is not ``None`` or an int >= 0; checked here and again in ``fit``.

    Example::

        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV
        from runlog_integrations.sklearn import TrackedSearch

        search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.01, 0.1, 1.0]}, cv=5),
                               experiment="diabetes")
        search.fit(X, y)
        search.best_params_, search.run_.get_children()
    """

    def __init__(self, search: Any, experiment: str | Experiment | None = None, run: Run | None = None,
                 max_child_runs: int | None = None) -> None:
        self.search = search
        self.experiment = experiment
        self.run = run
        self.max_child_runs = max_child_runs
        self._check()

    def __getattr__(self, name: str) -> Any:
        # only reached for names the wrapper lacks; never for its own params (unpickling, clone)
        if name.startswith("__") or name in ("search", "experiment", "run", "max_child_runs"):
            raise AttributeError(name)
        try:
            search = self.__dict__["search"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(search, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self.__dict__.get("search"))))

    def __sklearn_tags__(self) -> Any:
        return self.search.__sklearn_tags__()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The params, with the search's as ``search__*`` when ``deep``.

        ``run`` is never descended into: a Run has an Azure-style ``get_params()`` (its logged
        params), which scikit-learn would otherwise take for an estimator's.
        """
        params: dict[str, Any] = super().get_params(deep=False)
        if deep and hasattr(self.search, "get_params"):
            params.update({f"search__{key}": value for key, value in self.search.get_params(deep=True).items()})
        return params

    def __sklearn_clone__(self) -> TrackedSearch:
        """A copy with an unfitted clone of the search; ``run`` and ``experiment`` are shared, not copied."""
        params = self.get_params(deep=False)
        params["search"] = clone(params["search"])
        return type(self)(**params)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__)
        state.pop("run_", None)  # a Run does not travel between processes
        return state

    def _check(self) -> None:
        _check_search(self.search)
        _check_target(self.run, self.experiment)
        _check_max(self.max_child_runs)

    def _attach(self, run: Run, warn: WarnOnce) -> tuple[LiveChildren | None, list[Any] | None]:
        """Follow the candidates live where scikit-learn has the callback API: the follower and
        the search's own callbacks to put back, or ``(None, None)``."""
        search = self.search
        if not _live.has_callback_api(search):
            return None, None
        live = LiveChildren(search, run, warn, create=self.max_child_runs is None)
        try:
            clock = live.open()
            if clock is None:
                return None, None
            previous = list(getattr(search, "_skl_callbacks", []))
            search.set_callbacks(*previous, clock)
        except Exception as err:
            warn("attach the live candidate callback", err)
            live.close()
            return None, None
        return live, previous

    def fit(self, X: Any, y: Any = None, **params: Any) -> TrackedSearch:
        """Fit the wrapped search and log it.

        Args:
            X, y, params: what the search's ``fit`` takes.

        Returns:
            ``self``, fitted; ``self.run_`` is the parent run.

        Raises:
            InvalidArgumentError: a param set since construction (``set_params``) is not valid.
            Whatever the search's ``fit`` raises, unchanged; a parent run of its own then ends Failed.
        """
        self._check()
        warn = WarnOnce("the fit goes on")
        self.warnings_ = warn
        search = self.search
        run: Run | None = None
        owned = False
        try:
            run, owned = resolve_run(run=self.run, experiment=self.experiment, default=DEFAULT_EXPERIMENT,
                                     name=type(search).__name__)
        except Exception as err:
            warn("start the parent run", err)
        self.run_ = run
        live, previous = self._attach(run, warn) if run is not None else (None, None)
        token = nested.set(True)  # autolog's patched fit passes through: the search is logged once
        try:
            if y is None:
                search.fit(X, **params)
            else:
                search.fit(X, y, **params)
        except BaseException as err:
            if run is not None:
                try:
                    if live is not None:
                        for child in live.children.values():
                            child.fail("the search's fit raised")
                    if owned:
                        end_run(run, err)
                except Exception as log_err:
                    warn("end the parent run", log_err)
            raise
        finally:
            nested.reset(token)
            if live is not None:
                try:
                    search.set_callbacks(*(previous or []))
                except Exception as err:
                    warn("detach the live candidate callback", err)
                live.close()
        if run is not None:
            try:
                _log_parent(run, search, warn)
                _log_children(run, search, warn, self.max_child_runs, live)
            except Exception as err:
                warn("log the search", err)
            if owned:
                try:
                    run.complete()
                except Exception as err:
                    warn("end the parent run", err)
        return self

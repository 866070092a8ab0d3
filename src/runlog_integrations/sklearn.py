"""scikit-learn: parameter searches as a parent run with one child run per candidate.

``TrackedSearch(search)`` wraps any ``BaseSearchCV`` (``GridSearchCV``,
``RandomizedSearchCV``, ``HalvingGridSearchCV``, ``HalvingRandomSearchCV``) and logs,
when its ``fit`` returns:

- into the parent run: the search's settings (``search``, ``estimator``, ``estimator.*``,
  ``cv``, ``scoring``, ``refit``, ``n_iter``, the grid...), ``best_params.*``,
  ``best_score``, ``best_index``, ``refit_time``, ``n_candidates``, ``n_splits`` and
  the whole ``cv_results_`` as the table ``cv_results``;
- one child run per candidate (``max_child_runs`` keeps the best ranked), named after
  its params: the params, every number of its ``cv_results_`` row (``mean_test_*``,
  ``std_test_*``, ``rank_test_*``, train scores, fit and score times) and the per-fold
  scores as the series ``test_{scorer}`` / ``train_{scorer}`` with ``step`` = fold index.
  A candidate whose fit failed (``error_score=nan``) keeps its NaN scores and ends Failed.

A halving search's candidate is one child run: its last ``cv_results_`` row (tag
``candidate_index``) is logged as above, its earlier rows with the prefix ``iter{k}_``
(tag ``cv_results_rows`` lists them all).

Where scikit-learn has its callback API for searches (``set_callbacks``, 1.9+), the child
runs of ``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV`` and
``HalvingRandomSearchCV`` are created live, as a candidate's first fold starts, and get
their real start and end times. The callback API tells a fold task only its position in its
batch, not its params, so the first batch's candidates are computed as the search draws
them (its grid, or its sampler with a copy of its random state); later halving iterations
(chosen from scores the API does not expose) are matched to their candidates when ``fit``
returns, so halving children end then, with their last fold's real end time. The fold
timings travel from joblib workers to this process over scikit-learn's own callback
transport, and every write to the store happens here, never in a worker. With
``max_child_runs`` the kept children are created when ``fit`` returns, with their folds'
real times. Without the callback API, child runs are built from ``cv_results_`` when ``fit``
returns.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import numbers
import os
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

try:
    import numpy as np
    import sklearn
    from sklearn.base import BaseEstimator, MetaEstimatorMixin
    from sklearn.model_selection import GridSearchCV
    from sklearn.model_selection._search import BaseSearchCV
except ImportError as err:
    raise ImportError(
        "runlog_integrations.sklearn needs scikit-learn: pip install 'runlog[sklearn]'"
    ) from err

from runlog_core import Experiment, Run
from runlog_core._guard import WarnOnce
from runlog_core._autolog import AutologTarget, Patches, nested, selected, warn_once
from runlog_core.hookspecs import hookimpl

__all__ = ["TrackedSearch", "log_search"]

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "sklearn"
_MAX_NAME = 200

# True while a tracked fit runs in this context: autolog's patched fit then passes through,
# so a search is logged once, and the candidates' own fits are not logged as runs
_TRACKING = nested


# -- values ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as a JSON-friendly param: estimators by class name, arrays as lists, callables by name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, BaseEstimator):
        return type(value).__name__
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (range, set, frozenset)):
        return [_plain(v) for v in value]
    if callable(value):
        return getattr(value, "__name__", None) or type(value).__name__
    return str(value)


def _cell(value: Any) -> Any:
    """A table cell: a number, bool, str or None."""
    if value is None or value is np.ma.masked:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    plain = _plain(value)
    return plain if isinstance(plain, (bool, int, float, str)) or plain is None else str(plain)


def _number(value: Any) -> float | int | None:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return None


def candidate_name(params: Mapping[str, Any]) -> str:
    """A child run's name: its params as ``"alpha=0.1, fit_intercept=True"``."""
    text = ", ".join(f"{key}={_plain(value)}" for key, value in params.items()) or "default params"
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


def search_settings(search: Any) -> dict[str, Any]:
    """The parent run's params: the search's class and settings, the estimator's class and params."""
    settings: dict[str, Any] = {"search": type(search).__name__}
    for key, value in search.get_params(deep=False).items():
        if key == "estimator":
            settings["estimator"] = type(value).__name__
            try:
                settings["estimator_params"] = {k: _plain(v) for k, v in value.get_params(deep=True).items()
                                                if not isinstance(v, BaseEstimator)}
            except Exception:  # an estimator whose get_params fails still gets tracked
                pass
        elif key == "cv" and value is not None and not isinstance(value, int):
            settings["cv"] = repr(value)
        elif key in ("param_grid", "param_distributions") and isinstance(value, Mapping):
            settings[key] = {str(k): _plain(v) if isinstance(v, (list, tuple, np.ndarray, range)) else repr(v)
                             for k, v in value.items()}
        else:
            settings[key] = _plain(value)
    n_splits = getattr(search, "n_splits_", None)
    if n_splits is not None:
        settings["n_splits"] = int(n_splits)
    return settings


def _scorer_names(results: Mapping[str, Any]) -> list[str]:
    return [key[len("rank_test_"):] for key in results if key.startswith("rank_test_")]


def _ranked(results: Mapping[str, Any], refit: Any) -> list[int]:
    """Candidate indices best first, by the refit scorer's rank (ties: order of the search)."""
    names = _scorer_names(results)
    key = "rank_test_score" if "rank_test_score" in results else None
    if key is None and isinstance(refit, str) and f"rank_test_{refit}" in results:
        key = f"rank_test_{refit}"
    if key is None and names:
        key = f"rank_test_{names[0]}"
    count = len(results["params"])
    if key is None:
        return list(range(count))
    ranks = results[key]
    return sorted(range(count), key=lambda i: (int(ranks[i]), i))


def _fold_series(results: Mapping[str, Any]) -> dict[str, list[tuple[int, str]]]:
    """``{"test_r2": [(0, "split0_test_r2"), ...]}`` from the ``split{k}_{set}_{scorer}`` columns."""
    series: dict[str, list[tuple[int, str]]] = {}
    for key in results:
        if not key.startswith("split"):
            continue
        head, _, rest = key.partition("_")
        if not head[5:].isdigit() or not (rest.startswith("test_") or rest.startswith("train_")):
            continue
        series.setdefault(rest, []).append((int(head[5:]), key))
    for columns in series.values():
        columns.sort()
    return series


def _row_metrics(results: Mapping[str, Any], index: int) -> dict[str, float | int]:
    metrics: dict[str, float | int] = {}
    for key, column in results.items():
        if key == "params" or key.startswith("param_") or key.startswith("split"):
            continue
        value = _number(column[index]) if hasattr(column, "__getitem__") else None
        if value is not None:
            metrics[key] = value
    return metrics


def _failed_folds(results: Mapping[str, Any], index: int, error_score: Any) -> int:
    if not (isinstance(error_score, float) and math.isnan(error_score)):
        return 0
    tests = [columns for name, columns in _fold_series(results).items() if name.startswith("test_")]
    if not tests:
        return 0
    return sum(1 for _, key in tests[0] if isinstance(_number(results[key][index]), float)
               and math.isnan(float(results[key][index])))


def results_table(results: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``cv_results_`` as table columns (the ``params`` dicts are in the ``param_*`` columns)."""
    return {key: [_cell(v) for v in column] for key, column in results.items() if key != "params"}


# -- live candidate times (scikit-learn's callback API) ----------------------------------------


def _has_callback_api(search: Any) -> bool:
    return hasattr(search, "set_callbacks") and hasattr(search, "_init_callback_context")


def _halving(search: Any) -> bool:
    try:
        from sklearn.model_selection._search_successive_halving import BaseSuccessiveHalving
    except ImportError:
        return False
    return isinstance(search, BaseSuccessiveHalving)


def _replica(random_state: Any) -> Any:
    """A random state that draws what ``random_state`` will draw next, without touching it
    (``None`` is NumPy's global state); ``_NO_REPLICA`` when that cannot be known."""
    if random_state is None:
        replica = np.random.RandomState()
        replica.set_state(np.random.get_state())
        return replica
    if isinstance(random_state, np.random.RandomState):
        return copy.deepcopy(random_state)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return _NO_REPLICA


_NO_REPLICA = object()


def _first_candidates(search: Any, n_candidates: int) -> list[dict[str, Any]] | None:
    """The candidates of the search's first batch, in the order it evaluates them, computed
    as scikit-learn's own ``_run_search`` does (``None`` for other searches): called from
    the search's ``search`` / first ``halving-iteration`` task, before it draws them."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler, RandomizedSearchCV

    cls = type(search)
    candidates: Any = None
    if _halving(search):
        from sklearn.model_selection._search_successive_halving import HalvingGridSearchCV, HalvingRandomSearchCV

        if cls._run_search is not HalvingGridSearchCV._run_search:
            return None
        generate = cls._generate_candidate_params
        if generate is HalvingGridSearchCV._generate_candidate_params:
            candidates = ParameterGrid(search.param_grid)
        elif generate is HalvingRandomSearchCV._generate_candidate_params:
            state = _replica(search.random_state)
            if state is _NO_REPLICA:
                return None
            first = search.n_candidates
            if first == "exhaust":
                first = search.max_resources_ // search.min_resources_
            candidates = ParameterSampler(search.param_distributions, first, random_state=state)
    elif cls._run_search is GridSearchCV._run_search:
        candidates = ParameterGrid(search.param_grid)
    elif cls._run_search is RandomizedSearchCV._run_search:
        state = _replica(search.random_state)
        if state is _NO_REPLICA:
            return None
        candidates = ParameterSampler(search.param_distributions, search.n_iter, random_state=state)
    if candidates is None:
        return None
    with warnings.catch_warnings():  # the search warns itself (n_iter larger than the grid...)
        warnings.simplefilter("ignore")
        listed = list(candidates)
    return listed if len(listed) == n_candidates else None


def _path(context: Any) -> tuple[tuple[str, int], ...]:
    path = []
    node = context
    while node is not None:
        path.append((node.task_name, node.task_id))
        node = node.parent
    return tuple(reversed(path))


class _CandidateClock:
    """A scikit-learn ``FitCallback`` that reports when each candidate's fold starts and ends.

    It runs wherever the fold runs (a joblib worker under ``n_jobs > 1``) and only sends
    ``(batch, task_id, event, time)`` to the process that called ``fit``; it never writes.
    In that process it also tells ``live`` when a batch of candidates starts (the search's
    own tasks always run there); ``live`` does not travel to workers.
    """

    def __init__(self, handle: Any, live: Any = None) -> None:
        self.handle = handle
        self.live = live

    def __getstate__(self) -> dict[str, Any]:
        return {"handle": self.handle, "live": None}

    def setup(self, estimator: Any, context: Any) -> None:
        pass

    def teardown(self, estimator: Any, context: Any) -> None:
        pass

    def _send(self, context: Any, event: str) -> None:
        if getattr(context, "task_name", None) != "candidate-split-evaluation":
            return
        try:
            from sklearn.callback._transport import send

            send(self.handle, (_path(context.parent), context.task_id, event, time.time()))
        except Exception:  # timing is a nicety: a fold must never fail because of it
            pass

    def on_fit_task_begin(self, estimator: Any, context: Any) -> None:
        live = self.live
        if live is not None and getattr(context, "task_name", None) in ("search", "halving-iteration"):
            live.batch(estimator, context)
        self._send(context, "begin")

    def on_fit_task_end(self, estimator: Any, context: Any) -> bool:
        self._send(context, "end")
        return False


class _Batch:
    """One ``evaluate_candidates`` call: rows ``offset .. offset + size - 1`` of ``cv_results_``."""

    def __init__(self, offset: int, size: int, candidates: list[dict[str, Any]] | None) -> None:
        self.offset = offset
        self.size = size
        self.candidates = candidates


class _LiveChildren:
    """In the fitting process: records every fold's start and end time and, with ``create``,
    creates a child run as a candidate's first fold starts and (but for halving searches,
    whose candidates may go on to the next iteration) completes it as its last fold ends."""

    def __init__(self, search: Any, parent: Run, warn: WarnOnce, create: bool = True) -> None:
        self.search = search
        self.parent = parent
        self.warn = warn
        self.create = create
        self.halving = _halving(search)
        self.lock = threading.Lock()
        self.batches: dict[tuple[Any, ...], _Batch] = {}
        self.rows = 0
        self.times: dict[tuple[Any, int], list[float | None]] = {}
        self.children: dict[int, Run] = {}
        self.ended: dict[int, int] = {}
        self.handle: Any = None
        self.clock: _CandidateClock | None = None

    def open(self) -> _CandidateClock | None:
        try:
            from sklearn.callback._transport import open_listener

            self.handle = open_listener(self.consume)
            self.clock = _CandidateClock(self.handle, self)
        except Exception as err:
            self.warn("follow the candidates live (the search is still logged when fit returns)", err)
            return None
        return self.clock

    def close(self) -> None:
        if self.clock is not None:
            self.clock.live = None
        if self.handle is not None:
            try:
                from sklearn.callback._transport import close_listener

                close_listener(self.handle)
            except Exception:
                pass
            self.handle = None

    def batch(self, search: Any, context: Any) -> None:
        """A batch of candidates starts (called in this process, before its folds are sent out)."""
        try:
            if search is not self.search or (context.task_name == "halving-iteration") != self.halving:
                return
            n_splits = int(self.search.n_splits_)
            size = int(context.max_subtasks) // n_splits
            with self.lock:
                first = not self.batches
            candidates = _first_candidates(search, size) if first and self.create else None
            with self.lock:
                self.batches[_path(context)] = _Batch(self.rows, size, candidates)
                self.rows += size
        except Exception as err:
            self.warn("follow the candidates live (the search is still logged when fit returns)", err)

    def consume(self, message: Any) -> None:
        try:
            path, task_id, event, moment = message
            with self.lock:
                times = self.times.setdefault((path, task_id), [None, None])
                times[0 if event == "begin" else 1] = moment
                batch = self.batches.get(path)
                if batch is None or batch.candidates is None:
                    return
                n_splits = int(self.search.n_splits_)
                candidate = batch.offset + task_id // n_splits
                if event == "begin" and candidate not in self.children:
                    params = batch.candidates[task_id // n_splits]
                    child = self.parent.child_run(name=candidate_name(params),
                                                  tags={"candidate_index": candidate}, start_time=moment)
                    child.log_params({k: _plain(v) for k, v in params.items()})
                    self.children[candidate] = child
                elif event == "end" and candidate in self.children:
                    self.ended[candidate] = self.ended.get(candidate, 0) + 1
                    if self.ended[candidate] == n_splits and not self.halving:
                        self.children[candidate].complete(end_time=moment)
        except Exception as err:
            self.warn("create a child run live", err)

    def fold_times(self, row: int, n_splits: int) -> list[tuple[float | None, float | None]]:
        """The fold start and end times of row ``row`` of ``cv_results_``."""
        with self.lock:
            for path, batch in self.batches.items():
                if batch.offset <= row < batch.offset + batch.size:
                    first = (row - batch.offset) * n_splits
                    return [tuple(self.times.get((path, first + k), (None, None)))  # type: ignore[misc]
                            for k in range(n_splits)]
        return [(None, None)] * n_splits

    def check(self, results: Mapping[str, Any], resource: Any) -> None:
        """Cancel (tag ``superseded``) any live child whose params are not its row's: the
        candidates were not drawn as predicted; the child is then built anew from the row."""
        for row, child in list(self.children.items()):
            try:
                params = dict(results["params"][row])
                if self.halving:
                    params.pop(resource, None)
                if child.name != candidate_name(params):
                    child.set_tags({"superseded": "true"})
                    child.cancel()
                    del self.children[row]
            except Exception as err:
                self.warn("check the live child runs", err)


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
            run.log_params({"best_params": {k: _plain(v) for k, v in best_params.items()}})
    except Exception as err:
        warn("log the best params", err)
    try:
        summary: dict[str, Any] = {"n_candidates": len(results["params"])}
        for name in ("best_score_", "best_index_", "refit_time_"):
            value = _number(getattr(search, name, None))
            if value is not None:
                summary[name.rstrip("_")] = value
        run.log_metrics(summary)
    except Exception as err:
        warn("log the best score", err)
    try:
        run.log_table("cv_results", results_table(results))
    except Exception as err:
        warn("log cv_results_ as a table", err)


def _same_candidate(a: Mapping[str, Any], b: Mapping[str, Any], resource: Any) -> bool:
    keys = set(a) - {resource}
    if keys != set(b) - {resource}:
        return False
    for key in keys:
        x, y = a[key], b[key]
        if x is y:
            continue
        try:
            if not bool(x == y):
                return False
        except Exception:  # arrays and the like: the same object or not the same value
            return False
    return True


def _candidate_rows(search: Any, results: Mapping[str, Any]) -> list[list[int]]:
    """The ``cv_results_`` rows of each candidate: one row each, but for a halving search,
    whose candidates have one row per iteration they reached (first iteration first)."""
    count = len(results["params"])
    if not _halving(search) or "iter" not in results:
        return [[row] for row in range(count)]
    resource = getattr(search, "resource", None)
    groups: list[list[int]] = []
    last: dict[int, int] = {}  # group -> the iteration of its last row
    for row in sorted(range(count), key=lambda r: (int(results["iter"][r]), r)):
        itr = int(results["iter"][row])
        match = None
        if itr > 0:
            for index, rows in enumerate(groups):
                if last[index] == itr - 1 and _same_candidate(results["params"][rows[0]],
                                                              results["params"][row], resource):
                    match = index
                    break
        if match is None:
            groups.append([row])
            last[len(groups) - 1] = itr
        else:
            groups[match].append(row)
            last[match] = itr
    return groups


def _log_children(run: Run, search: Any, warn: WarnOnce, max_child_runs: int | None,
                  live: _LiveChildren | None = None) -> list[Run]:
    results = search.cv_results_
    halving = _halving(search)
    resource = getattr(search, "resource", None)
    groups = _candidate_rows(search, results)
    place = {row: i for i, row in enumerate(_ranked(results, getattr(search, "refit", None)))}
    ranked = sorted(groups, key=lambda rows: place[rows[-1]])
    chosen = ranked if max_child_runs is None else ranked[:max_child_runs]
    folds = _fold_series(results)
    error_score = getattr(search, "error_score", None)
    n_splits = int(getattr(search, "n_splits_", 0) or 0)
    if live is not None:
        live.check(results, resource)
    children = []
    for rows in sorted(chosen, key=lambda rows: rows[0]):
        try:
            final = rows[-1]
            params = results["params"][final]
            times: list[tuple[float | None, float | None]] = []
            if live is not None and n_splits:
                times = [t for row in rows for t in live.fold_times(row, n_splits)]
            timed = bool(times) and all(b is not None and e is not None for b, e in times)
            start = min(b for b, _ in times) if timed else None  # type: ignore[type-var]
            end = max(e for _, e in times) if timed else None  # type: ignore[type-var]
            child = live.children.get(rows[0]) if live is not None else None
            if child is None:
                name_params = {k: v for k, v in params.items() if not (halving and k == resource)}
                child = run.child_run(name=candidate_name(name_params), tags={"candidate_index": final},
                                      start_time=start)
                child.log_params({k: _plain(v) for k, v in params.items()})
            else:
                child.set_tags({"candidate_index": final})
                missing = {k: _plain(v) for k, v in params.items() if halving and k == resource}
                if missing:
                    child.log_params(missing)
            if len(rows) > 1:
                child.set_tags({"cv_results_rows": ",".join(str(r) for r in rows)})
            for row in rows:
                prefix = "" if row == final else f"iter{int(results['iter'][row])}_"
                child.log_metrics({prefix + k: v for k, v in _row_metrics(results, row).items()})
                for series, columns in folds.items():
                    for fold, key in columns:
                        value = _number(results[key][row])
                        if value is not None:
                            child.log(prefix + series, value, step=fold)
                if timed:
                    for fold, (begin, stop) in enumerate(live.fold_times(row, n_splits)):  # type: ignore[union-attr]
                        child.log(prefix + "fold_time", stop - begin, step=fold)  # type: ignore[operator]
            failed = _failed_folds(results, final, error_score)
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


def _default_run() -> tuple[Run, bool]:
    """The run to log into when given none: the submitted run, else a new one (owned)."""
    if os.environ.get("RUNLOG_RUN_ID"):
        return Run.get_context(), False
    name = os.environ.get("RUNLOG_EXPERIMENT") or DEFAULT_EXPERIMENT
    return Experiment(name).start_logging(outputs=None), True


def log_search(fitted_search: Any, run: Run | None = None, max_child_runs: int | None = None) -> Run:
    """Log a search that was fitted elsewhere: the parent run's settings, best results and
    ``cv_results`` table, and one child run per candidate.

    Args:
        fitted_search: a fitted ``BaseSearchCV`` (it has ``cv_results_``).
        run: the parent run (left Running). Default: the submitted run under ``runlog submit``,
            else a new run in ``RUNLOG_EXPERIMENT`` or ``"sklearn"``, ended Completed.
        max_child_runs: log only this many children, the best ranked; ``None`` for all.

    Returns:
        The parent run.

    Raises:
        TypeError: ``fitted_search`` has no ``cv_results_`` or ``run`` is not a Run.

    Example::

        search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}).fit(X, y)
        parent = log_search(search)
    """
    if not hasattr(fitted_search, "cv_results_"):
        raise TypeError("fitted_search must be a fitted scikit-learn search (with cv_results_), "
                        f"got {type(fitted_search).__name__}: {fitted_search!r}")
    if run is not None and not isinstance(run, Run):
        raise TypeError(f"run must be a runlog_core.Run or None, got {type(run).__name__}: {run!r}")
    _check_max(max_child_runs)
    owned = False
    if run is None:
        run, owned = _default_run()
    warn = WarnOnce("the fit goes on")
    _log_parent(run, fitted_search, warn)
    _log_children(run, fitted_search, warn, max_child_runs)
    if owned:
        run.complete()
    return run


def _check_max(max_child_runs: Any) -> None:
    if max_child_runs is not None and (isinstance(max_child_runs, bool) or not isinstance(max_child_runs, int)
                                       or max_child_runs < 0):
        raise TypeError("max_child_runs must be None or an int >= 0, got "
                        f"{type(max_child_runs).__name__}: {max_child_runs!r}")


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
        run: log into this run as the parent (it is left Running). With neither: the
            submitted run under ``runlog submit``, else a new run per fit in
            ``RUNLOG_EXPERIMENT`` or ``"sklearn"``.
        max_child_runs: keep this many child runs, the best ranked; ``None`` (default) for all.

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

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("run_", None)  # a Run does not travel between processes
        return state

    def _check(self) -> None:
        if not isinstance(self.search, BaseSearchCV):
            raise TypeError("search must be a scikit-learn BaseSearchCV (GridSearchCV, RandomizedSearchCV, "
                            f"HalvingGridSearchCV...), got {type(self.search).__name__}: {self.search!r}")
        if self.run is not None and not isinstance(self.run, Run):
            raise TypeError(f"run must be a runlog_core.Run or None, got {type(self.run).__name__}: {self.run!r}")
        if self.experiment is not None and not isinstance(self.experiment, (str, Experiment)):
            raise TypeError("experiment must be an experiment name, a runlog_core.Experiment or None, got "
                            f"{type(self.experiment).__name__}: {self.experiment!r}")
        if self.run is not None and self.experiment is not None:
            raise ValueError("pass run= or experiment=, not both")
        _check_max(self.max_child_runs)

    def _open(self) -> tuple[Run, bool]:
        if self.run is not None:
            return self.run, False
        if self.experiment is None:
            return _default_run()
        experiment = Experiment(self.experiment) if isinstance(self.experiment, str) else self.experiment
        return experiment.start_logging(name=type(self.search).__name__, outputs=None), True

    def fit(self, X: Any, y: Any = None, **params: Any) -> TrackedSearch:
        """Fit the wrapped search and log it.

        Args:
            X, y, params: what the search's ``fit`` takes.

        Returns:
            ``self``, fitted; ``self.run_`` is the parent run.

        Raises:
            Whatever the search's ``fit`` raises, unchanged; the parent run then ends Failed.
        """
        self._check()
        warn = WarnOnce("the fit goes on")
        self.warnings_ = warn
        search = self.search
        run: Run | None = None
        owned = False
        try:
            run, owned = self._open()
        except Exception as err:
            warn("start the parent run", err)
        self.run_ = run
        live: _LiveChildren | None = None
        previous = None
        if run is not None and _has_callback_api(search):
            try:
                live = _LiveChildren(search, run, warn, create=self.max_child_runs is None)
                clock = live.open()
                if clock is None:
                    live = None
                else:
                    previous = list(getattr(search, "_skl_callbacks", []))
                    search.set_callbacks(*previous, clock)
            except Exception as err:
                warn("attach the live candidate callback", err)
                live = None
        token = _TRACKING.set(True)
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
                        run._end_for(err)
                except Exception as log_err:
                    warn("end the parent run", log_err)
            raise
        finally:
            _TRACKING.reset(token)
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


# -- autolog ----------------------------------------------------------------------------------

_patches = Patches()
_autolog_target = AutologTarget(DEFAULT_EXPERIMENT)


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


def _autolog_estimator(original: Any, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    experiment = _autolog_target.experiment()
    run: Run | None = None
    try:
        if experiment is None:
            run = Run.get_context().child_run(name=type(estimator).__name__)
        else:
            run = Experiment(experiment).start_logging(name=type(estimator).__name__, outputs=None)
        run.set_tags({"estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}"})
        run.log_params({k: _plain(v) for k, v in estimator.get_params(deep=True).items()
                        if not isinstance(v, BaseEstimator)})
    except Exception as err:
        warn_once("start a run for the estimator", err)
    token = nested.set(True)
    try:
        result = original(estimator, *args, **kwargs)
    except BaseException as err:
        if run is not None:
            try:
                run._end_for(err)
            except Exception as log_err:
                warn_once("end the estimator's run", log_err)
        raise
    finally:
        nested.reset(token)
    if run is not None:
        try:
            X = args[0] if args else kwargs.get("X")
            y = args[1] if len(args) > 1 else kwargs.get("y")
            if y is not None and X is not None and hasattr(estimator, "score"):
                token = nested.set(True)
                try:
                    run.log("training_score", float(estimator.score(X, y)))
                finally:
                    nested.reset(token)
        except Exception as err:
            warn_once("compute the training score", err)
        try:
            run.complete()
        except Exception as err:
            warn_once("end the estimator's run", err)
    return result


def _autolog_search(original: Any, search: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    TrackedSearch(search, experiment=_autolog_target.experiment()).fit(*args, **kwargs)
    return search


def _wrap_fit(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if nested.get() or not _patches:
            return original(self, *args, **kwargs)
        if isinstance(self, BaseSearchCV):
            return _autolog_search(original, self, args, kwargs)
        return _autolog_estimator(original, self, args, kwargs)

    return fit


@hookimpl
def runlog_autolog(config: dict[str, Any]) -> None:
    """Patch scikit-learn's ``fit`` methods (or put them back with ``disable``)."""
    if not selected(config, "sklearn"):
        return
    if config.get("disable"):
        _patches.restore()
        return
    _autolog_target.configure(config)
    for cls in _fit_classes():
        _patches.patch(cls, "fit", _wrap_fit)

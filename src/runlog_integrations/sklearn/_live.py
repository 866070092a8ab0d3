"""Live child runs through scikit-learn's callback API for searches (``set_callbacks``, 1.9+).

A small ``FitCallback`` reports when each fold of each candidate starts and ends. It runs
wherever the fold runs (a joblib worker under ``n_jobs > 1``) and only sends timings to the
process that called ``fit``, over scikit-learn's own callback transport; every write to the
store happens in that process, in :class:`LiveChildren`.

The API tells a fold task only its position in its batch, not its params, so the first
batch's candidates are computed as the search draws them (its grid, or its sampler with a
copy of its random state); later halving iterations are matched to their candidates when
``fit`` returns.
"""

from __future__ import annotations

import copy
import numbers
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV

from runlog_core import Run
from runlog_core.integration import WarnOnce

from ._results import candidate_name, halving, plain

__all__ = ["LiveChildren", "has_callback_api"]

_FOLD_TASK = "candidate-split-evaluation"
_BATCH_TASKS = ("search", "halving-iteration")


def has_callback_api(search: Any) -> bool:
    """This scikit-learn lets ``search`` take fit callbacks (1.9+)."""
    return hasattr(search, "set_callbacks") and hasattr(search, "_init_callback_context")


_NO_REPLICA = object()


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


def _first_candidates(search: Any, n_candidates: int) -> list[dict[str, Any]] | None:
    """The candidates of the search's first batch, in the order it evaluates them, computed
    as scikit-learn's own ``_run_search`` does (``None`` for other searches): called from
    the search's ``search`` / first ``halving-iteration`` task, before it draws them."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler, RandomizedSearchCV

    cls = type(search)
    candidates: Any = None
    if halving(search):
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


class CandidateClock:
    """A scikit-learn ``FitCallback`` that reports when each candidate's fold starts and ends.

    It sends ``(batch, task_id, event, time)`` to the process that called ``fit`` and never
    writes. In that process it also tells ``live`` when a batch of candidates starts (the
    search's own tasks always run there); ``live`` does not travel to workers.
    """

    def __init__(self, handle: Any, live: LiveChildren | None = None) -> None:
        self.handle = handle
        self.live = live

    def __getstate__(self) -> dict[str, Any]:
        return {"handle": self.handle, "live": None}

    def setup(self, estimator: Any, context: Any) -> None:
        pass

    def teardown(self, estimator: Any, context: Any) -> None:
        pass

    def _send(self, context: Any, event: str) -> None:
        if getattr(context, "task_name", None) != _FOLD_TASK:
            return
        try:
            from sklearn.callback._transport import send

            send(self.handle, (_path(context.parent), context.task_id, event, time.time()))
        except Exception:  # timing is a nicety: a fold must never fail because of it
            pass

    def on_fit_task_begin(self, estimator: Any, context: Any) -> None:
        live = self.live
        if live is not None and getattr(context, "task_name", None) in _BATCH_TASKS:
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


FoldTimes = list[tuple[float | None, float | None]]


class LiveChildren:
    """In the fitting process: records every fold's start and end time and, with ``create``,
    creates a child run as a candidate's first fold starts. The child stays Running until
    ``fit`` returns: its scores are only known then (a run that has ended takes no more
    values), and it is then ended with its last fold's real end time."""

    def __init__(self, search: Any, parent: Run, warn: WarnOnce, create: bool = True) -> None:
        self.search = search
        self.parent = parent
        self.warn = warn
        self.create = create
        self.halving = halving(search)
        self.lock = threading.Lock()
        self.batches: dict[tuple[Any, ...], _Batch] = {}
        self.rows = 0
        self.times: dict[tuple[Any, int], list[float | None]] = {}
        self.children: dict[int, Run] = {}
        self.handle: Any = None
        self.clock: CandidateClock | None = None

    def open(self) -> CandidateClock | None:
        """Start listening; the callback to attach to the search, or ``None`` (warned) when it cannot be."""
        try:
            from sklearn.callback._transport import open_listener

            self.handle = open_listener(self.consume)
            self.clock = CandidateClock(self.handle, self)
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
        """One ``(batch, task_id, event, time)`` message from a fold, wherever it ran."""
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
                    child.log_params({k: plain(v) for k, v in params.items()})
                    self.children[candidate] = child
        except Exception as err:
            self.warn("create a child run live", err)

    def fold_times(self, row: int, n_splits: int) -> FoldTimes:
        """The fold start and end times of row ``row`` of ``cv_results_``."""
        with self.lock:
            for path, batch in self.batches.items():
                if batch.offset <= row < batch.offset + batch.size:
                    first = (row - batch.offset) * n_splits
                    spans: FoldTimes = []
                    for k in range(n_splits):
                        begin, end = self.times.get((path, first + k), (None, None))
                        spans.append((begin, end))
                    return spans
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

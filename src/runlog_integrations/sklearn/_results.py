"""Reading a search: its settings, its ``cv_results_`` and the candidates behind its rows.

Pure functions of a search and its ``cv_results_``: nothing here writes to a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = [
    "candidate_name",
    "candidate_rows",
    "failed_folds",
    "fold_series",
    "halving",
    "number",
    "plain",
    "ranked",
    "results_table",
    "row_metrics",
    "search_settings",
]

_MAX_NAME = 200


def plain(value: Any) -> Any:
    """A value as a JSON-friendly param: estimators by class name, arrays as lists, callables by name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, BaseEstimator):
        return type(value).__name__
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range, set, frozenset)):
        return [plain(v) for v in value]
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
    converted = plain(value)
    return converted if converted is None or isinstance(converted, (bool, int, float, str)) else str(converted)


def number(value: Any) -> float | int | None:
    """``value`` as a metric (bools as 0/1), or ``None`` when it is not a number."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return None


def candidate_name(params: Mapping[str, Any]) -> str:
    """A child run's name: its params as ``"alpha=0.1, fit_intercept=True"``."""
    text = ", ".join(f"{key}={plain(value)}" for key, value in params.items()) or "default params"
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


def search_settings(search: Any) -> dict[str, Any]:
    """The parent run's params: the search's class and settings, the estimator's class and params."""
    settings: dict[str, Any] = {"search": type(search).__name__}
    for key, value in search.get_params(deep=False).items():
        if key == "estimator":
            settings["estimator"] = type(value).__name__
            try:
                settings["estimator_params"] = {k: plain(v) for k, v in value.get_params(deep=True).items()
                                                if not isinstance(v, BaseEstimator)}
            except Exception:  # an estimator whose get_params fails still gets tracked
                pass
        elif key == "cv" and value is not None and not isinstance(value, int):
            settings["cv"] = repr(value)
        elif key in ("param_grid", "param_distributions") and isinstance(value, Mapping):
            settings[key] = {str(k): plain(v) if isinstance(v, (list, tuple, np.ndarray, range)) else repr(v)
                             for k, v in value.items()}
        else:
            settings[key] = plain(value)
    n_splits = getattr(search, "n_splits_", None)
    if n_splits is not None:
        settings["n_splits"] = int(n_splits)
    return settings


def halving(search: Any) -> bool:
    """``search`` is a successive-halving search (one ``cv_results_`` row per iteration reached)."""
    try:
        from sklearn.model_selection._search_successive_halving import BaseSuccessiveHalving
    except ImportError:
        return False
    return isinstance(search, BaseSuccessiveHalving)


def _scorer_names(results: Mapping[str, Any]) -> list[str]:
    return [key[len("rank_test_"):] for key in results if key.startswith("rank_test_")]


def ranked(results: Mapping[str, Any], refit: Any) -> list[int]:
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


def fold_series(results: Mapping[str, Any]) -> dict[str, list[tuple[int, str]]]:
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


def row_metrics(results: Mapping[str, Any], index: int) -> dict[str, float | int]:
    """Every number of row ``index`` but the per-fold columns: mean/std/rank scores, times..."""
    metrics: dict[str, float | int] = {}
    for key, column in results.items():
        if key == "params" or key.startswith("param_") or key.startswith("split"):
            continue
        value = number(column[index]) if hasattr(column, "__getitem__") else None
        if value is not None:
            metrics[key] = value
    return metrics


def failed_folds(results: Mapping[str, Any], index: int, error_score: Any) -> int:
    """How many folds of row ``index`` failed to fit (scored ``error_score=nan``)."""
    if not (isinstance(error_score, float) and math.isnan(error_score)):
        return 0
    tests = [columns for name, columns in fold_series(results).items() if name.startswith("test_")]
    if not tests:
        return 0
    count = 0
    for _, key in tests[0]:
        value = number(results[key][index])
        if isinstance(value, float) and math.isnan(value):
            count += 1
    return count


def results_table(results: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``cv_results_`` as table columns (the ``params`` dicts are in the ``param_*`` columns)."""
    return {key: [_cell(v) for v in column] for key, column in results.items() if key != "params"}


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


def candidate_rows(search: Any, results: Mapping[str, Any]) -> list[list[int]]:
    """The ``cv_results_`` rows of each candidate: one row each, but for a halving search,
    whose candidates have one row per iteration they reached (first iteration first)."""
    count = len(results["params"])
    if not halving(search) or "iter" not in results:
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

"""Which columns a listing of runs shows, named how, and cell values as JSON gives them.

Shared by the ``runlog runs``/``runlog compare`` listings (terminal tables and ``--json``) and the web
UI's runs table and JSON API: a column is a key, ``metrics.NAME``, ``params.NAME``, ``tags.NAME``, or one
of :data:`ATTRIBUTE_COLUMNS`. How a terminal prints them stays in ``runlog_core.cli.table``.
"""

from __future__ import annotations

import math
from collections import Counter

from runlog_core.exceptions import InvalidNameError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

__all__ = ["ATTRIBUTE_COLUMNS", "DEFAULT_ATTRIBUTES", "JSON_KEYS", "choose_columns", "json_key", "json_ready", "named_fields",
           "parse_columns"]

ATTRIBUTE_COLUMNS = ("id", "experiment", "name", "status", "started", "ended", "duration", "parent")
"""The columns of ``runlog runs`` that are not a metric, param or tag."""

DEFAULT_ATTRIBUTES = ("id", "experiment", "name", "status", "started", "duration")
"""The attribute columns :func:`choose_columns` starts with."""

JSON_KEYS = {"id": "run_id", "parent": "parent_run_id", "started": "start_time", "ended": "end_time"}
"""The key JSON output gives an attribute column whose table header is short: one vocabulary for ``runs --json``
(with or without ``--columns``), ``show --json``, ``export --format json`` and the DataFrames (``run_id``,
``parent_run_id``, ``start_time``, ``end_time``); ``--columns`` accepts either spelling."""

_ALIASES = {key: column for column, key in JSON_KEYS.items()}

_NAMESPACES = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params",
               "tags": "tags", "tag": "tags"}
_COLUMNS_HELP = (f"give a comma-separated list of metrics.NAME, params.NAME, tags.NAME or {', '.join(ATTRIBUTE_COLUMNS)}, "
                 "e.g. --columns status,metrics.loss,params.lr")


def json_ready(value: Any) -> Any:
    """``value`` with NaN and +/-inf as the strings "NaN", "Infinity", "-Infinity": JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def json_key(column: str) -> str:
    """The key JSON output gives ``column`` (``id`` -> ``run_id``, ``parent`` -> ``parent_run_id``...)."""
    return JSON_KEYS.get(column, column)


def parse_columns(text: str) -> list[str]:
    """``--columns`` as a list of column keys: ``metrics.NAME``, ``params.NAME``, ``tags.NAME`` or an attribute.

    Raises:
        InvalidNameError: an item is none of those (the message lists the accepted forms).
    """
    columns: list[str] = []
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise InvalidNameError("--columns", text, _COLUMNS_HELP)
    for item in items:
        if not item:
            continue
        namespace, dot, name = item.partition(".")
        if dot and namespace.lower() in _NAMESPACES and name:
            key = f"{_NAMESPACES[namespace.lower()]}.{name}"
        elif not dot and item.lower() in ATTRIBUTE_COLUMNS:
            key = item.lower()
        elif not dot and item.lower() in _ALIASES:
            key = _ALIASES[item.lower()]
        elif not dot:
            raise InvalidNameError("--columns", item, f"{_COLUMNS_HELP} (for the metric, write metrics.{item})")
        else:
            raise InvalidNameError("--columns", item, _COLUMNS_HELP)
        if key not in columns:
            columns.append(key)
    return columns


def named_fields(expression: Any, order_by: Iterable[tuple[Any, bool]]) -> list[str]:
    """The ``metrics.``/``params.``/``tags.`` keys a filter tree and sort keys name, in order, once each."""
    keys: list[str] = []
    stack = [expression] if expression is not None else []
    found = []
    while stack:  # depth first, left to right, without recursion (a filter may hold 10,000 terms)
        node = stack.pop()
        terms = getattr(node, "terms", None)
        if terms is not None and not hasattr(node, "field"):
            stack.extend(reversed(terms))
        else:
            found.append(node.field)
    found.extend(field for field, _descending in order_by)
    for field in found:
        if field.namespace in ("metrics", "params", "tags"):
            key = f"{field.namespace}.{field.key}"
            if key not in keys:
                keys.append(key)
    return keys


def choose_columns(named: Sequence[str], metrics_per_run: Iterable[Iterable[str]], shared: int) -> list[str]:
    """The columns ``runlog runs`` shows when no ``--columns`` is given.

    The run's attributes, then every key the filter and sort name, then the ``shared`` metrics that
    most of the listed runs have (ties: the one met first), so that a metric a few runs share is shown
    before one a single run has and a mixed experiment (Lightning, XGBoost and search runs together)
    still shows each kind's metrics. System metrics (``system/...``) are left out unless named.
    """
    counts: Counter[str] = Counter()
    for names in metrics_per_run:
        counts.update(f"metrics.{name}" for name in names if not name.startswith("system/"))
    chosen = list(named)
    # most_common keeps the order of first appearance among equal counts; among those, scores and
    # losses come before other metrics, and timings (a search's mean_fit_time) after them
    ranked = sorted(enumerate(counts.most_common()), key=lambda item: (-item[1][1], _rank(item[1][0]), item[0]))
    extra = [key for _position, (key, _count) in ranked if key not in chosen]
    return [*DEFAULT_ATTRIBUTES, *chosen, *extra[:max(shared, 0)]]


_SCORE_WORDS = ("score", "loss", "acc", "auc", "f1", "err", "mse", "mae", "precision", "recall", "r2")


def _rank(key: str) -> int:
    """0 for a metric that reads as a score or a loss, 2 for a timing, 1 for the rest."""
    name = key[len("metrics."):].lower()
    if name.endswith("time") or "_time" in name or name.endswith(("_s", "_ms")):
        return 2
    return 0 if any(word in name for word in _SCORE_WORDS) else 1

"""Reading a child's primary metric from the store, and its best value."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

__all__ = ["best_value", "metric_values"]


def metric_values(run: Any, name: str) -> list[float]:
    """The numbers ``run`` logged as ``name``, in the order logged (read from the store)."""
    store = run._store
    for series in store.get_series(run.id):
        if series.name == name:
            return [float(value) for _, value, _ in store.get_points(series.id)
                    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)]
    return []


def best_value(values: Sequence[float], maximize: bool) -> float | None:
    if not values:
        return None
    return max(values) if maximize else min(values)

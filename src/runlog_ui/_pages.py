"""Pages of what may be huge: a run's params and tags, a series' points, runs' params side by side.

A run may hold millions of params (2.1 million answered 52 MB in 12.7 s before pages, #24): the
API sends a page of keys at a time, in code point order (Python's ``sorted``), each page naming the
key to continue after. The store's optional page reads do the work
(``get_params_page``, ``get_tags_page``, ``get_points_page``: :mod:`runlog_core.store`); a store
without them is read whole and cut here, as before.

Compare pages the union of several runs' keys: each run gives its first ``limit`` keys after the
cursor; a key is on the page when every run whose page came back full reaches at least as far
(:func:`side_by_side`), so no run's value of a key on the page is missed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["KEYS_PAGE", "MAX_KEYS_PAGE", "dict_page", "key_page", "points_page", "side_by_side"]

KEYS_PAGE = 200  # params, tags or metrics a page shows unless asked for more
MAX_KEYS_PAGE = 5000

Page = tuple[dict[str, Any], int]


def dict_page(values: dict[str, Any], after: str | None, limit: int, contains: str | None) -> Page:
    """A page of a dict read whole: its keys sorted, after ``after``, containing ``contains``; and how many contain it."""
    keys = sorted(k for k in values if not contains or contains in k)
    start = 0 if after is None else bisect_right(keys, after)
    return {k: values[k] for k in keys[start:start + limit]}, len(keys)


def key_page(store: Any, namespace: str, run_id: str, after: str | None, limit: int, contains: str | None) -> Page:
    """A page of the run's ``params`` or ``tags`` and how many match: the store's page read, or the whole read cut."""
    reader = getattr(store, f"get_{namespace}_page", None)
    if reader is not None:
        found: Page = reader(run_id, after, limit, contains or None)
        return found
    everything = store.get_params(run_id) if namespace == "params" else store.get_tags(run_id)
    return dict_page(everything, after, limit, contains)


def points_page(store: Any, series_id: int, offset: int, limit: int) -> list[tuple[int, Any, float]]:
    """``get_points(series_id)[offset:offset + limit]``, read as a page when the store can."""
    reader = getattr(store, "get_points_page", None)
    if reader is not None:
        points: list[tuple[int, Any, float]] = reader(series_id, offset, limit)
        return points
    return store.get_points(series_id)[offset:offset + limit]


def side_by_side(pages: Sequence[Callable[[str | None, int], Page]], after: str | None,
                 limit: int) -> tuple[dict[str, list[Any]], str | None, list[int]]:
    """One page of the union of several runs' keys: ``({key: [value of each run or None]}, next, totals)``.

    ``pages[i](after, limit)`` is run i's page after a key and its total; ``next`` is the key to
    continue after (``None``: this was the last page); ``totals`` each run's count of keys.
    """
    got = [page(after, limit) for page in pages]
    union = sorted({key for values, _ in got for key in values})
    horizons = [max(values) for values, _ in got if len(values) >= limit and values]
    if horizons:  # a run may have more keys after its page: stop where the shortest full page stops
        reach = min(horizons)
        union = [key for key in union if key <= reach]
    keys = union[:limit]
    more = bool(horizons) or len(union) > limit
    rows = {key: [values.get(key) for values, _ in got] for key in keys}
    return rows, (keys[-1] if more and keys else None), [total for _, total in got]

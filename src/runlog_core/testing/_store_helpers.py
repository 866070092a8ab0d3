"""What the conformance tests share: the ``store`` fixture and builders of runs and batches."""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from runlog_core.store import Batch, RunInfo, SeriesRef, Store

__all__ = ["batch_of", "new_run", "same_value", "store", "write_points"]

T0 = 1_700_000_000.0
"""The wall time the tests' points start at."""

_unique = itertools.count()


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Iterator[Store]:
    """A fresh, empty store from the importing module's ``store_factory`` fixture; closed after the test."""
    opened = store_factory()
    try:
        yield opened
    finally:
        opened.close()


def new_run(store: Store, experiment: str = "conformance", name: str | None = None, *,
            run_id: str | None = None, parent_id: str | None = None, start_time: float | None = None,
            heartbeat: float | None = None, heartbeat_timeout: float = 3600.0) -> RunInfo:
    """Create a Running run (as ``Experiment.start_logging`` does) and return the RunInfo written."""
    experiment_id = store.get_or_create_experiment(experiment)
    now = time.time()
    info = RunInfo(
        run_id or uuid.uuid4().hex, experiment_id, experiment, name or f"run {next(_unique)}", "Running",
        now if start_time is None else start_time, parent_id=parent_id,
        heartbeat=now if heartbeat is None else heartbeat, heartbeat_timeout=heartbeat_timeout,
        pid=4242, host="conformance-host",
    )
    store.create_run(info)
    return info


def batch_of(points: Iterable[tuple[SeriesRef, int, Any]], new: Iterable[SeriesRef] = (),
             time0: float = T0) -> Batch:
    """A Batch as the writer builds it: ``new`` series first, then the points grouped per series.

    ``points`` are ``(series, step, value)`` in logging order; the n-th point gets the time
    ``time0 + n``. Each series' column keeps its points' order, and ``first`` is the position
    of its first point among the batch's points.
    """
    batch = Batch()
    batch.series.extend(new)
    columns: dict[int, tuple[SeriesRef, int, list[int], list[Any], list[float]]] = {}
    for index, (series, step, value) in enumerate(points):
        column = columns.get(id(series))
        if column is None:
            columns[id(series)] = column = (series, index, [], [], [])
        column[2].append(step)
        column[3].append(value)
        column[4].append(time0 + index)
        batch.count = index + 1
    batch.columns.extend(columns.values())
    return batch


def write_points(store: Store, series: SeriesRef, values: list[Any], steps: list[int] | None = None,
                 new: bool = True, time0: float = T0) -> None:
    """Write ``values`` as the points of one series (created in the same batch when ``new``)."""
    steps = list(range(len(values))) if steps is None else steps
    store.write(batch_of([(series, step, value) for step, value in zip(steps, values)],
                         new=[series] if new else [], time0=time0))


def same_value(got: Any, expected: Any) -> bool:
    """Equal, of the same type, NaN equal to NaN and -0.0 told from 0.0 (recursing into dicts and lists)."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(got)
        return got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)
    if isinstance(expected, dict):
        return list(got) == list(expected) and all(same_value(got[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return len(got) == len(expected) and all(same_value(g, e) for g, e in zip(got, expected))
    return bool(got == expected)

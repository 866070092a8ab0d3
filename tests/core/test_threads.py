"""Any number of threads may log into one run: every point lands in its own series with its own value (issue 8)."""

from __future__ import annotations

import threading
from typing import Any

from runlog_core import Run

N = 50_000


def _log_from_threads(run: Run, count: int, make: Any) -> None:
    start = threading.Barrier(count)

    def work(k: int) -> None:
        start.wait()
        for i in range(N):
            run.log_metrics(make(k), step=i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_threads_logging_dicts_keep_each_point_in_its_own_series(run: Run) -> None:
    _log_from_threads(run, 2, lambda k: {f"t{k}": float(k)})
    again = Run(run.experiment, run.id)
    for k in range(2):
        history = again.get_metric_history(f"t{k}")
        assert [point.step for point in history] == list(range(N))
        assert {point.value for point in history} == {float(k)}


def test_threads_alternating_dict_shapes_never_swap_values(run: Run) -> None:
    # the fast path caches per dict of names: four threads with two shapes each, interleaved
    _log_from_threads(run, 4, lambda k: {f"a{k}": float(k), "shared" + str(k % 2): -1.0 - k % 2}
                      if k % 2 else {f"a{k}": float(k)})
    again = Run(run.experiment, run.id)
    for k in range(4):
        history = again.get_metric_history(f"a{k}")
        assert len(history) == N and {point.value for point in history} == {float(k)}
    shared = again.get_metric_history("shared1")
    assert len(shared) == 2 * N and {point.value for point in shared} == {-2.0}


def test_the_system_monitor_never_takes_a_training_value(run: Run) -> None:
    run._start_monitor(interval=0.05)
    steps = 0
    try:
        # log until the monitor has sampled several times while the loop ran
        while run._monitor.samples < 2 or steps < N:
            for i in range(steps, steps + 1000):
                run.log_metrics({"loss": -123.5, "acc": -7.25}, step=i)
            steps += 1000
    finally:
        run._stop_capture()
    metrics = run.get_metrics()
    system = {name: value for name, value in metrics.items() if name.startswith("system/")}
    assert system, "the monitor sampled nothing"
    for name, values in system.items():
        values = values if isinstance(values, list) else [values]
        assert -123.5 not in values and -7.25 not in values, name
    again = Run(run.experiment, run.id)
    assert [p.value for p in again.get_metric_history("loss")] == [-123.5] * steps
    assert [p.step for p in again.get_metric_history("acc")] == list(range(steps))


def test_threads_creating_the_same_series_at_once_share_it(run: Run) -> None:
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        for i in range(200):
            run.log(f"m{i % 10}", float(k), step=k * 1000 + i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    series = run._store.get_series(run.id)
    run.flush()
    names = sorted(info.name for info in run._store.get_series(run.id))
    assert names == sorted(f"m{i}" for i in range(10)) and len(series) <= 10
    for i in range(10):
        history = Run(run.experiment, run.id).get_metric_history(f"m{i}")
        assert len(history) == 8 * 20
        assert all(point.value == float(point.step // 1000) for point in history)

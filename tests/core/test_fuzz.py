"""Property tests: random call sequences never lose or alter a valid point, and bad ones raise
only runlog's documented errors (reliability catalogue C8 and C11)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from runlog_core import Experiment, Run  # noqa: E402
from runlog_core.exceptions import RunlogError  # noqa: E402

NAMES = st.sampled_from(["loss", "acc", "val/loss", "lr", "text"])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**63), 2**63 - 1))
STEPS = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
CALL = st.one_of(
    st.tuples(st.just("log"), NAMES, NUMBERS, STEPS),
    st.tuples(st.just("log_metrics"), st.dictionaries(NAMES, NUMBERS, max_size=3), STEPS),
    st.tuples(st.just("flush")),
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(CALL, max_size=40))
def test_random_call_sequences_keep_every_point_in_order(tmp_path: Path, calls: list[tuple[Any, ...]]) -> None:
    exp = Experiment("fuzz", store=tmp_path / "store")
    run = exp.start_logging()
    expected: dict[str, list[tuple[int, Any]]] = {}
    next_step: dict[str, int] = {}

    def record(name: str, value: Any, step: int | None) -> None:
        at = next_step.get(name, 0) if step is None else step
        expected.setdefault(name, []).append((at, value))
        next_step[name] = at + 1

    for call in calls:
        if call[0] == "log":
            _, name, value, step = call
            if name == "text":
                value = str(value)
            try:
                run.log(name, value, step=step)
            except RunlogError:
                continue  # e.g. a str after numbers: refused, nothing logged
            record(name, value, step)
        elif call[0] == "log_metrics":
            _, metrics, step = call
            metrics = {k: (str(v) if k == "text" else v) for k, v in metrics.items()}
            try:
                run.log_metrics(metrics, step=step)
            except RunlogError:
                continue
            for name, value in metrics.items():
                record(name, value, step)
        else:
            run.flush()
    run.complete()
    again = Run(exp, run.id)
    for name, points in expected.items():
        history = again.get_metric_history(name)
        assert [p.step for p in history] == [s for s, _ in points]
        assert all(_same(v, p.value) for (_, v), p in zip(points, history)), (name, points, history)
    assert set(again.get_metrics()) == set(expected)


WEIRD = st.one_of(st.none(), st.text(max_size=5), st.binary(max_size=3), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.floats(), st.integers(),
                  st.booleans(), st.tuples(st.integers()))


@settings(max_examples=200, deadline=None)
@given(name=st.one_of(st.text(max_size=8), st.integers(), st.none()), value=WEIRD, step=st.one_of(STEPS, WEIRD))
def test_any_input_is_accepted_or_refused_with_a_runlog_error(tmp_path_factory: Any, name: Any, value: Any,
                                                              step: Any) -> None:
    run = _shared_run(tmp_path_factory)
    for call in (lambda: run.log(name, value, step=step), lambda: run.log_metrics({name: value}, step=step),
                 lambda: run.log_params({name: value}), lambda: run.tag(name, value),
                 lambda: run.log_row("row", **({name: value} if isinstance(name, str) and name.isidentifier() else {"x": value}))):
        try:
            call()
        except RunlogError as err:
            assert isinstance(err, (TypeError, ValueError))
    run.flush()


_runs: dict[str, Run] = {}


def _shared_run(factory: Any) -> Run:
    if "run" not in _runs:
        _runs["run"] = Experiment("weird", store=factory.mktemp("weird") / "store").start_logging()
    return _runs["run"]


def test_a_refused_log_metrics_logs_nothing_and_moves_no_step(tmp_path: Path) -> None:
    run = Experiment("fuzz", store=tmp_path / "store").start_logging()
    run.log("loss", 0.5, step=2**63 - 1)  # the largest step: loss has no next one
    with pytest.raises(RunlogError):
        run.log_metrics({"acc": 0.1, "loss": 0.2})
    run.log("acc", 0.3)
    run.complete()
    again = Run(run.experiment, run.id)
    assert [(p.step, p.value) for p in again.get_metric_history("acc")] == [(0, 0.3)]
    assert [(p.step, p.value) for p in again.get_metric_history("loss")] == [(2**63 - 1, 0.5)]

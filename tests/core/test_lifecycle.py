"""Stores and experiments have a lifecycle: close(), context managers, idle writers end (issue 8)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runlog_core import Experiment, Run
from runlog_core.exceptions import RunEndedError
from runlog_core.writer import writer as _writer
from waiting import wait_until


def _writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "runlog-writer" and thread.is_alive()]


def test_closing_30_experiments_ends_their_writer_threads(tmp_path: Path) -> None:
    before = len(_writer_threads())
    experiments = []
    for k in range(30):
        exp = Experiment("many", store=str(tmp_path / f"store{k}"))
        run = exp.start_logging(outputs=None)
        run.log("x", float(k))
        experiments.append((exp, run.id))
    assert len(_writer_threads()) >= before + 30
    for exp, _ in experiments:
        exp.close()
    assert len(_writer_threads()) == before
    for k, (exp, run_id) in enumerate(experiments):  # everything was committed, and runs ended Completed
        run = Run(exp, run_id)
        assert run.get_status() == "Completed" and run.get_metrics("x") == float(k)


def test_an_experiment_used_as_a_context_manager_closes_its_store(tmp_path: Path) -> None:
    before = len(_writer_threads())
    with Experiment("ctx", store=str(tmp_path / "s")) as exp:
        run = exp.start_logging(outputs=None)
        run.log_metrics({"loss": 0.5}, step=3)
    assert len(_writer_threads()) == before
    assert run.get_status() == "Completed"
    assert run.get_metric_history("loss")[0][:2] == (3, 0.5)
    # closed is not dead: it opens again on demand
    with exp.start_logging(outputs=None) as again:
        again.log("y", 1.0)
    assert again.get_metrics("y") == 1.0
    exp.close()


def test_idle_writers_end_by_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.05")
    monkeypatch.setattr(_writer, "IDLE_SECONDS", 0.2)
    before = len(_writer_threads())
    runs = []
    for k in range(30):
        with Experiment("idle", store=str(tmp_path / f"idle{k}")).start_logging(outputs=None) as run:
            run.log("x", float(k))
        runs.append(run)
    assert wait_until(lambda: len(_writer_threads()) <= before, timeout=60, interval=0.02), _writer_threads()
    # a later event starts the writer again
    with runs[0].experiment.start_logging(outputs=None) as run:
        run.log("z", 2.0)
    assert run.get_metrics("z") == 2.0


def test_logging_into_an_ended_run_raises_and_start_logging_continues_it(run: Run) -> None:
    run.log("loss", 1.0)
    run.log_metrics({"acc": 0.5}, step=0)
    run.complete()
    with pytest.raises(RunEndedError, match=run.id) as caught:
        run.log("loss", 2.0)
    assert caught.value.status == "Completed" and isinstance(caught.value, RuntimeError)
    with pytest.raises(RunEndedError):
        run.log_metrics({"acc": 0.6}, step=1)
    with pytest.raises(RunEndedError):
        Run(run.experiment, run.id).log_params({"a": 1})
    again = run.experiment.start_logging(run_id=run.id, outputs=None)
    again.log("loss", 3.0)
    again.complete()
    assert [(p.step, p.value) for p in again.get_metric_history("loss")] == [(0, 1.0), (1, 3.0)]

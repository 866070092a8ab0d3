"""The trial run of a sweep engine: active per thread, first in Run.get_context() and resolve_run(), and
runs that several processes make once (runlog_core.integration: active_run, open_run, stable_run_id)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError, RunNotFoundError
from runlog_core.integration import (
    active_run,
    current_trial_run,
    open_run,
    reset_active_run,
    resolve_run,
    set_active_run,
    stable_run_id,
)


def test_each_thread_sees_its_own_trial_run(experiment: Experiment) -> None:
    parent = experiment.start_logging(outputs=None)
    trials = [parent.child_run(name=f"trial-{i}") for i in range(2)]
    seen: dict[int, tuple[str, str, bool]] = {}
    barrier = threading.Barrier(2)

    def trial(i: int) -> None:
        with active_run(trials[i]):
            barrier.wait()  # both trials are active at once, in two threads
            context = Run.get_context()
            resolved, owned = resolve_run(default="never")
            context.log("value", i)
            seen[i] = (context.id, resolved.id, owned)
            barrier.wait()
        assert current_trial_run() is None

    threads = [threading.Thread(target=trial, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {i: (trials[i].id, trials[i].id, False) for i in range(2)}
    assert [Run(experiment, t.id).get_metrics() for t in trials] == [{"value": 0}, {"value": 1}]
    assert current_trial_run() is None


def test_another_experiment_or_no_trial_starts_its_own_run(experiment: Experiment) -> None:
    trial = experiment.start_logging(outputs=None)
    with active_run(trial):
        assert resolve_run(experiment=experiment.name, default="never") == (trial, False)  # the trial's own
        own, owned = resolve_run(experiment=Experiment("elsewhere", store=experiment.store), default="never")
        assert (own.id != trial.id, owned) == (True, True)
        own.complete()
        token = set_active_run(None)  # nested: no trial run inside
        try:
            assert current_trial_run() is None
            fresh, owned = resolve_run(experiment=experiment.name, default="never")
            assert fresh.id not in (trial.id, own.id) and owned
            fresh.complete()
        finally:
            reset_active_run(token)
        assert current_trial_run() is trial
    with pytest.raises(InvalidArgumentError, match="run"):
        set_active_run("abc")  # type: ignore[arg-type]


def test_open_run_makes_one_run_per_id_and_continues_it(experiment: Experiment) -> None:
    run_id = stable_run_id("optuna", experiment.id, "study", 0)
    assert run_id == stable_run_id("optuna", experiment.id, "study", 0) != stable_run_id("optuna", experiment.id, "study", 1)
    assert len(run_id) == 16 and int(run_id, 16) >= 0
    first = open_run(experiment, run_id, name="parent", tags={"k": "1"}, start_time=1_000_000.0)
    first.complete()
    again = open_run(experiment, run_id, name="ignored", tags={"k": "2"})
    assert again.get_status() == "Running"
    again.complete()
    runs = experiment.get_runs(include_children=True)
    assert [(r.id, r.name, r.get_tags()["k"], r.get_details()["startTimeUtc"] is not None) for r in runs] == [
        (run_id, "parent", "2", True)]
    assert Run(experiment, run_id).get_status() == "Completed"
    other = Experiment("other", store=experiment.store)
    with pytest.raises(RunNotFoundError):
        open_run(other, run_id)
    with pytest.raises(InvalidArgumentError, match="run_id"):
        open_run(experiment, "../x")


_WORKER = """
import sys
from runlog_core import Experiment
from runlog_core.integration import open_run
exp = Experiment("shared", store=sys.argv[1])
sys.stdin.readline()  # every worker starts at once
run = open_run(exp, "0123456789abcdef", name="parent")
child = open_run(exp, "fedcba9876543210", parent=run, name="child")
child.log("worker", int(sys.argv[2]))
"""


def test_workers_opening_one_id_at_once_make_one_run(tmp_path: Path) -> None:
    store = str(tmp_path / "shared-store")
    Experiment("shared", store=store).close()
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, store, str(i)], stdin=subprocess.PIPE)
               for i in range(3)]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        worker.stdin.flush()
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0]
    exp = Experiment("shared", store=store)
    runs = exp.get_runs(include_children=True)
    assert sorted((r.id, r.get_status()) for r in runs) == [("0123456789abcdef", "Completed"),
                                                           ("fedcba9876543210", "Completed")]
    child = Run(exp, "fedcba9876543210")
    assert child.parent is not None and child.parent.id == "0123456789abcdef"
    assert sorted(child.get_metrics()["worker"]) == [0, 1, 2]

"""The pytest plugin (issue 12): a user's test suite gets runlog_store and runlog_run without a conftest line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "runlog_core.pytest_plugin"


def _plugin_args() -> list[str]:
    """``-p`` the plugin only where the entry point is not installed (an old editable install)."""
    installed = any(point.value == PLUGIN for point in entry_points(group="pytest11"))
    return [] if installed else ["-p", PLUGIN]


def test_the_plugin_is_installed_with_runlog() -> None:
    found = {point.name: point.value for point in entry_points(group="pytest11")}
    assert found.get("runlog") == PLUGIN, "reinstall runlog (pip install -e .) to register its pytest11 entry point"


def test_a_users_training_test_logs_into_runlog_run_and_reads_it_back(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users_training_code=textwrap.dedent("""
        import math

        def train(run, epochs):
            weight, target, rate = 0.0, 3.0, 0.3
            for epoch in range(epochs):
                loss = (weight - target) ** 2
                weight -= rate * 2 * (weight - target)
                run.log_metrics({"loss": loss, "weight": weight}, step=epoch)
            run.log_params({"epochs": epochs, "rate": rate})
            return weight

        def test_training_converges(runlog_run):
            weight = train(runlog_run, epochs=8)
            losses = [point.value for point in runlog_run.get_metric_history("loss")]
            assert [point.step for point in runlog_run.get_metric_history("loss")] == list(range(8))
            assert losses == sorted(losses, reverse=True) and losses[0] == 9.0
            assert math.isclose(runlog_run.get_metrics("weight")[-1], weight)
            assert runlog_run.get_params() == {"epochs": 8, "rate": 0.3}
            assert runlog_run.get_status() == "Running"

        def test_a_test_may_end_the_run_itself(runlog_run):
            runlog_run.fail(error_details="on purpose")
            assert runlog_run.get_status() == "Failed"
    """))
    inner = pytester.path / "inner-tmp"  # the inner session's tmp_path folders, apart from any other test's
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", f"--basetemp={inner}")
    result.assert_outcomes(passed=2)
    # after the session: the runs were ended (Completed unless the test ended them) and committed
    from runlog_core import Experiment

    stores = sorted(inner.glob("**/runlog/runlog.db"))
    assert len(stores) == 2
    statuses = {}
    for db in stores:
        experiment = Experiment("pytest", store=db.parent)
        statuses.update({run.name: run.get_status() for run in experiment.get_runs()})
        experiment.close()
    assert statuses == {"test_training_converges": "Completed", "test_a_test_may_end_the_run_itself": "Failed"}


def test_runlog_store_is_the_default_store_of_each_test_and_fresh(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_users_store_fixture=textwrap.dedent("""
        import os
        import subprocess
        import sys

        import pytest
        from runlog_core import Experiment, Run, search_runs

        seen = []

        @pytest.mark.parametrize("attempt", [1, 2])
        def test_default_store(runlog_store, tmp_path, attempt):
            assert os.environ["RUNLOG_STORE"] == str(runlog_store)
            assert runlog_store.parent == tmp_path and (runlog_store / "runlog.db").is_file()
            assert search_runs() == []  # fresh: nothing from the other attempt
            with Experiment("plain").start_logging() as run:  # no store= : the default store
                run.log("x", attempt)
            assert [found.id for found in search_runs(store=runlog_store)] == [run.id]
            context = Run.get_context()  # process-wide, but its run lives in this test's store
            assert context.id not in seen
            seen.append(context.id)
            context.log("y", attempt)
            # a process the test starts inherits the store too
            code = "from runlog_core import search_runs; print(*[found.id for found in search_runs()])"
            child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            assert run.id in child.stdout.split()

        def test_not_set_without_the_fixture():
            assert "RUNLOG_STORE" not in os.environ
    """))
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_importing_the_plugin_loads_no_data_library() -> None:
    code = ("import sys, runlog_core.pytest_plugin; "
            "print(sorted(m for m in ('pandas', 'numpy', 'polars', 'sqlite3') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

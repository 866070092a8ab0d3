"""pluggy's manager is built on first need (issue 18): a script that only logs opens its store and logs
without it, while runlog's own entry points are the only ones installed; anything else keeps pluggy's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pluggy
import pytest

import runlog_core
from runlog_core import Experiment, Run, hookspecs
from runlog_core.plugins.manager import OWN_ENTRY_POINTS

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SRC = str(Path(runlog_core.__file__).resolve().parents[1])


def _pyproject_entry_points() -> dict[str, str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    table: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["runlog"]
    return table


def _python(code: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = [str(site)] if site is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, SRC, os.environ.get("PYTHONPATH", "")])}
    env.pop("RUNLOG_STORE", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True)


def test_runlogs_own_entry_points_implement_only_the_hooks_the_manager_counts_on() -> None:
    """If an own entry point ever implements another hook, OWN_ENTRY_POINTS must say so, or that
    hook would go unheard while the manager is not built."""
    for name, value in _pyproject_entry_points().items():
        module = value.partition(":")[0]
        assert module in OWN_ENTRY_POINTS, f"{name} = {value}: add its module and hooks to OWN_ENTRY_POINTS"
        pm = pluggy.PluginManager("runlog")
        pm.add_hookspecs(hookspecs)
        plugin = EntryPoint(name, value, "runlog").load()
        pm.register(plugin, name=name)
        implemented = {caller.name for caller in pm.get_hookcallers(plugin) or []}
        assert implemented, name
        assert implemented <= OWN_ENTRY_POINTS[module], (name, implemented)


def test_a_script_that_only_logs_never_imports_pluggy(tmp_path: Path) -> None:
    from runlog_core.plugins.entry_points import entry_points

    foreign = [p for p in entry_points("runlog") if p.value.partition(":")[0] not in OWN_ENTRY_POINTS]
    if foreign:
        pytest.skip(f"this environment has third-party runlog plugins: {foreign}")
    done = _python("""
        import json, sys
        from runlog_core import Experiment
        with Experiment("lazy", store="store").start_logging(outputs=None) as run:
            run.log_params({"alpha": 0.5})
            for step in range(3):
                run.log("loss", 1.0 / (step + 1))
        print(json.dumps({"run": run.id, "pluggy": "pluggy" in sys.modules}))
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pluggy"] is False
    run = Run(Experiment("lazy", store=tmp_path / "store"), result["run"])
    assert run.get_status() == "Completed"
    assert run.get_params() == {"alpha": 0.5}
    assert [p.value for p in run.get_metric_history("loss")] == [1.0, 0.5, 1.0 / 3]


@pytest.mark.parametrize("first", ["", "from runlog_core.plugins.manager import get_plugin_manager; get_plugin_manager()"],
                         ids=["without-manager", "with-manager"])
def test_a_store_that_cannot_open_says_the_same_either_way(tmp_path: Path, first: str) -> None:
    (tmp_path / "a-file").write_text("")
    done = _python(f"""
        {first}
        from runlog_core import Experiment
        from runlog_core.exceptions import StoreError
        for store in ["a-file/inside", "custom://somewhere"]:
            try:
                Experiment("x", store=store).start_logging()
            except StoreError as err:
                print(type(err).__name__, err)
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"StoreError cannot create the store at {tmp_path / 'a-file' / 'inside'}")
    assert lines[1] == ("StoreError no plugin can open the store 'custom://somewhere'; install the plugin for its "
                        "scheme (for PostgreSQL: pip install 'runlog[postgres]')")


def test_a_plugin_registered_after_the_store_opened_hears_what_follows(tmp_path: Path) -> None:
    """The store opened without the manager; register_plugin builds it, and the plugin sees the next events."""
    done = _python("""
        import json, sys
        from runlog_core import Experiment, hookimpl, register_plugin
        exp = Experiment("late", store="store")
        run = exp.start_logging(outputs=None)
        run.log("before", 1.0)
        run.flush()
        seen = []
        class Late:
            @hookimpl
            def runlog_metrics_logged(self, run, points):
                seen.extend(p.name for p in points)
            @hookimpl
            def runlog_run_ended(self, run, status):
                seen.append(status)
        register_plugin(Late(), name="late")
        run.log("after", 2.0)
        run.complete()
        print(json.dumps(seen))
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["after", "Completed"]

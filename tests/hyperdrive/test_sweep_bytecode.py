"""A sweep's children get runlog compiled once for them when they could not keep it compiled themselves
(PYTHONDONTWRITEBYTECODE and no __pycache__ beside runlog's sources): issue 18, runlog/submit/bytecode.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _hd_helpers import SRC, wait_until, write_script

from runlog_core import Experiment, Run, ScriptRunConfig
from runlog_core.hyperdrive import GridParameterSampling, HyperDriveConfig, choice
from runlog_core.submit.bytecode import SweepBytecode, children_compile_runlog, with_bytecode

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="process groups: Linux"), pytest.mark.timeout(120)]
pytest.importorskip("optuna", reason="HyperDrive samples with Optuna: pip install 'runlog[hyperdrive]'")

LOG_PY = Path(SRC) / "runlog_core" / "run" / "log.py"

# logs its --x, says where runlog came from; waits for the gate file first (when given one)
SCRIPT = """
import argparse, json, os, sys, time
import runlog_core
from runlog_core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int)
parser.add_argument("--gate")
args = parser.parse_args()
while args.gate and not os.path.exists(args.gate):
    time.sleep(0.02)
run = Run.get_context()
run.log("x", args.x)
print(json.dumps({"runlog": runlog_core.__file__}))
if args.x == 3:
    run.log("bad", object())  # a traceback through runlog's code, into the run's log
"""


def _compiled_here() -> bool:
    from importlib.util import cache_from_source

    cached = Path(cache_from_source(str(LOG_PY)))
    return cached.is_file() and cached.stat().st_mtime >= LOG_PY.stat().st_mtime


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def test_which_children_would_compile_runlog() -> None:
    if _compiled_here():
        pytest.skip("runlog's sources under test are byte-compiled: no child compiles them")
    assert children_compile_runlog(sys.executable, _env(PYTHONDONTWRITEBYTECODE="1")) is True
    assert children_compile_runlog(sys.executable, _env(PYTHONDONTWRITEBYTECODE=None)) is False
    assert children_compile_runlog(sys.executable, _env(PYTHONDONTWRITEBYTECODE="")) is False
    assert children_compile_runlog(sys.executable, _env(PYTHONDONTWRITEBYTECODE="1", PYTHONOPTIMIZE="1")) is False
    assert children_compile_runlog(sys.executable, _env(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX="/x")) is False
    assert children_compile_runlog("/bin/sh", _env(PYTHONDONTWRITEBYTECODE="1")) is False  # another interpreter


def test_a_child_on_the_compiled_folder_logs_and_its_tracebacks_show_runlogs_sources(tmp_path: Path, run: Run,
                                                                                    store_dir: Path) -> None:
    before = sorted(Path(SRC).rglob("*.pyc"))
    built = SweepBytecode("test")
    try:
        assert wait_until(lambda: built.ready() is not None, timeout=90)
        folder = built.ready()
        assert folder is not None
        names = {p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")}
        assert "runlog_core/__init__.pyc" in names and "runlog_core/run/log.pyc" in names
        assert not any(name.endswith(".py") for name in names)  # bytecode only: the sources stay where they are
        script = write_script(tmp_path / "src", SCRIPT) / "train.py"
        env = with_bytecode(_env(RUNLOG_RUN_ID=run.id, RUNLOG_STORE=str(store_dir), RUNLOG_EXPERIMENT="test",
                                 PYTHONPATH=SRC, PYTHONDONTWRITEBYTECODE="1"), folder)
        done = subprocess.run([sys.executable, str(script), "--x", "3"], env=env, capture_output=True, text=True)
        assert done.returncode == 1
        assert json.loads(done.stdout.splitlines()[0])["runlog"] == str(Path(folder) / "runlog_core" / "__init__.pyc")
        # the traceback names runlog's real source file and shows its line
        assert f'File "{LOG_PY}"' in done.stderr
        assert "InvalidMetricError" in done.stderr
        line = next(ln for ln in done.stderr.splitlines() if f'File "{LOG_PY}"' in ln)
        source_line = done.stderr.splitlines()[done.stderr.splitlines().index(line) + 1].strip()
        assert source_line and source_line in LOG_PY.read_text()
        assert [p.value for p in run.get_metric_history("x")] == [3.0]
        assert sorted(Path(SRC).rglob("*.pyc")) == before  # nothing written beside runlog's sources
    finally:
        built.remove()
    assert not Path(folder).exists()


def test_a_sweeps_later_children_run_on_the_compiled_folder_which_is_gone_after(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if _compiled_here():
        pytest.skip("runlog's sources under test are byte-compiled: no child compiles them")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPATH", SRC)  # the runlog under test, from the folder the test runs in
    src = write_script(tmp_path / "src", SCRIPT)
    gate = tmp_path / "gate"
    exp = Experiment("bytecode", store=tmp_path / "store")
    config = HyperDriveConfig(run_config=ScriptRunConfig(src, "train.py", arguments=["--gate", str(gate)]),
                              hyperparameter_sampling=GridParameterSampling({"--x": choice(0, 1, 2)}),
                              primary_metric_name="x", primary_metric_goal="maximize", max_concurrent_runs=1)
    parent = exp.submit(config)
    built = parent._bytecode
    assert built is not None
    assert wait_until(lambda: built.ready() is not None, timeout=90)  # while the first child waits at the gate
    folder = built.ready()
    gate.write_text("")
    parent.wait_for_completion()
    children = sorted(parent.get_children(), key=lambda c: c.get_details()["startTimeUtc"])
    assert sorted(c.get_metrics()["x"] for c in children) == [0, 1, 2]
    assert all(c.get_status() == "Completed" for c in children)
    for child in children[1:]:  # started once the folder was ready
        log = tmp_path / f"log-{child.id}.txt"
        child.download_file("logs/std_log.txt", log)
        assert json.loads(log.read_text().splitlines()[0])["runlog"] == str(Path(folder) / "runlog_core" / "__init__.pyc")
    assert not Path(folder).exists()  # removed when the sweep ended


def test_no_compiled_folder_when_children_keep_their_own_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    src = write_script(tmp_path / "src", "print('hi')\n")
    config = HyperDriveConfig(run_config=ScriptRunConfig(src, "train.py"),
                              hyperparameter_sampling=GridParameterSampling({"--x": choice(1)}),
                              max_concurrent_runs=1)
    parent = Experiment("plain", store=tmp_path / "store").submit(config)
    assert parent._bytecode is None
    parent.wait_for_completion()
    assert [c.get_status() for c in parent.get_children()] == ["Completed"]

"""Sweeps: one parent run, one child run per combination, N at a time (issue 5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _submit_helpers import pid_alive, read_pids, run_cli, wait_until, write_script

from runlog_core import Experiment, ScriptRunConfig
from runlog_core.exceptions import ConfigError, InvalidArgumentError
from runlog_core.submit.api import parse_sweep, sweep

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc: Linux")

SCRIPT = """
import argparse, json, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float)
parser.add_argument("--l1", type=int)
parser.add_argument("--tag")
args = parser.parse_args()
started = time.time()
time.sleep(0.8)
from runlog_core import Run
Run.get_context().log("mse", args.alpha * 10 + args.l1)
os.makedirs("outputs", exist_ok=True)
json.dump({"args": vars(args), "start": started, "end": time.time()}, open("outputs/times.json", "w"))
print("alpha", args.alpha, "l1", args.l1)
"""


def test_cli_sweep_of_4_combinations_2_at_a_time(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = write_script(tmp_path / "src", SCRIPT)
    store = str(tmp_path / "store")
    code = run_cli("submit", "train.py", "-d", str(src), "-e", "sweep", "--store", store,
                   "--sweep", "alpha=0.1,0.5", "--sweep", "l1=0,1", "--max-parallel", "2", "--", "--tag", "x y")
    assert code == 0
    err = capfd.readouterr().err
    assert "4/4 done" in err
    exp = Experiment("sweep", store=store)
    (parent,) = exp.get_runs()
    assert parent.status == "Completed"
    assert json.loads(parent.get_tags()["runlog.sweep"]) == {"alpha": ["0.1", "0.5"], "l1": ["0", "1"]}
    assert any(name.startswith("snapshot/") for name in parent.get_file_names())
    children = parent.get_children()
    assert len(children) == 4 and len(exp.get_runs(include_children=True)) == 5
    assert sorted((c.get_params()["alpha"], c.get_params()["l1"]) for c in children) == \
        [(0.1, 0), (0.1, 1), (0.5, 0), (0.5, 1)]
    windows = []
    for child in children:
        assert child.status == "Completed"
        params = child.get_params()
        assert child.get_metrics()["mse"] == pytest.approx(params["alpha"] * 10 + params["l1"])
        child.download_file("outputs/times.json", tmp_path / f"{child.id}.json")
        times = json.loads((tmp_path / f"{child.id}.json").read_text())
        assert times["args"]["tag"] == "x y"
        windows.append((times["start"], times["end"]))
    # never more than 2 at once, and 2 at once at some point
    overlaps = [sum(s <= start < e for s, e in windows) for start, _ in windows]
    assert max(overlaps) == 2


def test_failed_child_fails_the_sweep(tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", "import sys\nsys.exit(1 if sys.argv[2] == 'bad' else 0)\n")
    parent = sweep(Experiment("s", store=tmp_path / "store"), ScriptRunConfig(src, "train.py"),
                   {"mode": ["good", "bad"]}, max_parallel=2)
    details = parent.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and "1 of 2" in details["error"]
    assert sorted(c.status for c in parent.get_children()) == ["Completed", "Failed"]


def test_cancel_stops_every_child_and_starts_no_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "3")
    pids = tmp_path / "pids.txt"
    src = write_script(tmp_path / "src", f"""
        import os, time
        with open({str(pids)!r}, "a") as out:
            out.write(f"{{os.getpid()}}\\n")
        time.sleep(600)
    """)
    parent = sweep(Experiment("s", store=tmp_path / "store"), ScriptRunConfig(src, "train.py"),
                   {"x": ["1", "2", "3", "4", "5"]}, max_parallel=2)
    assert wait_until(lambda: len(read_pids(pids)) == 2 and parent.progress()[1] == 2)  # both started and tracked
    parent.cancel()
    assert parent.get_status() == "Canceled"
    children = parent.get_children()
    assert [c.status for c in children] == ["Canceled", "Canceled"]
    assert wait_until(lambda: not any(pid_alive(pid) for pid in read_pids(pids)), timeout=10)
    assert len(read_pids(pids)) == 2


def test_parse_sweep_and_bad_input() -> None:
    assert parse_sweep(["alpha=0.1,0.5", "solver=lbfgs"]) == {"alpha": ["0.1", "0.5"], "solver": ["lbfgs"]}
    for bad in (["alpha"], ["=1,2"], ["alpha=1,,2"], ["a=1", "a=2"]):
        with pytest.raises(InvalidArgumentError, match="--sweep"):
            parse_sweep(bad)
    with pytest.raises(InvalidArgumentError, match="max_parallel"):
        sweep(Experiment("s"), ScriptRunConfig(write_script(Path("src"), ""), "train.py"), {"a": [1]}, max_parallel=0)
    with pytest.raises(InvalidArgumentError, match="space"):
        sweep(Experiment("s"), ScriptRunConfig("src", "train.py"), {"a": []})


def test_a_bad_setting_is_refused_before_the_sweep_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "-1")
    exp = Experiment("s", store=tmp_path / "store")
    with pytest.raises(ConfigError, match="RUNLOG_STOP_GRACE") as caught:
        sweep(exp, ScriptRunConfig(write_script(tmp_path / "src", ""), "train.py"), {"a": [1, 2]})
    assert caught.value.value == "-1"
    assert exp.get_runs(include_children=True) == []

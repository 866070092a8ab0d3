"""HyperDrive sweeps of real scripts in real processes, read back from a real store (issue 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _hd_helpers import child_env, pid_alive, read_pids, wait_until, write_script

from runlog_core import Experiment, Run, ScriptRunConfig
from runlog_core.hyperdrive import (
    BanditPolicy,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    uniform,
)

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc: Linux"),
              pytest.mark.timeout(120)]
pytest.importorskip("optuna", reason="HyperDrive samples with Optuna: pip install 'runlog[hyperdrive]'")

# logs `score` = x every 0.1 s, 30 times; says in outputs/ when it got SIGTERM
SCORING = """
import argparse, os, signal, sys, time
from runlog_core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--mode", default="ok")
args = parser.parse_args()
run = Run.get_context()
os.makedirs("outputs", exist_ok=True)
def on_term(signum, frame):
    open("outputs/sigterm.txt", "w").write("got SIGTERM")
    run.flush()
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
if args.mode == "fail":
    sys.exit(3)
for step in range(30):
    if args.mode != "silent":
        run.log("score", args.x)
    time.sleep(0.1)
"""


def test_bandit_policy_stops_the_run_behind_and_the_parent_ranks_the_children(tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", SCORING)
    exp = Experiment("hd", store=tmp_path / "store")
    config = HyperDriveConfig(run_config=ScriptRunConfig(src, "train.py", arguments=["--mode", "ok"]),
                              hyperparameter_sampling=GridParameterSampling({"--x": choice(1.0, 0.1)}),
                              policy=BanditPolicy(evaluation_interval=1, slack_factor=0.1),
                              primary_metric_name="score", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=2, max_concurrent_runs=2)
    started = time.monotonic()
    hd_run = exp.submit(config)
    assert isinstance(hd_run, HyperDriveRun) and time.monotonic() - started < 10  # returned before the children end
    assert hd_run.get_status() == "Running"
    details = hd_run.wait_for_completion(show_output=False)
    assert details["status"] == "Completed"
    tags = hd_run.get_tags()
    assert (tags["runlog.sweep.primary_metric"], tags["runlog.sweep.goal"]) == ("score", "maximize")
    children = {child.get_params()["x"]: child for child in hd_run.get_children()}
    good, bad = children[1.0], children[0.1]
    assert good.status == "Completed" and len(good.get_metric_history("score")) == 30
    assert bad.status == "Canceled"
    assert "BanditPolicy" in bad.get_details()["error"]
    assert len(bad.get_metric_history("score")) < 30  # stopped early, what it logged kept
    assert "outputs/sigterm.txt" in bad.get_file_names()  # stopped with SIGTERM first, as a script can handle
    best = hd_run.get_best_run_by_primary_metric()
    assert best is not None and best.id == good.id
    assert best.get_details()["runDefinition"]["arguments"] == ["--mode", "ok", "--x", "1.0"]
    ranked = hd_run.get_children_sorted_by_primary_metric()
    assert [(e["run_id"], e["best_primary_metric"], e["status"]) for e in ranked] == \
        [(good.id, 1.0, "Completed"), (bad.id, 0.1, "Canceled")]
    assert ranked[0]["hyperparameters"] == {"--x": 1.0}
    assert [e["run_id"] for e in hd_run.get_children_sorted_by_primary_metric(top=1, reverse=True)] == [bad.id]
    assert hd_run.get_best_run_by_primary_metric(include_canceled=False).id == good.id  # type: ignore[union-attr]
    metrics = hd_run.get_metrics()
    assert set(metrics) == {good.id, bad.id} and metrics[good.id]["score"] == [1.0] * 30
    # a handle from another place reads the same
    again = HyperDriveRun(exp, hd_run.id)
    assert again.get_best_run_by_primary_metric().id == good.id  # type: ignore[union-attr]


def test_failures_and_a_metric_no_child_logs_never_stop_the_sweep(tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", SCORING.replace("range(30)", "range(2)"))
    exp = Experiment("hd", store=tmp_path / "store")
    config = HyperDriveConfig(run_config=ScriptRunConfig(src, "train.py", arguments=["--x", "1"]),
                              hyperparameter_sampling=GridParameterSampling({"--mode": choice("silent", "fail",
                                                                                             "silent")}),
                              primary_metric_name="Accuracy", primary_metric_goal="maximize",
                              max_concurrent_runs=2)
    with pytest.warns(RuntimeWarning, match="'Accuracy'"):
        hd_run = exp.submit(config)
        details = hd_run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed"  # not every child failed
    statuses = sorted(child.status for child in hd_run.get_children())
    assert statuses == ["Completed", "Completed", "Failed"]  # every child recorded
    assert hd_run.get_best_run_by_primary_metric() is None
    assert [e["best_primary_metric"] for e in hd_run.get_children_sorted_by_primary_metric()] == [None] * 3


def test_random_sampling_keeps_max_total_and_max_concurrent_runs(tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", """
        import argparse, json, os, time
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float)
        parser.add_argument("--k")
        args = parser.parse_args()
        start = time.time()
        time.sleep(0.4)
        from runlog_core import Run
        Run.get_context().log("loss", args.lr)
        os.makedirs("outputs", exist_ok=True)
        json.dump([start, time.time()], open("outputs/window.json", "w"))
    """)
    exp = Experiment("hd", store=tmp_path / "store")
    sampling = RandomParameterSampling({"lr": uniform(0.5, 0.75), "--k": choice("a", "b")}, seed=11)
    hd_run = exp.submit(HyperDriveConfig(sampling, "loss", PrimaryMetricGoal.MINIMIZE, max_total_runs=5,
                                         max_concurrent_runs=2, run_config=ScriptRunConfig(src, "train.py")))
    hd_run.wait_for_completion()
    children = hd_run.get_children()
    assert len(children) == 5 and all(child.status == "Completed" for child in children)
    windows = []
    for child in children:
        params = child.get_params()
        assert 0.5 <= params["lr"] <= 0.75 and params["k"] in ("a", "b")
        assert child.get_metrics()["loss"] == params["lr"]
        child.download_file("outputs/window.json", tmp_path / f"{child.id}.json")
        windows.append(json.loads((tmp_path / f"{child.id}.json").read_text()))
    assert max(sum(s <= start < e for s, e in windows) for start, _ in windows) <= 2
    lowest = min(children, key=lambda c: c.get_params()["lr"])
    assert hd_run.get_best_run_by_primary_metric().id == lowest.id  # type: ignore[union-attr]
    assert json.loads(hd_run.get_tags()["runlog.sweep"]) == {"lr": {"uniform": [0.5, 0.75]}, "k": ["a", "b"]}
    assert json.loads(hd_run.get_tags()["runlog.sweep.space"]) == {"lr": ["uniform", [0.5, 0.75]],
                                                                   "--k": ["choice", [["a", "b"]]]}


SLEEPER = """
import os, sys, time
with open(os.environ["PIDS"], "a") as out:
    out.write(f"{os.getpid()}\\n")
time.sleep(600)
"""


def _sleeper_config(src: Path, **limits: object) -> HyperDriveConfig:
    return HyperDriveConfig(run_config=ScriptRunConfig(src, "train.py"),
                            hyperparameter_sampling=GridParameterSampling({"--x": choice(*range(5))}),
                            primary_metric_name="score", primary_metric_goal="max", **limits)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:runlog. no child run of the sweep logged")
def test_max_duration_stops_the_children_and_starts_no_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "2")
    pids = tmp_path / "pids.txt"
    monkeypatch.setenv("PIDS", str(pids))
    src = write_script(tmp_path / "src", SLEEPER)
    hd_run = Experiment("hd", store=tmp_path / "store").submit(
        _sleeper_config(src, max_concurrent_runs=2, max_duration_minutes=0.04))
    hd_run.wait_for_completion(raise_on_error=False)
    children = hd_run.get_children()
    assert len(children) == 2
    assert all(c.status == "Canceled" and "max_duration_minutes" in c.get_details()["error"] for c in children)
    assert not any(pid_alive(pid) for pid in read_pids(pids))


@pytest.mark.filterwarnings("ignore:runlog. no child run of the sweep logged")
def test_cancel_stops_the_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "2")
    pids = tmp_path / "pids.txt"
    monkeypatch.setenv("PIDS", str(pids))
    src = write_script(tmp_path / "src", SLEEPER)
    hd_run = Experiment("hd", store=tmp_path / "store").submit(_sleeper_config(src, max_concurrent_runs=2))
    assert wait_until(lambda: len(read_pids(pids)) == 2)
    hd_run.cancel()
    assert hd_run.get_status() == "Canceled"
    assert [c.status for c in hd_run.get_children()] == ["Canceled", "Canceled"]
    assert wait_until(lambda: not any(pid_alive(pid) for pid in read_pids(pids)), timeout=10)


DRIVER = """
import sys
from runlog_core import Experiment, ScriptRunConfig
from runlog_core.hyperdrive import HyperDriveConfig, GridParameterSampling, choice
exp = Experiment("hd", store=sys.argv[1])
config = HyperDriveConfig(GridParameterSampling({"--x": choice(1, 2, 3)}), "score", "max", max_concurrent_runs=2,
                          run_config=ScriptRunConfig(sys.argv[2], "train.py"))
hd_run = exp.submit(config)
print(hd_run.id, flush=True)
hd_run.wait_for_completion()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_submitter_that_dies_leaves_no_parent_running(tmp_path: Path, signum: int) -> None:
    pids = tmp_path / "pids.txt"
    src = write_script(tmp_path / "src", SLEEPER)
    store = tmp_path / "store"
    env = child_env(PIDS=str(pids), RUNLOG_STOP_GRACE="2", RUNLOG_HEARTBEAT_INTERVAL="0.5",
                    RUNLOG_HEARTBEAT_TIMEOUT="2")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(store), str(src)], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert driver.stdout is not None
        parent_id = driver.stdout.readline().strip()
        assert wait_until(lambda: len(read_pids(pids)) == 2)
        driver.send_signal(signum)
        driver.wait(timeout=30)
        os.environ["RUNLOG_HEARTBEAT_TIMEOUT"] = "2"  # this reader's view of a stale heartbeat
        parent = Run(Experiment("hd", store=store), parent_id)
        want = ("Canceled",) if signum == signal.SIGTERM else ("Killed",)
        assert wait_until(lambda: parent.get_status() in want, timeout=15), parent.get_status()
        children = parent.get_children()
        assert len(children) == 2
        assert wait_until(lambda: all(child.get_status() in want for child in children), timeout=15)
    finally:
        os.environ.pop("RUNLOG_HEARTBEAT_TIMEOUT", None)
        driver.kill()
        for pid in read_pids(pids):  # after SIGKILL the scripts outlive their submitter: ours to end
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

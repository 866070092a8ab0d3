"""Azure's "train-hyperparameter-tune-deploy-with-sklearn" sweep (examples/hyperdrive_sklearn.py), run small,
and ``runlog submit --sweep`` with HyperDrive's flags (issue 18)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _hd_helpers import child_env, write_script

from runlog_core import Experiment

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc: Linux")
pytest.importorskip("optuna", reason="HyperDrive samples with Optuna: pip install 'runlog[hyperdrive]'")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hyperdrive_sklearn.py"


def test_the_azure_sklearn_sample_runs_and_finds_the_best_svc(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, str(EXAMPLE), "--max-total-runs", "2", "--max-concurrent-runs", "2",
                           "--store", str(store)], cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    (parent,) = Experiment("hyperdrive-sklearn", store=store).get_runs()
    assert parent.status == "Completed"
    tags = parent.get_tags()
    assert (tags["runlog.sweep.primary_metric"], tags["runlog.sweep.goal"]) == ("Accuracy", "maximize")
    assert json.loads(tags["runlog.sweep.policy"])["slack_factor"] == 0.1
    children = parent.get_children()
    assert len(children) == 2
    accuracy = {}
    for child in children:
        assert child.status == "Completed"
        assert "outputs/model.joblib" in child.get_file_names()
        params = child.get_params()
        assert params["kernel"] in ("linear", "rbf", "poly", "sigmoid") and params["penalty"] in (0.5, 1, 1.5)
        assert child.get_metrics()["Kernel type"] == params["kernel"]
        accuracy[child.id] = child.get_metrics()["Accuracy"]
    lines = done.stdout.splitlines()
    arguments = ast.literal_eval(lines[0])
    assert arguments[:4] == ["--kernel", "linear", "--penalty", "1.0"] and arguments[4] == "--kernel"
    best_id = lines[1].split()[2]
    assert accuracy[best_id] == max(accuracy.values())
    assert (tmp_path / "model.joblib").stat().st_size > 0
    assert "2/2 done" in done.stderr


SCRIPT = """
import argparse
from runlog_core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float)
parser.add_argument("--solver")
args = parser.parse_args()
Run.get_context().log("mse", (args.alpha - 0.3) ** 2)
"""


def _runlog(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runlog_core.cli.main", *argv], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=120)


def test_runlog_submit_sweeps_with_sampling_metric_goal_and_policy(tmp_path: Path) -> None:
    write_script(tmp_path / "src", SCRIPT)  # the store outside the source folder its snapshot copies
    done = _runlog("submit", "train.py", "-d", "src", "-e", "cli", "--store", "store", "--sweep", "alpha=uniform(0,1)",
                   "--sweep", "solver=a,b", "--sampling", "random", "--seed", "3", "--max-runs", "3",
                   "--max-parallel", "2", "--metric", "mse", "--goal", "min", "--policy", "median:1:1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (parent,) = Experiment("cli", store=tmp_path / "store").get_runs()
    tags = parent.get_tags()
    assert (tags["runlog.sweep.primary_metric"], tags["runlog.sweep.goal"]) == ("mse", "minimize")
    assert json.loads(tags["runlog.sweep.policy"])["name"] == "MedianStoppingPolicy"
    children = parent.get_children()
    assert len(children) == 3
    best = min(children, key=lambda c: c.get_metrics()["mse"])
    assert f"runlog: best run {best.id}" in done.stderr
    # Bayesian (TPE) on the same machinery: every child recorded with its metric
    done = _runlog("submit", "train.py", "-d", "src", "-e", "tpe", "--store", "store", "--sweep", "alpha=uniform(0,1)",
                   "--sweep", "solver=choice(a,b)", "--sampling", "bayesian", "--max-runs", "2", "--max-parallel", "2",
                   "--metric", "mse", "--goal", "min", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (parent,) = Experiment("tpe", store=tmp_path / "store").get_runs()
    assert parent.get_tags()["runlog.sweep.sampling"] == "BayesianParameterSampling"
    assert sorted(c.status for c in parent.get_children()) == ["Completed", "Completed"]
    assert all("mse" in c.get_metrics() for c in parent.get_children())


@pytest.mark.parametrize(("flags", "message"), [
    (["--sampling", "random"], "--sampling random needs --max-runs N"),
    (["--metric", "mse"], "--metric NAME and --goal min|max go together"),
    (["--policy", "bandit:0.1"], "--policy needs --metric"),
    (["--metric", "mse", "--goal", "min", "--policy", "bandit:fast"], "--policy"),
    (["--sweep", "alpha=uniform(1,0)"], "uniform(min_value=...)"),
], ids=["max-runs", "goal", "policy-metric", "policy-spec", "min-max"])
def test_bad_sweep_flags_are_one_line_and_start_nothing(tmp_path: Path, flags: list[str], message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from runlog_core.cli.main import main

    write_script(tmp_path / "src", SCRIPT)
    sweep = [] if any(flag == "--sweep" for flag in flags) else ["--sweep", "alpha=0.1,0.2"]
    code = main(["submit", str(tmp_path / "src" / "train.py"), "-d", str(tmp_path / "src"),
                 "--store", str(tmp_path / "store"), *sweep, *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "store").exists() or Experiment("train", store=tmp_path / "store").get_runs() == []

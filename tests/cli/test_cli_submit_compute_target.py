"""``runlog submit --compute-target``: the same values and errors as ``ScriptRunConfig(compute_target=...)``,
through the real console script. (A run on a real Ray cluster from the command line: tests/hyperdrive/test_ray_target.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_helpers import error_line

import runlog_core
from runlog_core import Experiment

SRC = str(Path(runlog_core.__file__).resolve().parents[1])
TARGETS = '"local" (this machine), "ray" (the Ray cluster at RUNLOG_RAY_ADDRESS, else the one Ray discovers) or "ray://host:port"'


def _submit(folder: Path, *args: str, store: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    (folder / "train.py").write_text("from runlog_core import Run\nRun.get_context().log('score', 0.5)\nprint('ran')\n")
    environ = {key: value for key, value in os.environ.items() if not key.startswith("RUNLOG_")}
    environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    environ.update(env)
    if store is not None:
        environ["RUNLOG_STORE"] = store
    return subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "submit", "train.py", "-e", "ct", *args],
                          cwd=folder, env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("target", ["gpu-cluster", "ray:/host:1", "ray://host", "ray://host:99999", "LOCAL", ""])
def test_an_unknown_target_is_refused_before_anything_starts(tmp_path: Path, target: str) -> None:
    result = _submit(tmp_path, "--compute-target", target)
    assert result.returncode == 2
    assert error_line(result) == f"runlog submit: --compute-target must be {TARGETS}, got {target!r}"
    assert "ran" not in result.stdout
    assert not (tmp_path / "runlog").exists()  # no store made, no run started


@pytest.mark.parametrize("target", ["ray", "ray://127.0.0.1:1"])
@pytest.mark.parametrize("sweep", [[], ["--sweep", "alpha=0.1,0.5", "--max-parallel", "2"]], ids=["run", "sweep"])
def test_a_ray_target_with_a_local_store_is_refused_and_starts_no_run(tmp_path: Path, target: str,
                                                                     sweep: list[str]) -> None:
    result = _submit(tmp_path, "--compute-target", target, *sweep)
    assert result.returncode == 2
    line = error_line(result)
    assert line.startswith(f"runlog submit: --compute-target must be \"local\" with the store '{tmp_path / 'runlog'}': "
                           "the workers of a Ray cluster cannot reach a local store; use a team store")
    assert line.endswith(f"got {target!r}")
    assert "ran" not in result.stdout
    if (tmp_path / "runlog").exists():
        assert list(Experiment("ct", store=tmp_path / "runlog").get_runs(include_children=True)) == []


def test_a_ray_target_with_a_team_store_but_local_artifacts_is_refused(tmp_path: Path, pg_uri: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))  # for this process's look at the store
    result = _submit(tmp_path, "--compute-target", "ray", store=pg_uri, RUNLOG_ARTIFACTS=str(tmp_path / "artifacts"))
    assert result.returncode == 2
    assert error_line(result) == ("runlog submit: --compute-target must be \"local\" while the artifacts stay on this "
                                  "machine: set RUNLOG_ARTIFACTS=s3://bucket/prefix so the workers of a Ray cluster can "
                                  "write them, got 'ray'")
    assert list(Experiment("ct", store=pg_uri).get_runs(include_children=True)) == []


@pytest.mark.parametrize("given", [[], ["--compute-target", "local"]], ids=["default", "local"])
def test_local_runs_here(tmp_path: Path, given: list[str]) -> None:
    result = _submit(tmp_path, *given)
    assert result.returncode == 0, result.stderr
    assert "ran" in result.stdout
    (run,) = Experiment("ct", store=tmp_path / "runlog").get_runs()
    assert run.get_status() == "Completed"
    assert run.get_metrics()["score"] == 0.5
    assert "runlog.compute_target" not in run.get_tags()  # only a Ray run carries its target


def test_the_help_names_the_values(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "submit", "--help"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--compute-target TARGET" in text
    assert "local (this machine, the default), ray (the Ray cluster at RUNLOG_RAY_ADDRESS" in text
    assert "ray://HOST:PORT" in text

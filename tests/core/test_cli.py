"""The `runlog` command, run as a user runs it: a real console script in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runlog_core import Experiment


def runlog(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("runlog", path=os.path.dirname(sys.executable))
    command = [executable] if executable else [sys.executable, "-m", "runlog_core._cli"]
    result = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[str, str]:
    exp = Experiment("cli")  # the default store, ./runlog, in the test's own folder
    ids = []
    for alpha, mse in ((0.1, 2900.5), (0.5, 3100.25)):
        with exp.start_logging(name=f"alpha={alpha}") as run:
            run.log_params({"alpha": alpha})
            for step in range(3):
                run.log("mse", mse + 10 * (2 - step))
            run.log_row("curve", x=1, y=2)
            run.upload_file("outputs/model.txt", io.BytesIO(b"weights"))
            ids.append(run.id)
    return ids[0], ids[1]


def test_runs_lists_runs_with_their_latest_metrics(two_runs: tuple[str, str], tmp_path: Path) -> None:
    out = runlog("runs", cwd=tmp_path).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["id", "experiment", "name", "status", "started", "duration", "mse"]
    assert two_runs[1] in lines[2] and two_runs[0] in lines[3]  # newest first
    assert "Completed" in lines[2] and "3100.25" in lines[2]


def test_runs_filter_and_sort(two_runs: tuple[str, str], tmp_path: Path) -> None:
    out = runlog("runs", "--filter", "metrics.mse < 3000", cwd=tmp_path).stdout
    assert two_runs[0] in out and two_runs[1] not in out
    lines = runlog("runs", "--sort", "metrics.mse DESC", cwd=tmp_path).stdout.splitlines()
    assert two_runs[1] in lines[2]


def test_a_malformed_filter_exits_2_pointing_at_the_character(two_runs: tuple[str, str], tmp_path: Path) -> None:
    result = runlog("runs", "--filter", "metrics.mse <> 3", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "  " + " " * len("metrics.mse <") + "^"


def test_show_displays_status_params_metrics_and_files(two_runs: tuple[str, str], tmp_path: Path) -> None:
    out = runlog("show", two_runs[0][:6], cwd=tmp_path).stdout
    assert f"Run {two_runs[0]}" in out and "Completed" in out
    assert "alpha" in out and "0.1" in out
    assert "mse" in out and "2900.5" in out
    assert "outputs/model.txt" in out


def test_metrics_prints_a_history_and_a_row_table(two_runs: tuple[str, str], tmp_path: Path) -> None:
    lines = runlog("metrics", two_runs[0], "mse", cwd=tmp_path).stdout.splitlines()
    assert [line.split()[:2] for line in lines[2:]] == [["0", "2920.5"], ["1", "2910.5"], ["2", "2900.5"]]
    lines = runlog("metrics", two_runs[0], "curve", cwd=tmp_path).stdout.splitlines()
    assert lines[0].split() == ["x", "y"] and lines[2].split() == ["1", "2"]


def test_export_compare_files_and_download(two_runs: tuple[str, str], tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(runlog("export", two_runs[0], cwd=tmp_path).stdout)))
    assert [(r["metric"], r["step"], r["value"]) for r in rows if r["metric"] == "mse"] == [
        ("mse", "0", "2920.5"), ("mse", "1", "2910.5"), ("mse", "2", "2900.5")]
    exported = json.loads(runlog("export", two_runs[0], "--format", "json", cwd=tmp_path).stdout)
    assert exported["params"] == {"alpha": 0.1} and len(exported["metrics"]["mse"]) == 3
    compared = runlog("compare", *two_runs, cwd=tmp_path).stdout
    assert "params.alpha *" in compared and "0.5" in compared
    assert "outputs/model.txt" in runlog("files", two_runs[0], cwd=tmp_path).stdout
    runlog("download", two_runs[0], "outputs/model.txt", str(tmp_path / "m.txt"), cwd=tmp_path)
    assert (tmp_path / "m.txt").read_bytes() == b"weights"


def test_an_unknown_run_exits_2_with_a_message(two_runs: tuple[str, str], tmp_path: Path) -> None:
    result = runlog("show", "zzzz", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "no run matches 'zzzz'" in result.stderr


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    for args in (["runs"], ["show", "abc"], ["--store", str(tmp_path / "nowhere"), "runs"],
                 ["runs", "--store", "sqlite:///missing.db"]):
        result = runlog(*args, cwd=tmp_path, check=False)
        assert result.returncode == 2 and result.stderr.startswith("runlog: no store at "), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "runlog").exists() and not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "missing.db").exists()


def test_errors_are_one_line_without_a_traceback(two_runs: tuple[str, str], tmp_path: Path) -> None:
    result = runlog("metrics", two_runs[0], "no such metric", cwd=tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"runlog: run {two_runs[0]} has no metric 'no such metric'; see `runlog metrics {two_runs[0]}`"]
    result = runlog("runs", "-e", "nope", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "no experiment 'nope'" in result.stderr
    (tmp_path / "a-file").write_text("")
    result = runlog("export", two_runs[0], "-o", str(tmp_path / "a-file" / "out.csv"), cwd=tmp_path, check=False)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_export_json_is_valid_json_with_nan_and_infinity(tmp_path: Path) -> None:
    with Experiment("nan").start_logging() as run:
        for value in (1.5, float("nan"), float("inf"), float("-inf")):
            run.log("loss", value)
        run.log_row("table", x=float("nan"), y=1)
    text = runlog("export", run.id, "--format", "json", cwd=tmp_path).stdout
    exported = json.loads(text, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert [p["value"] for p in exported["metrics"]["loss"]] == [1.5, "NaN", "Infinity", "-Infinity"]
    assert exported["metrics"]["table"][0]["value"] == {"x": "NaN", "y": 1}

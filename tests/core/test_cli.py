"""The `runlog` command, run as a user runs it: a real console script in a subprocess."""

from __future__ import annotations

import contextlib
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
    command = [executable] if executable else [sys.executable, "-m", "runlog_core.cli.main"]
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
    assert lines[0].split() == ["id", "experiment", "name", "status", "started", "duration", "metrics.mse"]
    assert two_runs[1] in lines[2] and two_runs[0] in lines[3]  # newest first
    assert "Completed" in lines[2] and "3100.25" in lines[2]


def test_runs_filter_and_sort(two_runs: tuple[str, str], tmp_path: Path) -> None:
    out = runlog("runs", "--filter", "metrics.mse < 3000", cwd=tmp_path).stdout
    assert two_runs[0] in out and two_runs[1] not in out
    lines = runlog("runs", "--sort", "metrics.mse DESC", cwd=tmp_path).stdout.splitlines()
    assert two_runs[1] in lines[2]


def test_a_malformed_filter_exits_2_naming_the_character(two_runs: tuple[str, str], tmp_path: Path) -> None:
    result = runlog("runs", "--filter", "metrics.mse <> 3", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [  # one line, as every error (#9)
        "runlog: expected a number or a quoted string, found '>' at character 14 of the filter 'metrics.mse <> 3'"]


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


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed; fails the test on a traceback or several lines."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("runlog"), result.stderr
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("terms", [100, 1_000, 10_000])
def test_runs_takes_long_filters(two_runs: tuple[str, str], tmp_path: Path, terms: int) -> None:
    # #9: 100 'or' terms printed a raw sqlite3 error, 1,000 a RecursionError; `id=N` keeps 10,000 terms
    # under Linux's 128 KiB limit on one argument
    text = " or ".join(f"id={i}" for i in range(terms - 1)) + f" or id='{two_runs[1]}'"
    out = runlog("runs", "--filter", text, cwd=tmp_path).stdout
    assert two_runs[1] in out and two_runs[0] not in out
    if terms <= 1_000:
        text = " or ".join(f"metrics.mse = {i}" for i in range(terms - 1)) + " or metrics.mse < 3000"
        out = runlog("runs", "--filter", text, cwd=tmp_path).stdout
        assert two_runs[0] in out and two_runs[1] not in out


def test_filters_too_long_or_too_deep_are_one_line(two_runs: tuple[str, str], tmp_path: Path) -> None:
    from runlog_core.base.filter import MAX_COMPARISONS, MAX_NESTING

    text = " or ".join(["id=1"] * (MAX_COMPARISONS + 1))
    line = one_line_error(runlog("runs", "--filter", text, cwd=tmp_path, check=False))
    assert line.startswith(f"runlog: the filter is too long: it has more than {MAX_COMPARISONS} comparisons")
    assert len(line) < 400
    deep = "(" * (MAX_NESTING + 1) + "id=1" + ")" * (MAX_NESTING + 1)
    line = one_line_error(runlog("runs", "--filter", deep, cwd=tmp_path, check=False))
    assert f"parentheses nest more than {MAX_NESTING} deep" in line


def _stored(tmp_path: Path) -> Path:
    """A real store written by another process, folded into its main file; returns its runlog.db."""
    script = ("from runlog_core import Experiment\n"
              "for k in range(3):\n"
              "    with Experiment('cli').start_logging(name=f'r{k}') as run:\n"
              "        run.log_params({'k': k})\n"
              "        for step in range(2000):\n"
              "            run.log('mse', step * 0.5)\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    db = tmp_path / "runlog" / "runlog.db"
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:  # the test's own look: fold the WAL back
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


READ_COMMANDS = [["runs"], ["runs", "--filter", "metrics.mse > 1"], ["show", "r1"], ["metrics", "r1", "mse"],
                 ["export", "r1"], ["compare", "r0", "r1"], ["files", "r1"]]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-length"])
def test_a_damaged_store_is_one_line_for_every_command(tmp_path: Path, damage: str) -> None:
    db = _stored(tmp_path)
    assert "r1" in runlog("runs", cwd=tmp_path).stdout
    if damage == "garbage":
        db.write_bytes(os.urandom(100))
    elif damage == "truncated":
        os.truncate(db, db.stat().st_size // 2)
    else:
        db.write_bytes(b"")
    for command in READ_COMMANDS:
        line = one_line_error(runlog(*command, cwd=tmp_path, check=False))
        assert str(db) in line, line
    if damage == "zero-length":
        assert db.stat().st_size == 0  # not made into a fresh, empty store


@pytest.mark.parametrize("fill", [b"\xff", b"\x00", b"\x7f\x01"])
def test_a_store_with_damaged_pages_prints_what_it_can_and_one_line(tmp_path: Path, fill: bytes) -> None:
    db = _stored(tmp_path)
    size = db.stat().st_size
    with open(db, "r+b") as handle:  # the header and the schema stay; the data pages after them do not
        handle.seek(size // 2)
        handle.write((fill * size)[: size - size // 2])
    failed = 0
    for command in READ_COMMANDS:
        result = runlog(*command, cwd=tmp_path, check=False)
        if result.returncode != 0:
            failed += 1
            assert str(db) in one_line_error(result)
        else:
            assert "Traceback" not in result.stderr
    assert failed > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes: a read-only store is writable to root")
def test_a_read_only_store_is_readable_or_one_line(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    db.chmod(0o400)
    db.parent.chmod(0o500)
    try:
        for command in READ_COMMANDS:
            result = runlog(*command, cwd=tmp_path, check=False)
            if result.returncode == 0:
                assert result.stderr == "" or "Traceback" not in result.stderr
            else:
                assert str(db) in one_line_error(result)
    finally:
        db.parent.chmod(0o700)
        db.chmod(0o600)


def test_an_unexpected_exception_is_one_line_asking_for_a_report(tmp_path: Path) -> None:
    script = ("import sys\n"
              "from runlog_core.cli import main as _cli\n"
              "def broken(args):\n"
              "    raise KeyError('boom')\n"
              "_cli.cmd_runs = broken\n"
              "sys.exit(_cli.main(['runs']))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["runlog: internal error: KeyError('boom'); please report it"]


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args, expected in ((["runs", "--limit", "many"], "runlog runs: argument --limit: give a whole number of 1 or more, got 'many'"),
                           (["frobnicate"], "runlog: argument COMMAND: invalid choice: 'frobnicate'"),
                           ([], "runlog: the following arguments are required: COMMAND")):
        result = runlog(*args, cwd=tmp_path, check=False)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(expected), result.stderr

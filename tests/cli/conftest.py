"""The `runlog` command as a user runs it: the real console script in a subprocess, on one store per module."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_helpers import Runlog

from runlog_core import Experiment


def _command() -> list[str]:
    executable = shutil.which("runlog", path=os.path.dirname(sys.executable))
    return [executable] if executable else [sys.executable, "-m", "runlog_core.cli.main"]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a parent run (every kind of series, a bool param, a file), its two children and a lone run.

    Returns the folder that holds ./runlog ("cwd") and the runs' ids by name.
    """
    import numpy as np

    folder = tmp_path_factory.mktemp("cli")
    exp = Experiment("demo", store=str(folder / "runlog"))
    ids = {"cwd": str(folder)}
    with exp.start_logging(name="parent") as run:
        run.log_params({"lr": 0.1, "flag": True})
        run.log("loss", 1.0)
        run.log("loss", 0.5)
        run.log("ok", True)
        run.log_list("fib", [0, 1, 1, 2])
        run.log_row("curve", x=1, y=2)
        run.log_table("tab", {"a": [1, 2], "b": [3, 4]})
        run.log_image("img", image=np.zeros((4, 4, 3), dtype="uint8"))
        run.upload_file("outputs/model.txt", io.BytesIO(b"weights"))
        run.set_tags({"team": "a"})
        ids["parent"] = run.id
        for i in range(2):
            with run.child_run(name=f"child{i}") as child:
                child.log("loss", 0.1 * i)
                ids[f"child{i}"] = child.id
    with exp.start_logging(name="solo") as run:
        run.log("loss", 2.0)
        ids["solo"] = run.id
    exp.close()
    return ids


@pytest.fixture
def runlog(shared_store: dict[str, str]) -> Runlog:
    """``runlog(*args, check=True, cwd=...)``: the console script run in the shared store's folder."""

    def call(*args: str, check: bool = True, cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*_command(), *args], cwd=cwd or shared_store["cwd"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return call


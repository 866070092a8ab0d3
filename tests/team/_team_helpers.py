"""What the team-store fault tests share: a training program started as a user starts one, and
waiting on the files it writes to say where it is."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path


def runlog_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The messages of the warnings runlog gave (a test's ``warnings.catch_warnings(record=True)``)."""
    return [str(w.message) for w in caught if str(w.message).startswith("runlog")]


def wait_for_file(path: Path, proc: subprocess.Popen[str], deadline: float) -> None:
    """Wait until ``proc`` writes ``path``; fail (with its output) if it ends or ``deadline`` passes first."""
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)


def start_program(script: str, tmp_path: Path, args: list[str], env: dict[str, str],
                  name: str = "train.py") -> tuple[subprocess.Popen[str], str, float]:
    """Write ``script`` to ``tmp_path/name`` and run it with ``args`` (stdout and stderr piped); return
    the process, the run id it writes to ``tmp_path/run-id`` once its run exists, and the deadline
    (60 s from now) for waiting on it."""
    path = tmp_path / name
    path.write_text(script)
    proc = subprocess.Popen([sys.executable, str(path), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    wait_for_file(tmp_path / "run-id", proc, deadline)
    return proc, (tmp_path / "run-id").read_text(), deadline

"""What the HyperDrive tests share: a script in a folder, waiting for a condition, live processes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import runlog_core
from waiting import wait_until as wait_until  # one helper for every test folder

SRC = str(Path(runlog_core.__file__).resolve().parents[1])  # the runlog_core under test, for drivers


def write_script(folder: Path, body: str, name: str = "train.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env

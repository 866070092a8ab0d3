"""Helpers shared by the submission tests: scripts in folders, process checks, a `runlog` parser."""

from __future__ import annotations

import argparse
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


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def read_pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split() if line.strip()]


def cli_parser() -> argparse.ArgumentParser:
    """The `runlog` parser with just our subcommand (what _cli.py does with every subcommand)."""
    from runlog_core.cli.submit import register

    parser = argparse.ArgumentParser(prog="runlog")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def run_cli(*argv: str) -> int:
    args = cli_parser().parse_args(list(argv))
    return args.func(args)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env

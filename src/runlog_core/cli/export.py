"""``runlog download`` and ``runlog export``: a run's files and points, written to local files or stdout.

What goes to a file or a pipe is exact; what goes to a terminal shows stored text's control characters
as escapes (``\\x1b``), so that a logged string cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from runlog_core.base.text import visible
from runlog_core.cli.access import open_run, store_for
from runlog_core.cli.table import on_terminal, print_json
from runlog_core.exceptions import DestinationExistsError, RunlogError

__all__ = ["cmd_download", "cmd_export"]


def _refuse_existing(paths: list[Path]) -> None:
    """Stop a download that would replace local files (issue 12: it replaced them silently)."""
    existing = [str(path) for path in paths if path.exists() or path.is_symlink()]
    if existing:
        raise DestinationExistsError(existing[0], len(existing) - 1,
                                     "pass --overwrite to replace it, or give another DEST")


def _print_path(path: str | Path) -> None:
    """A written file's path (its name is the artifact's, stored text): exact to a pipe, escaped to a terminal."""
    print(visible(str(path)) if on_terminal(sys.stdout) else path)


def cmd_download(args: argparse.Namespace) -> int:
    store = store_for(args)
    run = open_run(store, args.run)
    names = run.get_file_names()
    if args.name in names:
        base = args.name.rsplit("/", 1)[-1]
        destination = Path(args.dest) if args.dest is not None else Path(base)
        if destination.is_dir():
            destination = destination / base
        if not args.overwrite:
            _refuse_existing([destination])
        _print_path(run.download_file(args.name, destination))
        return 0
    prefix = args.name.rstrip("/") + "/"
    members = [name for name in dict.fromkeys(names) if name.startswith(prefix)]
    if not members:
        raise RunlogError(f"run {run.id} has no file or folder {args.name!r}; see `runlog files {run.id}`")
    folder = Path(args.dest or ".")
    if not args.overwrite:
        _refuse_existing([folder / name for name in members])
    for path in run.download_files(prefix=prefix, output_directory=folder):
        _print_path(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = store_for(args)
    run = open_run(store, args.run)
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            details = run.get_details()
            details["metrics"] = {
                s.name: [{"step": p.step, "value": p.value, "timestamp": p.timestamp}
                         for p in run.get_metric_history(s.name)]
                for s in store.get_series(run.id)
            }
            print_json(details, out)
        else:
            writer = csv.writer(out)
            writer.writerow(["run_id", "metric", "step", "value", "timestamp"])
            shown = on_terminal(out)
            for s in store.get_series(run.id):
                for p in run.get_metric_history(s.name):
                    value = json.dumps(p.value) if isinstance(p.value, (dict, list)) else p.value
                    row: list[Any] = [run.id, s.name, p.step, value, repr(p.timestamp)]
                    writer.writerow([visible(cell) if shown and isinstance(cell, str) else cell for cell in row])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0

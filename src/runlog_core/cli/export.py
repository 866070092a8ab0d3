"""``runlog download`` and ``runlog export``: a run's files and points, written to local files or stdout.

Both follow one rule for the local side: an existing file is replaced only with ``--overwrite``, a
destination whose folder does not exist is refused (one line, nothing written), and a destination that
cannot be written says what to do.

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
from runlog_core.cli.access import open_run, resolve_run, store_for
from runlog_core.cli.records import run_record
from runlog_core.cli.table import on_terminal, print_json
from runlog_core.exceptions import DestinationExistsError, RunlogError

__all__ = ["cmd_download", "cmd_export"]


def _refuse_existing(paths: list[Path], where: str = "DEST", verb: str = "downloaded") -> None:
    """Stop a download or an export that would replace local files (issue 12: they replaced them silently)."""
    existing = [str(path) for path in paths if path.exists() or path.is_symlink()]
    if existing:
        raise DestinationExistsError(existing[0], len(existing) - 1,
                                     f"pass --overwrite to replace it, or give another {where}", verb=verb)


def _need_folder(path: Path, where: str) -> None:
    """Refuse a destination whose folder is missing (or is a file) before anything is read or written."""
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise RunlogError(f"the folder {str(folder)!r} of {where} {str(path)!r} {what}; "
                          f"create it first, or give another {where}")


def _open_output(path: Path) -> Any:
    """``-o FILE`` opened for writing; a folder that refuses it is one line saying what to do."""
    try:
        return open(path, "w", newline="", encoding="utf-8")
    except IsADirectoryError:
        raise RunlogError(f"-o {str(path)!r} is a folder; give a file name, e.g. -o {str(path / 'run.csv')!r}") from None
    except OSError as err:
        raise RunlogError(f"cannot write -o {str(path)!r}: {err.strerror or err}; give a file in a folder "
                          "you can write to") from None


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
        _need_folder(destination, "DEST")
        if not args.overwrite:
            _refuse_existing([destination])
        _print_path(run.download_file(args.name, destination))
        return 0
    prefix = args.name.rstrip("/") + "/"
    members = [name for name in dict.fromkeys(names) if name.startswith(prefix)]
    if not members:
        raise RunlogError(f"run {run.id} has no file or folder {args.name!r}; see `runlog files {run.id}`")
    folder = Path(args.dest or ".")
    if not folder.is_dir():
        _need_folder(folder, "DEST")
    if not args.overwrite:
        _refuse_existing([folder / name for name in members])
    for path in run.download_files(prefix=prefix, output_directory=folder):
        _print_path(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else None
    if output is not None:
        _need_folder(output, "-o")
        if not args.overwrite:
            _refuse_existing([output], "-o", "exported")
    store = store_for(args)
    info = resolve_run(store, args.run)
    run = open_run(store, info.id)
    out = _open_output(output) if output is not None else sys.stdout
    try:
        if args.format == "json":
            details = run_record(store, info)
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

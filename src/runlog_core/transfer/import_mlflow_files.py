"""Listing an ``mlruns`` folder (MLflow's file store) one experiment and one run at a time.

MLflow's ``search_runs`` reads every run of an experiment in one go: one damaged run (a garbage
line in a metric file, an empty ``meta.yaml``, a YAML tag such as ``!!python/object/apply``) fails
the whole search. Here each experiment and each run is checked, then read alone with
``get_experiment`` / ``get_run``; one that cannot be is one ``skipped`` line and the others go on.

Checked before MLflow reads a folder: its ``meta.yaml`` is a regular file that reads as a YAML
mapping, safely and within bounds (``import_read.load_yaml``: a Python tag is refused, never
built), and every file of the run's records (params, tags, metrics, inputs: everything but its
artifacts) is a regular file or folder, not a link (which could lead to any of the importing
user's files) nor a FIFO (which would block the import for ever).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runlog_core.exceptions import ImportSourceError
from runlog_core.transfer.import_common import one_line
from runlog_core.transfer.import_read import SourceFileError, load_yaml
from runlog_core.transfer.import_write import short

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.transfer.import_common import ImportSummary

__all__ = ["check_records", "file_store_runs"]

_NOT_EXPERIMENTS = frozenset({".trash", "models"})  # MLflow's deleted experiments, its model registry
_NOT_RUNS = frozenset({"tags", "datasets", "traces", "models"})  # an experiment's own folders


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as scan:
        return sorted(scan, key=lambda entry: entry.name)


def check_records(folder: Path, only: frozenset[str] | None = None) -> dict[Any, Any]:
    """Check ``folder/meta.yaml`` and the files below ``folder`` before MLflow reads them.

    A run's: every file but its artifacts (``only=None``); an experiment's: those under ``only``.
    Returns what ``meta.yaml`` holds.

    Raises:
        SourceFileError: ``meta.yaml`` is not a YAML mapping read safely, or a file below is a
            link, a FIFO, a socket or a device.
    """
    try:
        meta = load_yaml(folder / "meta.yaml")
    except SourceFileError as err:
        raise SourceFileError(f"its meta.yaml is not read: {err}") from None
    if not isinstance(meta, dict):
        raise SourceFileError("its meta.yaml is empty" if meta is None else "its meta.yaml is not a mapping")
    stack = [(folder, "")]
    while stack:
        path, prefix = stack.pop()
        for entry in _entries(path):
            name = f"{prefix}{entry.name}"
            if not prefix and (entry.name == "artifacts" if only is None else entry.name not in only):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append((Path(entry.path), name + "/"))
            elif stat.S_ISLNK(mode):
                raise SourceFileError(f"its file '{short(name)}' is a link (links are not followed)")
            elif not stat.S_ISREG(mode):
                raise SourceFileError(f"its file '{short(name)}' is not a regular file (a FIFO, socket or device)")
    return meta


def _experiments(client: Any, root: Path, wanted: str | None, summary: ImportSummary) -> list[tuple[Any, Path]]:
    found = []
    for entry in _entries(root):
        if entry.name in _NOT_EXPERIMENTS or not os.path.lexists(os.path.join(entry.path, "meta.yaml")):
            continue
        label = f"experiment folder '{short(entry.name)}'"
        if entry.is_symlink():
            summary.skipped.append(f"{label}: it is a link (links are not followed)")
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            check_records(Path(entry.path), only=frozenset({"tags", "datasets"}))
            experiment = client.get_experiment(entry.name)
        except SourceFileError as err:
            summary.skipped.append(f"{label}: {err}")
            continue
        except Exception as err:  # one damaged experiment costs one line
            summary.skipped.append(f"{label}: MLflow cannot read it: {one_line(err)}")
            continue
        if experiment is not None and experiment.lifecycle_stage == "active":
            found.append((experiment, Path(entry.path)))
    if wanted is None:
        return sorted(found, key=lambda pair: str(pair[0].name))
    chosen = [pair for pair in found if wanted in (pair[0].name, pair[0].experiment_id)]
    if not chosen:
        names = ", ".join(repr(pair[0].name) for pair in found[:20]) or "none"
        raise ImportSourceError("MLflow", root.as_uri(), f"no experiment named {wanted!r}; its experiments: {names}")
    return chosen


def file_store_runs(client: Any, root: Path, wanted: str | None,
                    summary: ImportSummary) -> list[tuple[Any, list[Any]]]:
    """``[(experiment, [its active runs])]`` of the mlruns folder ``root``; what cannot be read: ``skipped``."""
    listing = []
    for experiment, folder in _experiments(client, root, wanted, summary):
        runs = []
        for entry in _entries(folder):
            if entry.name in _NOT_RUNS or not os.path.lexists(os.path.join(entry.path, "meta.yaml")):
                continue
            label = f"{short(str(experiment.name))}/{short(entry.name)}"
            try:
                if entry.is_symlink():
                    raise SourceFileError("its folder is a link (links are not followed)")
                if not entry.is_dir(follow_symlinks=False):
                    continue
                meta = check_records(Path(entry.path))
                if isinstance(meta.get("run_name"), str) and meta["run_name"]:
                    label = f"{short(str(experiment.name))}/{short(meta['run_name'])} ({short(entry.name)})"
                run = client.get_run(entry.name)
            except SourceFileError as err:
                summary.skipped.append(f"{label}: {err}")
                continue
            except Exception as err:  # one damaged run costs one line
                summary.skipped.append(f"{label}: MLflow cannot read it: {one_line(err)}")
                continue
            if run.info.lifecycle_stage == "active":
                runs.append(run)
        listing.append((experiment, runs))
    return listing

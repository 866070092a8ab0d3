"""``runlog import tensorboard LOGDIR``: each folder of TensorBoard event files becomes a runlog run.

A run folder is any folder under LOGDIR (at any depth, LOGDIR itself included) holding
``*tfevents*`` files: ``SummaryWriter(log_dir=...)`` folders and Lightning's
``lightning_logs/version_N/`` alike. The folder PyTorch's ``SummaryWriter.add_hparams`` creates
inside a run folder (named by a timestamp, such as ``1712345678.123``) belongs to that run.

What a run gets: every scalar with its step and wall time; hyperparameters (Lightning's
``hparams.yaml`` beside the event files when there is one, else the hparams plugin's
``session_start_info``), at most ``max_params`` of them; images as an image series; start = the
first event's wall time, end = the last one's; status Completed; tag ``import.tensorboard.path`` =
the folder relative to LOGDIR, so importing again skips it. Imported only by the CLI command and by
callers of :func:`import_tensorboard`.

What it does not trust: only regular files are opened (a FIFO among the event files is one line,
never a hang); ``hparams.yaml`` is read safely with its aliases bounded (``import_read``); an event
file cut short or corrupt is imported up to the damage, with one line and the tag
``import.tensorboard.lost`` saying how much was lost; a tag cut to runlog's name limit is one line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runlog_core.exceptions import ImportSourceError, MissingDependencyError, RunlogError
from runlog_core.run.state import COMPLETED
from runlog_core.transfer.import_common import ImportSummary, copy_run, flush_into, one_line
from runlog_core.transfer.import_read import MAX_PARAMS, SourceFileError
from runlog_core.transfer.import_write import (
    Names,
    end_run,
    existing_runs,
    log_params,
    log_points,
    open_experiment,
    safe_name,
    short,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from runlog_core.run.run import Run
    from runlog_core.transfer.import_tfevents import Events

__all__ = ["LOST_TAG", "PATH_TAG", "import_tensorboard"]

PATH_TAG = "import.tensorboard.path"
LOST_TAG = "import.tensorboard.lost"
# the sub-folder SummaryWriter.add_hparams writes when run_name is not given: str(time.time())
_HPARAMS_FOLDER = re.compile(r"\d+\.\d+")


class _Unreadable(Exception):
    """A run folder with nothing to import: one line in ``summary.skipped``, never raised to the user."""


def import_tensorboard(logdir: str | os.PathLike[str], store: str | os.PathLike[str] | None = None,
                       experiment: str | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       max_params: int = MAX_PARAMS) -> ImportSummary:
    """Copy each run folder of TensorBoard event files under ``logdir`` into a runlog run.

    Args:
        logdir: the folder given to ``SummaryWriter(log_dir=...)`` or a parent of such folders.
        store: the runlog store (default ``RUNLOG_STORE``, else ``./runlog``).
        experiment: the runlog experiment to import into; default: ``logdir``'s folder name.
        progress: called as ``progress(done, total)`` as run folders are handled.
        max_params: the most params copied into one run; the rest are one line in ``left_out``.

    Returns:
        An :class:`ImportSummary`: a folder that cannot be read is one line in ``skipped``; what an
        imported run lacks (events lost in a torn file, params beyond ``max_params``) one in ``left_out``.

    Raises:
        ImportSourceError: ``logdir`` is not a folder, or holds no event files.
        MissingDependencyError: the ``tensorboard`` package is not installed.

    Example::

        import_tensorboard("lightning_logs", experiment="mnist").line()
    """
    root = Path(logdir)
    if not root.is_dir():
        raise ImportSourceError("TensorBoard", str(logdir), "it is not a folder; give the log_dir of your "
                                "SummaryWriter or TensorBoardLogger")
    try:
        from tensorboard.compat.proto import event_pb2  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("tensorboard", "runlog import tensorboard") from err
    runs = _run_folders(root)
    if not runs:
        raise ImportSourceError("TensorBoard", str(logdir), "no event files (events.out.tfevents.*) under it")
    name = experiment if experiment is not None else safe_name(root.resolve().name, "tensorboard")
    exp = open_experiment(name, store)
    done = existing_runs(exp, PATH_TAG)
    summary = ImportSummary()
    total = len(runs)
    if progress is not None:
        progress(0, total)
    for index, (relative, folders) in enumerate(runs, 1):
        if relative in done:
            summary.existing += 1
        else:
            copy_run(summary, short(relative, 200), _import_run, exp, root, relative, folders, summary, max_params)
        if progress is not None:
            progress(index, total)
    flush_into(exp)
    return summary


def _has_events(files: list[str]) -> bool:
    return any("tfevents" in name for name in files)


def _run_folders(root: Path) -> list[tuple[str, list[Path]]]:
    """``[(folder relative to root, [folders to read])]``, sorted; add_hparams folders join their run."""
    found: list[Path] = []
    for here, subfolders, files in os.walk(root):
        subfolders.sort()
        if _has_events(files):
            found.append(Path(here))
    as_set = set(found)
    hparams_children: dict[Path, list[Path]] = {}
    for folder in found:
        if folder != root and folder.parent in as_set and _HPARAMS_FOLDER.fullmatch(folder.name):
            hparams_children.setdefault(folder.parent, []).append(folder)
    merged = {children[0] for children in hparams_children.values() if len(children) == 1}
    runs = []
    for folder in found:
        if folder in merged:
            continue
        children = hparams_children.get(folder, [])
        parts = [folder] + (children if len(children) == 1 else [])
        runs.append((folder.relative_to(root).as_posix(), parts))
    return sorted(runs)


def _read(folders: list[Path], relative: str) -> Events:
    from runlog_core.transfer.import_tfevents import Events

    data = Events()
    for folder in folders:
        inner = folder.relative_to(folders[0]).as_posix()
        data.read_folder(folder, "" if inner == "." else inner)
    if data.first is None:
        why = "; ".join(data.lost) if data.lost else "its event files are empty"
        raise _Unreadable(f"no event could be read: {why}")
    if not (data.scalars or data.images or data.hparams):
        raise _Unreadable("its event files hold no scalars, images or hparams")
    return data


def _yaml_hparams(folder: Path, label: str, summary: ImportSummary) -> tuple[dict[str, Any], bytes] | None:
    """Lightning's ``hparams.yaml`` beside the event files, flattened, and its bytes; None if none or refused."""
    from runlog_core.base import values as _values
    from runlog_core.transfer.import_read import MAX_YAML_BYTES, parse_yaml, read_limited

    path = folder / "hparams.yaml"
    if not os.path.lexists(path):
        return None
    try:
        data = read_limited(path, MAX_YAML_BYTES)
        loaded = parse_yaml(data, python_tags=True)  # a Python tag (!!python/tuple) reads as plain data
        return (_values.flatten_params(loaded) if isinstance(loaded, dict) else {}), data
    except (SourceFileError, RunlogError) as err:
        summary.left_out.append(f"{label}: hparams.yaml is not read: {one_line(err)}")
        return None


def _import_run(exp: Any, root: Path, relative: str, folders: list[Path], summary: ImportSummary,
                max_params: int) -> None:
    label = short(relative, 200)
    data = _read(folders, relative)
    from_yaml = _yaml_hparams(folders[0], label, summary)
    names = Names(summary, label)
    run_name = names.name("run name", relative if relative != "." else root.resolve().name,
                          "tensorboard run") or "tensorboard run"
    run: Run = exp._start(name=run_name, tags=None, parent=None, run_id=None, start_time=data.first)
    try:
        points = files = 0
        # hparams.yaml keeps Lightning's nesting and ints; the plugin's copy is flattened to floats
        if from_yaml is not None:
            log_params(run, from_yaml[0], max_params, summary, label, "params in hparams.yaml")
        else:
            log_params(run, data.hparams, max_params, summary, label, "hparams")
        for tag, series in data.scalars.items():
            name = names.name("scalar", tag, "scalar")
            if name is not None:
                points += log_points(run, name, series)
        if data.images:
            files += _log_images(run, data.images, names)
        if from_yaml is not None:
            run.upload_file("hparams.yaml", from_yaml[1])
            files += 1
        if data.lost:
            summary.left_out.extend(f"{label}: {line}" for line in data.lost)
            run.set_tags({LOST_TAG: "; ".join(data.lost)})
        run.set_tags({PATH_TAG: relative})  # last: a run that fails midway is imported again next time
        end_run(run, COMPLETED, data.last)
    except BaseException as err:
        run.fail(f"runlog import tensorboard could not copy {relative!r}: {err!r}", end_time=data.last)
        raise
    summary.add_run(points, files)


def _log_images(run: Run, images: dict[str, list[tuple[int, float, bytes]]], names: Names) -> int:
    import tempfile

    count = 0
    with tempfile.TemporaryDirectory(prefix="runlog-import-") as tmp:
        path = Path(tmp) / "image"
        for tag, events in images.items():
            name = names.name("image", tag, "image")
            if name is None:
                continue
            for step, _wall_time, data in events:
                path.write_bytes(data)
                run.log_image(name, path=path, step=step)
                count += 1
    return count

"""``runlog import tensorboard LOGDIR``: each folder of TensorBoard event files becomes a runlog run.

A run folder is any folder under LOGDIR (at any depth, LOGDIR itself included) holding
``*tfevents*`` files: ``SummaryWriter(log_dir=...)`` folders and Lightning's
``lightning_logs/version_N/`` alike. The folder PyTorch's ``SummaryWriter.add_hparams`` creates
inside a run folder (named by a timestamp, such as ``1712345678.123``) belongs to that run.

What a run gets: every scalar with its step and wall time; hyperparameters (Lightning's
``hparams.yaml`` beside the event files when there is one, else the hparams plugin's
``session_start_info``); images as an image series; start = the first event's wall time, end = the
last one's; status Completed; tag ``import.tensorboard.path`` = the folder relative to LOGDIR, so
importing again skips it. Imported only by the CLI command and by callers of :func:`import_tensorboard`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runlog_core.exceptions import ImportSourceError, MissingDependencyError
from runlog_core.run.state import COMPLETED
from runlog_core.transfer.import_common import ImportSummary
from runlog_core.transfer.import_write import end_run, existing_runs, log_points, open_experiment, safe_name

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from runlog_core.run.run import Run

__all__ = ["PATH_TAG", "import_tensorboard"]

PATH_TAG = "import.tensorboard.path"
# the sub-folder SummaryWriter.add_hparams writes when run_name is not given: str(time.time())
_HPARAMS_FOLDER = re.compile(r"\d+\.\d+")


class _Unreadable(Exception):
    """A run folder with nothing to import: one line in ``summary.skipped``, never raised to the user."""


class _Folder:
    """What one run folder holds, read from its event files."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float, float]]] = {}
        self.images: dict[str, list[tuple[int, float, bytes]]] = {}
        self.hparams: dict[str, Any] = {}
        self.first: float | None = None
        self.last: float | None = None

    def saw(self, wall_time: float) -> None:
        self.first = wall_time if self.first is None else min(self.first, wall_time)
        self.last = wall_time if self.last is None else max(self.last, wall_time)


def import_tensorboard(logdir: str | os.PathLike[str], store: str | os.PathLike[str] | None = None,
                       experiment: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Copy each run folder of TensorBoard event files under ``logdir`` into a runlog run.

    Args:
        logdir: the folder given to ``SummaryWriter(log_dir=...)`` or a parent of such folders.
        store: the runlog store (default ``RUNLOG_STORE``, else ``./runlog``).
        experiment: the runlog experiment to import into; default: ``logdir``'s folder name.
        progress: called as ``progress(done, total)`` as run folders are handled.

    Returns:
        An :class:`ImportSummary`; a folder that cannot be read is one line in ``skipped``.

    Raises:
        ImportSourceError: ``logdir`` is not a folder, or holds no event files.
        MissingPackageError: the ``tensorboard`` package is not installed.

    Example::

        import_tensorboard("lightning_logs", experiment="mnist").line()
    """
    root = Path(logdir)
    if not root.is_dir():
        raise ImportSourceError("TensorBoard", str(logdir), "it is not a folder; give the log_dir of your "
                                "SummaryWriter or TensorBoardLogger")
    _event_accumulator()
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
            try:
                _import_run(exp, root, relative, folders, summary)
            except Exception as err:  # one unreadable folder costs one line, never the import
                summary.skipped.append(f"{relative}: {_one_line(err)}")
        if progress is not None:
            progress(index, total)
    _flush(exp)
    return summary


def _flush(exp: Any) -> None:
    from runlog_core.writer.registry import get_writer

    get_writer(exp._store).flush()


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _event_accumulator() -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError as err:
        raise MissingDependencyError("tensorboard", "runlog import tensorboard") from err
    return event_accumulator


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


def _read(folders: list[Path]) -> _Folder:
    ea = _event_accumulator()
    out = _Folder()
    guidance = {ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0, ea.COMPRESSED_HISTOGRAMS: 1,
                ea.HISTOGRAMS: 1, ea.AUDIO: 1}
    for folder in folders:
        acc = ea.EventAccumulator(str(folder), size_guidance=guidance, purge_orphaned_data=False)
        acc.Reload()
        try:
            out.saw(acc.FirstEventTimestamp())
        except ValueError:  # no event at all in this folder's files
            continue
        tags = acc.Tags()
        for tag in tags.get(ea.SCALARS, []):
            points = out.scalars.setdefault(tag, [])
            for event in acc.Scalars(tag):
                points.append((event.step, event.value, event.wall_time))
                out.saw(event.wall_time)
        for tag in tags.get(ea.TENSORS, []):  # tf.summary (TF2, Keras) writes scalars as tensors
            if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
                continue
            from tensorboard.util import tensor_util

            points = out.scalars.setdefault(tag, [])
            for event in acc.Tensors(tag):
                points.append((event.step, float(tensor_util.make_ndarray(event.tensor_proto).item()),
                               event.wall_time))
                out.saw(event.wall_time)
        for tag in tags.get(ea.IMAGES, []):
            images = out.images.setdefault(tag, [])
            for image in acc.Images(tag):
                images.append((image.step, image.wall_time, image.encoded_image_string))
                out.saw(image.wall_time)
        out.hparams.update(_session_hparams(acc))
    return out


def _session_hparams(acc: Any) -> dict[str, Any]:
    """The hparams plugin's ``session_start_info`` values: numbers, strings and bools."""
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}
    data = content.get("_hparams_/session_start_info")
    if not data:
        return {}
    from tensorboard.plugins.hparams import plugin_data_pb2

    info = plugin_data_pb2.HParamsPluginData.FromString(data).session_start_info
    params: dict[str, Any] = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind in ("number_value", "string_value", "bool_value"):
            params[key] = getattr(value, kind)
    return params


def _yaml_hparams(folder: Path) -> dict[str, Any] | None:
    """Lightning's ``hparams.yaml`` beside the event files, if there is one and PyYAML can read it."""
    path = folder / "hparams.yaml"
    if not path.is_file():
        return None
    try:
        import yaml
    except ImportError:
        return None

    class _Loader(yaml.SafeLoader):
        """Safe loading; a Python-specific tag (``!!python/tuple``, an object) reads as plain data."""

    def plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", plain)
    _Loader.add_multi_constructor("!", plain)
    with path.open(encoding="utf-8") as stream:
        loaded = yaml.load(stream, Loader=_Loader)  # a SafeLoader subclass
    return loaded if isinstance(loaded, dict) else {}


def _import_run(exp: Any, root: Path, relative: str, folders: list[Path], summary: ImportSummary) -> None:
    data = _read(folders)
    if data.first is None:
        raise _Unreadable("no event could be read from its event files (empty or corrupt)")
    if not (data.scalars or data.images or data.hparams):
        raise _Unreadable("its event files hold no scalars, images or hparams")
    params = _yaml_hparams(folders[0])
    name = relative if relative != "." else safe_name(root.resolve().name, "tensorboard")
    run: Run = exp._start(name=safe_name(name, "tensorboard run"), tags=None, parent=None, run_id=None,
                          start_time=data.first)
    try:
        points = files = 0
        # hparams.yaml keeps Lightning's nesting and ints; the plugin's copy is flattened to floats
        run.log_params(params if params is not None else data.hparams)
        for tag, series in data.scalars.items():
            points += log_points(run, safe_name(tag, "scalar"), series)
        if data.images:
            files += _log_images(run, data.images)
        if params is not None:
            run.upload_file("hparams.yaml", folders[0] / "hparams.yaml")
            files += 1
        run.set_tags({PATH_TAG: relative})  # last: a run that fails midway is imported again next time
        end_run(run, COMPLETED, data.last)
    except BaseException as err:
        run.fail(f"runlog import tensorboard could not copy {relative!r}: {err!r}", end_time=data.last)
        raise
    summary.runs += 1
    summary.points += points
    summary.files += files


def _log_images(run: Run, images: dict[str, list[tuple[int, float, bytes]]]) -> int:
    import tempfile

    count = 0
    with tempfile.TemporaryDirectory(prefix="runlog-import-") as tmp:
        path = Path(tmp) / "image"
        for tag, events in images.items():
            name = safe_name(tag, "image")
            for step, _wall_time, data in events:
                path.write_bytes(data)
                run.log_image(name, path=path, step=step)
                count += 1
    return count

"""Snapshots of a source folder, honouring ``.gitignore`` and ``.runlogignore``, with a size cap."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import InvalidArgumentError, RunlogError

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["SnapshotTooLargeError", "check_snapshot_size", "copy_snapshot", "snapshot_files", "upload_snapshot"]

ALWAYS_SKIPPED = {".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", "node_modules", "runlog",
                  ".ipynb_checkpoints", "outputs"}
DEFAULT_MAX_BYTES = 300 * 1024 * 1024


class SnapshotTooLargeError(RunlogError, ValueError):
    def __init__(self, folder: str, size: int, limit: int) -> None:
        self.folder, self.size, self.limit = folder, size, limit
        super().__init__(
            f"snapshot of {folder} would hold {size / 2**20:.1f} MB, over the {limit / 2**20:g} MB limit; "
            "list large files in .runlogignore (same syntax as .gitignore) or raise RUNLOG_SNAPSHOT_MAX_MB"
        )


def _patterns(root: Path) -> list[tuple[str, bool, bool]]:
    """(pattern, negated, directory-only) from the root's ignore files."""
    patterns = []
    for file_name in (".gitignore", ".runlogignore"):
        path = root / file_name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            directory_only = line.endswith("/")
            patterns.append((line.strip("/") if line.startswith("/") else line.rstrip("/"), negated, directory_only))
    return patterns


def _ignored(relative: str, is_dir: bool, patterns: list[tuple[str, bool, bool]]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    ignored = False
    for pattern, negated, directory_only in patterns:
        if directory_only and not is_dir:
            continue
        anchored = "/" in pattern
        target = relative if anchored else name
        if fnmatch.fnmatchcase(target, pattern) or (anchored and fnmatch.fnmatchcase(relative, pattern + "/*")):
            ignored = not negated
    return ignored


def snapshot_files(folder: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """``(relative posix name, path)`` of every file a snapshot of ``folder`` keeps."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError("snapshot_directory", folder, "an existing folder")
    patterns = _patterns(root)
    real_root = os.path.realpath(root)
    kept = []
    for current, dirs, files in os.walk(root):
        base = Path(current)
        relative_base = base.relative_to(root).as_posix()
        prefix = "" if relative_base == "." else relative_base + "/"
        dirs[:] = sorted(d for d in dirs if d not in ALWAYS_SKIPPED and not _ignored(prefix + d, True, patterns))
        for file_name in sorted(files):
            relative = prefix + file_name
            path = base / file_name
            real = os.path.realpath(path)
            if _ignored(relative, False, patterns) or not os.path.isfile(real):
                continue
            if os.path.commonpath([real_root, real]) != real_root:
                continue
            kept.append((relative, path))
    return kept


def max_snapshot_bytes() -> int:
    """The size cap: ``RUNLOG_SNAPSHOT_MAX_MB`` megabytes (MiB), 300 by default."""
    raw = os.environ.get("RUNLOG_SNAPSHOT_MAX_MB")
    try:
        megabytes = float(raw) if raw else DEFAULT_MAX_BYTES / 1024 / 1024
    except ValueError:
        raise InvalidArgumentError("RUNLOG_SNAPSHOT_MAX_MB", raw, "a number of megabytes") from None
    return int(megabytes * 1024 * 1024)


def check_snapshot_size(folder: str | os.PathLike[str], files: list[tuple[str, Path]]) -> int:
    """Return the total size of ``files``; raise :class:`SnapshotTooLargeError` above the cap."""
    limit = max_snapshot_bytes()
    total = sum(path.stat().st_size for _, path in files)
    if total > limit:
        raise SnapshotTooLargeError(str(folder), total, limit)
    return total


def copy_snapshot(files: list[tuple[str, Path]], destination: str | os.PathLike[str]) -> None:
    """Copy ``files`` (from :func:`snapshot_files`) under ``destination``, keeping their layout."""
    import shutil

    root = Path(destination)
    for relative, path in files:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def upload_snapshot(run: Run, folder: str | os.PathLike[str], name: str = "snapshot",
                    files: list[tuple[str, Path]] | None = None) -> list[str]:
    """Store the files of ``folder`` a snapshot keeps as ``name/...``; returns the artifact names.

    Raises:
        SnapshotTooLargeError: the files add up to more than ``RUNLOG_SNAPSHOT_MAX_MB``.
    """
    if files is None:
        files = snapshot_files(folder)
    check_snapshot_size(folder, files)
    names = []
    for relative, path in files:
        run.upload_file(f"{name}/{relative}", path)
        names.append(f"{name}/{relative}")
    return names

"""Snapshots of a source folder, honouring ``.gitignore`` and ``.runlogignore``, with a size cap."""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from runlog_core.base import config as _config
from runlog_core.base.artifact_names import artifact_name_problem
from runlog_core.exceptions import InvalidArgumentError, SnapshotTooLargeError
from runlog_core.store.artifacts.local import make_private_dirs
from runlog_core.store.artifacts.safe_folder import SafeFolder, describe_skipped

if TYPE_CHECKING:
    from runlog_core.run.run import Run

__all__ = ["SnapshotTooLargeError", "check_snapshot_size", "copy_snapshot", "snapshot_files", "upload_snapshot"]

ALWAYS_SKIPPED = {".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", "node_modules", "runlog",
                  ".ipynb_checkpoints", "outputs"}


def _translate(pattern: str) -> str:
    """A gitignore glob as a regular expression over a slash-separated relative path."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            close = pattern.index("]", i + 2)
            body = pattern[i + 1:close]
            out.append("[" + ("^" + body[1:] if body[:1] == "!" else body).replace("\\", "\\\\") + "]")
            i = close + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _patterns(root: Path) -> list[tuple[re.Pattern[str], bool, bool, bool]]:
    """(regex, negated, directory-only, anchored) from the root's ignore files, in order."""
    patterns = []
    for file_name in (".gitignore", ".runlogignore"):
        path = root / file_name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            directory_only = line.endswith("/")
            line = line.rstrip("/")
            # gitignore: a slash at the start or in the middle ties the pattern to the root
            anchored = "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            try:
                regex = re.compile(_translate(line) + r"\Z", re.DOTALL)
            except re.error:
                continue
            patterns.append((regex, negated, directory_only, anchored))
    return patterns


def _ignored(relative: str, is_dir: bool, patterns: list[tuple[re.Pattern[str], bool, bool, bool]]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    ignored = False
    for regex, negated, directory_only, anchored in patterns:
        if directory_only and not is_dir:
            continue
        if regex.match(relative if anchored else name):
            ignored = not negated
    return ignored


def snapshot_files(folder: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """``(relative posix name, path)`` of every file a snapshot of ``folder`` keeps.

    Links are treated as ``Run.upload_folder`` treats them: a link to a file inside ``folder`` is
    kept, as a copy of that file (its path is the file's); other links are left out.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError("snapshot_directory", folder, "an existing folder")
    patterns = _patterns(root)

    def keep_dir(relative: str) -> bool:
        return relative.rsplit("/", 1)[-1] not in ALWAYS_SKIPPED and not _ignored(relative, True, patterns)

    def keep_file(relative: str) -> bool:
        return not _ignored(relative, False, patterns)

    with SafeFolder(root) as opened:
        files, _ = opened.scan(keep_dir, keep_file)
    return [(relative, root.joinpath(*parts)) for relative, parts in files]


def max_snapshot_bytes() -> int:
    """The size cap: ``RUNLOG_SNAPSHOT_MAX_MB`` megabytes (MiB), 300 by default.

    Raises:
        ConfigError: ``RUNLOG_SNAPSHOT_MAX_MB`` is not a positive number.
    """
    return int(_config.snapshot_max_mb() * 1024 * 1024)


def check_snapshot_size(folder: str | os.PathLike[str], files: list[tuple[str, Path]]) -> int:
    """Return the total size of ``files``.

    Raises:
        SnapshotTooLargeError: the total is over ``RUNLOG_SNAPSHOT_MAX_MB``.
        ConfigError: ``RUNLOG_SNAPSHOT_MAX_MB`` is not a positive number.
    """
    limit = max_snapshot_bytes()
    total = sum(path.stat().st_size for _, path in files)
    if total > limit:
        raise SnapshotTooLargeError(str(folder), total, limit)
    return total


def copy_snapshot(files: list[tuple[str, Path]], destination: str | os.PathLike[str]) -> None:
    """Copy ``files`` (from :func:`snapshot_files`) under ``destination``, keeping their layout.

    The folders it creates are private (0700); each file keeps its own mode bits.
    """
    root = Path(destination)
    for relative, path in files:
        target = root / relative
        make_private_dirs(target.parent)
        shutil.copy2(path, target, follow_symlinks=False)


def upload_snapshot(run: Run, folder: str | os.PathLike[str], name: str = "snapshot",
                    files: list[tuple[str, Path]] | None = None) -> list[str]:
    """Store the files of ``folder`` a snapshot keeps as ``name/...``; returns the artifact names.

    Each file is read without following a link (a file replaced by one since the check is left
    out); a file whose name is refused as an artifact name (``aux.py``, a name with ``:``) or that
    cannot be read is left out alone, with one warning that lists them.

    Raises:
        SnapshotTooLargeError: the files add up to more than ``RUNLOG_SNAPSHOT_MAX_MB``.
    """
    if files is None:
        files = snapshot_files(folder)
    check_snapshot_size(folder, files)
    root = Path(folder)
    names, left_out = [], []
    with SafeFolder(root) as opened:
        for relative, path in files:
            artifact = f"{name}/{relative}"
            problem = artifact_name_problem(artifact)
            if problem is not None:
                left_out.append((relative, problem))
                continue
            try:
                stream = opened.open_file(path.relative_to(root).parts)
            except (OSError, ValueError) as err:
                left_out.append((relative, f"not read: {err}"))
                continue
            with stream:
                run.upload_file(artifact, stream)
            names.append(artifact)
    if left_out:
        warnings.warn(f"runlog: the snapshot of {folder} left out {len(left_out)} file(s): "
                      f"{describe_skipped(left_out)}", RuntimeWarning, stacklevel=2)
    return names

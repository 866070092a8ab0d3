"""Reading a folder to upload it without ever following a link swapped in after the check (issue 9).

The folder is walked through directory descriptors (``os.scandir(fd)``); every folder below it and
every file is opened relative to its parent's descriptor with ``O_NOFOLLOW``, and what was opened
is checked with ``fstat`` to be a regular file. A link found by the walk is resolved once, at the
check: a link to a regular file inside the folder is read, later, as that file (its path inside the
folder opened without following anything); every other link is skipped. So whatever is renamed,
deleted or replaced by a link between the check and the read, nothing outside the folder is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

__all__ = ["SafeFolder", "describe_skipped"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a file must not hang the upload (it is refused after fstat)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC
_BY_FD = os.open in os.supports_dir_fd and os.scandir in os.supports_fd


def describe_skipped(skipped: list[tuple[str, str]], limit: int = 20) -> str:
    """``'a' (why), 'b' (why)`` for a warning, at most ``limit`` of them."""
    text = ", ".join(f"{name!r} ({why})" for name, why in skipped[:limit])
    return text + (f" and {len(skipped) - limit} more" if len(skipped) > limit else "")


class SafeFolder:
    """A folder opened for reading; use as a context manager.

    Args:
        path: the folder. A link to it (the path the user gave) is followed; nothing below it is.

    Raises:
        OSError: it cannot be opened, or it changed while it was being opened.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._ref: int | str = os.open(path, _DIR_FLAGS) if _BY_FD else os.path.realpath(path)
        self.real = os.path.realpath(path)
        if isinstance(self._ref, int):
            opened, named = os.fstat(self._ref), os.stat(self.real)
            if (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
                self.close()
                raise FileNotFoundError(f"{path} changed while it was being opened")

    def close(self) -> None:
        """Release the folder's descriptor."""
        if isinstance(self._ref, int):
            os.close(self._ref)
            self._ref = ""

    def __enter__(self) -> SafeFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the check ----------------------------------------------------------------------------

    def scan(self, keep_dir: Callable[[str], bool] | None = None,
             keep_file: Callable[[str], bool] | None = None) -> tuple[list[tuple[str, tuple[str, ...]]],
                                                                       list[tuple[str, str]]]:
        """Walk the folder, sorted by name.

        Args:
            keep_dir: called with a folder's relative path; ``False`` skips it silently.
            keep_file: called with a file's (or link's) relative path; ``False`` skips it silently.

        Returns:
            ``(files, skipped)``: ``files`` is ``(relative path, path of what to read)`` for each
            regular file and each link to one inside the folder; ``skipped`` is ``(relative path,
            why)`` for each link not followed and each thing that is not a regular file.
        """
        files: list[tuple[str, tuple[str, ...]]] = []
        skipped: list[tuple[str, str]] = []
        self._scan(self._ref, (), files, skipped, keep_dir, keep_file)
        return files, skipped

    def _scan(self, ref: int | str, prefix: tuple[str, ...], files: list[tuple[str, tuple[str, ...]]],
              skipped: list[tuple[str, str]], keep_dir: Callable[[str], bool] | None,
              keep_file: Callable[[str], bool] | None) -> None:
        with os.scandir(ref) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        for entry in entries:
            parts = (*prefix, entry.name)
            relative = "/".join(parts)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if keep_dir is not None and not keep_dir(relative):
                        continue
                    sub = _open_at(ref, entry.name, _DIR_FLAGS | _NOFOLLOW)
                    try:
                        self._scan(sub, parts, files, skipped, keep_dir, keep_file)
                    finally:
                        _close(sub)
                    continue
                if keep_file is not None and not keep_file(relative):
                    continue
                if entry.is_symlink():
                    target, why = self._link_target(parts)
                    if target is None:
                        skipped.append((relative, why))
                    else:
                        files.append((relative, target))
                elif entry.is_file(follow_symlinks=False):
                    files.append((relative, parts))
                else:
                    skipped.append((relative, "not a regular file"))
            except OSError as err:
                skipped.append((relative, f"cannot be read: {err.strerror or err}"))

    def _link_target(self, parts: tuple[str, ...]) -> tuple[tuple[str, ...] | None, str]:
        """The path inside the folder of the regular file a link leads to, or ``None`` and why not."""
        real = os.path.realpath(os.path.join(self.real, *parts))
        if os.path.commonpath([self.real, real]) != self.real or real == self.real:
            return None, f"links outside {self.path}"
        try:
            mode = os.stat(real).st_mode
        except OSError:
            return None, "a broken link"
        if stat.S_ISDIR(mode):
            return None, "a link to a folder: links to folders are not followed"
        if not stat.S_ISREG(mode):
            return None, "links to something that is not a regular file"
        return tuple(os.path.relpath(real, self.real).split(os.sep)), ""

    # -- the read -------------------------------------------------------------------------------

    def open_file(self, parts: tuple[str, ...]) -> BinaryIO:
        """Open the regular file at ``parts`` (from :meth:`scan`) for reading, following no link.

        Raises:
            OSError: it is gone, or is no longer a regular file (a link swapped in, say).
        """
        opened: list[int | str] = []
        ref = self._ref
        try:
            for part in parts[:-1]:
                ref = _open_at(ref, part, _DIR_FLAGS | _NOFOLLOW)
                opened.append(ref)
            fd = _open_at(ref, parts[-1], _FILE_FLAGS)
        finally:
            for held in opened:
                _close(held)
        assert isinstance(fd, int)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(f"{'/'.join(parts)} is no longer a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")


def _open_at(ref: int | str, name: str, flags: int) -> int | str:
    """Open ``name`` in the folder ``ref``: a descriptor where the system has them, else a checked path."""
    if isinstance(ref, int):
        return os.open(name, flags, dir_fd=ref)
    path = os.path.join(ref, name)
    if os.path.islink(path):  # without descriptors, the best this system allows
        raise OSError(f"{path} is a link")
    if flags & getattr(os, "O_DIRECTORY", 0) or os.path.isdir(path):
        return path
    return os.open(path, flags)


def _close(ref: int | str) -> None:
    if isinstance(ref, int):
        os.close(ref)

"""Where artifact bytes live. The local artifact store keeps them under ``<root>/<run_id>/<name>``.

It implements :class:`runlog_core.store.ArtifactStore`, the contract an S3 or other artifact store keeps too.
Everything it creates is private to the user whatever the umask (folders 0700, files 0600), and a
failure of the file system is an :class:`ArtifactWriteError` or :class:`ArtifactConflictError`, with
nothing half-written left under the artifact's name (issue 9).
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import IO, BinaryIO

from runlog_core.base.artifact_names import check_artifact_name
from runlog_core.exceptions import ArtifactConflictError, ArtifactWriteError, RunNotFoundError, UnsafeArtifactNameError

__all__ = ["LocalArtifactStore", "copy_to_file", "digest_of", "make_private_dirs"]

_CHUNK = 1 << 20
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each 0700 (``Path.mkdir`` makes parents 0777 & ~umask)."""
    missing = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not path.is_dir():
                raise


def digest_of(source: BinaryIO) -> tuple[int, str]:
    """``(size, sha256)`` of the rest of ``source``, whatever store it is read from."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: source.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def copy_to_file(source: BinaryIO, name: str, destination: Path) -> Path:
    """Write the rest of ``source`` (the artifact ``name``) to the local file ``destination``, whatever store it is in.

    The copy keeps the user's umask, is written beside ``destination`` and renamed into place: a
    failed download (a full disk, a store failing mid-read, Ctrl-C) leaves nothing under that name,
    and a link there is replaced, not written through.

    Raises:
        ArtifactWriteError: ``destination`` cannot be written (or the store's own, reading ``source``).
    """
    tmp = ""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(destination.parent / f".runlog-download-{os.urandom(6).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
        try:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                _write_all(fd, chunk)
        finally:
            os.close(fd)
        os.replace(tmp, destination)
    except BaseException as err:
        if tmp:
            _remove(tmp)
        if isinstance(err, OSError) and not isinstance(err, ArtifactWriteError):
            raise ArtifactWriteError(name, str(destination), err, "downloading it to") from err
        raise
    return destination


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class LocalArtifactStore:
    """Artifacts as plain files under one root folder.

    Files are written to a temporary name in the same folder and renamed into place, so a reader
    never sees a half-written artifact; folders are created 0700 and files 0600.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def _run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def path(self, run_id: str, name: str) -> Path:
        """The file for ``name``, checked to lie inside the run's folder."""
        check_artifact_name(name)
        base = self._run_dir(run_id)
        target = base / name
        resolved_base = os.path.realpath(base)
        resolved = os.path.realpath(target)
        if os.path.commonpath([resolved_base, resolved]) != resolved_base:
            raise UnsafeArtifactNameError(name, "it resolves outside the run's folder")
        return target

    def uri(self, run_id: str, name: str) -> str:
        """The artifact's ``file://`` URI."""
        return self.path(run_id, name).as_uri()

    def _prepare(self, run_id: str, name: str) -> Path:
        """The artifact's file, its folders created; a file of the run where a folder is needed
        (or the reverse) is an :class:`ArtifactConflictError`, raised before anything is written."""
        target = self.path(run_id, name)
        parts = name.split("/")
        current = self._run_dir(run_id)
        for i, part in enumerate(parts[:-1]):
            current = current / part
            if os.path.lexists(current) and not current.is_dir():
                raise ArtifactConflictError(name, "/".join(parts[: i + 1]))
        if target.is_dir():
            inside = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if not p.is_dir())
            raise ArtifactConflictError(name, f"{name}/{inside[0] if inside else ''}")
        try:
            make_private_dirs(target.parent)
        except OSError as err:
            raise ArtifactWriteError(name, str(target.parent), err, "creating the folder") from err
        return target

    def put_stream(self, run_id: str, name: str, stream: IO[bytes] | IO[str]) -> tuple[int, str]:
        """Copy a readable stream into the artifact; returns ``(size, sha256)``.

        Raises:
            ArtifactConflictError: the run has a file where the name needs a folder, or the reverse.
            ArtifactWriteError: the file system refused (disk full, no permission); nothing is stored.
        """
        import hashlib
        import tempfile  # here: a script that only logs metrics never loads them (issue 18: start-up)

        target = self._prepare(run_id, name)
        digest = hashlib.sha256()
        size = 0
        try:
            fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)  # 0600
        except OSError as err:
            raise ArtifactWriteError(name, str(target.parent), err, "creating a file in") from err
        try:
            try:
                while True:
                    try:
                        chunk = stream.read(_CHUNK)
                    except OSError as err:
                        raise ArtifactWriteError(name, str(getattr(stream, "name", "the stream")), err,
                                                 "reading") from err
                    if not chunk:
                        break
                    if isinstance(chunk, str):
                        chunk = chunk.encode("utf-8")
                    digest.update(chunk)
                    size += len(chunk)
                    _write_all(fd, chunk)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except IsADirectoryError as err:  # a folder of that name appeared meanwhile
            _remove(tmp)
            raise ArtifactConflictError(name, f"{name}/") from err
        except ArtifactWriteError:
            _remove(tmp)
            raise
        except OSError as err:
            _remove(tmp)
            raise ArtifactWriteError(name, str(target), err) from err
        except BaseException:
            _remove(tmp)
            raise
        return size, digest.hexdigest()

    def put_file(self, run_id: str, name: str, source: str | os.PathLike[str]) -> tuple[int, str]:
        """Copy a local file into the artifact; returns ``(size, sha256)``."""
        try:
            stream = open(source, "rb")
        except OSError as err:
            raise ArtifactWriteError(name, os.fspath(source), err, "reading") from err
        with stream:
            return self.put_stream(run_id, name, stream)

    def put_bytes(self, run_id: str, name: str, data: bytes) -> tuple[int, str]:
        """Store ``data``; returns ``(size, sha256)``."""
        return self.put_stream(run_id, name, io.BytesIO(data))

    def append_text(self, run_id: str, name: str, text: str) -> int:
        """Append to a log artifact (created 0600, never through a link); returns its new size.

        Raises:
            ArtifactWriteError: the file cannot be written (a conflicting file or folder included).
        """
        try:
            target = self._prepare(run_id, name)
        except ArtifactConflictError as err:  # the writer expects an OSError from a log it cannot write
            raise ArtifactWriteError(name, str(self._run_dir(run_id) / name),
                                     OSError(errno.ENOTDIR, str(err)), "appending to") from err
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
            try:
                _write_all(fd, text.encode("utf-8", "replace"))
                return os.fstat(fd).st_size
            finally:
                os.close(fd)
        except OSError as err:
            raise ArtifactWriteError(name, str(target), err, "appending to") from err

    def open(self, run_id: str, name: str) -> BinaryIO:
        """The artifact opened for reading; raises :class:`RunNotFoundError` when there is none."""
        target = self.path(run_id, name)
        try:
            fd = os.open(target, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as err:
            raise RunNotFoundError("artifact", name) from err
        except OSError as err:
            if err.errno == errno.ELOOP:  # runlog never stores a link: not one of its artifacts
                raise RunNotFoundError("artifact", name) from err
            raise ArtifactWriteError(name, str(target), err, "reading") from err
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunNotFoundError("artifact", name)
        return os.fdopen(fd, "rb")

    def download(self, run_id: str, name: str, destination: str | os.PathLike[str]) -> Path:
        """Copy the artifact to ``destination`` (its folder is created); returns its path.

        The copy keeps the user's umask, is written beside ``destination`` and renamed into place:
        a failed download leaves nothing under that name, and a link there is replaced, not written
        through.

        Raises:
            RunNotFoundError: there is no such artifact.
            ArtifactWriteError: ``destination`` cannot be written.
        """
        destination = Path(destination)
        with self.open(run_id, name) as source:  # before anything is created
            return copy_to_file(source, name, destination)

    def digest(self, run_id: str, name: str) -> tuple[int, str]:
        """``(size, sha256)`` of the stored artifact."""
        with self.open(run_id, name) as source:
            return digest_of(source)

"""Where artifact bytes live. The local artifact store keeps them under ``<root>/<run_id>/<name>``.

It implements :class:`runlog_core.store.ArtifactStore`, the contract an S3 or other artifact store keeps too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, BinaryIO

from ._values import check_artifact_name
from .exceptions import RunNotFoundError, UnsafeArtifactNameError

__all__ = ["LocalArtifactStore"]

_CHUNK = 1 << 20


class LocalArtifactStore:
    """Artifacts as plain files under one root folder.

    Files are written to a temporary name and renamed into place, so a reader never
    sees a half-written artifact; the folder tree is created 0700.
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

    def put_stream(self, run_id: str, name: str, stream: IO[bytes] | IO[str]) -> tuple[int, str]:
        """Copy a readable stream into the artifact; returns ``(size, sha256)``."""
        target = self.path(run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    if isinstance(chunk, str):
                        chunk = chunk.encode("utf-8")
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return size, digest.hexdigest()

    def put_file(self, run_id: str, name: str, source: str | os.PathLike[str]) -> tuple[int, str]:
        """Copy a local file into the artifact; returns ``(size, sha256)``."""
        with open(source, "rb") as stream:
            return self.put_stream(run_id, name, stream)

    def put_bytes(self, run_id: str, name: str, data: bytes) -> tuple[int, str]:
        """Store ``data``; returns ``(size, sha256)``."""
        return self.put_stream(run_id, name, io.BytesIO(data))

    def append_text(self, run_id: str, name: str, text: str) -> int:
        """Append to a log artifact; returns its new size."""
        target = self.path(run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(target, "a", encoding="utf-8", errors="replace") as out:
            out.write(text)
            return out.tell()

    def open(self, run_id: str, name: str) -> BinaryIO:
        """The artifact opened for reading; raises :class:`RunNotFoundError` when there is none."""
        target = self.path(run_id, name)
        if not target.is_file():
            raise RunNotFoundError("artifact", name)
        return open(target, "rb")

    def download(self, run_id: str, name: str, destination: str | os.PathLike[str]) -> Path:
        """Copy the artifact to ``destination`` (its folder is created); returns its path."""
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with self.open(run_id, name) as source, open(destination, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        return destination

    def digest(self, run_id: str, name: str) -> tuple[int, str]:
        """``(size, sha256)`` of the stored artifact."""
        digest = hashlib.sha256()
        size = 0
        with self.open(run_id, name) as source:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

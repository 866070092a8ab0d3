"""A run's files: uploading, listing and downloading artifacts."""

from __future__ import annotations

import io
import os
import time
import warnings

from . import _values
from ._handle import RunState
from ._ops import StoreArtifact
from ._records import ArtifactInfo
from .exceptions import InvalidArgumentError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any

__all__ = ["FilesMixin"]


class FilesMixin(RunState):
    """``upload_file``, ``upload_folder``, ``get_file_names``, ``download_file(s)``."""

    def _put(self, name: str, write: Callable[[], tuple[int, str]]) -> ArtifactInfo:
        _values.check_artifact_name(name)
        size, digest = write()
        info = ArtifactInfo(self.id, name, size, digest, self._store.artifacts.uri(self.id, name), time.time())
        self._writer.queue(StoreArtifact(self, info))
        return info

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any] | bytes) -> ArtifactInfo:
        """Store a file (or the rest of a readable stream, or bytes) as the artifact ``name``."""
        from pathlib import Path

        _values.check_artifact_name(name)
        artifacts = self._store.artifacts
        if isinstance(path_or_stream, (str, os.PathLike)):
            source = Path(path_or_stream)
            if not source.is_file():
                raise InvalidArgumentError("path_or_stream", path_or_stream, "an existing file or a readable stream")
            return self._put(name, lambda: artifacts.put_file(self.id, name, source))
        if hasattr(path_or_stream, "read"):
            stream: Any = path_or_stream
            return self._put(name, lambda: artifacts.put_stream(self.id, name, stream))
        if isinstance(path_or_stream, (bytes, bytearray)):
            data = bytes(path_or_stream)
            return self._put(name, lambda: artifacts.put_stream(self.id, name, io.BytesIO(data)))
        raise InvalidArgumentError("path_or_stream", path_or_stream, "a file path or a readable stream")

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> list[str]:
        """Store every file under ``path`` as ``name/<relative path>``; returns the artifact names.

        Symbolic links are followed only when they point inside ``path``.
        """
        from pathlib import Path

        _values.check_artifact_name(name)
        root = Path(path)
        if not root.is_dir():
            raise InvalidArgumentError("path", path, "an existing folder")
        real_root = os.path.realpath(root)
        names = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for file_name in sorted(files):
                source = Path(folder) / file_name
                real = os.path.realpath(source)
                if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
                    warnings.warn(f"runlog: skipping {source}: it links outside {root}", RuntimeWarning, stacklevel=2)
                    continue
                artifact = f"{name}/{source.relative_to(root).as_posix()}"
                self.upload_file(artifact, source)
                names.append(artifact)
        return names

    def get_file_names(self) -> list[str]:
        """The names of the run's artifacts, in the order they were stored."""
        self.flush()
        return [info.name for info in self._store.get_artifacts(self.id)]

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the artifact ``name`` to ``output_file_path`` (default: its base name, here)."""
        from pathlib import Path

        _values.check_artifact_name(name)
        self.flush()
        destination = Path(output_file_path) if output_file_path is not None else Path(name.rsplit("/", 1)[-1])
        if destination.is_dir():
            destination = destination / name.rsplit("/", 1)[-1]
        return str(self._store.artifacts.download(self.id, name, destination))

    def download_files(self, prefix: str | None = None, output_directory: str | os.PathLike[str] = ".",
                       append_prefix: bool = True) -> list[str]:
        """Copy every artifact whose name starts with ``prefix`` under ``output_directory``."""
        from pathlib import Path

        if prefix is not None and not isinstance(prefix, str):
            raise InvalidArgumentError("prefix", prefix, "a str or None")
        target = Path(output_directory)
        written = []
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            if not relative:
                relative = name.rsplit("/", 1)[-1]
            written.append(str(self._store.artifacts.download(self.id, name, target / relative)))
        return written

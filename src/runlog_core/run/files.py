"""A run's files: uploading, listing and downloading artifacts."""

from __future__ import annotations

import io
import os
import time
import warnings

from runlog_core.base import artifact_names as _artifact_names
from runlog_core.base.records import ArtifactInfo
from runlog_core.exceptions import ArtifactWriteError, InvalidArgumentError, RunlogError, UnsafeFolderNamesError
from runlog_core.run.state import RunState
from runlog_core.writer.ops import StoreArtifact

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import IO, Any

    from runlog_core.store.artifacts.safe_folder import SafeFolder

__all__ = ["FilesMixin"]

OUTPUTS = "outputs"
"""The artifact folder that a run's ``outputs`` folder is stored under when the run ends."""


def _warn(message: str, stacklevel: int) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel + 1)


class FilesMixin(RunState):
    """``upload_file``, ``upload_folder``, ``get_file_names``, ``download_file(s)``."""

    def _put(self, name: str, write: Callable[[], tuple[int, str]],
             source: Callable[[], tuple[IO[Any], bool]] | None = None, quiet: bool = False) -> ArtifactInfo:
        # ``name`` was checked by the caller (or built safe, as an image's); the store checks it once more
        try:
            size, digest = write()
        except ArtifactWriteError as err:
            kept = self._keep(name, err, source, quiet)
            if kept is None:
                raise
            return kept
        info = ArtifactInfo(self.id, name, size, digest, self._store.artifacts.uri(self.id, name), time.time())
        self._writer.queue(StoreArtifact(self, info))
        return info

    def _keep(self, name: str, error: ArtifactWriteError,
              source: Callable[[], tuple[IO[Any], bool]] | None, quiet: bool = False) -> ArtifactInfo | None:
        """S3 unreachable beside a remote metadata store (issue 23): a copy of the file waits for S3, is
        uploaded when it answers and indexed then (or kept under ``RUNLOG_SPILL_DIR`` at the program's
        end, and uploaded at the next open); one warning. Returns the file's record (not indexed yet), or
        ``None`` when it cannot be kept so (the caller raises ``error``). ``source()`` gives the source
        again, from its start, and whether to close it. ``quiet`` (the program ends): no warning, the
        line at exit says where the files are kept."""
        keep_file = getattr(self._store.artifacts, "keep_file", None)
        if (source is None or keep_file is None or getattr(error, "code", None) != "unreachable"
                or not getattr(self._store, "remote", False)):
            return None
        try:
            stream, closing = source()
            try:
                size, digest, path = keep_file(self.id, name, stream)
            finally:
                if closing:
                    stream.close()
        except (RunlogError, OSError, ValueError):
            return None
        uri = self._store.artifacts.uri(self.id, name)
        if not quiet:
            self._writer._warn_once("s3-kept", f"runlog: could not upload {uri} ({error}); a copy is kept in "
                                    f"{os.path.dirname(path)} and uploaded when S3 answers, then listed with the run's "
                                    "files (so are the other files of this program meanwhile); what S3 has not taken "
                                    "when the program ends is kept under RUNLOG_SPILL_DIR and uploaded when the store "
                                    "is next opened")
        return ArtifactInfo(self.id, name, size, digest, uri, time.time())

    def upload_file(self, name: str, path_or_stream: str | os.PathLike[str] | IO[Any] | bytes) -> ArtifactInfo:
        """Store a file (or the rest of a readable stream, or bytes) as the artifact ``name``.

        Args:
            name: a relative path of plain segments, such as ``"outputs/model.pt"``.
            path_or_stream: a file path, a readable binary (or text) stream, or bytes.

        Returns:
            The stored artifact's record.

        Raises:
            RunEndedError: the run has ended.
            UnsafeArtifactNameError: ``name`` could leave the run's folder or is not portable.
            ArtifactConflictError: the run has a file where ``name`` needs a folder, or the reverse.
            ArtifactWriteError: the disk is full or the file cannot be read or written; nothing is stored.
                S3 unreachable beside a remote metadata store (PostgreSQL) raises nothing: a copy of the
                file is kept, uploaded when S3 answers and listed with the run's files then (at the
                program's end, kept under ``RUNLOG_SPILL_DIR`` and uploaded at the next open), with one
                warning; a stream that cannot seek back still raises.
        """
        from pathlib import Path

        self._check_open()
        _artifact_names.check_artifact_name(name)
        artifacts = self._store.artifacts
        if isinstance(path_or_stream, (str, os.PathLike)):
            source = Path(path_or_stream)
            if not source.is_file():
                raise InvalidArgumentError("path_or_stream", path_or_stream, "an existing file or a readable stream")
            return self._put(name, lambda: artifacts.put_file(self.id, name, source),
                             lambda: (open(source, "rb"), True))
        if hasattr(path_or_stream, "read"):
            stream: Any = path_or_stream
            again = _rewinder(stream)
            return self._put(name, lambda: artifacts.put_stream(self.id, name, stream), again)
        if isinstance(path_or_stream, (bytes, bytearray)):
            data = bytes(path_or_stream)
            return self._put(name, lambda: artifacts.put_stream(self.id, name, io.BytesIO(data)),
                             lambda: (io.BytesIO(data), True))
        raise InvalidArgumentError("path_or_stream", path_or_stream, "a file path or a readable stream")

    def upload_folder(self, name: str, path: str | os.PathLike[str]) -> list[str]:
        """Store every file under ``path`` as ``name/<relative path>``; returns the artifact names.

        Every name is checked first: when one is refused, nothing is stored. Links inside the folder:
        a link to a regular file inside ``path`` is stored as a copy of that file, under the link's
        name; a link to a folder, a link that leads outside ``path``, a broken link and anything
        that is not a regular file (a FIFO, a socket) are skipped, with one warning that lists them.
        Nothing below ``path`` is opened through a link: a file replaced by a link after the check
        is skipped (with a warning), never read.

        Args:
            name: the artifact folder, such as ``"checkpoints"``.
            path: an existing folder.

        Returns:
            The names of the stored artifacts, sorted.

        Raises:
            RunEndedError: the run has ended.
            UnsafeArtifactNameError: ``name`` is refused; or (as :class:`UnsafeFolderNamesError`, with
                every refused name in ``refused``) a file's name in the folder is: nothing is stored.
            ArtifactWriteError: the folder cannot be read, or an artifact cannot be written.
        """
        self._check_open()
        _artifact_names.check_artifact_name(name)
        if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
            raise InvalidArgumentError("path", path, "an existing folder")
        with self._open_folder(name, path) as folder:
            files, skipped = folder.scan()
            refused = {}
            for relative, _ in files:
                problem = _artifact_names.artifact_name_problem(f"{name}/{relative}")
                if problem is not None:
                    refused[f"{name}/{relative}"] = problem
            if refused:
                raise UnsafeFolderNamesError(str(path), refused)
            if skipped:
                _warn(f"runlog: upload_folder({name!r}, {str(path)!r}) skipped {len(skipped)} "
                      f"entr{'y' if len(skipped) == 1 else 'ies'}: {_describe_skipped(skipped)}", 2)
            uploaded, failed = self._upload_scanned(name, folder, files, keep_going=False)
        self._warn_changed(name, path, failed)
        return uploaded

    def _upload_outputs(self, path: Path, stopping: bool = False) -> list[str]:
        """Store the ``outputs`` folder as ``outputs/...`` while the run ends; returns the names stored.

        Unlike :meth:`upload_folder`, every safe file is stored: each refused name (``aux.pt``, a
        timestamp with ``:``) and each file that cannot be stored is skipped alone, with one warning
        that lists them. It does not check that the run is open: the run calls it while ending.
        In S3 beside a remote metadata store (issue 23), an upload that reads nothing more of its file
        for ``RUNLOG_STORE_TIMEOUT`` (S3 stalled) is given up, and with ``stopping`` (the program ends)
        every upload ends by the store's stop deadline; the files S3 did not take are kept for later
        (:meth:`_keep`).
        """
        with self._open_folder(OUTPUTS, path) as folder:
            files, skipped = folder.scan()
            safe, refused = [], []
            for relative, parts in files:
                problem = _artifact_names.artifact_name_problem(f"{OUTPUTS}/{relative}")
                if problem is None:
                    safe.append((relative, parts))
                else:
                    refused.append((relative, problem))
            if refused:
                _warn(f"runlog: {len(refused)} file(s) of {path} were not uploaded, their names are refused as "
                      f"artifact names: {_describe_skipped(refused)}; rename them (plain segments, no ':', "
                      "no Windows device names such as 'aux' or 'com1') to keep them with the run", 4)
            if skipped:
                _warn(f"runlog: uploading {path} skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}: "
                      f"{_describe_skipped(skipped)}", 4)
            uploaded, failed = self._upload_scanned(OUTPUTS, folder, safe, keep_going=True, stopping=stopping)
        self._warn_changed(OUTPUTS, path, failed)
        return uploaded

    @staticmethod
    def _open_folder(name: str, path: str | os.PathLike[str]) -> SafeFolder:
        try:
            from runlog_core.store.artifacts.safe_folder import SafeFolder  # not at import: it needs pathlib

            return SafeFolder(path)
        except OSError as err:
            raise ArtifactWriteError(name, os.fspath(path), err, "reading") from err

    def _upload_scanned(self, name: str, folder: SafeFolder, files: list[tuple[str, tuple[str, ...]]],
                        keep_going: bool, stopping: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
        """Store each scanned file; a file that changed since the scan is skipped, never followed.
        With ``keep_going`` (the ``outputs`` folder), S3's waits are bounded (see :meth:`_upload_outputs`)."""
        artifacts = self._store.artifacts
        # beside a remote store only, where what is given up is kept for later (a local one waits on S3)
        within = getattr(artifacts, "within", None) if keep_going and getattr(self._store, "remote", False) else None
        idle = deadline = None
        if within is not None:
            from runlog_core.base import config

            idle = config.store_timeout()
            deadline = artifacts.stop_deadline() if stopping else None  # type: ignore[attr-defined]
        uploaded: list[str] = []
        failed: list[tuple[str, str]] = []
        for relative, parts in files:
            artifact = f"{name}/{relative}"
            try:
                stream = folder.open_file(parts)
            except OSError as err:
                failed.append((relative, f"changed after the check, not read: {err.strerror or err}"))
                continue
            with stream:
                try:
                    write = _writing(artifacts.put_stream, self.id, artifact, stream)
                    if within is not None:
                        write = _bounded(within, artifacts.put_stream, self.id, artifact, stream, deadline, idle)
                    self._put(artifact, write, _reopen(folder, parts), quiet=stopping)
                except (RunlogError, OSError) as err:
                    if not keep_going:
                        raise
                    failed.append((relative, str(err)))
                    continue
            uploaded.append(artifact)
        return uploaded, failed

    @staticmethod
    def _warn_changed(name: str, path: str | os.PathLike[str], failed: list[tuple[str, str]]) -> None:
        if failed:
            _warn(f"runlog: {len(failed)} file(s) of {os.fspath(path)} were not stored as {name}/...: "
                  f"{_describe_skipped(failed)}", 3)

    def get_file_names(self) -> list[str]:
        """The names of the run's artifacts, in the order they were stored."""
        self.flush()
        return [info.name for info in self._store.get_artifacts(self.id)]

    def download_file(self, name: str, output_file_path: str | os.PathLike[str] | None = None) -> str:
        """Copy the artifact ``name`` to ``output_file_path`` (default: its base name, here).

        Raises:
            UnsafeArtifactNameError: ``name`` is not a safe artifact name (nothing is created).
            RunNotFoundError: the run has no such artifact.
            ArtifactWriteError: the destination cannot be written.
        """
        from pathlib import Path

        _artifact_names.check_artifact_name(name)
        self.flush()
        destination = Path(output_file_path) if output_file_path is not None else Path(name.rsplit("/", 1)[-1])
        if destination.is_dir():
            destination = destination / name.rsplit("/", 1)[-1]
        return str(self._store.artifacts.download(self.id, name, destination))

    def download_files(self, prefix: str | None = None, output_directory: str | os.PathLike[str] = ".",
                       append_prefix: bool = True) -> list[str]:
        """Copy every artifact whose name starts with ``prefix`` under ``output_directory``.

        Every stored name is checked before anything is created: a name that is not safe (stored by
        an older version or another tool) is skipped, with one warning that lists them.

        Returns:
            The paths written.

        Raises:
            ArtifactWriteError: a file cannot be written under ``output_directory``.
        """
        from pathlib import Path

        if prefix is not None and not isinstance(prefix, str):
            raise InvalidArgumentError("prefix", prefix, "a str or None")
        if not isinstance(output_directory, (str, os.PathLike)):
            raise InvalidArgumentError("output_directory", output_directory, "a folder path")
        target = Path(output_directory)
        plan: dict[str, str] = {}  # local relative path -> artifact name
        folders: set[str] = set()  # the folders the plan needs
        bad: list[tuple[str, str]] = []
        for name in dict.fromkeys(self.get_file_names()):
            if prefix and not name.startswith(prefix):
                continue
            relative = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            if not relative:
                relative = name.rsplit("/", 1)[-1]
            problem = _artifact_names.artifact_name_problem(name) or _artifact_names.artifact_name_problem(relative)
            parents = _ancestors(relative)
            if problem is None and (relative in plan or relative in folders or any(p in plan for p in parents)):
                problem = "another artifact needs that path as a file or as a folder"
            if problem is not None:
                bad.append((name, problem))
                continue
            plan[relative] = name
            folders.update(parents)
        if bad:
            _warn(f"runlog: download_files skipped {len(bad)} stored artifact name(s) of run {self.id} that are not "
                  f"safe to write: {_describe_skipped(bad)}; they were stored by another tool or an older runlog", 2)
        artifacts = self._store.artifacts
        return [str(artifacts.download(self.id, name, target / relative)) for relative, name in plan.items()]


def _writing(put: Callable[[str, str, Any], tuple[int, str]], run_id: str, name: str,
             stream: Any) -> Callable[[], tuple[int, str]]:
    return lambda: put(run_id, name, stream)


def _bounded(within: Callable[..., tuple[int, str]], put: Callable[[str, str, Any], tuple[int, str]], run_id: str,
             name: str, stream: Any, deadline: float | None, idle: float | None) -> Callable[[], tuple[int, str]]:
    """``put(run_id, name, stream)`` through the S3 store's ``within``: given up ``idle`` seconds after it
    last read the stream, or at ``deadline``."""
    progress = [time.monotonic()]

    class _Watched:
        def read(self, size: int = -1) -> bytes:
            data: bytes = stream.read(size)
            progress[0] = time.monotonic()
            return data

        name = getattr(stream, "name", "the stream")

    return lambda: within(lambda: put(run_id, name, _Watched()), run_id, name, deadline, idle, progress)


def _reopen(folder: SafeFolder, parts: tuple[str, ...]) -> Callable[[], tuple[IO[Any], bool]]:
    return lambda: (folder.open_file(parts), True)


def _rewinder(stream: Any) -> Callable[[], tuple[IO[Any], bool]] | None:
    """The stream again from where it is now (not closed: it is the caller's), or ``None`` when it
    cannot seek."""
    try:
        start = stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        start = None
    if start is None:
        return None

    def again() -> tuple[IO[Any], bool]:
        stream.seek(start)
        return stream, False

    return again


def _ancestors(relative: str) -> list[str]:
    parts = relative.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _describe_skipped(entries: Any) -> str:
    from runlog_core.store.artifacts.safe_folder import describe_skipped  # not at import: it needs pathlib

    return describe_skipped(entries)

"""Where an MLflow run's artifacts may be read from, and copying them file by file.

A run's ``artifact_uri`` is written in its ``meta.yaml`` (or its database row) by whoever made the
store, and can name any folder or bucket: ``file:///home/you/.ssh``, ``s3://any/prefix``. Read as
it is, it would copy that folder's files or those objects into the runlog store, with the
importing user's permissions and credentials. So the artifacts are read only from inside the
source that was given:

- an ``mlruns`` folder: a local folder inside it (its real path, links resolved);
- an SQLite file: a local folder inside the folder that holds the file;
- a tracking server (``http(s)://``): what that server serves itself (``mlflow-artifacts:``);
- a database (``postgresql://``...): nothing.

Anything else (a folder outside, ``s3://``, ``gs://``, ``http(s)://``...) is copied only with
``artifacts_from_anywhere`` (``--artifacts-from-anywhere``); without it the run is imported without
its artifacts and one line names their location and the option.

Local artifacts are read in place, never through a link: each regular file is opened with
``open_regular`` and stored as it is read; a link, a FIFO or a name runlog refuses is one line and
the other files are copied. Remote artifacts are downloaded by MLflow into a temporary folder
(removed afterwards, whatever happens) and copied from there the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from runlog_core.exceptions import RunlogError
from runlog_core.transfer.import_common import one_line
from runlog_core.transfer.import_read import SourceFileError, open_regular
from runlog_core.transfer.import_write import short

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.run.run import Run
    from runlog_core.transfer.import_common import ImportSummary

__all__ = ["FLAG", "Location", "copy_folder", "locate", "source_root"]

FLAG = "--artifacts-from-anywhere"


class Location:
    """Where one run's artifacts are: ``kind`` is ``"local"`` (``path``), ``"served"`` or ``"remote"``;
    ``inside``: within the source that was given."""

    __slots__ = ("kind", "path", "inside", "shown")

    def __init__(self, kind: str, path: Path | None, inside: bool, shown: str) -> None:
        self.kind, self.path, self.inside, self.shown = kind, path, inside, shown


def source_root(tracking_uri: str) -> Path | None:
    """The local folder whose artifacts count as inside the source: the mlruns folder, the SQLite file's folder."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    if tracking_uri.startswith("file:"):
        return Path(os.path.realpath(url2pathname(urlparse(tracking_uri).path)))
    if tracking_uri.startswith("sqlite:///"):
        database = tracking_uri[len("sqlite:///"):]
        if database and database != ":memory:":
            return Path(os.path.realpath(database)).parent
    return None


def locate(artifact_uri: str, tracking_uri: str, root: Path | None) -> Location:
    """Classify the run's ``artifact_uri`` against the source (``tracking_uri``, its local ``root``)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    from runlog_core.base.redact import redact_url

    shown = short(redact_url(artifact_uri, hide_user=True), 200)
    parsed = urlparse(artifact_uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file") and parsed.netloc in ("", "localhost") and artifact_uri:
        path = Path(url2pathname(parsed.path) if scheme else artifact_uri)
        real = Path(os.path.realpath(path))
        inside = root is not None and (real == root or root in real.parents)
        return Location("local", path, inside, shown)
    served = scheme == "mlflow-artifacts" and tracking_uri.lower().startswith(("http://", "https://"))
    return Location("served" if served else "remote", None, served, shown)


def copy_folder(run: Run, folder: Path, label: str, summary: ImportSummary) -> int:
    """Store every regular file under ``folder`` as the artifact of its relative name; returns how many.

    Nothing is opened through a link. Each link, FIFO, device or socket, each file that cannot be
    read and each name runlog refuses is one line in ``summary.left_out``; the other files are stored.
    """
    count = 0
    stack: list[tuple[str, str]] = [(os.fspath(folder), "")]
    while stack:
        path, prefix = stack.pop()
        try:
            with os.scandir(path) as scan:
                entries = sorted(scan, key=lambda entry: entry.name, reverse=True)
        except OSError as err:
            summary.left_out.append(f"{label}: the artifacts under '{short(prefix or '.')}' are not copied: "
                                    f"{one_line(err.strerror or err)}")
            continue
        for entry in entries:
            name = f"{prefix}{entry.name}"
            if not entry.is_symlink() and entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, name + "/"))
                continue
            try:
                with open_regular(entry.path) as handle:
                    run.upload_file(name, handle)
                count += 1
            except (SourceFileError, RunlogError) as err:  # this file only: the run goes on
                summary.left_out.append(f"{label}: the artifact '{short(name, 200)}' is not copied: {one_line(err)}")
    return count


def download(tracking_uri: str, run_id: str, folder: str) -> Path:
    """Let MLflow download the run's artifacts (from wherever they are) into ``folder``."""
    from mlflow.artifacts import download_artifacts

    before = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # the CLI draws its own progress line
    try:
        return Path(download_artifacts(run_id=run_id, dst_path=folder, tracking_uri=tracking_uri))
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = before


def has_artifacts(client: Any, run_id: str) -> bool:
    """Whether MLflow lists any artifact for the run (asks wherever they are stored)."""
    return bool(client.list_artifacts(run_id))

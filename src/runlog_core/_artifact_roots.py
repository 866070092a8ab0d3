"""Which artifact store a metadata store uses: ``RUNLOG_ARTIFACTS`` (a folder, ``file://`` or a plugin's scheme).

Every store opens its artifact store here, so that ``RUNLOG_ARTIFACTS=s3://bucket/prefix`` means the
same thing beside SQLite and beside PostgreSQL.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from . import _config
from ._artifacts import LocalArtifactStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .store import ArtifactStore

__all__ = ["open_artifact_store"]


def open_artifact_store(default_folder: str | os.PathLike[str], value: str | None = None) -> ArtifactStore:
    """The artifact store for ``value`` (default ``RUNLOG_ARTIFACTS``), else a folder at ``default_folder``."""
    if value is None:
        value = _config.artifacts()
    if not value:
        return LocalArtifactStore(Path(default_folder))
    if "://" in value and not value.startswith("file://"):
        warnings.warn(f"RUNLOG_ARTIFACTS={value!r} needs a plugin for that scheme; using the local folder",
                      stacklevel=3)
        return LocalArtifactStore(Path(default_folder))
    return LocalArtifactStore(Path(value[len("file://"):] if value.startswith("file://") else value))

"""Which artifact store a metadata store uses: ``RUNLOG_ARTIFACTS`` (a folder, ``file://`` or ``s3://``).

Every store opens its artifact store here, so that ``RUNLOG_ARTIFACTS=s3://bucket/prefix`` means the
same thing beside SQLite and beside PostgreSQL. The S3 store (``s3`` and the ``s3_*`` modules beside
it, which need boto3) is imported only when such a URI is given: ``import runlog_core`` never imports boto3.
"""

from __future__ import annotations

import os
from pathlib import Path

from runlog_core.base import config as _config
from runlog_core.exceptions import ConfigError
from runlog_core.store.artifacts.local import LocalArtifactStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runlog_core.store import ArtifactStore, Store

__all__ = ["check_downloads", "open_artifact_store"]


def open_artifact_store(default_folder: str | os.PathLike[str], value: str | None = None) -> ArtifactStore:
    """The artifact store for ``value`` (default ``RUNLOG_ARTIFACTS``), else a folder at ``default_folder``.

    Args:
        default_folder: the folder used when neither ``value`` nor ``RUNLOG_ARTIFACTS`` is set.
        value: a folder, ``file:///folder`` or ``s3://bucket/prefix``.

    Raises:
        ConfigError: ``value`` has a scheme runlog does not know, or is a malformed ``s3://`` URI.
        MissingDependencyError: ``s3://`` without boto3 installed.
    """
    if value is None:
        value = _config.artifacts()
    if not value:
        return LocalArtifactStore(Path(default_folder))
    if value.startswith("s3://"):
        from runlog_core.exceptions import InvalidArgumentError
        from runlog_core.store.artifacts.s3 import S3ArtifactStore, parse_s3_uri

        try:
            parse_s3_uri(value)
        except InvalidArgumentError as err:
            raise ConfigError("RUNLOG_ARTIFACTS", value, "s3://bucket or s3://bucket/prefix, with plain segments") \
                from err
        return S3ArtifactStore(value)
    if "://" in value and not value.startswith("file://"):
        raise ConfigError("RUNLOG_ARTIFACTS", value, "a folder, file:///folder or s3://bucket/prefix")
    return LocalArtifactStore(Path(value[len("file://"):] if value.startswith("file://") else value))


def check_downloads(store: Store) -> None:
    """Let ``store.artifacts`` check each download against ``store``'s file index, when it can (S3)."""
    check = getattr(store.artifacts, "check_with_index", None)
    if check is not None:
        def entry(run_id: str, name: str) -> object:
            return next((info for info in store.get_artifacts(run_id) if info.name == name), None)

        check(entry)

"""Removing a run's files for good (``runlog gc``, issue 20): its local folder or its S3 objects, all
but the files of registered models.

An artifact store of a plugin takes part through an optional method of its own,
``remove_run(run_id, keep) -> (files, bytes)`` (see :mod:`runlog_core.store`); the built-in ones
are handled here. Removing is idempotent: a gc killed midway removes the rest when run again.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from runlog_core.base.artifact_names import check_artifact_name
from runlog_core.exceptions import RunlogError
from runlog_core.store.artifacts.local import LocalArtifactStore

__all__ = ["remove_run_files", "run_files_size"]


def _local(artifacts: LocalArtifactStore, run_id: str, keep: Collection[str], dry_run: bool) -> tuple[int, int]:
    check_artifact_name(run_id)  # one plain segment: never a folder above the root
    folder = artifacts.root / run_id
    files = size = 0
    for top, dirs, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(top, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            if relative in keep:
                continue
            try:
                found = os.lstat(path).st_size
                if not dry_run:
                    os.unlink(path)
            except FileNotFoundError:
                continue
            files, size = files + 1, size + found
        if not dry_run:
            for name in dirs:
                try:
                    os.rmdir(os.path.join(top, name))  # only when empty: a kept model file keeps its folder
                except OSError:
                    pass
    if not dry_run:
        try:
            os.rmdir(folder)
        except OSError:
            pass
    return files, size


def _s3(artifacts: Any, run_id: str, keep: Collection[str], dry_run: bool) -> tuple[int, int]:
    prefix = artifacts._run_prefix(run_id)
    s3 = artifacts._s3
    files = size = 0
    token: str | None = None
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.call("removing", run_id, prefix, "list_objects_v2", Bucket=s3.bucket, Prefix=prefix, **extra)
        gone = [item for item in page.get("Contents") or [] if item["Key"][len(prefix):] not in keep]
        if gone and not dry_run:
            answer = s3.call("removing", run_id, prefix, "delete_objects", Bucket=s3.bucket,
                             Delete={"Objects": [{"Key": item["Key"]} for item in gone], "Quiet": True})
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise RunlogError(f"S3 refused to remove s3://{s3.bucket}/{error.get('Key')} "
                                  f"({error.get('Code')}: {error.get('Message')}); run `runlog gc` again later")
        files += len(gone)
        size += sum(int(item.get("Size", 0)) for item in gone)
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return files, size


def remove_run_files(artifacts: Any, run_id: str, keep: Collection[str] = (), dry_run: bool = False
                     ) -> tuple[int, int]:
    """Remove every file of the run ``run_id`` but those named in ``keep``; return ``(files, bytes)`` removed
    (with ``dry_run``, what would be). Missing files are not an error.

    Raises:
        S3ArtifactError: S3 refuses or cannot be reached (run gc again later).
    """
    own = getattr(artifacts, "remove_run", None)
    if own is not None and not dry_run:
        files, size = own(run_id, frozenset(keep))
        return int(files), int(size)
    if isinstance(artifacts, LocalArtifactStore):
        return _local(artifacts, run_id, frozenset(keep), dry_run)
    if hasattr(artifacts, "_run_prefix") and hasattr(artifacts, "_s3"):  # S3ArtifactStore (boto3 loaded by it)
        return _s3(artifacts, run_id, frozenset(keep), dry_run)
    return 0, 0


def run_files_size(artifacts: Any, run_id: str, keep: Collection[str] = ()) -> tuple[int, int]:
    """``(files, bytes)`` that :func:`remove_run_files` would remove."""
    return remove_run_files(artifacts, run_id, keep, dry_run=True)

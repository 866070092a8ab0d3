"""File/folder conflicts in a bucket, refused as the local store refuses them.

S3 has no folders: the objects ``col`` and ``col/x`` can both exist. The S3 store refuses, as the local
store does and before anything is written, with an :class:`ArtifactConflictError`:

- a name that needs a folder where the run has a file (``col``, then ``col/x``): found by a HEAD of
  each parent folder's key;
- a name that is a folder of the run (``col/x``, then ``col``): found by a LIST of ``<name>/``.

Two processes creating ``col`` and ``col/x`` at the same moment are not caught.
"""

from __future__ import annotations

from runlog_core.exceptions import ArtifactConflictError
from runlog_core.store.artifacts.s3_client import S3Client

__all__ = ["ConflictCheck"]


def _parents(name: str) -> list[str]:
    """``["a", "a/b"]`` for ``"a/b/c.txt"``: the folders the name needs, outermost first."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class ConflictCheck:
    """The conflict check of one store; see the module docstring.

    Args:
        client: the store's connection (its HEAD and LIST requests).
    """

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def check(self, base: str, name: str) -> str:
        """The key ``base + name``, after checking that storing it makes no file/folder conflict.

        Args:
            base: the run's key prefix, ending with ``/``.
            name: a checked artifact name.

        Raises:
            ArtifactConflictError: a parent folder of ``name`` is a file of the run, or ``name`` is a folder.
            S3ArtifactError: S3 refused the HEAD or LIST, or cannot be reached.
        """
        key = base + name
        for folder in _parents(name):
            if self._client.head(name, base + folder, "checking") is not None:
                raise ArtifactConflictError(name, folder)
        inside = self._client.first_under(name, key, "checking")
        if inside is not None:
            raise ArtifactConflictError(name, f"{name}/{inside[len(key) + 1:]}")
        return key

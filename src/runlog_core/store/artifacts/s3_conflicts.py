"""File/folder conflicts in a bucket, refused as the local store refuses them, in as few requests as that allows.

S3 has no folders: the objects ``col`` and ``col/x`` can both exist. The S3 store refuses, as the local
store does and before anything is written, with an :class:`ArtifactConflictError`:

- a name that needs a folder where the run has a file (``col``, then ``col/x``): found by a HEAD of
  each parent folder's key;
- a name that is a folder of the run (``col/x``, then ``col``): found by a LIST of ``<name>/``.

What a check may skip
    runlog never deletes an artifact, so what a stored upload proves stays true: once ``a/b/c.txt``
    is stored, ``a`` and ``a/b`` are folders of the run and never become files (an upload of ``a``
    finds ``a/b/c.txt`` in its LIST and is refused), and ``a/b/c.txt`` is a file that never becomes a
    folder (an upload of ``a/b/c.txt/x`` finds it with its HEAD). So a :class:`ConflictCheck`
    remembers the folders and files its store's uploads stored, and skips the HEAD of a parent it
    knows to be a folder and the LIST of a name it knows to be a file. A conflict is always found by
    a request, so its error is the one it was without that memory. Uploading ``outputs/model.pt``
    into a run costs a HEAD of ``outputs`` and a LIST of ``outputs/model.pt/`` before the PUT; each
    further file of ``outputs/``, the LIST only; storing a name again (a checkpoint overwritten, a
    log uploaded again), no request before the PUT.

    The memory holds at most :data:`REMEMBERED` folders and as many files; when full it is emptied
    (a forgotten name costs its requests again, nothing else). As before, two processes creating
    ``col`` and ``col/x`` at the same moment are not caught, nor is an object written or deleted
    outside runlog under a name a store already remembers.
"""

from __future__ import annotations

import threading
from typing import Final

from runlog_core.exceptions import ArtifactConflictError
from runlog_core.store.artifacts.s3_client import S3Client

__all__ = ["REMEMBERED", "ConflictCheck"]

REMEMBERED: Final = 10_000
"""The most folder keys (and file keys) a store remembers as stored."""


def _parents(name: str) -> list[str]:
    """``["a", "a/b"]`` for ``"a/b/c.txt"``: the folders the name needs, outermost first."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class ConflictCheck:
    """The conflict check of one store, with what its uploads stored; see the module docstring.

    Args:
        client: the store's connection (its HEAD and LIST requests).
    """

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._folders: set[str] = set()  # keys that are folders: a stored object lies under each
        self._files: set[str] = set()  # keys of objects stored

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
        with self._lock:
            unknown = [folder for folder in _parents(name) if base + folder not in self._folders]
            known_file = key in self._files
        for folder in unknown:
            if self._client.head(name, base + folder, "checking") is not None:
                raise ArtifactConflictError(name, folder)
        if not known_file:
            inside = self._client.first_under(name, key, "checking")
            if inside is not None:
                raise ArtifactConflictError(name, f"{name}/{inside[len(key) + 1:]}")
        return key

    def stored(self, key: str, name: str) -> None:
        """Remember that the object ``key`` (the artifact ``name``) is stored: a file, under folders."""
        base = key[: len(key) - len(name)]
        with self._lock:
            if len(self._files) >= REMEMBERED:
                self._files.clear()
            if len(self._folders) >= REMEMBERED:
                self._folders.clear()
            self._files.add(key)
            self._folders.update(base + folder for folder in _parents(name))

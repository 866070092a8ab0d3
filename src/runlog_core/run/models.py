"""The model registry, as Azure Machine Learning v1's ``Model`` (issue 20).

``run.register_model("ridge", "outputs/ridge.pkl")`` records a version of the model ``ridge``: the
files that path names among the run's files (one file, or every file of a folder). The files stay
where the run keeps them, and ``runlog gc`` keeps them when it removes the run.
``Model.get_model_path("ridge")`` gives a local path to them: the file itself in a local store, a
copy in a cache folder (``$XDG_CACHE_HOME/runlog/models``, else ``~/.cache/runlog/models``) when they
are in S3.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from runlog_core.base.records import ModelInfo
from runlog_core.exceptions import DestinationExistsError, InvalidArgumentError, InvalidNameError, RunNotFoundError
from runlog_core.plugins.manager import open_store

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.store import Store

__all__ = ["Model", "check_model_name", "model_files", "model_record"]

# Azure's rule for a model name: letters, digits, '-', '_' and '.', starting with a letter or digit
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def check_model_name(name: object, argument: str = "model_name") -> str:
    """Return ``name`` if it can name a model: 1 to 255 letters, digits, '-', '_', '.', never path-like."""
    if not isinstance(name, str):
        raise InvalidArgumentError(argument, name, "a str such as 'ridge' (letters, digits, '-', '_', '.')")
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidNameError(argument, name, "a model name is 1 to 255 letters, digits, '-', '_' or '.', starting "
                                               "with a letter or digit (no '/', no spaces), such as 'ridge'")
    return name


def _strings(argument: str, value: Mapping[str, Any] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, value, "a dict of str to str, or None")
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def model_files(artifacts: list[Any], path: str) -> list[list[Any]]:
    """``[name, size, sha256]`` of the artifacts ``path`` names: that file, or every file under that folder."""
    folder = path.rstrip("/") + "/"
    return [[a.name, a.size, a.sha256] for a in artifacts if a.name == path or a.name.startswith(folder)]


def model_record(run: Any, model_name: str, model_path: str | None, tags: Mapping[str, Any] | None,
                 properties: Mapping[str, Any] | None, description: str | None) -> ModelInfo:
    """The checked record ``run.register_model`` stores (its version is given by the store)."""
    name = check_model_name(model_name)
    path = name if model_path is None else model_path
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidArgumentError("model_path", model_path, "a file or folder among the run's files, such as "
                                                             "'outputs/model.pkl'")
    if description is not None and not isinstance(description, str):
        raise InvalidArgumentError("description", description, "a str or None")
    tag_values, property_values = _strings("tags", tags), _strings("properties", properties)
    run.flush()  # files uploaded just before are in the index
    artifacts = run._store.get_artifacts(run.id)
    files = model_files(artifacts, path.rstrip("/"))
    if not files:
        known = ", ".join(repr(a.name) for a in artifacts[:5]) or "none"
        raise InvalidArgumentError("model_path", path, f"a file or folder among the run's files (it has {known}"
                                                       f"{', ...' if len(artifacts) > 5 else ''}); upload it first")
    return ModelInfo(name, 0, run.id, run.experiment.name, path.rstrip("/"), files, tag_values, property_values,
                     description, time.time())


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runlog" / "models"


class Model:
    """A registered model version, as Azure's ``Model``.

    Args:
        name: the model's name.
        version: its version (counting up from 1 per name); the latest when ``None``.
        store: the store (a folder or URI, or an Experiment); default ``RUNLOG_STORE``, else ``./runlog``.

    Raises:
        RunNotFoundError: there is no such model or version.

    Example::

        model = run.register_model("ridge", model_path="outputs/ridge.pkl")
        path = Model.get_model_path("ridge")          # in the scoring script
    """

    def __init__(self, name: str, version: int | None = None, store: Any = None, *, _info: ModelInfo | None = None,
                 _store: Store | None = None) -> None:
        self._store: Store = _store if _store is not None else open_store(getattr(store, "_store", store))
        if _info is None:
            check_model_name(name, "name")
            if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
                raise InvalidArgumentError("version", version, "a version number (an int from 1) or None")
            _info = self._store.get_model(name, version)
            if _info is None:
                which = f"{name} version {version}" if version is not None else name
                raise RunNotFoundError("model", which, f"{self._store.uri}; see `runlog models`")
        self._info = _info
        self.name, self.version, self.run_id = _info.name, _info.version, _info.run_id
        self.tags, self.properties, self.description = _info.tags, _info.properties, _info.description
        self.created_time, self.path, self.experiment_name = _info.created_time, _info.path, _info.experiment_name

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, version={self.version}, run_id={self.run_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and (other.name, other.version) == (self.name, self.version)

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    @property
    def files(self) -> list[str]:
        """The model's files, as named among its run's files."""
        return [entry[0] for entry in self._info.files]

    @staticmethod
    def list(store: Any = None, name: str | None = None, tags: Any = None) -> list[Model]:
        """Every registered model version, the newest first.

        Args:
            store: as for :class:`Model`.
            name: only versions of this model.
            tags: only versions having these tags: a tag name, a list of names or ``[name, value]`` pairs,
                or a dict of name to value (``None``: any value).
        """
        backend: Store = open_store(getattr(store, "_store", store))
        if name is not None:
            check_model_name(name, "name")
        wanted = _wanted_tags(tags)
        infos = backend.list_models(name=name)
        return [Model(info.name, _info=info, _store=backend) for info in infos
                if all(key in info.tags and (value is None or info.tags[key] == value) for key, value in wanted.items())]

    def download(self, target_dir: str | os.PathLike[str] = ".", exist_ok: bool = False) -> str:
        """Copy the model's files into ``target_dir``; return the path of the file, or of its folder.

        A model of one file is written as ``target_dir/<its file name>``, a folder as
        ``target_dir/<folder name>/...``, as Azure does.

        Raises:
            DestinationExistsError: a file would be replaced and ``exist_ok`` is False; nothing was written.
        """
        if not isinstance(target_dir, (str, os.PathLike)):
            raise InvalidArgumentError("target_dir", target_dir, "a folder path")
        target = Path(target_dir)
        base = self.path.rsplit("/", 1)
        parent = base[0] + "/" if len(base) == 2 else ""
        wanted = [(name, target / name[len(parent):]) for name in self.files]
        if not exist_ok:
            existing = [str(path) for _, path in wanted if path.exists()]
            if existing:
                raise DestinationExistsError(existing[0], len(existing) - 1, "pass exist_ok=True to replace them")
        for name, path in wanted:
            self._store.artifacts.download(self.run_id, name, path)
        return str(target / self.path[len(parent):])

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, store: Any = None) -> str:
        """A local path to the model's file (or folder): where a local store keeps it, else a cached copy.

        Raises:
            RunNotFoundError: there is no such model or version.
        """
        model = Model(model_name, version, store)
        local = getattr(model._store.artifacts, "path", None)
        if callable(local):  # a local artifact store: the files where they are
            return str(local(model.run_id, model.path))
        cache = _cache_root() / model.name / str(model.version)
        done = cache / ".complete"
        if not done.exists():
            model.download(cache, exist_ok=True)
            done.touch()
        return str(cache / model.path.rsplit("/", 1)[-1])


def _wanted_tags(tags: Any) -> dict[str, str | None]:
    if tags is None:
        return {}
    if isinstance(tags, str):
        return {tags: None}
    if isinstance(tags, Mapping):
        return {str(k): None if v is None else str(v) for k, v in tags.items()}
    if isinstance(tags, (list, tuple)):
        wanted: dict[str, str | None] = {}
        for item in tags:
            if isinstance(item, str):
                wanted[item] = None
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                wanted[str(item[0])] = str(item[1])
            else:
                raise InvalidArgumentError("tags", tags, "tag names, [name, value] pairs or a dict")
        return wanted
    raise InvalidArgumentError("tags", tags, "a tag name, a list of names or [name, value] pairs, or a dict")


Model.__module__ = "runlog_core"  # its public path

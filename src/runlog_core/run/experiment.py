"""Experiments: named groups of runs in a store, and the place runs start from."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from runlog_core.base import config as _config
from runlog_core.base import values as _values
from runlog_core.base.records import RunInfo
from runlog_core.exceptions import InvalidArgumentError, RunNotFoundError, StoreError, StoreVersionError
from runlog_core.plugins.manager import open_store
from runlog_core.run import lifecycle as _lifecycle
from runlog_core.run.run import Run
from runlog_core.run.state import RUNNING
from runlog_core.views.html import RunList
from runlog_core.writer.ops import CreateRun, RunStarted
from runlog_core.writer.registry import close_store, get_writer

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Experiment", "new_run_id"]

_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager", "fair", "gentle",
               "glad", "golden", "keen", "lively", "lucid", "merry", "noble", "proud", "quick", "quiet",
               "rapid", "serene", "sharp", "shy", "silent", "steady", "sunny", "swift", "tidy", "vivid")
_NOUNS = ("aurora", "brook", "canyon", "cedar", "comet", "delta", "ember", "falcon", "fjord", "glacier",
          "harbor", "heron", "island", "lagoon", "maple", "meadow", "nebula", "orchid", "otter", "pine",
          "prairie", "quartz", "river", "sparrow", "summit", "tide", "valley", "willow", "wren", "zephyr")


# experiment ids this process read or created, per store URI and name: a live program that makes
# another Experiment object while its store is down goes on with the id it already knows
_known_ids: dict[tuple[str, str], int] = {}


def new_run_id() -> str:
    return os.urandom(8).hex()


def _friendly_name() -> str:
    a, b, c = os.urandom(3)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}-{_NOUNS[b % len(_NOUNS)]}-{c % 100}"


_host: tuple[int, str] = (0, "")


def hostname() -> str:
    """This machine's name, asked once per process (``os.uname()`` costs a system call on each run's start)."""
    global _host
    if _host[0] == os.getpid():
        return _host[1]
    try:
        name = os.uname().nodename
    except AttributeError:  # Windows
        import socket

        name = socket.gethostname()
    _host = (os.getpid(), name)
    return name


class Experiment:
    """A named group of runs in a store.

    Args:
        name: the experiment's name; created in the store on first use.
        store: a folder, ``sqlite:///file.db`` or another store URI; default
            ``RUNLOG_STORE``, else ``./runlog``.

    Example::

        exp = Experiment("diabetes")
        with exp.start_logging() as run:
            run.log("mse", 3012.5)
    """

    def __init__(self, name: str, store: str | os.PathLike[str] | Any | None = None) -> None:
        self.name = _values.check_name("experiment name", name)
        self._store = open_store(store)
        key = (str(self._store.uri), self.name)
        try:
            self.id: int = self._store.get_or_create_experiment(self.name)
        except (StoreError, OSError) as err:
            if isinstance(err, StoreVersionError) or key not in _known_ids:
                raise
            self.id = _known_ids[key]  # the store is down: the id this process already knows
        _known_ids[key] = self.id

    @property
    def store(self) -> str:
        """The store's URI."""
        return str(self._store.uri)

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, store={self.store!r})"

    def _repr_html_(self) -> str:
        from runlog_core.views.html import experiment_html  # on first display: `import runlog_core` stays light

        return experiment_html(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and other.id == self.id and other._store is self._store

    def __hash__(self) -> int:
        return hash((self.id, id(self._store)))

    def __reduce__(self) -> Any:
        return (type(self), (self.name, self.store))

    def _handle(self, run_id: str, info: RunInfo | None = None) -> Run:
        """A handle on the existing run ``run_id`` of this experiment."""
        return Run(self, run_id, _info=info)

    def close(self) -> None:
        """Release the store: runs this process started here and left open end Completed, everything
        logged is committed, the writer thread ends and the store's connections close.

        The experiment can still be used afterwards: the store opens again on demand.
        """
        _lifecycle.end_owned_in(self._store)
        close_store(self._store)

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close()

    def start_logging(self, name: str | None = None, tags: Mapping[str, Any] | None = None,
                      snapshot_directory: str | os.PathLike[str] | None = None,
                      outputs: str | os.PathLike[str] | None = "outputs", capture_output: bool = False,
                      run_id: str | None = None, monitor_system: bool = False) -> Run:
        """Start a run and return it (Running). Use it as a context manager to end it.

        Args:
            name: a display name; a friendly one is made up when ``None``.
            tags: tags to set at once.
            snapshot_directory: a folder whose files are stored with the run as ``snapshot/``.
            outputs: a folder uploaded as ``outputs/`` when the run ends (if it exists then).
            capture_output: tee stdout, stderr and ``logging`` records into the run's logs.
            run_id: continue an existing run of this experiment instead of starting a new one:
                it becomes Running again, and each metric's steps go on from its last step.
            monitor_system: sample CPU, memory and GPU use as ``system/*`` metrics while the run lives.

        Returns:
            The :class:`Run`. Inside ``with``, it ends Completed, or Failed (with the traceback)
            when the block raises; the exception propagates unchanged.
        """
        if not isinstance(capture_output, bool):
            raise InvalidArgumentError("capture_output", capture_output, "True or False")
        if monitor_system:
            _config.system_interval()  # a bad RUNLOG_SYSTEM_INTERVAL raises before the run exists
        run = self._start(name=name, tags=tags, parent=None, run_id=run_id)
        if outputs is not None:
            if not isinstance(outputs, (str, os.PathLike)):
                raise InvalidArgumentError("outputs", outputs, "a folder path or None")
            from pathlib import Path

            run._outputs = Path(outputs).absolute()
        if snapshot_directory is not None:
            from runlog_core.run.snapshot import upload_snapshot

            upload_snapshot(run, snapshot_directory)
        if capture_output:
            run._start_capture()
        if monitor_system:
            run._start_monitor()
        return run

    def submit(self, config: Any, tags: Mapping[str, Any] | None = None) -> Run:
        """Run a script (a :class:`ScriptRunConfig`) in a subprocess; returns its Running run at once."""
        from runlog_core.submit.api import submit

        return submit(self, config, tags=tags)

    def _start(self, name: str | None, tags: Mapping[str, Any] | None, parent: Run | None,
               run_id: str | None, run_class: type[Run] | None = None, start_time: float | None = None,
               new_id: str | None = None, deferred: bool = False) -> Run:
        """Create (or reattach) a Running run owned by this process, as ``run_class`` (a Run subclass).

        ``new_id``: create the run with this id (workers agreeing on one: ``integration.open_run``);
        ``deferred``: create it with the writer's next batch rather than now (a run recorded after the fact)."""
        cls = run_class or Run
        if name is not None:
            _values.check_name("name", name)
        if tags is not None and not isinstance(tags, Mapping):
            raise InvalidArgumentError("tags", tags, "a dict of tag name to value")
        if start_time is not None and (isinstance(start_time, bool) or not isinstance(start_time, (int, float))):
            raise InvalidArgumentError("start_time", start_time, "seconds since the epoch (a float) or None")
        writer = get_writer(self._store)
        timeout = max(_config.heartbeat_timeout(), 2 * writer.heartbeat_interval)
        if run_id is not None:
            existing = self._store.get_run(run_id) if isinstance(run_id, str) else None
            if existing is None or existing.experiment_id != self.id:
                raise RunNotFoundError("run", run_id, f"{self._store.uri} (experiment {self.name!r})")
            self._store.reattach_run(run_id, os.getpid(), hostname(), timeout)
            run = cls(self, run_id)
        else:
            now = time.time()
            info = RunInfo(
                id=new_id or new_run_id(), experiment_id=self.id, experiment_name=self.name,
                name=name or _friendly_name(), status=RUNNING, start_time=now if start_time is None else float(start_time),
                parent_id=None if parent is None else parent.id, heartbeat=now,
                heartbeat_timeout=timeout, pid=os.getpid(), host=hostname(),
            )
            if deferred:
                writer.queue(CreateRun(info))
            else:
                self._create(info, writer)
            run = cls(self, info.id, _info=info, _fresh=True)
        writer.attach(run, live=True)
        run._owned = True
        writer.queue(RunStarted(run))
        _lifecycle.own(run)
        if tags:
            run.set_tags(tags)
        return run

    def _create(self, info: RunInfo, writer: Any) -> None:
        """Create the run in the store now, or, while the store refuses writes, in the writer's next
        batch (the run is usable at once; its creation waits, and is spilled, with its points)."""
        if not writer.failing():
            try:
                self._store.create_run(info)
                return
            except (StoreError, OSError) as err:
                if isinstance(err, StoreVersionError):
                    raise
        writer.queue(CreateRun(info))

    def get_runs(self, status: str | None = None, tags: Mapping[str, Any] | str | list[str] | None = None,
                 include_children: bool = False, include_deleted: bool = False) -> RunList:
        """The experiment's runs, newest first.

        Args:
            status: only runs with this status (``"Completed"``, ``"Killed"``...).
            tags: a tag name, a list of names (runs that have them) or a dict (runs whose tags
                have those values; a ``None`` value matches any).
            include_children: include child runs too.
            include_deleted: include runs hidden by ``run.delete()`` too.
        """
        if isinstance(tags, str):
            wanted: dict[str, str | None] | None = {tags: None}
        elif isinstance(tags, (list, tuple)):
            wanted = {str(key): None for key in tags}
        elif isinstance(tags, Mapping):
            wanted = {str(k): None if v is None else str(v) for k, v in tags.items()}
        elif tags is None:
            wanted = None
        else:
            raise InvalidArgumentError("tags", tags, "a tag name, a list of names or a dict")
        if status is not None and not isinstance(status, str):
            raise InvalidArgumentError("status", status, "a status name such as 'Completed'")
        get_writer(self._store).flush()
        if not isinstance(include_deleted, bool):
            raise InvalidArgumentError("include_deleted", include_deleted, "True or False")
        more = {"include_deleted": True} if include_deleted else {}  # a store without deleted runs needs no word
        infos = self._store.list_runs(experiment_id=self.id, status=status, tags=wanted,
                                      include_children=include_children, **more)
        return RunList(Run(self, info.id, _info=info) for info in infos)


Experiment.__module__ = "runlog_core"  # pickled under its public path, wherever this module moves

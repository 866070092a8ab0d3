"""The Run: what a training script logs into, modelled on Azure Machine Learning v1's ``Run``.

``Run`` is assembled from one mixin per concern, each in its own module: logging values
(:mod:`._run_log`), files (:mod:`._run_files`), ending and capture (:mod:`._run_end`) and
reading back (:mod:`._run_read`). This module holds what makes a handle: opening one,
identity, children and the context run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from runlog_core.base.records import RunInfo, SeriesRef
from runlog_core.exceptions import InvalidArgumentError, RunNotFoundError
from runlog_core.run.end import EndingMixin
from runlog_core.run.files import FilesMixin
from runlog_core.run.log import LoggingMixin
from runlog_core.run.read import ReadingMixin, run_details
from runlog_core.run.retain import RetainMixin
from runlog_core.run.state import CANCELED, COMPLETED, ENDED_STATUSES, FAILED, KILLED, RUNNING
from runlog_core.views.html import RunList
from runlog_core.writer.registry import get_writer

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.run.state import ExperimentHandle as Experiment

__all__ = ["CANCELED", "COMPLETED", "ENDED_STATUSES", "FAILED", "KILLED", "RUNNING", "Run", "run_details"]


class Run(LoggingMixin, FilesMixin, EndingMixin, ReadingMixin, RetainMixin):
    """A run of an experiment: log metrics, params, tables, images and files into it.

    Get one from :meth:`Experiment.start_logging`, :meth:`Run.get_context`,
    :meth:`Run.child_run`, or open an existing run with ``Run(experiment, run_id)``.
    Any number of threads may log into one run at once.

    Args:
        experiment: the :class:`Experiment` the run belongs to (or its name).
        run_id: the id of an existing run of that experiment.

    Raises:
        RunNotFoundError: no such run in the experiment's store.

    Example::

        exp = Experiment("diabetes")
        with exp.start_logging() as run:
            run.log("alpha", 0.03)
            run.log_row("Y over X", x=1, y=0.4)
        Run(exp, run.id).get_metrics()   # {'alpha': 0.03, 'Y over X': {'x': [1], 'y': [0.4]}}
    """

    def __init__(self, experiment: Experiment | str, run_id: str, *, _info: RunInfo | None = None,
                 _fresh: bool = False) -> None:
        if isinstance(experiment, str):
            from runlog_core.run.context import experiment_named  # above this module: it imports Experiment

            experiment = experiment_named(experiment)
        if not hasattr(experiment, "_store") or not hasattr(experiment, "_start"):
            raise InvalidArgumentError("experiment", experiment, "an Experiment")
        if not isinstance(run_id, str):
            raise InvalidArgumentError("run_id", run_id, "a str")
        store = experiment._store
        info = _info if _info is not None else store.get_run(run_id)
        if info is None or info.experiment_id != experiment.id:
            raise RunNotFoundError("run", run_id, f"{store.uri} (experiment {experiment.name!r})")
        self.experiment = experiment
        self.id = info.id
        self.name = info.name
        self._parent_id = info.parent_id
        self._store = store
        self._writer = writer = get_writer(store)
        self._add = writer.add_point
        self._add_many = writer.add_points
        self._series = {}
        self._bulk = {}
        self._params = {}
        self._tags = {}
        self._start_info = info
        self._lock = threading.RLock()
        self._loaded = _fresh
        self._ended = False
        self._ending = False
        self._end_status = None
        self._owned = False
        self._capture = None
        self._monitor = None
        self._outputs = None
        writer.attach(self, live=False)

    def _load(self) -> None:
        """Read what the store knows of the run: its series (with where their steps go on) and params.

        Done once, before the first write through this handle, so that a reopened run's
        steps go on where they stopped and param conflicts are caught.
        """
        if self._loaded:
            return
        self._loaded = True
        for info in self._store.get_series(self.id):
            next_step = 0 if info.last_step is None else info.last_step + 1
            series = SeriesRef(self.id, info.name, info.kind, info.description, id=info.id, next_step=next_step)
            self._series[info.name] = series
            self._writer.known_series(series)
        self._params = self._store.get_params(self.id)

    # -- identity -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Run(experiment={self.experiment.name!r}, id={self.id!r}, name={self.name!r})"

    def _repr_html_(self) -> str:
        from runlog_core.views.html import run_html  # on first display: `import runlog_core` stays light

        return run_html(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id and other._store is self._store

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> Any:
        # a handle pickles as what it names: unpickled elsewhere, it opens the same run there
        return (self.experiment._handle, (self.id,))

    @property
    def status(self) -> str:
        """The run's status, read from the store (see :meth:`get_status`)."""
        return self.get_status()

    @property
    def parent(self) -> Run | None:
        """The parent run, or ``None`` for a top-level run."""
        return None if self._parent_id is None else Run(self.experiment, self._parent_id)

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The run this process should log into.

        Inside a sweep trial that runlog tracks (an Optuna objective wrapped by
        ``RunlogCallback.track_in_runlog()``, a Ray trainable), that trial's run, in the thread
        or task that runs it. In a script started by ``runlog submit`` (``RUNLOG_RUN_ID`` and ``RUNLOG_STORE``
        set), the submitted run. Otherwise a run in the default store, in the experiment
        named by ``RUNLOG_EXPERIMENT`` (else the script's name), that ends when the
        interpreter exits: Completed, or Failed on an uncaught exception. Every call in a
        process returns the same run. ``allow_offline`` and other arguments of Azure's
        ``Run.get_context`` are accepted, so ported scripts run unchanged; runlog is always
        "offline" in Azure's sense, and keeps everything.
        """
        from runlog_core.run.context import get_context  # above this module: it imports Experiment

        return get_context()

    # -- children ---------------------------------------------------------------------------

    def child_run(self, name: str | None = None, tags: Mapping[str, Any] | None = None,
                  run_id: str | None = None, start_time: float | None = None) -> Run:
        """Start a child run (Running, in the same experiment); use it as a context manager too.

        ``start_time`` (seconds since the epoch) records when the work it stands for began, for
        children logged after the fact, such as the candidates of a finished parameter search.
        """
        return self.experiment._start(name=name, tags=tags, parent=self, run_id=run_id, start_time=start_time)

    def get_children(self) -> RunList:
        """The run's child runs, oldest first."""
        self.flush()  # children created with the writer's next batch (integration.open_run(new=True)) count
        return RunList(Run(self.experiment, info.id, _info=info) for info in self._store.list_runs(parent_id=self.id))

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait until the run ends (whoever runs it), following its output; returns :meth:`get_details`.

        Args:
            show_output: print the run's ``logs/std_log.txt`` so far, then as it grows.
            wait_post_processing: accepted for Azure compatibility; there is nothing to wait for.
            raise_on_error: raise :class:`ScriptRunError` if the run ends Failed or Killed.
        """
        from runlog_core.run.follow import wait_for_completion  # on first use: `import runlog_core` stays light

        return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)


Run.__module__ = "runlog_core"  # its public path, wherever this module moves

"""Sweeps: one parent run, one child :class:`~.script_run.ScriptRun` per configuration a plan gives.

:class:`SweepRun` is the machinery every sweep runs on (``runlog submit --sweep``, :func:`sweep`,
and ``runlog_core.hyperdrive``): a scheduler thread asks its :class:`SweepPlan` for the next
configuration while fewer than ``max_parallel`` children run, starts each as a child run with the
configuration's ``--NAME VALUE`` arguments, tells the plan when one ends, lets the plan stop running
children (an early-termination policy: they end Canceled) and stops launching after
``max_duration``. The parent holds the snapshot and the environment and ends Canceled when stopped;
otherwise as the plan says (:class:`GridPlan`: Completed when every child did, Failed otherwise).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlog_core.exceptions import InvalidArgumentError, ScriptRunError
from runlog_core.run.run import CANCELED, COMPLETED, FAILED, Run
from runlog_core.run.snapshot import upload_snapshot
from runlog_core.submit.bytecode import SweepBytecode, children_compile_runlog
from runlog_core.submit.config import ScriptRunConfig
from runlog_core.submit.environment import child_environment, git_info, record_environment
from runlog_core.submit.process import wait_interruptibly
from runlog_core.submit.progress import ProgressBar
from runlog_core.submit.ray_target import check_ray_target
from runlog_core.submit.script_run import (
    Files,
    LaunchSettings,
    ScriptRun,
    launch_script,
    prepare_snapshot,
    start_script_run,
    wait_for_completion,
)

if TYPE_CHECKING:
    from runlog_core.run.experiment import Experiment

__all__ = ["ChildSpec", "GridPlan", "ProgressBar", "SweepPlan", "SweepRun", "param_value", "parse_sweep",
           "start_sweep", "sweep"]

_STOP_EXTRA = 20.0  # seconds, beyond the stop grace, to wait for stopped children to end


def param_value(text: str) -> Any:
    """``"0.5"`` -> 0.5, ``"3"`` -> 3, anything else unchanged (a command line's values as params)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_sweep(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["alpha=0.1,0.5", "l1=0,1"]`` -> ``{"alpha": ["0.1", "0.5"], "l1": ["0", "1"]}``.

    Raises:
        InvalidArgumentError: a spec that is not ``NAME=VALUE,VALUE,...``, or a name given twice.
    """
    space: dict[str, list[str]] = {}
    for spec in specs:
        name, eq, values = spec.partition("=")
        name = name.strip()
        items = [value.strip() for value in values.split(",")]
        if not eq or not name or name.startswith("-") or not all(items):
            raise InvalidArgumentError("--sweep", spec, "NAME=VALUE,VALUE,... such as alpha=0.1,0.5,1.0")
        if name in space:
            raise InvalidArgumentError("--sweep", spec, f"each name once ({name!r} is given twice)")
        space[name] = items
    return space


@dataclass
class ChildSpec:
    """One configuration to run: the child's name, its extra arguments and params, the plan's handle."""

    label: str
    arguments: list[str]
    params: dict[str, Any]
    key: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    stopped_by_plan: str | None = field(default=None)


class SweepPlan:
    """What a sweep runs: the configurations (:meth:`next`), and what happens as children run and end.

    The scheduler thread calls every method; none is called from two threads at once.
    """

    total: int | None = None  # the most children (None: until next() returns None)
    poll_interval: float = 0.2  # seconds between checks of the running children

    def next(self) -> ChildSpec | None:
        """The next configuration, or None when there is none left."""
        raise NotImplementedError

    def check(self, running: Sequence[tuple[ChildSpec, ScriptRun]]) -> list[tuple[ChildSpec, str]]:
        """The running children to stop now, each with the reason (an early-termination policy)."""
        return []

    def finished(self, spec: ChildSpec, child: ScriptRun, status: str) -> None:
        """``child`` ended with ``status``."""

    def outcome(self, statuses: Sequence[tuple[ChildSpec, str]]) -> tuple[str, str | None]:
        """The parent's status and error once every child ended: Completed when all did, else Failed."""
        bad = sum(status != COMPLETED and spec.stopped_by_plan is None for spec, status in statuses)
        if bad:
            return FAILED, f"{bad} of {len(statuses)} child runs did not complete"
        return COMPLETED, None


class GridPlan(SweepPlan):
    """Every combination of ``space``'s values, in order (:func:`sweep`)."""

    def __init__(self, space: Mapping[str, Sequence[Any]]) -> None:
        self._combos = iter([dict(zip(space, values)) for values in itertools.product(*space.values())])
        self.total = 1
        for values in space.values():
            self.total *= len(values)

    def next(self) -> ChildSpec | None:
        combo = next(self._combos, None)
        if combo is None:
            return None
        return ChildSpec(",".join(f"{name}={value}" for name, value in combo.items()),
                         [item for name, value in combo.items() for item in (f"--{name}", str(value))],
                         {name: param_value(str(value)) for name, value in combo.items()})


class SweepRun(Run):
    """The parent run of a sweep: one child :class:`ScriptRun` per configuration of its plan."""

    _scheduler: threading.Thread | None = None

    def _setup(self, experiment: Experiment, config: ScriptRunConfig, plan: SweepPlan, max_parallel: int,
               files: Files, settings: LaunchSettings, max_duration: float | None = None) -> None:
        self._config = config
        self._plan = plan
        self._max_parallel = max_parallel
        self._max_duration = max_duration
        self._files = files
        self._settings = settings
        self._children: list[ScriptRun] = []
        self._running: list[tuple[ChildSpec, ScriptRun]] = []
        self._finished: list[tuple[ChildSpec, str]] = []
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping: str | None = None
        self._expired: str | None = None
        self._broken: str | None = None
        self._done = threading.Event()
        self._git: dict[str, str] | None = None
        self._bytecode: SweepBytecode | None = None
        if config.compute_target == "local" and \
                children_compile_runlog(config.python, {**os.environ, **config.environment_variables}):
            try:
                self._bytecode = SweepBytecode(self.id)  # built in the background; children use it once ready
            except OSError:  # no temporary folder: the children compile runlog themselves, as before
                self._bytecode = None
        self._scheduler = threading.Thread(target=self._schedule, args=(experiment,),
                                           name=f"runlog-sweep-{self.id}", daemon=True)
        self._scheduler.start()

    @property
    def total(self) -> int | None:
        """How many child runs the sweep makes at most."""
        return self._plan.total

    def _tick(self) -> None:
        """Collect the children that ended and apply the plan's checks to those still running."""
        with self._cond:
            ended = [(spec, child) for spec, child in self._running
                     if child._launch is not None and child._launch.done.is_set()]
        for spec, child in ended:
            status = child.get_status()
            try:
                self._plan.finished(spec, child, status)
            finally:
                with self._cond:
                    self._running.remove((spec, child))
                    self._finished.append((spec, status))
                    self._cond.notify_all()
        with self._cond:
            running = [(spec, child) for spec, child in self._running if spec.stopped_by_plan is None]
        if self._stopping is None and running:
            for spec, reason in self._plan.check(running):
                if spec.stopped_by_plan is None:
                    spec.stopped_by_plan = reason
                    child = next(child for s, child in running if s is spec)
                    if child._launch is not None:
                        child._launch.stop(reason)

    def _pause(self, deadline: float | None) -> None:
        self._wake.wait(self._plan.poll_interval)
        self._wake.clear()
        self._check_deadline(deadline)

    def _check_deadline(self, deadline: float | None) -> None:
        if deadline is not None and self._expired is None and time.monotonic() >= deadline:
            self._expired = "max_duration_minutes reached"
            for spec, child in list(self._running):
                spec.stopped_by_plan = self._expired
                if child._launch is not None:
                    child._launch.stop(self._expired)

    def _schedule(self, experiment: Experiment) -> None:
        deadline = None if self._max_duration is None else time.monotonic() + self._max_duration
        try:
            self._git = git_info(self._config.source_directory)  # once: every child runs the parent's snapshot
            while True:
                self._tick()
                while len(self._running) >= self._max_parallel and self._stopping is None \
                        and self._expired is None:
                    self._pause(deadline)
                    self._tick()
                if self._stopping is not None or self._expired is not None:
                    break
                spec = self._plan.next()
                if spec is None:
                    break
                self._launch_child(experiment, spec)
                self._check_deadline(deadline)
            while self._running:
                self._pause(deadline)
                self._tick()
        except BaseException as err:  # the plan broke: stop what runs, and say why on the parent
            self._broken = f"the sweep's scheduler failed: {err!r}"
            self._stop_children(self._broken)
            while self._running and any(c._launch and not c._launch.done.is_set() for _, c in self._running):
                time.sleep(0.1)
        finally:
            self._finish()

    def _launch_child(self, experiment: Experiment, spec: ChildSpec) -> None:
        child = start_script_run(experiment, spec.label, {**spec.tags, "runlog.sweep.parent": self.id},
                                 parent=self)
        child.log_params(spec.params)
        child._stop_siblings = self._stop_launching
        try:
            launch_script(experiment, child, self._config, self._files, self._settings, spec.arguments,
                          record_full=False, monitor=True, git=self._git, on_done=self._wake.set,
                          python_path=self._bytecode.ready() if self._bytecode is not None else None)
        except Exception as err:
            sys.stderr.write(f"runlog: could not start {spec.label}: {err!r}\n")
            try:
                self._plan.finished(spec, child, FAILED)
            finally:
                with self._cond:
                    self._finished.append((spec, FAILED))
            return
        with self._cond:
            self._children.append(child)
            self._running.append((spec, child))

    def _finish(self) -> None:
        status: str
        error: str | None
        if self._broken is not None:
            status, error = FAILED, self._broken
        elif self._stopping is not None:
            status, error = CANCELED, self._stopping
        else:
            status, error = self._plan.outcome(self._finished)
        if self._bytecode is not None:  # every child has ended
            self._bytecode.remove()
        try:
            Run._end(self, status, error)
        finally:
            self._done.set()

    def progress(self) -> tuple[int, int, int, int]:
        """``(finished, running, not completed, total)``; children stopped by the plan are not "not completed"."""
        with self._cond:
            bad = sum(s != COMPLETED and spec.stopped_by_plan is None for spec, s in self._finished)
            return len(self._finished), len(self._running), bad, self.total or 0

    def stopped_early(self) -> int:
        """How many children the plan stopped (a policy, ``max_duration``)."""
        with self._cond:
            return sum(spec.stopped_by_plan is not None for spec, _ in self._finished)

    def _show(self, bar: ProgressBar, final: bool = False) -> None:
        """A line for each child that ended since the last call (why, if it did not complete), then the bar."""
        with self._cond:
            ended = self._finished[bar.shown:]
            bar.shown = len(self._finished)
        for spec, status in ended:
            why = f": {spec.stopped_by_plan}" if spec.stopped_by_plan else ""
            bar.line(f"runlog: {spec.label} {status}{why}")
        bar.draw(*self.progress(), final=final, early=self.stopped_early())

    def _stop_children(self, reason: str) -> None:
        with self._cond:
            running = [child for _, child in self._running]
        for child in running:
            if child._launch is not None:
                child._launch.stop(reason)

    def _stop_launching(self, reason: str = "canceled") -> None:
        with self._cond:
            if self._stopping is None:
                self._stopping = reason
            self._cond.notify_all()
        self._wake.set()
        self._stop_children(reason)

    def _wait_stopped(self) -> bool:
        return self._done.wait(self._settings.stop_grace + _STOP_EXTRA)

    def cancel(self, end_time: float | None = None) -> None:
        """Stop every running child (and start no more); the sweep ends Canceled."""
        if self._scheduler is None or self._done.is_set():
            super().cancel(end_time)
            return
        self._stop_launching("canceled")
        self._wait_stopped()

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        if self._ended or self._scheduler is None or self._done.is_set() \
                or threading.current_thread() is self._scheduler:
            super()._end(status, error, end_time, force)
            return
        self._stop_launching("the submitting process stopped before the sweep ended")
        if not self._wait_stopped():
            super()._end(CANCELED, "the submitting process stopped before the sweep ended")

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for every child; returns the parent's :meth:`get_details`.

        Args:
            show_output: draw a progress bar on stderr.
            wait_post_processing: accepted for Azure compatibility (nothing to wait for here).
            raise_on_error: raise :class:`ScriptRunError` when the sweep ends Failed.

        Raises:
            ScriptRunError: the sweep ended Failed (with ``raise_on_error``).
            KeyboardInterrupt: Ctrl-C while waiting; every child is stopped first, the sweep Canceled.
        """
        if self._scheduler is None:
            return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)
        bar = ProgressBar(sys.stderr) if show_output else None
        try:
            wait_interruptibly(self._done, 0.1, None if bar is None else lambda: self._show(bar))
        except KeyboardInterrupt:
            self._stop_launching("canceled by Ctrl-C (KeyboardInterrupt) in the submitting process")
            self._wait_stopped()
            raise
        if bar is not None:
            self._show(bar, final=True)
        details = self.get_details()
        if raise_on_error and details["status"] == FAILED:
            raise ScriptRunError(self.id, FAILED, None, "", details.get("error"))
        return details


def start_sweep(experiment: Experiment, config: ScriptRunConfig, plan: SweepPlan, max_parallel: int,
                tags: Mapping[str, Any] | None = None, name: str | None = None, run_class: type[SweepRun] = SweepRun,
                max_duration: float | None = None) -> SweepRun:
    """Start ``plan``'s sweep of ``config``'s script: a parent (``run_class``), its snapshot and environment.

    Raises:
        ConfigError: a ``RUNLOG_*`` setting holds a value runlog cannot use (nothing is started).
        SnapshotTooLargeError: the source folder is over the snapshot cap (nothing is started).
    """
    if config.compute_target != "local":
        check_ray_target(experiment, config)  # the children run on a Ray cluster: a team store only
    settings = LaunchSettings.read()
    files = prepare_snapshot(config)
    parent = experiment._start(name=name, tags=tags, parent=None, run_id=None, run_class=run_class)
    assert isinstance(parent, SweepRun)  # _start builds run_class
    try:
        upload_snapshot(parent, config.source_directory, files=files)
        workdir = Path(config.source_directory)
        record_environment(parent, config, config.command(), child_environment(experiment, parent, config),
                           workdir, True)
    except BaseException as err:
        Run._end(parent, FAILED, f"could not start the sweep: {err!r}")
        raise
    parent._setup(experiment, config, plan, max_parallel, files, settings, max_duration)
    return parent


def sweep(experiment: Experiment, config: ScriptRunConfig, space: Mapping[str, Sequence[Any]],
          max_parallel: int = 1, tags: Mapping[str, Any] | None = None, name: str | None = None) -> SweepRun:
    """Run ``config``'s script once per combination of ``space``'s values, ``max_parallel`` at a time.

    Each combination is a child run of the returned parent: the script gets ``--NAME VALUE`` for
    each name (after ``config.arguments``), and the values are logged as the child's params.
    The parent holds the snapshot and the environment; it ends Completed when every child did.
    ``runlog_core.hyperdrive`` adds random and Bayesian sampling and early termination.

    Raises:
        InvalidArgumentError: ``config``, ``space`` or ``max_parallel`` is not acceptable.
        ConfigError: a ``RUNLOG_*`` setting holds a value runlog cannot use (nothing is started).
        SnapshotTooLargeError: the source folder is over the snapshot cap (nothing is started).

    Example::

        parent = sweep(exp, ScriptRunConfig(".", "train.py"), {"alpha": [0.1, 0.5]}, max_parallel=2)
        parent.wait_for_completion(show_output=True)
    """
    if not isinstance(config, ScriptRunConfig):
        raise InvalidArgumentError("config", config, "a ScriptRunConfig")
    if not isinstance(space, Mapping) or not space:
        raise InvalidArgumentError("space", space, 'a dict of name to values, e.g. {"alpha": [0.1, 0.5]}')
    values: dict[str, list[Any]] = {}
    for key, options in space.items():
        if not isinstance(key, str) or not key or isinstance(options, (str, bytes)) \
                or not isinstance(options, Sequence) or not options:
            raise InvalidArgumentError(f"space[{key!r}]", options, "a non-empty list of values")
        values[key] = list(options)
    if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
        raise InvalidArgumentError("max_parallel", max_parallel, "an int >= 1")
    all_tags = {**(tags or {}), "runlog.sweep": json.dumps(values), "runlog.sweep.max_parallel": str(max_parallel)}
    return start_sweep(experiment, config, GridPlan(values), max_parallel, all_tags, name)

"""Sweeps: one parent run, one child :class:`~._script_run.ScriptRun` per combination of values.

``runlog submit --sweep alpha=0.1,0.5 --max-parallel 2`` and :func:`sweep`: a scheduler thread
starts the children ``max_parallel`` at a time; the parent holds the snapshot and the
environment and ends Completed when every child did, Failed otherwise, Canceled when stopped.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runlog_core.exceptions import InvalidArgumentError, ScriptRunError
from runlog_core.run.run import CANCELED, COMPLETED, FAILED, Run
from runlog_core.run.snapshot import upload_snapshot
from runlog_core.submit.config import ScriptRunConfig
from runlog_core.submit.environment import child_environment, record_environment
from runlog_core.submit.process import wait_interruptibly
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

__all__ = ["ProgressBar", "SweepRun", "parse_sweep", "sweep"]

_STOP_EXTRA = 20.0  # seconds, beyond the stop grace, to wait for stopped children to end


def _param_value(text: str) -> Any:
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


class SweepRun(Run):
    """The parent run of a sweep: one child :class:`ScriptRun` per combination of values."""

    _scheduler: threading.Thread | None = None

    def _setup(self, experiment: Experiment, config: ScriptRunConfig, space: dict[str, list[Any]],
               max_parallel: int, files: Files, settings: LaunchSettings) -> None:
        self._config = config
        self._space = space
        self._combos = [dict(zip(space, values)) for values in itertools.product(*space.values())]
        self._max_parallel = max_parallel
        self._files = files
        self._settings = settings
        self._children: list[ScriptRun] = []
        self._running: list[ScriptRun] = []
        self._finished: dict[str, str] = {}
        self._cond = threading.Condition()
        self._stopping: str | None = None
        self._done = threading.Event()
        self._scheduler = threading.Thread(target=self._schedule, args=(experiment,),
                                           name=f"runlog-sweep-{self.id}", daemon=True)
        self._scheduler.start()

    @property
    def total(self) -> int:
        """How many child runs the sweep makes (one per combination)."""
        return len(self._combos)

    def _schedule(self, experiment: Experiment) -> None:
        try:
            for combo in self._combos:
                with self._cond:
                    while len(self._running) >= self._max_parallel and self._stopping is None:
                        self._cond.wait(0.2)
                        self._collect()
                    if self._stopping is not None:
                        break
                extra = [item for name, value in combo.items() for item in (f"--{name}", str(value))]
                label = ",".join(f"{name}={value}" for name, value in combo.items())
                child = start_script_run(experiment, label, {"runlog.sweep.parent": self.id}, parent=self)
                child.log_params({name: _param_value(str(value)) for name, value in combo.items()})
                child._stop_siblings = self._stop_launching
                try:
                    launch_script(experiment, child, self._config, self._files, self._settings, extra,
                                  record_full=False, monitor=True)
                except Exception as err:
                    sys.stderr.write(f"runlog: could not start {label}: {err!r}\n")
                    self._finished[child.id] = FAILED
                    continue
                with self._cond:
                    self._children.append(child)
                    self._running.append(child)
            with self._cond:
                while self._running:
                    self._cond.wait(0.2)
                    self._collect()
        finally:
            self._finish()

    def _collect(self) -> None:
        for child in list(self._running):
            if child._launch is not None and child._launch.done.is_set():
                self._running.remove(child)
                self._finished[child.id] = child.get_status()
                self._cond.notify_all()

    def _finish(self) -> None:
        statuses = list(self._finished.values())
        if self._stopping is not None:
            status, error = CANCELED, self._stopping
        elif all(s == COMPLETED for s in statuses):
            status, error = COMPLETED, None
        else:
            bad = sum(s != COMPLETED for s in statuses)
            status, error = FAILED, f"{bad} of {len(statuses)} child runs did not complete"
        try:
            Run._end(self, status, error)
        finally:
            self._done.set()

    def progress(self) -> tuple[int, int, int, int]:
        """``(finished, running, not completed, total)``."""
        with self._cond:
            self._collect()
            bad = sum(s != COMPLETED for s in self._finished.values())
            return len(self._finished), len(self._running), bad, self.total

    def _stop_launching(self, reason: str = "canceled") -> None:
        with self._cond:
            if self._stopping is None:
                self._stopping = reason
            running = list(self._running)
            self._cond.notify_all()
        for child in running:
            if child._launch is not None:
                child._launch.stop(reason)

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
            ScriptRunError: a child did not complete (with ``raise_on_error``).
            KeyboardInterrupt: Ctrl-C while waiting; every child is stopped first, the sweep Canceled.
        """
        if self._scheduler is None:
            return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)
        bar = ProgressBar(sys.stderr) if show_output else None
        try:
            wait_interruptibly(self._done, 0.1, None if bar is None else lambda: bar.draw(*self.progress()))
        except KeyboardInterrupt:
            self._stop_launching("canceled by Ctrl-C (KeyboardInterrupt) in the submitting process")
            self._wait_stopped()
            raise
        if bar is not None:
            bar.draw(*self.progress(), final=True)
        details = self.get_details()
        if raise_on_error and details["status"] == FAILED:
            raise ScriptRunError(self.id, FAILED, None, "", details.get("error"))
        return details


class ProgressBar:
    """``[####......] 2/4 done, 2 running``: redrawn in place on a terminal, one line per change elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last: tuple[int, int, int, int] | None = None

    def draw(self, finished: int, running: int, bad: int, total: int, final: bool = False) -> None:
        state = (finished, running, bad, total)
        if state == self._last and not final:
            return
        self._last = state
        width = 30
        filled = int(width * finished / total) if total else width
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} done, {running} running"
                + (f", {bad} not completed" if bad else ""))
        if self._tty:
            self._stream.write("\r" + text + ("\n" if final else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


def sweep(experiment: Experiment, config: ScriptRunConfig, space: Mapping[str, Sequence[Any]],
          max_parallel: int = 1, tags: Mapping[str, Any] | None = None, name: str | None = None) -> SweepRun:
    """Run ``config``'s script once per combination of ``space``'s values, ``max_parallel`` at a time.

    Each combination is a child run of the returned parent: the script gets ``--NAME VALUE`` for
    each name (after ``config.arguments``), and the values are logged as the child's params.
    The parent holds the snapshot and the environment; it ends Completed when every child did.

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
    settings = LaunchSettings.read()
    files = prepare_snapshot(config)
    parent = experiment._start(name=name, tags=tags, parent=None, run_id=None, run_class=SweepRun)
    assert isinstance(parent, SweepRun)  # _start builds run_class
    try:
        parent.set_tags({"runlog.sweep": json.dumps(values), "runlog.sweep.max_parallel": str(max_parallel)})
        upload_snapshot(parent, config.source_directory, files=files)
        workdir = Path(config.source_directory)
        record_environment(parent, config, config.command(), child_environment(experiment, parent, config),
                           workdir, True)
    except BaseException as err:
        Run._end(parent, FAILED, f"could not start the sweep: {err!r}")
        raise
    parent._setup(experiment, config, values, max_parallel, files, settings)
    return parent

"""A submitted script's run: ``Experiment.submit``, ``ScriptRun`` and ``wait_for_completion``.

The submitting process owns the run. It copies the source folder (what its snapshot keeps)
into a fresh working folder and starts the script there (:mod:`._process`); two threads watch it:
the output pump (:class:`~._process.OutputPump`) and the supervisor (:class:`ScriptProcess`), which
waits for the process, sets the final status from its exit (0 Completed, non-zero Failed, killed
by a signal Killed, stopped by us Canceled), uploads ``outputs/`` and removes the working folder.

Stopping (``run.cancel()``, Ctrl-C or SIGTERM to the submitter, interpreter exit) sends SIGTERM
to the whole process group and SIGKILL after ``RUNLOG_STOP_GRACE`` seconds (10 by default).
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlog_core.base import config as _config
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.run.follow import details_or_raise, wait_for_completion
from runlog_core.run.run import CANCELED, COMPLETED, FAILED, KILLED, Run
from runlog_core.run.snapshot import check_snapshot_size, copy_snapshot, snapshot_files, upload_snapshot
from runlog_core.run.system import SystemMonitor, start_monitor
from runlog_core.submit.bytecode import with_bytecode
from runlog_core.submit.config import ScriptRunConfig
from runlog_core.submit.environment import child_environment, record_environment
from runlog_core.submit.process import (
    ExitWatch,
    OutputPump,
    end_script_run,
    exit_status,
    reap_group,
    signal_group,
    start_process,
    wait_interruptibly,
)
from runlog_core.submit.ray_target import RayProcess, artifact_uri, check_ray_target

if TYPE_CHECKING:
    from runlog_core.run.experiment import Experiment

__all__ = ["LaunchSettings", "ScriptProcess", "ScriptRun", "launch_script", "prepare_snapshot",
           "start_script_run", "submit", "wait_for_completion"]

Files = list[tuple[str, Path]]


@dataclass(frozen=True)
class LaunchSettings:
    """The ``RUNLOG_*`` settings a submission runs with, read before anything starts.

    Raises (from :meth:`read`):
        ConfigError: ``RUNLOG_STOP_GRACE``, ``RUNLOG_KEEP_WORKDIR``, ``RUNLOG_SYSTEM_INTERVAL`` or
            ``RUNLOG_REDACT`` holds a value runlog cannot use.
    """

    stop_grace: float
    keep_workdir: bool
    system_interval: float

    @classmethod
    def read(cls) -> LaunchSettings:
        _config.redact_patterns()  # checked now, so a bad value creates no run (it is read again later)
        return cls(_config.stop_grace(), _config.keep_workdir(), _config.system_interval())


class ScriptProcess:
    """The script's process and the threads that watch it (the pump and the supervisor)."""

    def __init__(self, run: ScriptRun, command: list[str], env: dict[str, str], workdir: Path,
                 settings: LaunchSettings, monitor: bool, on_done: Callable[[], None] | None = None) -> None:
        self.run = run
        self.on_done = on_done
        self.command = command
        self.workdir = workdir
        self.settings = settings
        self.started = time.monotonic()
        self.done = threading.Event()
        self.finalizing = False
        self.stop_reason: str | None = None
        self.exit_code: int | None = None
        self._lock = threading.Lock()
        self.proc = start_process(command, workdir, env)
        assert self.proc.stdout is not None  # started with stdout=PIPE
        self.pump = OutputPump(run, self.proc.stdout)
        self.pump.start()
        self.monitor: SystemMonitor | None = None
        if monitor:
            try:
                self.monitor = start_monitor(run, settings.system_interval, pid=self.proc.pid)
            except Exception as err:  # system metrics are a bonus; never fail the run for them
                warnings.warn(f"runlog: no system metrics for run {run.id}: {err!r}", RuntimeWarning, stacklevel=2)
        self.supervisor = threading.Thread(target=self._supervise, name=f"runlog-supervisor-{run.id}", daemon=True)
        self.supervisor.start()

    def stop(self, reason: str) -> None:
        """Stop the script's process group: SIGTERM now, SIGKILL after the grace period."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        if self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGTERM)

    def wait_done(self, extra: float = 15.0) -> bool:
        """Wait up to the stop grace plus ``extra`` seconds for the run to end; False on timeout."""
        return self.done.wait(self.settings.stop_grace + extra)

    def _supervise(self) -> None:
        proc = self.proc
        kill_at: float | None = None
        next_check = time.monotonic() + 2.0
        watch: ExitWatch | None = None
        try:
            watch = ExitWatch(proc)
            while True:
                if watch.wait(0.2):  # returns the moment the script ends: a sweep's next child starts then
                    break
                now = time.monotonic()
                if self.stop_reason is not None and kill_at is None:
                    kill_at = now + self.settings.stop_grace
                if kill_at is not None and now >= kill_at:
                    signal_group(proc.pid, signal.SIGKILL)
                if self.stop_reason is None and now >= next_check:
                    next_check = now + 2.0
                    # canceled from elsewhere (another process, another handle): stop the script too
                    if self.run.get_status() == CANCELED:
                        self.stop("canceled from outside the submitting process")
            self.exit_code = proc.returncode
            reap_group(proc.pid, self.settings.stop_grace)
            self.pump.join(timeout=10.0)
        finally:
            if watch is not None:
                watch.close()
            self._finish()

    def _status(self) -> tuple[str, str | None]:
        return exit_status(self.exit_code, self.stop_reason)

    def _finish(self) -> None:
        self.finalizing = True
        if self.monitor is not None:
            try:
                self.monitor.stop()
            except Exception:
                pass
        end_script_run(self)


class ScriptRun(Run):
    """A run whose script runs in a subprocess of this process (from :meth:`Experiment.submit`)."""

    _launch: ScriptProcess | RayProcess | None = None
    # set by a sweep: stops launching the sweep's other children when this one is orphaned
    _stop_siblings: Callable[[], None] | None = None

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for the script to end; returns :meth:`get_details` plus ``exitCode``.

        Args:
            show_output: print what the script printed so far, then its output live.
            wait_post_processing: accepted for Azure compatibility (nothing to wait for here).
            raise_on_error: raise :class:`ScriptRunError` (exit code, log tail) unless it Completed
                or was Canceled.

        Raises:
            ScriptRunError: the script failed or was killed (with ``raise_on_error``).
            KeyboardInterrupt: Ctrl-C while waiting; the script (its whole process group) is
                stopped first and the run left Canceled.
        """
        launch = self._launch
        if launch is None:
            return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)
        if show_output:
            launch.pump.watch(sys.stdout)
        try:
            wait_interruptibly(launch.done, 0.05)
        except KeyboardInterrupt:
            launch.stop("canceled by Ctrl-C (KeyboardInterrupt) in the submitting process")
            launch.wait_done()
            raise
        finally:
            if show_output:
                launch.pump.unwatch()
        return details_or_raise(self, raise_on_error, launch.exit_code, launch.pump.tail())

    def cancel(self, end_time: float | None = None) -> None:
        """Stop the script (SIGTERM to its process group, SIGKILL after the grace) and end Canceled."""
        launch = self._launch
        if launch is None or launch.finalizing:
            super().cancel(end_time)
            return
        launch.stop("canceled")
        if not launch.wait_done():
            super().cancel(end_time)

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        launch = self._launch
        if self._ended or launch is None or launch.finalizing or threading.current_thread() is launch.supervisor:
            super()._end(status, error, end_time, force)
            return
        # Ended while the script still runs: the submitter is exiting (SIGTERM, Ctrl-C, end of
        # the script that called submit) or someone called complete()/fail(). No orphans: stop it.
        if self._stop_siblings is not None:
            self._stop_siblings()
        reason = {KILLED: "the submitting process was terminated (SIGTERM)",
                  COMPLETED: "the submitting process exited before the script ended; "
                             "call run.wait_for_completion() to wait for it",
                  FAILED: "the submitting process ended with an error"}.get(status, f"ended {status}")
        if error and status == FAILED and "KeyboardInterrupt" in error:
            reason = "canceled by Ctrl-C (KeyboardInterrupt) in the submitting process"
        if status == COMPLETED:
            sys.stderr.write(f"runlog: stopping run {self.id}: {reason}\n")
        launch.stop(reason)
        if not launch.wait_done():
            super()._end(CANCELED, reason)


def prepare_snapshot(config: ScriptRunConfig) -> Files:
    """The files the snapshot of ``config.source_directory`` keeps; refuses a folder over the cap.

    Raises:
        SnapshotTooLargeError: the files add up to more than ``RUNLOG_SNAPSHOT_MAX_MB``.
    """
    files = snapshot_files(config.source_directory)
    check_snapshot_size(config.source_directory, files)
    return files


def start_script_run(experiment: Experiment, name: str | None, tags: Mapping[str, Any] | None,
                     parent: Run | None = None) -> ScriptRun:
    """A new Running :class:`ScriptRun` owned by this process (its script not started yet)."""
    run = experiment._start(name=name, tags=tags, parent=parent, run_id=None, run_class=ScriptRun)
    assert isinstance(run, ScriptRun)  # _start builds run_class
    return run


def launch_script(experiment: Experiment, run: ScriptRun, config: ScriptRunConfig, files: Files,
                  settings: LaunchSettings, extra_args: Sequence[str] = (), record_full: bool = True,
                  monitor: bool = True, git: dict[str, str] | None = None,
                  on_done: Callable[[], None] | None = None, python_path: str | None = None) -> ScriptRun:
    """Start ``config``'s script for ``run``; ends the run Failed if the script cannot start.

    ``git``: the source folder's git state, when known already (a sweep's); ``on_done`` is called
    once the run has ended (a sweep's scheduler wakes up); ``python_path`` goes first on the script's
    ``PYTHONPATH`` (a sweep's compiled runlog, :mod:`.bytecode`).
    """
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f"runlog-{run.id}-"))
        copy_snapshot(files, workdir)
        (workdir / "outputs").mkdir(exist_ok=True)
        run._outputs = workdir / "outputs"
        command = config.command(extra_args)
        env = child_environment(experiment, run, config)
        if python_path:
            with_bytecode(env, python_path)
        if record_full:
            upload_snapshot(run, config.source_directory, files=files)
        record_environment(run, config, command, env, workdir, record_full, git)
        if config.compute_target == "local":
            run._launch = ScriptProcess(run, command, env, workdir, settings, monitor, on_done)
        else:  # a task on a Ray cluster (ray_target): the same interface, the script elsewhere
            run._launch = RayProcess(run, config, command, env, workdir, settings, artifact_uri(experiment), on_done)
    except BaseException as err:
        Run._end(run, FAILED, f"could not start the script: {err!r}")
        raise
    return run


def submit(experiment: Experiment, config: ScriptRunConfig | Any, tags: Mapping[str, Any] | None = None,
           name: str | None = None) -> ScriptRun | Run:
    """Start ``config``'s script in a subprocess; returns its Running :class:`ScriptRun` at once.

    Raises:
        InvalidArgumentError: ``config`` is not a :class:`ScriptRunConfig`.
        ConfigError: a ``RUNLOG_*`` setting holds a value runlog cannot use (nothing is started).
        SnapshotTooLargeError: the source folder is over the snapshot cap (nothing is started).
        InvalidArgumentError: a Ray ``compute_target`` with a local store (nothing is started).

    Example::

        run = submit(Experiment("diabetes"), ScriptRunConfig(".", "train.py", arguments=["--alpha", 0.5]))
        run.wait_for_completion(show_output=True)
    """
    submit_to = getattr(config, "_runlog_submit", None)
    if submit_to is not None and not isinstance(config, ScriptRunConfig):
        # a HyperDriveConfig (runlog_core.hyperdrive, a floor above this one) starts itself
        return submit_to(experiment, tags=tags, name=name)
    if not isinstance(config, ScriptRunConfig):
        raise InvalidArgumentError("config", config, "a ScriptRunConfig or a HyperDriveConfig")
    if config.compute_target != "local":
        check_ray_target(experiment, config)
    settings = LaunchSettings.read()
    files = prepare_snapshot(config)
    run = start_script_run(experiment, name, tags)
    return launch_script(experiment, run, config, files, settings)

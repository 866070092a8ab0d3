"""Script runs on a Ray cluster: ``ScriptRunConfig(compute_target="ray")`` or ``"ray://host:port"``.

The submitter keeps owning the run, as for a local script; only the script's process moves.
:class:`RayProcess` has :class:`~.script_run.ScriptProcess`'s interface (``pump``, ``done``, ``stop``,
``wait_done``, ``exit_code``, ``finalizing``, ``supervisor``), so a submitted run and a sweep's
children use it unchanged. Its Ray task (:func:`.ray_task.run_script`, a streaming generator) unpacks the
snapshot (shipped zipped through Ray's object store: a task's ``runtime_env`` takes only URIs for
its working dir) in a fresh folder on the worker, runs the script there in a process group of its
own and yields its output as it comes, then the files of ``outputs/`` and the exit code. The
submitter writes the output into ``logs/std_log.txt`` (and to the console while someone watches)
through the same :class:`~.process.OutputPump` as a local script, and uploads ``outputs/`` when the
run ends. The script logs into the submitter's team store: the task gets ``RUNLOG_STORE``,
``RUNLOG_ARTIFACTS``, ``RUNLOG_RUN_ID`` and the ``AWS_*`` settings, never the whole environment.

Stopping (``run.cancel()``, Ctrl-C, a policy): ``ray.cancel(force=False)`` interrupts the task, which
sends SIGTERM to the script's group and SIGKILL after the stop grace; ``ray.cancel(force=True)`` 5 s
after the grace ends a task that did not stop. A worker or node lost mid-run ends the run Killed with
the reason Ray gives. Ray Client (``ray://``) has no streaming generators: there the same generator
runs in an actor (:class:`.ray_task.ScriptActor`) the submitter polls every 0.2 s, and stopping asks
the actor (SIGTERM, then SIGKILL after the grace) before ``ray.kill``. Ray is imported on first use only.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from runlog_core.base import config as _config
from runlog_core.exceptions import InvalidArgumentError, MissingDependencyError
from runlog_core.run.run import CANCELED, FAILED, KILLED, Run
from runlog_core.submit.process import OutputPump, end_script_run, exit_status
from runlog_core.submit.ray_task import ScriptActor, run_script, zip_folder

if TYPE_CHECKING:
    from runlog_core.run.experiment import Experiment
    from runlog_core.submit.config import ScriptRunConfig

__all__ = ["RayProcess", "artifact_uri", "check_ray_target", "connect", "disconnect"]

FORCE_AFTER = 5.0  # seconds after the stop grace before the task itself is killed (ray.cancel(force=True))
_PASSED_ON = ("RUNLOG_", "AWS_", "PYTHONUNBUFFERED")  # what of the script's environment travels
_CLIENT_ATTEMPTS = 4  # a Ray Client connection whose server died while starting: tried this often
_CLIENT_RETRY_SECONDS = 180.0  # and for this long at most
_connect_lock = threading.Lock()
_connected: str | None = None
_task: Any = None
_actor: Any = None


class _Settings(Protocol):
    @property
    def stop_grace(self) -> float: ...

    @property
    def keep_workdir(self) -> bool: ...


def artifact_uri(experiment: Experiment) -> str | None:
    """``s3://bucket/prefix`` of the experiment's store's artifacts, None unless they are in S3."""
    artifacts = getattr(experiment._store, "artifacts", None)
    bucket = getattr(artifacts, "bucket", None)
    if not bucket:
        return None
    prefix = getattr(artifacts, "prefix", "")
    return f"s3://{bucket}/{prefix}".rstrip("/")


def check_ray_target(experiment: Experiment, config: ScriptRunConfig) -> None:
    """Refuse a Ray target the workers could not log from: the store must be PostgreSQL, artifacts S3.

    Raises:
        InvalidArgumentError: a local store (a folder, SQLite) or artifacts outside S3.
        MissingDependencyError: Ray is not installed.
        ConnectionError: no Ray cluster answers at the address (Ray's own error).
    """
    from runlog_core.base.uri import parse_store_uri

    target = config.compute_target
    if not parse_store_uri(experiment.store).is_postgres:
        raise InvalidArgumentError(
            "compute_target", target,
            f'"local" with the store {experiment.store!r}: the workers of a Ray cluster cannot reach a local '
            "store; use a team store (RUNLOG_STORE=postgresql://..., RUNLOG_ARTIFACTS=s3://...)")
    if artifact_uri(experiment) is None:
        raise InvalidArgumentError(
            "compute_target", target,
            '"local" while the artifacts stay on this machine: set RUNLOG_ARTIFACTS=s3://bucket/prefix '
            "so the workers of a Ray cluster can write them")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", f"compute_target={target!r}", "runlog[ray]") from None
    connect(target)  # now, so a cluster that does not answer starts no run (Ray's ConnectionError says why)


def connect(target: str) -> Any:
    """Connect this process to ``target``'s cluster once (``ray.init``); returns the ``ray`` module.

    ``"ray"``: ``RUNLOG_RAY_ADDRESS``, else ``ray.init(address="auto")``; ``"ray://host:port"``: Ray Client.
    """
    global _connected
    import ray

    address = (_config.ray_address() or "auto") if target == "ray" else target
    with _connect_lock:
        if ray.is_initialized():
            if _connected is not None and _connected != address:
                raise InvalidArgumentError("compute_target", target,
                                           f"the cluster this process is connected to already ({_connected})")
            return ray
        deadline = time.monotonic() + _CLIENT_RETRY_SECONDS
        for attempt in range(1, _CLIENT_ATTEMPTS + 1):
            try:
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
                break
            except (ConnectionAbortedError, ConnectionResetError):
                # Ray Client: the head forks a server per client from a process running gRPC threads, and that
                # server can die or hang while it starts (seen on a busy 2-core head: "Starting Ray client
                # server failed", or no answer for 30 s); a new connection gets a new server. An address where
                # nothing answers fails at once, as before. ray.shutdown() after each failure: a failed Ray
                # Client connection leaves Ray's client mode on, and a later local ray.init() would fail
                if not address.startswith("ray://"):
                    raise
                ray.shutdown()
                if attempt == _CLIENT_ATTEMPTS or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        _connected = address
    return ray


def disconnect() -> None:
    """Leave the cluster :func:`connect` joined (``ray.shutdown()``); a later run connects again."""
    global _connected
    with _connect_lock:
        if _connected is not None:
            import ray

            ray.shutdown()
            _connected = None


def _remote_task(ray: Any) -> Any:
    global _task, _actor
    if _task is None:
        _task = ray.remote(num_returns="streaming", max_retries=0, num_cpus=1)(run_script)
        # poll and stop run side by side (stop waits out the grace); never restarted: no script twice
        _actor = ray.remote(num_cpus=1, max_restarts=0, max_concurrency=2)(ScriptActor)
    return _task


class RayProcess:
    """A script run as a Ray task, watched from the submitter (``ScriptProcess``'s interface)."""

    def __init__(self, run: Run, config: ScriptRunConfig, command: list[str], env: dict[str, str],
                 workdir: Path, settings: _Settings, artifacts: str | None,
                 on_done: Callable[[], None] | None = None) -> None:
        self.run = run
        self.on_done = on_done
        self.workdir = workdir
        self.settings = settings
        self.target = config.compute_target
        self.started = time.monotonic()
        self.done = threading.Event()
        self.finalizing = False
        self.stop_reason: str | None = None
        self.lost: tuple[str, str] | None = None  # (status, reason) when the task itself failed
        self.exit_code: int | None = None
        self._lock = threading.Lock()
        self._stop_at: float | None = None
        ray = connect(self.target)
        self._ray = ray
        sent = {key: value for key, value in env.items()
                if key.startswith(_PASSED_ON) or key in config.environment_variables}
        if artifacts:
            sent["RUNLOG_ARTIFACTS"] = artifacts
        remote = [None if config.python == sys.executable else config.python, *command[1:]]
        read_end, self._write_end = os.pipe()
        self.pump = OutputPump(run, os.fdopen(read_end, "rb"))
        self.pump.start()
        self._refs: Any = None
        self._actor: Any = None
        try:
            task, snapshot, grace = _remote_task(ray), ray.put(zip_folder(workdir)), float(settings.stop_grace)
            if self.target.startswith("ray://"):  # Ray Client has no streaming generators: an actor, polled
                self._actor = _actor.remote(remote, sent, snapshot, grace)
            else:
                self._refs = task.remote(remote, sent, snapshot, grace)
        except BaseException:
            os.close(self._write_end)
            raise
        run.set_tags({"runlog.compute_target": self.target})
        self.supervisor = threading.Thread(target=self._supervise, name=f"runlog-ray-{run.id}", daemon=True)
        self.supervisor.start()

    def stop(self, reason: str) -> None:
        """Interrupt the task: SIGTERM to the script now, SIGKILL after the grace, the task killed after that."""
        with self._lock:
            if self.stop_reason is not None or self.done.is_set():
                return
            self.stop_reason = reason
            self._stop_at = time.monotonic()
        try:
            if self._actor is not None:
                self._actor.stop.remote()
            else:
                self._ray.cancel(self._refs, force=False)
        except Exception:
            pass

    def wait_done(self, extra: float = 15.0) -> bool:
        """Wait up to the stop grace plus ``extra`` seconds for the run to end; False on timeout."""
        return self.done.wait(self.settings.stop_grace + extra)

    def _supervise(self) -> None:
        try:
            self._follow()
        except BaseException as err:  # the task is gone: why, as Ray says it
            self._lost(err)
        finally:
            try:
                os.close(self._write_end)
            except OSError:
                pass
            self.pump.join(timeout=10.0)
            self._finish()

    def _follow(self) -> None:
        ray, refs, actor = self._ray, self._refs, self._actor
        next_check = time.monotonic() + 2.0
        forced = False
        while True:
            if actor is not None:
                items, finished = ray.get(actor.poll.remote())
                for item in items:
                    self._take(item)
                if finished:
                    ray.kill(actor)
                    return
                ready: list[Any] = []
                time.sleep(0.2)
            else:
                ready, _ = ray.wait([refs], timeout=0.2)
            now = time.monotonic()
            if not ready:
                if self._stop_at is not None and not forced and now >= self._stop_at + self.settings.stop_grace \
                        + FORCE_AFTER:
                    forced = True
                    if actor is not None:
                        ray.kill(actor)
                    else:
                        ray.cancel(refs, force=True)
                if self.stop_reason is None and now >= next_check:
                    next_check = now + 2.0
                    if self.run.get_status() == CANCELED:  # canceled from another process: stop the task too
                        self.stop("canceled from outside the submitting process")
                continue
            try:
                ref = next(refs)
            except StopIteration:
                return
            self._take(ray.get(ref))

    def _take(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "out":
            view = memoryview(item[1])
            while view:
                view = view[os.write(self._write_end, view):]
        elif kind == "file":
            name = PurePosixPath(item[1])
            if name.is_absolute() or ".." in name.parts:
                return
            target = self.workdir / "outputs" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb" if item[3] else "ab") as handle:
                handle.write(item[2])
        elif kind == "node":
            self.run.set_tags({"runlog.ray.node": str(item[1])})
        elif kind == "exit":
            self.exit_code = int(item[1])
        elif kind == "error" and self.stop_reason is None:  # from the actor: the script could not run
            self.lost = FAILED, f"the Ray task failed on the cluster: {item[1]}"

    def _lost(self, err: BaseException) -> None:
        from ray.exceptions import RayTaskError, TaskCancelledError

        text = str(err).strip().splitlines()
        detail = f"{type(err).__name__}: {text[-1] if text else ''}".rstrip(": ")
        if isinstance(err, TaskCancelledError):
            if self.stop_reason is None:
                self.stop_reason = "the Ray task was canceled outside runlog"
        elif self.stop_reason is not None:
            pass  # stopped by us: Canceled, whatever Ray says of the end
        elif isinstance(err, RayTaskError):
            self.lost = FAILED, f"the Ray task failed on the cluster: {detail}"
        else:  # a worker that died, a node lost, the connection to the cluster gone
            self.lost = KILLED, f"the Ray worker running the script was lost: {detail}"

    def _status(self) -> tuple[str, str | None]:
        if self.stop_reason is None and self.lost is not None:
            return self.lost  # the task or its node failed: whatever exit code came before
        return exit_status(self.exit_code, self.stop_reason)

    def _finish(self) -> None:
        self.finalizing = True
        end_script_run(self)

"""Script submission: ``Experiment.submit(ScriptRunConfig(...))``, ``wait_for_completion`` and sweeps.

The submitting process owns the run. It copies the source folder (what its snapshot keeps)
into a fresh working folder, starts the script there as ``[python, script, *arguments]``
(never through a shell) in a process group of its own, and two threads watch it:

- the *pump* reads the script's stdout and stderr (one pipe, so their interleaving is kept)
  in chunks, appends them to ``logs/std_log.txt`` through the background writer, keeps the
  last few KB for error messages, and copies them to the console when someone waits with
  ``show_output=True``. It waits for the writer after every few MB, so a script that prints
  gigabytes slows down to the disk's pace instead of filling the submitter's memory.
- the *supervisor* waits for the process, sets the final status from its exit (0 Completed,
  non-zero Failed, killed by a signal Killed, stopped by us Canceled), uploads ``outputs/``
  and removes the working folder.

Stopping (``run.cancel()``, Ctrl-C or SIGTERM to the submitter, interpreter exit) sends SIGTERM
to the whole process group and SIGKILL after ``RUNLOG_STOP_GRACE`` seconds (10 by default).
What the run records is listed in docs/submit.md.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._capture import STD_LOG
from ._run import CANCELED, COMPLETED, ENDED_STATUSES, FAILED, KILLED, Run
from .exceptions import InvalidArgumentError, RunlogError

if TYPE_CHECKING:
    from ._experiment import Experiment

__all__ = ["ScriptRun", "ScriptRunConfig", "ScriptRunError", "SweepRun", "redact_environment", "submit",
           "sweep", "wait_for_completion"]

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE")
REDACTED = "***"
_FLUSH_EVERY = 4 * 1024 * 1024  # characters of output between waits for the writer (bounds memory)
_TAIL_CHARS = 4096


class ScriptRunError(RunlogError, RuntimeError):
    """A submitted script did not complete: it failed or was killed.

    Attributes:
        run_id: the run's id.
        status: ``"Failed"`` or ``"Killed"``.
        exit_code: the script's exit code (negative: killed by that signal), or ``None``.
        log_tail: the last lines the script printed.
    """

    def __init__(self, run_id: str, status: str, exit_code: int | None, log_tail: str, error: str | None) -> None:
        self.run_id, self.status, self.exit_code, self.log_tail = run_id, status, exit_code, log_tail
        self.error = error
        tail = log_tail.rstrip("\n")
        super().__init__(
            f"run {run_id} ended {status}: {error or 'no error recorded'}"
            + (f"\n--- last lines of logs/std_log.txt ---\n{tail}" if tail else "")
        )


class ScriptRunConfig:
    """What to run: a script in a source folder, with arguments (Azure ML's ``ScriptRunConfig``).

    Args:
        source_directory: the folder copied (as its snapshot keeps it: ``.gitignore`` and
            ``.runlogignore`` honoured) into a fresh working folder where the script runs.
        script: the script's path, relative to ``source_directory``.
        arguments: the script's command-line arguments; numbers are turned into strings.
            They reach the script unchanged: no shell ever sees them.
        python: the interpreter; the submitter's own by default.
        environment_variables: added to (or replacing) the submitter's environment for the script.

    Raises:
        InvalidArgumentError: a folder or script that does not exist, or arguments that are not
            a list of str/int/float.

    Example::

        config = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--alpha", 0.5])
        run = Experiment("diabetes").submit(config)
        run.wait_for_completion(show_output=True)
    """

    def __init__(self, source_directory: str | os.PathLike[str] = ".", script: str | os.PathLike[str] | None = None,
                 arguments: Sequence[Any] | None = None, python: str | os.PathLike[str] | None = None,
                 environment_variables: Mapping[str, str] | None = None) -> None:
        if not isinstance(source_directory, (str, os.PathLike)) or not Path(source_directory).is_dir():
            raise InvalidArgumentError("source_directory", source_directory, "an existing folder")
        if script is None or not isinstance(script, (str, os.PathLike)):
            raise InvalidArgumentError("script", script, "the path of a Python script inside source_directory")
        root = Path(source_directory).resolve()
        script_path = (root / script).resolve()
        if not script_path.is_file():
            raise InvalidArgumentError("script", script, f"an existing file inside {root}")
        try:
            relative = script_path.relative_to(root)
        except ValueError:
            raise InvalidArgumentError("script", script, f"a file inside source_directory {root}") from None
        if arguments is None:
            arguments = []
        if isinstance(arguments, (str, bytes)) or not isinstance(arguments, Sequence):
            raise InvalidArgumentError("arguments", arguments, 'a list of arguments, e.g. ["--alpha", "0.5"]')
        args = []
        for index, argument in enumerate(arguments):
            if isinstance(argument, bool) or not isinstance(argument, (str, int, float, os.PathLike)):
                raise InvalidArgumentError(f"arguments[{index}]", argument, "a str, int, float or path")
            args.append(os.fspath(argument) if isinstance(argument, os.PathLike) else str(argument))
        if python is not None and not isinstance(python, (str, os.PathLike)):
            raise InvalidArgumentError("python", python, "the path of a Python interpreter")
        env = {}
        if environment_variables is not None:
            if not isinstance(environment_variables, Mapping):
                raise InvalidArgumentError("environment_variables", environment_variables, "a dict of str to str")
            for key, value in environment_variables.items():
                if not isinstance(key, str) or not key or "=" in key or not isinstance(value, str):
                    raise InvalidArgumentError(f"environment_variables[{key!r}]", value, "a str value under a str name")
                env[key] = value
        self.source_directory = str(root)
        self.script = relative.as_posix()
        self.arguments = args
        self.python = os.fspath(python) if python is not None else sys.executable
        self.environment_variables = env

    def command(self, extra: Sequence[str] = ()) -> list[str]:
        """The command line the script runs with (an argument list, run without a shell)."""
        return [self.python, self.script, *self.arguments, *extra]

    def __repr__(self) -> str:
        return (f"ScriptRunConfig(source_directory={self.source_directory!r}, script={self.script!r}, "
                f"arguments={self.arguments!r})")


# -- what a run records ------------------------------------------------------------------------

def _is_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def _redact_url(value: str) -> str:
    """Hide the password in ``scheme://user:password@host/...``."""
    if "://" not in value or "@" not in value:
        return value
    scheme, rest = value.split("://", 1)
    userinfo, at, host = rest.partition("@")
    if not at or "/" in userinfo or ":" not in userinfo:
        return value
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"


def redact_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the values of secret-looking names (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
    ``*PASSWORD*``...) replaced by ``***`` and passwords in URLs hidden."""
    return {key: REDACTED if _is_secret(key) else _redact_url(value) for key, value in sorted(env.items())}


def _git(folder: str, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(folder: str) -> dict[str, str]:
    """The git remote, branch, commit and dirty flag of the repository holding ``folder`` (empty if none)."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {}
    info = {"commit": commit}
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        info["branch"] = branch
    remote = _git(folder, "config", "--get", "remote.origin.url")
    if remote:
        info["remote"] = _redact_url(remote)
    status = _git(folder, "status", "--porcelain")
    if status is not None:
        info["dirty"] = "true" if status else "false"
    return info


_PACKAGES_CODE = ("import importlib.metadata as m, json\n"
                  "print(json.dumps(sorted({(d.metadata['Name'] or '?', d.version) for d in m.distributions()})))")


def installed_packages(python: str) -> list[tuple[str, str]]:
    """``(name, version)`` of every distribution ``python`` can import (ours, or the script's interpreter)."""
    try:
        same = os.path.samefile(python, sys.executable)
    except OSError:
        same = False
    if same:
        from importlib.metadata import distributions

        return sorted({(d.metadata["Name"] or "?", d.version) for d in distributions()})
    try:
        done = subprocess.run([python, "-c", _PACKAGES_CODE], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        return [tuple(pair) for pair in json.loads(done.stdout)]  # type: ignore[misc]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def _absolute_store_uri(uri: str) -> str:
    """The store URI as the script (running in another folder) must see it."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///"):]
        return uri if os.path.isabs(path) else "sqlite:///" + os.path.abspath(path)
    if uri.startswith("file://"):
        return "file://" + os.path.abspath(uri[len("file://"):])
    if "://" in uri:
        return uri
    return os.path.abspath(uri)


def _child_environment(experiment: Experiment, run: Run, config: ScriptRunConfig, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(config.environment_variables)
    artifacts = env.get("RUNLOG_ARTIFACTS")
    if artifacts and "://" not in artifacts:
        env["RUNLOG_ARTIFACTS"] = os.path.abspath(artifacts)
    if env.get("PYTHONPATH"):  # the script runs elsewhere: relative entries meant "from here"
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    env.update({
        "RUNLOG_RUN_ID": run.id,
        "RUNLOG_STORE": _absolute_store_uri(experiment.store),
        "RUNLOG_EXPERIMENT": experiment.name,
        "RUNLOG_SOURCE_DIRECTORY": config.source_directory,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _record_environment(run: Run, config: ScriptRunConfig, command: list[str], env: Mapping[str, str],
                        workdir: Path, full: bool) -> None:
    """Tags (queryable) and ``environment/`` artifacts describing where and how the script ran."""
    git = git_info(config.source_directory)
    tags = {
        "runlog.script": config.script,
        "runlog.command": shlex.join(command),
        "runlog.python": platform.python_version(),
        "runlog.platform": platform.platform(),
    }
    tags.update({f"runlog.git.{key}": value for key, value in git.items()})
    run.set_tags(tags)
    if not full:
        return
    info = {
        "command": command,
        "source_directory": config.source_directory,
        "working_directory": str(workdir),
        "python": {"version": sys.version if config.python == sys.executable else None,
                   "executable": config.python, "implementation": platform.python_implementation()},
        "platform": platform.platform(), "machine": platform.machine(), "host": platform.node(),
        "git": git,
    }
    run.upload_file("environment/info.json", json.dumps(info, indent=2).encode())
    run.upload_file("environment/environment_variables.json", json.dumps(redact_environment(env), indent=2).encode())
    packages = installed_packages(config.python)
    run.upload_file("environment/packages.txt", "".join(f"{name}=={version}\n" for name, version in packages).encode())


# -- the running script ------------------------------------------------------------------------

def _stop_grace() -> float:
    try:
        return max(0.0, float(os.environ.get("RUNLOG_STOP_GRACE", "10")))
    except ValueError:
        return 10.0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class _Pump(threading.Thread):
    """Copies the script's output to ``logs/std_log.txt`` (and the console while someone watches)."""

    def __init__(self, run: Run, stream: IO[bytes]) -> None:
        super().__init__(name=f"runlog-output-{run.id}", daemon=True)
        self._run = run
        self._fd = stream.fileno()
        self._stream = stream
        self._lock = threading.Lock()
        self._console: IO[str] | None = None
        self._tail = ""
        self.chars = 0

    def run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = 0
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            text = decoder.decode(data)
            if text:
                pending += self._emit(text)
            if pending >= _FLUSH_EVERY:
                pending = 0
                try:  # wait for the writer: the script then waits for us, and memory stays bounded
                    self._run._writer.flush()
                except Exception:
                    pass
        text = decoder.decode(b"", final=True)
        if text:
            self._emit(text)
        try:
            self._stream.close()
        except OSError:
            pass

    def _emit(self, text: str) -> int:
        with self._lock:
            self._run._append_log(STD_LOG, text)
            self.chars += len(text)
            self._tail = (self._tail + text)[-_TAIL_CHARS:]
            console = self._console
            if console is not None:
                try:
                    console.write(text)
                    console.flush()
                except (OSError, ValueError):  # a closed console must not stop the log
                    self._console = None
        return len(text)

    def tail(self) -> str:
        with self._lock:
            return self._tail

    def watch(self, console: IO[str]) -> None:
        """Show what was printed so far on ``console``, then everything new as it comes."""
        with self._lock:
            self._run._writer.flush()
            _copy_log(self._run, console)
            self._console = console

    def unwatch(self) -> None:
        with self._lock:
            self._console = None


def _copy_log(run: Run, console: IO[str], start: int = 0) -> int:
    """Write the run's ``logs/std_log.txt`` from byte ``start`` to ``console``; returns the new offset."""
    try:
        source = run._store.artifacts.open(run.id, STD_LOG)
    except (OSError, LookupError, ValueError):
        return start
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with source:
        if start:
            source.seek(start)
        offset = start
        while True:
            data = source.read(1 << 16)
            if not data:
                break
            offset += len(data)
            console.write(decoder.decode(data))
        console.flush()
    return offset


class _Launch:
    """The script's process and the threads that watch it."""

    def __init__(self, run: ScriptRun, config: ScriptRunConfig, command: list[str], env: dict[str, str],
                 workdir: Path, monitor: bool) -> None:
        self.run = run
        self.config = config
        self.command = command
        self.workdir = workdir
        self.started = time.monotonic()
        self.done = threading.Event()
        self.finalizing = False
        self.stop_reason: str | None = None
        self.exit_code: int | None = None
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
        self.pump = _Pump(run, self.proc.stdout)  # type: ignore[arg-type]
        self.pump.start()
        self.monitor: Any = None
        if monitor:
            try:
                from ._system import start_monitor

                self.monitor = start_monitor(run, None, pid=self.proc.pid)
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
            _signal_group(self.proc.pid, signal.SIGTERM)

    def _supervise(self) -> None:
        proc = self.proc
        kill_at: float | None = None
        next_check = time.monotonic() + 2.0
        try:
            while True:
                try:
                    proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if self.stop_reason is not None and kill_at is None:
                    kill_at = now + _stop_grace()
                if kill_at is not None and now >= kill_at:
                    _signal_group(proc.pid, signal.SIGKILL)
                if self.stop_reason is None and now >= next_check:
                    next_check = now + 2.0
                    # canceled from elsewhere (another process, another handle): stop the script too
                    if self.run._store.get_run(self.run.id).status == CANCELED:
                        self.stop("canceled from outside the submitting process")
            self.exit_code = proc.returncode
            self._reap_group()
            self.pump.join(timeout=10.0)
        finally:
            self._finish()

    def _reap_group(self) -> None:
        """Stop what the script left behind in its process group: no orphans."""
        pgid = self.proc.pid
        if not _group_alive(pgid):
            return
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + min(_stop_grace(), 5.0)
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(pgid, signal.SIGKILL)

    def _status(self) -> tuple[str, str | None]:
        code = self.exit_code
        if self.stop_reason is not None:
            return CANCELED, self.stop_reason
        if code == 0:
            return COMPLETED, None
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return KILLED, f"killed by {name} ({-code})"
        return FAILED, f"exit code {code}"

    def _finish(self) -> None:
        run = self.run
        self.finalizing = True
        try:
            if self.monitor is not None:
                try:
                    self.monitor.stop()
                except Exception:
                    pass
            status, error = self._status()
            if status in (FAILED, KILLED):
                tail = self.pump.tail().rstrip("\n")
                if tail:
                    error = f"{error}\n--- last lines of logs/std_log.txt ---\n{tail}"
            tags = {"runlog.duration_s": f"{time.monotonic() - self.started:.3f}"}
            if self.exit_code is not None:
                tags["runlog.exit_code"] = str(self.exit_code)
            try:
                run.set_tags(tags)
            except Exception:
                pass
            Run._end(run, status, error)
        except Exception as err:
            sys.stderr.write(f"runlog: could not end run {run.id}: {err!r}\n")
        finally:
            if os.environ.get("RUNLOG_KEEP_WORKDIR", "") not in ("1", "true"):
                import shutil

                shutil.rmtree(self.workdir, ignore_errors=True)
            self.done.set()


class ScriptRun(Run):
    """A run whose script runs in a subprocess of this process (from :meth:`Experiment.submit`)."""

    _launch: _Launch | None = None
    _sweep: SweepRun | None = None

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for the script to end; returns :meth:`get_details`.

        Args:
            show_output: print what the script printed so far, then its output live.
            wait_post_processing: accepted for Azure compatibility (nothing to wait for here).
            raise_on_error: raise :class:`ScriptRunError` (exit code, log tail) unless it Completed
                or was Canceled.

        Ctrl-C while waiting stops the script (its whole process group) and leaves it Canceled.
        """
        launch = self._launch
        if launch is None:
            return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)
        if show_output:
            launch.pump.watch(sys.stdout)
        try:
            with _ctrl_c_as_flag() as interrupted:
                while not launch.done.is_set():  # no Event.wait: see _ctrl_c_as_flag
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                    time.sleep(0.05)
        except KeyboardInterrupt:
            launch.stop("canceled by Ctrl-C (KeyboardInterrupt) in the submitting process")
            launch.done.wait(_stop_grace() + 15.0)
            raise
        finally:
            if show_output:
                launch.pump.unwatch()
        return _details_or_raise(self, raise_on_error, launch.exit_code, launch.pump.tail())

    def cancel(self, end_time: float | None = None) -> None:
        """Stop the script (SIGTERM to its process group, SIGKILL after the grace) and end Canceled."""
        launch = self._launch
        if launch is None or launch.finalizing:
            super().cancel(end_time)
            return
        launch.stop("canceled")
        if not launch.done.wait(_stop_grace() + 15.0):
            super().cancel(end_time)

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        launch = self._launch
        if self._ended or launch is None or launch.finalizing or threading.current_thread() is launch.supervisor:
            super()._end(status, error, end_time, force)
            return
        # Ended while the script still runs: the submitter is exiting (SIGTERM, Ctrl-C, end of
        # the script that called submit) or someone called complete()/fail(). No orphans: stop it.
        if self._sweep is not None:
            self._sweep._stop_launching()
        reason = {KILLED: "the submitting process was terminated (SIGTERM)",
                  COMPLETED: "the submitting process exited before the script ended; "
                             "call run.wait_for_completion() to wait for it",
                  FAILED: "the submitting process ended with an error"}.get(status, f"ended {status}")
        if error and status == FAILED and "KeyboardInterrupt" in error:
            reason = "canceled by Ctrl-C (KeyboardInterrupt) in the submitting process"
        if status == COMPLETED:
            sys.stderr.write(f"runlog: stopping run {self.id}: {reason}\n")
        launch.stop(reason)
        if not launch.done.wait(_stop_grace() + 15.0):
            super()._end(CANCELED, reason)


@contextlib.contextmanager
def _ctrl_c_as_flag() -> Iterator[threading.Event]:
    """While waiting in the main thread, Ctrl-C sets a flag instead of raising at a random spot.

    The main thread waits by polling ``Event.is_set()`` and sleeping, never in ``Event.wait``:
    a signal that arrives while ``Event.wait`` holds the event's lock either raises there
    (KeyboardInterrupt, leaving the lock held) or runs a handler that waits on the same event
    (SIGTERM ending the run), and either way the thread that must set the event blocks forever.
    The waiting loop checks the flag and raises KeyboardInterrupt itself.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag  # someone else's handler, or not the main thread: leave SIGINT alone
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _details_or_raise(run: Run, raise_on_error: bool, exit_code: int | None, tail: str) -> dict[str, Any]:
    details = run.get_details()
    details["exitCode"] = exit_code
    if raise_on_error and details["status"] in (FAILED, KILLED):
        raise ScriptRunError(run.id, details["status"], exit_code, tail, (details.get("error") or "").split("\n")[0])
    return details


def wait_for_completion(run: Run, show_output: bool = False, raise_on_error: bool = True,
                        poll_interval: float = 0.5) -> dict[str, Any]:
    """Wait for any run (even one started by another process) to end, following its log.

    Polls the store; with ``show_output``, prints ``logs/std_log.txt`` as it grows.
    """
    offset = 0
    while True:
        status = run.get_status()
        if show_output:
            offset = _copy_log(run, sys.stdout, offset)
        if status in ENDED_STATUSES:
            break
        time.sleep(poll_interval)
    if show_output:
        run.flush()
        _copy_log(run, sys.stdout, offset)
    tags = run.get_tags()
    code = tags.get("runlog.exit_code")
    tail = ""
    try:
        with run._store.artifacts.open(run.id, STD_LOG) as source:
            size = source.seek(0, 2)
            source.seek(max(0, size - _TAIL_CHARS))
            tail = source.read().decode("utf-8", "replace")
    except (OSError, LookupError, ValueError):
        pass
    return _details_or_raise(run, raise_on_error, int(code) if code and code.lstrip("-").isdigit() else None, tail)


def _prepare(config: ScriptRunConfig) -> list[tuple[str, Path]]:
    from ._snapshot import check_snapshot_size, snapshot_files

    files = snapshot_files(config.source_directory)
    check_snapshot_size(config.source_directory, files)
    return files


def _launch(experiment: Experiment, run: Run, config: ScriptRunConfig, files: list[tuple[str, Path]],
            extra_args: Sequence[str] = (), record_full: bool = True, monitor: bool = True) -> ScriptRun:
    """Start ``config``'s script for ``run`` (a Running run owned by this process)."""
    from ._snapshot import copy_snapshot, upload_snapshot

    assert isinstance(run, ScriptRun)  # built as one by experiment._start(run_class=ScriptRun)
    try:
        workdir = Path(tempfile.mkdtemp(prefix=f"runlog-{run.id}-"))
        copy_snapshot(files, workdir)
        (workdir / "outputs").mkdir(exist_ok=True)
        run._outputs = workdir / "outputs"
        command = config.command(extra_args)
        env = _child_environment(experiment, run, config, workdir)
        if record_full:
            upload_snapshot(run, config.source_directory, files=files)
        _record_environment(run, config, command, env, workdir, record_full)
        run._launch = _Launch(run, config, command, env, workdir, monitor)
    except BaseException as err:
        Run._end(run, FAILED, f"could not start the script: {err!r}")
        raise
    return run


def submit(experiment: Experiment, config: ScriptRunConfig, tags: Mapping[str, Any] | None = None,
           name: str | None = None) -> ScriptRun:
    """Start ``config``'s script in a subprocess; returns its Running :class:`ScriptRun` at once.

    Raises:
        InvalidArgumentError: ``config`` is not a :class:`ScriptRunConfig`.
        SnapshotTooLargeError: the source folder is over the snapshot cap (nothing is started).
    """
    if not isinstance(config, ScriptRunConfig):
        raise InvalidArgumentError("config", config, "a ScriptRunConfig")
    files = _prepare(config)
    run = experiment._start(name=name, tags=tags, parent=None, run_id=None, run_class=ScriptRun)
    return _launch(experiment, run, config, files)


# -- sweeps ------------------------------------------------------------------------------------

def _param_value(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_sweep(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["alpha=0.1,0.5", "l1=0,1"]`` -> ``{"alpha": ["0.1", "0.5"], "l1": ["0", "1"]}``."""
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
               max_parallel: int, files: list[tuple[str, Path]]) -> None:
        self._config = config
        self._space = space
        self._combos = [dict(zip(space, values)) for values in itertools.product(*space.values())]
        self._max_parallel = max_parallel
        self._files = files
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
                child = experiment._start(name=label, tags={"runlog.sweep.parent": self.id}, parent=self,
                                          run_id=None, run_class=ScriptRun)
                assert isinstance(child, ScriptRun)
                child.log_params({name: _param_value(str(value)) for name, value in combo.items()})
                child._sweep = self
                try:
                    _launch(experiment, child, self._config, self._files, extra, record_full=False, monitor=True)
                except Exception as err:
                    sys.stderr.write(f"runlog: could not start {label}: {err!r}\n")
                    self._finished[child.id] = FAILED
                    continue
                with self._cond:
                    self._children.append(child)  # type: ignore[arg-type]
                    self._running.append(child)  # type: ignore[arg-type]
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
                self._finished[child.id] = child._launch.run.get_status()
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

    def cancel(self, end_time: float | None = None) -> None:
        """Stop every running child (and start no more); the sweep ends Canceled."""
        if self._scheduler is None or self._done.is_set():
            super().cancel(end_time)
            return
        self._stop_launching("canceled")
        self._done.wait(_stop_grace() + 20.0)

    def _end(self, status: str, error: str | None = None, end_time: float | None = None,
             force: bool = False) -> None:
        if self._ended or self._scheduler is None or self._done.is_set() \
                or threading.current_thread() is self._scheduler:
            super()._end(status, error, end_time, force)
            return
        self._stop_launching("the submitting process stopped before the sweep ended")
        if not self._done.wait(_stop_grace() + 20.0):
            super()._end(CANCELED, "the submitting process stopped before the sweep ended")

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict[str, Any]:
        """Wait for every child; ``show_output`` draws a progress bar on stderr. Ctrl-C cancels all."""
        if self._scheduler is None:
            return wait_for_completion(self, show_output=show_output, raise_on_error=raise_on_error)
        bar = _ProgressBar(sys.stderr) if show_output else None
        try:
            with _ctrl_c_as_flag() as interrupted:
                while not self._done.is_set():  # no Event.wait: see _ctrl_c_as_flag
                    if interrupted.is_set():
                        raise KeyboardInterrupt
                    if bar is not None:
                        bar.draw(*self.progress())
                    time.sleep(0.1)
        except KeyboardInterrupt:
            self._stop_launching("canceled by Ctrl-C (KeyboardInterrupt) in the submitting process")
            self._done.wait(_stop_grace() + 20.0)
            raise
        if bar is not None:
            bar.draw(*self.progress(), final=True)
        details = self.get_details()
        if raise_on_error and details["status"] == FAILED:
            raise ScriptRunError(self.id, FAILED, None, "", details.get("error"))
        return details


class _ProgressBar:
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
    files = _prepare(config)
    parent = experiment._start(name=name, tags=tags, parent=None, run_id=None, run_class=SweepRun)
    assert isinstance(parent, SweepRun)
    try:
        from ._snapshot import upload_snapshot

        parent.set_tags({"runlog.sweep": json.dumps(values), "runlog.sweep.max_parallel": str(max_parallel)})
        upload_snapshot(parent, config.source_directory, files=files)
        workdir = Path(config.source_directory)
        _record_environment(parent, config, config.command(), _child_environment(experiment, parent, config, workdir),
                            workdir, True)
    except BaseException as err:
        Run._end(parent, FAILED, f"could not start the sweep: {err!r}")
        raise
    parent._setup(experiment, config, values, max_parallel, files)
    return parent

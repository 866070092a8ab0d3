"""Process control for submitted scripts: the process group, its output, and waiting on it.

- :func:`start_process` starts ``[python, script, *arguments]`` (never through a shell) in a
  process group of its own, stdout and stderr on one pipe so their interleaving is kept;
  :func:`signal_group` and :func:`reap_group` stop the whole group, so nothing is left behind.
- :class:`OutputPump` reads that pipe in chunks into the run's ``logs/std_log.txt``, keeps the
  last few KB for error messages and copies the output to a console while someone watches.
- :class:`ExitWatch` waits for the script to end and returns the moment it does (a pidfd on
  Linux; elsewhere ``Popen.wait``'s polling, up to 50 ms late): a sweep's next child starts then.
- :func:`wait_interruptibly` is how the main thread waits: Ctrl-C sets a flag, never raises
  inside ``Event.wait`` (see :func:`ctrl_c_as_flag`).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from runlog_core.run.capture import STD_LOG
from runlog_core.run.follow import TAIL_CHARS, copy_log, read_log_tail

if TYPE_CHECKING:
    from runlog_core.run.run import Run

__all__ = ["TAIL_CHARS", "ExitWatch", "OutputPump", "copy_log", "ctrl_c_as_flag", "describe_exit", "exit_status", "group_alive",
           "read_log_tail", "reap_group", "signal_group", "start_process", "wait_interruptibly"]

FLUSH_EVERY = 4 * 1024 * 1024  # characters of output between waits for the writer (bounds memory)


def start_process(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` in ``cwd`` as the leader of a new process group, output on one pipe."""
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
    )


class ExitWatch:
    """Waits for a started process to end, returning as soon as it does.

    ``Popen.wait(timeout)`` polls with sleeps that grow to 50 ms, so a script that ends is noticed
    25 ms late on average: in a sweep of short scripts, every child's slot stays empty that long
    (issue 18). A pidfd (Linux 5.3+) becomes readable the moment the process ends, so the
    supervisor sleeps in ``poll`` and wakes at once; without one, ``Popen.wait`` is used as before.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._poll: select.poll | None = None
        self._fd: int | None = None
        try:  # the supervisor is the only one to reap it: the pid is still this process's child
            fd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined,unused-ignore]  # Linux only
        except (AttributeError, OSError):
            return
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; True once the process has ended (and is reaped)."""
        if self._poll is None:
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        if self._proc.poll() is not None:
            return True
        try:
            self._poll.poll(max(0, int(timeout * 1000)))
        except InterruptedError:
            pass
        return self._proc.poll() is not None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._poll = None


def group_alive(pgid: int) -> bool:
    """True while any process of the group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to every process of the group ``pgid`` (a group already gone is fine)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def reap_group(pgid: int, grace: float) -> None:
    """Stop what a script left behind in its process group: SIGTERM, then SIGKILL after at most 5 s."""
    if not group_alive(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + min(grace, 5.0)
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)


def exit_status(code: int | None, stop_reason: str | None) -> tuple[str, str | None]:
    """A script run's status and error from how its script ended: Canceled when we stopped it,
    Completed on exit code 0, Killed by a signal, Failed otherwise."""
    from runlog_core.run.run import CANCELED, COMPLETED, FAILED, KILLED

    if stop_reason is not None:
        return CANCELED, stop_reason
    if code == 0:
        return COMPLETED, None
    if code is not None and code < 0:
        return KILLED, describe_exit(code)
    return FAILED, f"exit code {code}"


def describe_exit(code: int) -> str:
    """``"exit code 3"``, or ``"killed by SIGKILL (9)"`` for a negative (signal) return code."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name} ({-code})"


class OutputPump(threading.Thread):
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
            if pending >= FLUSH_EVERY:
                pending = 0
                try:  # wait for the writer: the script then waits for us, and memory stays bounded
                    self._run.flush()
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
            # no public way to append to a log artifact: the same writer op that capture_output uses
            self._run._append_log(STD_LOG, text)
            self.chars += len(text)
            self._tail = (self._tail + text)[-TAIL_CHARS:]
            console = self._console
            if console is not None:
                try:
                    console.write(text)
                    console.flush()
                except (OSError, ValueError):  # a closed console must not stop the log
                    self._console = None
        return len(text)

    def tail(self) -> str:
        """The last :data:`TAIL_CHARS` characters the script printed."""
        with self._lock:
            return self._tail

    def watch(self, console: IO[str]) -> None:
        """Show what was printed so far on ``console``, then everything new as it comes."""
        with self._lock:
            self._run.flush()
            copy_log(self._run, console)
            self._console = console

    def unwatch(self) -> None:
        with self._lock:
            self._console = None


@contextlib.contextmanager
def ctrl_c_as_flag() -> Iterator[threading.Event]:
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


def wait_interruptibly(done: threading.Event, interval: float, tick: Callable[[], None] | None = None) -> None:
    """Return once ``done`` is set, calling ``tick`` every ``interval`` seconds meanwhile.

    Raises:
        KeyboardInterrupt: Ctrl-C (or a SIGTERM turned into one) while waiting.
    """
    with ctrl_c_as_flag() as interrupted:
        while not done.is_set():  # no Event.wait: see ctrl_c_as_flag
            if interrupted.is_set():
                raise KeyboardInterrupt
            if tick is not None:
                tick()
            time.sleep(interval)


def end_script_run(proc: Any) -> None:
    """Record how a script process ended (a ``ScriptProcess`` or a ``RayProcess``): its status with the
    log's last lines when it failed, the duration and exit code tags; then its working copy removed,
    ``done`` set and ``on_done`` called, whatever happened."""
    from runlog_core.run.run import FAILED, KILLED, Run

    run = proc.run
    try:
        status, error = proc._status()
        if status in (FAILED, KILLED):
            tail = proc.pump.tail().rstrip("\n")
            if tail:
                error = f"{error}\n--- last lines of logs/std_log.txt ---\n{tail}"
        tags = {"runlog.duration_s": f"{time.monotonic() - proc.started:.3f}"}
        if proc.exit_code is not None:
            tags["runlog.exit_code"] = str(proc.exit_code)
        try:
            run.set_tags(tags)
        except Exception:
            pass
        Run._end(run, status, error)
    except Exception as err:
        sys.stderr.write(f"runlog: could not end run {run.id}: {err!r}\n")
    finally:
        if not proc.settings.keep_workdir:
            shutil.rmtree(proc.workdir, ignore_errors=True)
        proc.done.set()
        if proc.on_done is not None:
            proc.on_done()

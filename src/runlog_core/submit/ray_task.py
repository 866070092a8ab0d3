"""The worker's side of a Ray compute target (:mod:`.ray_target`): what runs on the cluster.

:func:`run_script` (a streaming-generator task) unpacks the snapshot in a fresh folder, runs the
script there in a process group of its own (through a launcher that dies with the worker), and yields
``("node", host)``, ``("out", bytes)`` as the script prints, ``("file", name, bytes, first)`` for
``outputs/`` and ``("exit", code)``. Interrupted (``ray.cancel``) or done, it stops what is left of
the script: SIGTERM to its group, SIGKILL after the stop grace. :class:`ScriptActor` runs the same
generator for Ray Client (``ray://``), which has no streaming generators: the submitter polls it.
Only the standard library here: the workers import this module, never ray's driver side.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["ScriptActor", "run_script", "zip_folder"]


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.relative_to(folder).parts[0] != "outputs":
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


# the launcher the script starts through: it dies with the Ray worker (PR_SET_PDEATHSIG), so a
# worker killed by ray.cancel(force=True) leaves no script behind
_LAUNCHER = ("import ctypes, os, signal, sys\n"
             "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\nexcept Exception:\n    pass\n"
             "os.execv(sys.argv[1], sys.argv[1:])\n")


def run_script(command: list[str | None], env: dict[str, str], snapshot: bytes, stop_grace: float,
               started: Callable[[Any], None] | None = None) -> Iterator[tuple[Any, ...]]:
    """The Ray task: run the script in the unpacked snapshot; yield its output, outputs/ and exit code.

    ``started`` gets the script's ``Popen`` (the actor, to stop it from another thread).
    """
    import platform
    import select
    import signal
    import subprocess
    import tempfile

    workdir = tempfile.mkdtemp(prefix="runlog-ray-")
    proc: subprocess.Popen[bytes] | None = None
    try:
        zipfile.ZipFile(io.BytesIO(snapshot)).extractall(workdir)
        os.makedirs(os.path.join(workdir, "outputs"), exist_ok=True)
        python = command[0] or sys.executable  # None: the worker's own interpreter
        argv = [python, "-c", _LAUNCHER, python, *[str(part) for part in command[1:]]]
        proc = subprocess.Popen(argv, cwd=workdir, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        if started is not None:
            started(proc)
        yield ("node", platform.node())
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            if not select.select([fd], [], [], 1.0)[0]:
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                break
            deadline = time.monotonic() + 0.05  # gather what comes at once: fewer, larger items
            while len(data) < (1 << 20) and select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                more = os.read(fd, 1 << 16)
                if not more:
                    break
                data += more
            yield ("out", data)
        code = proc.wait()
        outputs = Path(workdir) / "outputs"
        for path in sorted(outputs.rglob("*")):
            if path.is_file():
                name = path.relative_to(outputs).as_posix()
                with open(path, "rb") as handle:
                    first, chunk = True, b""
                    while first or chunk:
                        chunk = handle.read(8 << 20)
                        if chunk or first:
                            yield ("file", name, chunk, first)
                        first = False
        yield ("exit", code)
    finally:  # stopped (ray.cancel interrupts the task) or done: nothing of the script stays
        if proc is not None:
            for signum, wait in ((signal.SIGTERM, stop_grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, signum)
                except (ProcessLookupError, PermissionError):
                    break
                end = time.monotonic() + wait
                while proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.05)
                if proc.poll() is not None and signum == signal.SIGKILL:
                    break
        shutil.rmtree(workdir, ignore_errors=True)


class ScriptActor:
    """:func:`run_script` in a thread of an actor, its items kept until :meth:`poll` takes them (Ray Client)."""

    def __init__(self, command: list[str | None], env: dict[str, str], snapshot: bytes, stop_grace: float) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[Any, ...]] = []
        self._finished = False
        self._proc: Any = None
        self._grace = stop_grace
        self._items_of = run_script(command, env, snapshot, stop_grace, started=self._started)
        threading.Thread(target=self._pump, name="runlog-ray-actor", daemon=True).start()

    def _started(self, proc: Any) -> None:
        self._proc = proc

    def _pump(self) -> None:
        try:
            for item in self._items_of:
                with self._lock:
                    self._items.append(item)
        except BaseException as err:  # the script could not run: the submitter ends the run Failed
            with self._lock:
                self._items.append(("error", f"{type(err).__name__}: {err}"))
        finally:
            with self._lock:
                self._finished = True

    def poll(self) -> tuple[list[tuple[Any, ...]], bool]:
        """What came since the last call, and whether the script and its outputs are all done."""
        with self._lock:
            items, self._items = self._items, []
            return items, self._finished

    def stop(self) -> None:
        """SIGTERM to the script's group now, SIGKILL after the stop grace."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for signum, wait in ((signal.SIGTERM, self._grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                return
            end = time.monotonic() + wait
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(0.05)
            if proc.poll() is not None:
                return

"""Following a run from outside: its ``logs/std_log.txt`` as it grows, and waiting for it to end.

``run.wait_for_completion()`` works on any run, even one another process runs; a submitted run's
handle (:mod:`runlog_core.submit.script_run`) uses the same pieces for its own output.
"""

from __future__ import annotations

import codecs
import sys
import time

from runlog_core.exceptions import ScriptRunError
from runlog_core.run.capture import STD_LOG
from runlog_core.run.state import ENDED_STATUSES, FAILED, KILLED

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO

    from runlog_core.run.run import Run  # which imports this module only when a method is called

__all__ = ["TAIL_CHARS", "copy_log", "details_or_raise", "read_log_tail", "wait_for_completion"]

# how much of the end of a failed script's output a ScriptRunError quotes
TAIL_CHARS = 4096


def _open_log(run: Run) -> BinaryIO:
    # Run has no public way to read an artifact as a stream (download_file copies it whole),
    # and following a growing log needs one
    return run._store.artifacts.open(run.id, STD_LOG)


def copy_log(run: Run, console: IO[str], start: int = 0) -> int:
    """Write the run's ``logs/std_log.txt`` from byte ``start`` to ``console``; returns the new offset."""
    try:
        source = _open_log(run)
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


def read_log_tail(run: Run) -> str:
    """About the last :data:`TAIL_CHARS` bytes of the run's ``logs/std_log.txt`` ('' if it has none)."""
    try:
        with _open_log(run) as source:
            size = source.seek(0, 2)
            source.seek(max(0, size - TAIL_CHARS))
            return source.read().decode("utf-8", "replace")
    except (OSError, LookupError, ValueError):
        return ""


def details_or_raise(run: Run, raise_on_error: bool, exit_code: int | None, tail: str) -> dict[str, Any]:
    """``run.get_details()`` plus ``exitCode``; raises :class:`ScriptRunError` if it failed or was killed."""
    details = run.get_details()
    details["exitCode"] = exit_code
    if raise_on_error and details["status"] in (FAILED, KILLED):
        raise ScriptRunError(run.id, details["status"], exit_code, tail, (details.get("error") or "").split("\n")[0])
    return details


def wait_for_completion(run: Run, show_output: bool = False, raise_on_error: bool = True,
                        poll_interval: float = 0.5) -> dict[str, Any]:
    """Wait for any run (even one started by another process) to end, following its log.

    Polls the store; with ``show_output``, prints ``logs/std_log.txt`` as it grows.

    Raises:
        ScriptRunError: the run ended Failed or Killed (with ``raise_on_error``).
    """
    offset = 0
    while True:
        status = run.get_status()
        if show_output:
            offset = copy_log(run, sys.stdout, offset)
        if status in ENDED_STATUSES:
            break
        time.sleep(poll_interval)
    if show_output:
        run.flush()
        copy_log(run, sys.stdout, offset)
    code = run.get_tags().get("runlog.exit_code")
    exit_code = int(code) if code and code.lstrip("-").isdigit() else None
    return details_or_raise(run, raise_on_error, exit_code, read_log_tail(run))

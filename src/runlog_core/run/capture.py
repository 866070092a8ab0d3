"""``capture_output=True``: tee stdout, stderr and Python ``logging`` records into the run's logs.

What is printed still reaches the console; a copy goes to the run's
``logs/std_log.txt`` (stdout and stderr) and ``logs/python_logging.txt`` (records)
through the background writer, so printing never waits on the store.

Records are copied by a tap on ``logging.Logger.callHandlers``, not by a handler on the root
logger (issue 9): a root handler of ours would silence Python's last-resort handler (the
WARNING-and-above lines an unconfigured program prints on stderr) and turn a later
``logging.basicConfig()`` into a no-op, so records would vanish from the console. The tap sees
each record that reaches the root logger's handlers (what a root handler would see), after
the user's handlers ran, and changes nothing else: handlers, levels, ``basicConfig``,
``dictConfig`` and ``force=True`` work as they do without runlog.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["LOGGING_LOG", "OutputCapture", "RecordCapture", "RecordHandler", "STD_LOG", "capture_records"]

STD_LOG = "logs/std_log.txt"
LOGGING_LOG = "logs/python_logging.txt"


class _Tee:
    """A text stream that writes to the original stream and hands a copy to ``sink``."""

    def __init__(self, original: TextIO, sink: Callable[[str], None]) -> None:
        self._original = original
        self._sink: Callable[[str], None] | None = sink

    def write(self, text: str) -> int:
        written = self._original.write(text)
        sink = self._sink
        if sink is not None and text:
            try:
                sink(text)
            except Exception:  # capturing must never break printing
                pass
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer...
        return getattr(self._original, name)


class RecordHandler(logging.Handler):
    """Formats a record as one ``time LEVEL logger: message`` line for ``sink``."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.NOTSET)
        self._sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


_taps_lock = threading.Lock()
_taps: tuple[logging.Handler, ...] = ()
_inside = threading.local()  # a record logged while a tap handles one is not tapped again
_original_call_handlers: Callable[[logging.Logger, logging.LogRecord], None] | None = None


def _reaches_root(logger: logging.Logger) -> bool:
    """Whether ``logger.callHandlers`` gets to the root logger's handlers (``propagate`` all the way)."""
    current: logging.Logger | None = logger
    while current is not None:
        if isinstance(current, logging.RootLogger):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    assert _original_call_handlers is not None  # set before this replaces callHandlers
    try:
        _original_call_handlers(self, record)  # the user's handlers, or the last-resort one, as always
    finally:
        taps = _taps
        if taps and not getattr(_inside, "active", False) and _reaches_root(self):
            _inside.active = True
            try:
                for handler in taps:
                    if record.levelno >= handler.level:
                        handler.handle(record)
            finally:
                _inside.active = False


def _install_tap() -> None:
    global _original_call_handlers
    # installed once and left in place (inert without taps): taking it out again could unwrap
    # another library that wrapped callHandlers after us
    if _original_call_handlers is None:
        _original_call_handlers = logging.Logger.callHandlers
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]


class RecordCapture:
    """Copies every ``logging`` record that reaches the root logger to ``sink``; :meth:`stop` ends it."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        global _taps
        self.handler = RecordHandler(sink)
        with _taps_lock:
            _install_tap()
            _taps = (*_taps, self.handler)

    def stop(self) -> None:
        global _taps
        with _taps_lock:
            _taps = tuple(tap for tap in _taps if tap is not self.handler)


def capture_records(sink: Callable[[str], None]) -> RecordCapture:
    """Start copying ``logging`` records (formatted, one line each) to ``sink``, leaving the console as it is.

    Example::

        capture = capture_records(lambda text: run._append_log(LOGGING_LOG, text))
        ...
        capture.stop()
    """
    return RecordCapture(sink)


class OutputCapture:
    """Installs the tees and the record tap; :meth:`stop` takes them away again."""

    def __init__(self, sink: Callable[[str, str], None]) -> None:
        self._stdout = _Tee(sys.stdout, lambda text: sink(STD_LOG, text))
        self._stderr = _Tee(sys.stderr, lambda text: sink(STD_LOG, text))
        self._records = capture_records(lambda text: sink(LOGGING_LOG, text))
        sys.stdout = self._stdout
        sys.stderr = self._stderr

    def stop(self) -> None:
        for tee, name in ((self._stdout, "stdout"), (self._stderr, "stderr")):
            tee._sink = None
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._original)
        self._records.stop()

"""``capture_output=True``: tee stdout, stderr and Python ``logging`` records into the run's logs.

What is printed still reaches the console; a copy goes to the run's
``logs/std_log.txt`` (stdout and stderr) and ``logs/python_logging.txt`` (records)
through the background writer, so printing never waits on the store.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["LOGGING_LOG", "OutputCapture", "RecordHandler", "STD_LOG"]

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
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.NOTSET)
        self._sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class OutputCapture:
    """Installs the tees and the logging handler; :meth:`stop` takes them away again."""

    def __init__(self, sink: Callable[[str, str], None]) -> None:
        self._stdout = _Tee(sys.stdout, lambda text: sink(STD_LOG, text))
        self._stderr = _Tee(sys.stderr, lambda text: sink(STD_LOG, text))
        self._handler = RecordHandler(lambda text: sink(LOGGING_LOG, text))
        sys.stdout = self._stdout
        sys.stderr = self._stderr
        logging.getLogger().addHandler(self._handler)

    def stop(self) -> None:
        for tee, name in ((self._stdout, "stdout"), (self._stderr, "stderr")):
            tee._sink = None
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._original)
        logging.getLogger().removeHandler(self._handler)

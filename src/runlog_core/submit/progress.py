"""The progress bar a sweep's ``wait_for_completion(show_output=True)`` draws."""

from __future__ import annotations

from typing import IO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[####......] 2/4 done, 2 running``: redrawn in place on a terminal, one line per change elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last: tuple[int, ...] | None = None
        self.shown = 0  # how many ended children were reported

    def line(self, text: str) -> None:
        """A line above the bar."""
        self._stream.write(("\r\033[K" if self._tty else "") + text + "\n")
        self._last = None

    def draw(self, finished: int, running: int, bad: int, total: int, final: bool = False, early: int = 0) -> None:
        state = (finished, running, bad, total, early)
        if state == self._last and not final:
            return
        self._last = state
        width = 30
        filled = int(width * finished / total) if total else width
        text = (f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} done, {running} running"
                + (f", {early} stopped early" if early else "") + (f", {bad} not completed" if bad else ""))
        if self._tty:
            self._stream.write("\r" + text + ("\n" if final else ""))
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

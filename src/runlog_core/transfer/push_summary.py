"""What a push reports: its :class:`PushSummary` (counts, refusals, skips) and the command line's progress bar."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import IO

__all__ = ["PushProgress", "PushSummary", "lines", "size_text"]


class PushSummary:
    """What a push did: runs created, updated, already up to date; points, files and bytes sent; refusals.

    Attributes:
        destination: the destination's URI, without a password.
        runs_total: the runs selected (ancestors pushed with them included).
        runs_done: the runs handled so far.
        points_total: the points those runs hold at the source (when the push started).
        points_done: the points the destination holds of them so far (the bar's progress).
        created, updated, unchanged: runs new at the destination, brought up to date, already there.
        points, files, bytes: what was sent.
        refused: one line per run refused (its id exists at the destination for another run).
        skipped: one line per run, series or file that could not be copied, and why.
    """

    __slots__ = ("destination", "runs_total", "runs_done", "points_total", "points_done", "created", "updated",
                 "unchanged", "points", "files", "bytes", "refused", "skipped")

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.runs_total = self.runs_done = self.points_total = self.points_done = 0
        self.created = self.updated = self.unchanged = 0
        self.points = self.files = self.bytes = 0
        self.refused: list[str] = []
        self.skipped: list[str] = []

    def line(self) -> str:
        """One line: ``3 runs pushed to URI (2 new, 1 updated): 12,400 points, 5 files (1.2 MB); 1 already up to date``."""
        pushed = self.created + self.updated
        text = (f"{pushed:,} run{'' if pushed == 1 else 's'} pushed to {self.destination}"
                f" ({self.created:,} new, {self.updated:,} updated): {self.points:,} points, "
                f"{self.files:,} file{'' if self.files == 1 else 's'} ({size_text(self.bytes)})")
        if self.unchanged:
            text += f"; {self.unchanged:,} already up to date"
        if self.refused:
            text += f"; {len(self.refused):,} refused"
        if self.skipped:
            text += f"; {len(self.skipped):,} not copied"
        return text

    def __repr__(self) -> str:
        return f"PushSummary({self.line()})"


def size_text(count: int) -> str:
    """Bytes as people read them: ``512 B``, ``1.2 MB``."""
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{count} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{count} B"  # pragma: no cover


# -- the command line's progress bar -------------------------------------------------------------

class PushProgress:
    """The progress bar of ``runlog push`` on one line of stderr, redrawn in place on a terminal only."""

    def __init__(self, stream: IO[str] | None = None, every: float = 0.1) -> None:
        import sys

        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.last = 0.0
        self.drawn = False

    def __call__(self, summary: PushSummary) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        finished = summary.runs_done >= summary.runs_total
        if not finished and now - self.last < self.every:
            return
        self.last = now
        width = 30
        total = summary.points_total
        fraction = (summary.points_done / total if total else summary.runs_done / max(summary.runs_total, 1))
        filled = min(width, int(width * fraction))
        self.stream.write(f"\rpushing [{'#' * filled}{'.' * (width - filled)}] {summary.runs_done}/"
                          f"{summary.runs_total} runs, {summary.points:,} points, {summary.files:,} files, "
                          f"{size_text(summary.bytes)}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (before the summary is printed)."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def lines(summary: PushSummary) -> Iterable[str]:
    """The refusals and skips of a push, one line each."""
    yield from summary.refused
    yield from summary.skipped

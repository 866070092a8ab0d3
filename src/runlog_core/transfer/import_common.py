"""What the importers (``runlog import mlflow``, ``runlog import tensorboard``) share.

Each importer is a function ``import_<tool>(source, store=None, experiment=None, progress=None)
-> ImportSummary`` that copies runs into a runlog store, keeps the source's run id as a tag so that
importing twice copies nothing twice, reports a run it cannot read in ``summary.skipped`` (one
line each) and goes on. ``progress(done, total)`` is called as runs are copied; the CLI draws it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import IO

__all__ = ["ImportSummary", "ProgressLine"]


class ImportSummary:
    """What an import copied: runs (new ones), points, files; runs already there; what it skipped."""

    __slots__ = ("runs", "points", "files", "existing", "skipped")

    def __init__(self) -> None:
        self.runs = 0
        self.points = 0
        self.files = 0
        self.existing = 0
        self.skipped: list[str] = []

    def line(self) -> str:
        """One line for the CLI: ``3 runs, 12,400 points, 5 files imported; 2 already there; 1 skipped``."""
        text = f"{self.runs:,} runs, {self.points:,} points, {self.files:,} files imported"
        if self.existing:
            text += f"; {self.existing:,} already there"
        if self.skipped:
            text += f"; {len(self.skipped):,} skipped"
        return text

    def __repr__(self) -> str:
        return f"ImportSummary({self.line()})"


class ProgressLine:
    """A progress bar on one line of ``stream`` (stderr), redrawn in place on a terminal."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        width = 30
        filled = width if total <= 0 else min(width, width * done // total)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()

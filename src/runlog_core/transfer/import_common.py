"""What the importers (``runlog import mlflow``, ``runlog import tensorboard``) share.

Each importer is a function ``import_<tool>(source, store=None, experiment=None, progress=None,
max_params=10_000, ...) -> ImportSummary`` that copies runs into a runlog store, keeps the source's
run id as a tag so that importing twice copies nothing twice, reports a run it cannot read in
``summary.skipped`` and what an imported run was copied without in ``summary.left_out`` (one line
each, names as they are: the CLI shows them through ``visible``) and goes on with the next run.
``progress(done, total)`` is called as runs are copied; the CLI draws it. Each importer copies a
run through :func:`copy_run`, which keeps that bookkeeping in one place, and ends with
:func:`flush_into`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any, TypeVar

    _T = TypeVar("_T")

__all__ = ["ImportSummary", "ProgressLine", "copy_run", "flush_into", "one_line"]


class ImportSummary:
    """What an import copied, and what it could not.

    ``runs``, ``points``, ``files``: what was copied (new runs); ``existing``: runs already there;
    ``skipped``: one line per run (or experiment, or folder) not imported, ``"NAME: why"``;
    ``left_out``: one line per thing an imported run was copied without (an artifact, its artifacts
    stored elsewhere, params beyond the cap, events lost in a torn file), ``"NAME: what and why"``;
    ``notes``: one line per name that had to change (cut to runlog's length limit), nothing lost.
    """

    __slots__ = ("runs", "points", "files", "existing", "skipped", "left_out", "notes")

    def __init__(self) -> None:
        self.runs = 0
        self.points = 0
        self.files = 0
        self.existing = 0
        self.skipped: list[str] = []
        self.left_out: list[str] = []
        self.notes: list[str] = []

    @property
    def complete(self) -> bool:
        """Nothing was skipped or left out: every run found is in the store, whole."""
        return not self.skipped and not self.left_out

    def line(self) -> str:
        """One line for the CLI: ``3 imported, 1 skipped; 12,400 points, 5 files; 2 already there``."""
        text = (f"{self.runs:,} imported, {len(self.skipped):,} skipped; "
                f"{self.points:,} points, {self.files:,} files")
        if self.existing:
            text += f"; {self.existing:,} already there"
        if self.left_out:
            text += f"; {len(self.left_out):,} left out of imported runs"
        return text

    def __repr__(self) -> str:
        return f"ImportSummary({self.line()})"

    def add_run(self, points: int, files: int) -> None:
        """Count one run copied whole, with its ``points`` and ``files``."""
        self.runs += 1
        self.points += points
        self.files += files


def copy_run(summary: ImportSummary, label: str, copy: Callable[..., _T], *args: Any) -> _T | None:
    """``copy(*args)`` one run into the store and return what it returns; if it raises, the run is one
    line in ``summary.skipped`` (``"LABEL: why"``), what it had added to ``left_out`` and ``notes``
    is taken back, and ``None`` is returned: one run that cannot be read never stops the import.
    ``copy`` counts the run itself (:meth:`ImportSummary.add_run`) once it is copied whole."""
    marks = len(summary.left_out), len(summary.notes)
    try:
        return copy(*args)
    except Exception as err:
        del summary.left_out[marks[0]:], summary.notes[marks[1]:]
        summary.skipped.append(f"{label}: {one_line(err)}")
        return None


def flush_into(experiment: Any) -> None:
    """Wait until what was imported into ``experiment`` is durable in its store."""
    from runlog_core.writer.registry import get_writer  # after the copy, not at `import runlog_core`

    get_writer(experiment._store).flush()


def one_line(err: BaseException | str) -> str:
    """An error as one line of at most 300 characters (the message, else the exception's type)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


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

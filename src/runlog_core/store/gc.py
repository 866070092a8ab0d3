"""``runlog gc``: remove deleted runs for good (issue 20), through the store contract only.

For each deleted run, oldest deletion first: :meth:`Store.start_purge` (from then on it cannot be
restored), its files (all but those of registered models: :mod:`.artifacts.remove`), then its rows
a slice per transaction (:meth:`Store.purge_step`), the run's own row last. Killed at any point, a gc
leaves every other run whole, and the next one finishes what it began: a run it began stays deleted
and is listed by :meth:`Store.deleted_runs` whatever ``--older-than`` says. A run still Running
(deleted with ``force=True``) is left for a later gc.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runlog_core.base.records import RUNNING, RunInfo
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.store.artifacts.remove import remove_run_files, run_files_size

__all__ = ["GcSummary", "collect_garbage"]

DAY = 86400.0


@dataclass
class GcSummary:
    """What a gc removed (or, with ``dry_run``, would remove)."""

    dry_run: bool = False
    runs: list[RunInfo] = field(default_factory=list)
    points: int = 0
    files: int = 0
    file_bytes: int = 0
    database_bytes: int | None = None  # None: the store gives space back by itself (PostgreSQL's autovacuum)
    kept_model_files: int = 0
    skipped: list[tuple[RunInfo, str]] = field(default_factory=list)

    def line(self) -> str:
        """One line for people: what was freed."""
        verb = "would remove" if self.dry_run else "removed"
        text = (f"{verb} {len(self.runs)} deleted run{'s' if len(self.runs) != 1 else ''}: {self.points:,} points, "
                f"{self.files:,} file{'s' if self.files != 1 else ''} ({_size(self.file_bytes)})")
        if self.kept_model_files:
            text += f"; kept {self.kept_model_files} file{'s' if self.kept_model_files != 1 else ''} of registered models"
        if self.dry_run:
            return text
        if self.database_bytes:
            text += f"; the database gave back {_size(self.database_bytes)} to the disk"
        elif not self.runs:
            pass
        elif self.database_bytes is None:
            text += "; the server's autovacuum makes their space reusable"
        else:
            text += "; the database keeps its freed space for new points (runlog gc --vacuum gives it back)"
        return text


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def check_days(older_than: Any, argument: str = "older_than") -> float | None:
    """``older_than`` as a number of days, or ``None``; a clear error for anything else."""
    if older_than is None:
        return None
    if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or not older_than >= 0 \
            or older_than == float("inf"):
        raise InvalidArgumentError(argument, older_than, "a number of days, 0 or more (e.g. 30), or None")
    return float(older_than)


def collect_garbage(store: Any, older_than: float | None = None, dry_run: bool = False, rewrite: bool = False,
                    progress: Callable[[RunInfo], None] | None = None) -> GcSummary:
    """Remove the runs deleted ``older_than`` days ago or more (every deleted run when ``None``).

    Args:
        store: the store.
        older_than: days since the run was deleted.
        dry_run: change nothing; say what would be removed.
        rewrite: also rewrite an old SQLite store's file to give its free space back (blocks writers
            while it runs; stores created since issue 20 give it back a slice at a time anyway).
        progress: called with each run before it is removed.

    Raises:
        InvalidArgumentError: ``older_than`` is not a number of days, 0 or more.
    """
    days = check_days(older_than)
    summary = GcSummary(dry_run=dry_run)
    before = None if days is None else time.time() - days * DAY
    for info in store.deleted_runs(before):
        if info.status == RUNNING:
            summary.skipped.append((info, "still Running"))
            continue
        keep = {entry[0] for model in store.list_models(run_id=info.id) for entry in model.files}
        points, _ = store.run_size(info.id)
        if progress is not None:
            progress(info)
        if dry_run:
            files, size = run_files_size(store.artifacts, info.id, keep)
        else:
            if not store.start_purge(info.id):
                continue  # restored meanwhile
            files, size = remove_run_files(store.artifacts, info.id, keep)
            while not store.purge_step(info.id):
                pass
        summary.runs.append(info)
        summary.points += points
        summary.files += files
        summary.file_bytes += size
        summary.kept_model_files += len(keep)
    reclaim = getattr(store, "reclaim_space", None)
    if reclaim is not None and not dry_run:  # also what a gc killed before this point freed
        summary.database_bytes = int(reclaim(rewrite) if rewrite else reclaim())
    return summary

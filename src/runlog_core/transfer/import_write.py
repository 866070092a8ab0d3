"""Writing imported runs: what ``_import_tensorboard`` and ``_import_mlflow`` both need.

An imported run keeps the times it had in the tool it comes from: its start and end, and the wall
time of every point. ``Run.log`` stamps points with the time of the call, so points go in through
``Run._log_history``, which takes each point's own time.
"""

from __future__ import annotations

import os

from runlog_core.exceptions import InvalidNameError
from runlog_core.run.state import COMPLETED, KILLED

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from runlog_core.run.experiment import Experiment
    from runlog_core.run.run import Run
    from runlog_core.transfer.import_common import ImportSummary

__all__ = ["Names", "end_run", "existing_runs", "log_params", "log_points", "open_experiment", "safe_name"]


def open_experiment(name: str, store: str | os.PathLike[str] | None) -> Experiment:
    """The experiment ``name`` in ``store`` (default ``RUNLOG_STORE``, else ``./runlog``), created if new."""
    from runlog_core.run.experiment import Experiment

    return Experiment(name, store=store)


def existing_runs(experiment: Experiment, tag: str) -> dict[str, str]:
    """``{value of tag: runlog run id}`` for the runs (children included) of ``experiment`` tagged ``tag``."""
    store = experiment._store
    found: dict[str, str] = {}
    for info in store.list_runs(experiment_id=experiment.id, tags={tag: None}, include_children=True):
        value = store.get_tags(info.id).get(tag)
        if value is not None:
            found[value] = info.id
    return found


def log_points(run: Run, name: str, points: Sequence[tuple[int, float, float]]) -> int:
    """Append ``(step, value, wall time)`` points to the number series ``name``, in the given order.

    Returns how many were logged. The tools imported from keep numbers as floats: every value is
    stored as a float (NaN and inf included), every step as an int, with the point's own wall time
    (``Run._log_history``, which checks them as ``Run.log`` does).
    """
    return run._log_history(name, [(int(step), float(value), float(at)) for step, value, at in points])


def end_run(run: Run, status: str, end_time: float | None, error: str | None = None) -> None:
    """End an imported run with the status and end time it had (``Completed``, ``Failed``, ``Killed``...)."""
    if status == COMPLETED:
        run.complete(end_time=end_time)
    elif status == KILLED or error is None:
        run._end(status, error, end_time=end_time, force=True)
    else:
        run.fail(error, end_time=end_time)


def safe_name(text: str, fallback: str) -> str:
    """``text`` as a runlog name (run, metric, param or tag): control characters become spaces."""
    from runlog_core.base import values as _values

    cleaned = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text).strip() or fallback
    try:
        return _values.check_name("name", cleaned[: _values.MAX_NAME_LENGTH])
    except InvalidNameError:
        return fallback


class Names:
    """The runlog names of one imported run's metrics, params, tags and files, announced when changed.

    A name longer than runlog's limit (``MAX_NAME_LENGTH``) is cut, a control character becomes a
    space: each such change is one line in ``summary.notes``. Two names that become the same one
    are not merged: the second is left out (``None``), with one line in ``summary.left_out``.
    """

    def __init__(self, summary: ImportSummary, label: str) -> None:
        self.summary = summary
        self.label = label
        self.used: dict[str, set[str]] = {}

    def name(self, kind: str, text: str, fallback: str) -> str | None:
        """``text`` as the runlog name of a ``kind`` (``"scalar"``, ``"param"``...); None: left out."""
        from runlog_core.base import values as _values

        cleaned = safe_name(text, fallback)
        used = self.used.setdefault(kind, set())
        if cleaned == text:
            used.add(cleaned)
            return cleaned
        if len(text) > _values.MAX_NAME_LENGTH:
            why = f"has {len(text):,} characters, cut to runlog's limit of {_values.MAX_NAME_LENGTH:,}"
        else:
            why = "is not a name runlog accepts as it is (control characters become spaces)"
        if cleaned in used:
            self.summary.left_out.append(f"{self.label}: {kind} '{short(text)}': its name {why}, which makes it "
                                         f"the same as another {kind}'s; not copied")
            return None
        used.add(cleaned)
        self.summary.notes.append(f"{self.label}: {kind} '{short(text)}': its name {why}; "
                                  f"stored as '{short(cleaned)}'")
        return cleaned


def short(text: str, keep: int = 60) -> str:
    """``text`` for a message: terminal control characters escaped (``visible``); a text longer than
    ``keep`` characters shows its start and its end (``aaaa...zz``)."""
    from runlog_core.base.text import visible

    if len(text) > keep:
        head = keep * 2 // 3
        text = f"{text[:head]}...{text[len(text) - (keep - head):]}"
    return visible(text)


def log_params(run: Run, params: dict[str, Any], max_params: int, summary: ImportSummary, label: str,
               source: str = "params") -> None:
    """Log the flat ``params``, at most ``max_params`` of them (the rest: one line in ``left_out``)."""
    from runlog_core.transfer.import_read import cap_params

    kept, dropped = cap_params(params, max_params)
    if dropped:
        summary.left_out.append(f"{label}: {dropped:,} of its {len(params):,} {source} (only the first "
                                f"{max_params:,} are copied; --max-params N raises the limit)")
        run.set_tags({"import.params_left_out": str(dropped)})
    run.log_params(kept)

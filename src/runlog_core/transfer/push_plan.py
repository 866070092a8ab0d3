"""Which runs a push copies: those named (with their child runs), an experiment's, or all; with the
parents the destination needs, in the order they go (parents before children, then oldest first)."""

from __future__ import annotations

from runlog_core.exceptions import RunlogError
from runlog_core.run.lookup import resolve_run

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Sequence

    from runlog_core.base.records import RunInfo
    from runlog_core.store import Store

__all__ = ["select_runs"]


def select_runs(src: Store, keys: Sequence[str] | None, experiment: str | None, every: bool) -> list[RunInfo]:
    """The runs to push, parents before children, then oldest first."""
    if every:
        found = {info.id: info for info in src.list_runs()}
    elif experiment is not None:
        experiment_id = src.get_experiment_id(experiment)
        if experiment_id is None:
            names = ", ".join(repr(name) for _, name in src.list_experiments()[:20]) or "none"
            raise RunlogError(f"no experiment {experiment!r} in {src.uri}; its experiments: {names}")
        found = {info.id: info for info in src.list_runs(experiment_id=experiment_id)}
    else:
        found = {}
        pending = [resolve_run(src, key) for key in keys or ()]
        while pending:  # the named runs and their descendants
            info = pending.pop()
            if info.id not in found:
                found[info.id] = info
                pending.extend(src.list_runs(parent_id=info.id))
    for info in list(found.values()):  # a child's parent must exist at the destination
        parent_id = info.parent_id
        while parent_id is not None and parent_id not in found:
            parent = src.get_run(parent_id)
            if parent is None:
                break
            found[parent.id] = parent
            parent_id = parent.parent_id
    return sorted(found.values(), key=lambda info: (_depth(info, found), info.start_time, info.id))


def _depth(info: RunInfo, runs: dict[str, RunInfo]) -> int:
    depth, seen, parent = 0, set(), info.parent_id
    while parent in runs and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = runs[parent].parent_id
    return depth

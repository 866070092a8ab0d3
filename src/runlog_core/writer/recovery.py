"""A store deleted under live runs (``rm -rf runlog/``): recreate it and the runs this process logs.

The writer checks, before every commit, that the database is still the file it opened. When it
is gone (or replaced), it warns once and rebuilds what this process knows at the same place:
the experiments of its runs under their ids, the runs' records (still Running), their series,
params and tags; then the commit goes on into the new file. What was only in the deleted files
(earlier points, other processes' runs, artifacts) is gone with them.
"""

from __future__ import annotations

import os
import time

from runlog_core.base.records import RUNNING, RunInfo, SeriesRef
from runlog_core.writer.ops import LogParams, NewSeries, Op, SetTags

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterable

    from runlog_core.base.handle import RunHandle as Run
    from runlog_core.base.records import Batch
    from runlog_core.store import Store
    from runlog_core.writer.writer import Writer

__all__ = ["recover", "recreate_store"]


def recover(writer: Writer, batch: Batch) -> None:
    """The store of ``writer`` was deleted or replaced under it: warn once, recreate it and the runs
    this process logs into, and make ``batch`` (about to be written) create their series again."""
    runs = {**{run.id: run for run in writer._live.values()}, **writer._writing}
    writer._warn_once("deleted", f"runlog: the store {getattr(writer.store, 'uri', '')} was deleted while runs "
                      "were logging into it; recreating it at the same place with this process's "
                      f"{len(runs)} running run(s); what the deleted files held is gone")
    again, ops = recreate_store(writer.store, runs.values(), list(writer.series_by_key.values()))
    known = {id(series) for series in batch.series}
    batch.series[:0] = [series for series in again if id(series) not in known]
    extra, _ = writer._build([], ops)
    batch.params[:0] = extra.params
    batch.tags[:0] = extra.tags
    batch.heartbeats = list(writer._live.keys())


def recreate_store(store: Store, runs: Iterable[Run], series: Iterable[SeriesRef]) -> tuple[list[SeriesRef], list[Op]]:
    """Recreate ``store`` and ``runs`` in it; returns the series to create again (ids reset) and
    the ops that log the runs' params and tags again."""
    store.recreate()  # type: ignore[attr-defined]
    runs = sorted(runs, key=lambda run: run._parent_id is not None)  # parents first
    for experiment in {id(run.experiment): run.experiment for run in runs}.values():
        restore = getattr(store, "restore_experiment", None)
        if restore is not None:
            restore(experiment.id, experiment.name)
        else:
            experiment.id = store.get_or_create_experiment(experiment.name)
    now = time.time()
    for run in runs:
        started = run._start_info
        store.create_run(RunInfo(
            id=run.id, experiment_id=run.experiment.id, experiment_name=run.experiment.name, name=run.name,
            status=RUNNING, start_time=started.start_time if started else now, parent_id=run._parent_id,
            heartbeat=now, heartbeat_timeout=started.heartbeat_timeout if started else None,
            pid=os.getpid(), host=started.host if started else None))
    run_ids = {run.id for run in runs}
    again = [ref for ref in series if ref.run_id in run_ids]
    for ref in again:
        ref.id = None
    ops: list[Op] = []
    for run in runs:
        if run._params:
            ops.append(LogParams(run, dict(run._params)))
        if run._tags:
            ops.append(SetTags(run.id, dict(run._tags)))
    ops.extend(NewSeries(ref) for ref in again)
    return again, ops

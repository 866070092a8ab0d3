"""An example third-party runlog plugin: mirrors every metric point to a CSV file.

Install it next to runlog (``pip install ./examples/plugin``) and every run in every
script writes ``run_id,name,step,value,timestamp`` rows to ``$RUNLOG_CSV_MIRROR``
(default ``runlog_metrics.csv`` in the working directory). runlog finds it through the
``runlog`` entry-point group; nothing in the training script changes.

The hooks run on runlog's writer thread, in batches, after the store committed them.
"""

from __future__ import annotations

import csv
import os
import threading
from typing import Any

from runlog_core.hookspecs import hookimpl

_lock = threading.Lock()


def _path() -> str:
    return os.environ.get("RUNLOG_CSV_MIRROR", "runlog_metrics.csv")


@hookimpl
def runlog_metrics_logged(run: Any, points: list[Any]) -> None:
    path = _path()
    with _lock:
        new = not os.path.exists(path)
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(["run_id", "name", "step", "value", "timestamp"])
            writer.writerows((run.id, p.name, p.step, repr(p.value), repr(p.timestamp)) for p in points)


@hookimpl
def runlog_run_ended(run: Any, status: str) -> None:
    with _lock, open(_path() + ".status", "a", encoding="utf-8") as handle:
        handle.write(f"{run.id},{status}\n")

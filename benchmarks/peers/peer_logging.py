"""How each peer tracker logs, closes and is read back: the code the peer benchmarks time.

This module is imported inside each peer's own venv (see setup_venvs.py) by worker.py; it imports
nothing of runlog and each peer's package only when that peer is asked for. Every peer logs into
``folder`` (a fresh temporary folder), in its offline / local mode, with its defaults otherwise (the
system-metrics threads and console capture a user gets are left on).

    open_run(peer, folder)        start a run
    log_scalars(peer, h, ...)     workload A: one call per point, step = i
    log_dicts(peer, h, ...)       workload B: one dict per step (or one call per value where the peer
                                  has no dict call), step = i
    close(peer, h)                what makes the points durable (finish / close / end)
    count(peer, folder)           the points another reader finds in what was written (the metric
                                  values only: no _step/_runtime/_timestamp bookkeeping entries)
    stored_bytes(peer, folder)    the bytes the run left on disk
"""

from __future__ import annotations

import glob
import json
import os
import struct
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

PEERS = ("wandb", "aim", "dvclive", "clearml")

# what each row calls, for the table
CALLS = {
    "wandb": "W&B offline run.log",
    "aim": "Aim Run.track",
    "dvclive": "DVCLive log_metric + next_step",
    "clearml": "ClearML offline report_scalar",
}


def folder_bytes(path: Path | str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def quiet(peer: str, folder: str) -> None:
    """Offline mode and no chatter, set before the peer's package is imported."""
    if peer == "wandb":
        os.environ["WANDB_MODE"] = "offline"
        os.environ["WANDB_SILENT"] = "true"
        os.environ["WANDB_DIR"] = folder
        os.environ.setdefault("WANDB_CACHE_DIR", os.path.join(folder, "cache"))
        os.environ.setdefault("WANDB_CONFIG_DIR", os.path.join(folder, "config"))
    elif peer == "clearml":
        # offline mode keeps a session folder under the cache folder: inside ours
        os.environ["CLEARML_OFFLINE_MODE"] = "1"
        os.environ["CLEARML_CACHE_DIR"] = os.path.join(folder, "clearml-cache")
        os.environ["CLEARML_LOG_LEVEL"] = "ERROR"
    elif peer == "dvclive":
        os.environ["DVCLIVE_LOGLEVEL"] = "ERROR"


def open_run(peer: str, folder: str) -> Any:
    quiet(peer, folder)
    if peer == "wandb":
        import wandb

        return wandb.init(dir=folder, project="bench")
    if peer == "aim":
        from aim import Run

        return Run(repo=folder, experiment="bench")
    if peer == "dvclive":
        from dvclive import Live

        return Live(dir=os.path.join(folder, "dvclive"), save_dvc_exp=False, dvcyaml=None)
    if peer == "clearml":
        from clearml import Task

        Task.set_offline(offline_mode=True)
        task = Task.init(project_name="bench", task_name="bench", reuse_last_task_id=False)
        return task
    raise ValueError(peer)


def log_scalars(peer: str, h: Any, name: str, values: Sequence[float]) -> None:
    if peer == "wandb":
        log = h.log
        for i, value in enumerate(values):
            log({name: value}, step=i)
    elif peer == "aim":
        track = h.track
        for i, value in enumerate(values):
            track(value, name=name, step=i)
    elif peer == "dvclive":
        log_metric, next_step = h.log_metric, h.next_step
        for value in values:
            log_metric(name, value)
            next_step()
    elif peer == "clearml":
        report = h.get_logger().report_scalar
        for i, value in enumerate(values):
            report(name, name, value, i)
    else:
        raise ValueError(peer)


def log_dicts(peer: str, h: Any, dicts: Sequence[dict[str, float]]) -> None:
    if peer == "wandb":
        log = h.log
        for i, d in enumerate(dicts):
            log(d, step=i)
    elif peer == "aim":
        track = h.track
        for i, d in enumerate(dicts):
            track(d, step=i)
    elif peer == "dvclive":  # no dict call: one log_metric per value, then the step
        log_metric, next_step = h.log_metric, h.next_step
        for d in dicts:
            for name, value in d.items():
                log_metric(name, value)
            next_step()
    elif peer == "clearml":  # no dict call either
        report = h.get_logger().report_scalar
        for i, d in enumerate(dicts):
            for name, value in d.items():
                report(name, name, value, i)
    else:
        raise ValueError(peer)


def close(peer: str, h: Any) -> None:
    if peer == "wandb":
        h.finish()
    elif peer == "aim":
        h.close()
    elif peer == "dvclive":
        h.end()
    elif peer == "clearml":
        h.close()
    else:
        raise ValueError(peer)


# ------------------------------------------------------------------------------------------------
# reading back


def _wandb_records(path: str) -> Any:
    """The records of a .wandb file (LevelDB log framing: 32 KiB blocks, 7-byte record headers)."""
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a .wandb file")
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        pos += 7
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk
            pending = b""


def count(peer: str, folder: str, names: str | Collection[str] | None = None) -> int:
    """Points stored (of the series ``names`` only when given: any context, any prefix folder)."""
    name = {names} if isinstance(names, str) else set(names or ())
    if peer == "wandb":
        from wandb.proto import wandb_internal_pb2 as pb2

        n = 0
        for path in glob.glob(os.path.join(folder, "wandb", "*run-*", "run-*.wandb")):
            for data in _wandb_records(path):
                record = pb2.Record()
                record.ParseFromString(data)
                if record.WhichOneof("record_type") == "history":
                    keys = [item.key or "/".join(item.nested_key) for item in record.history.item]
                    n += sum(1 for key in keys if (key in name if name else not key.startswith("_")))
        return n
    if peer == "aim":
        # aim's Repo API sees a finished run's sequences only once its indexer merged them (aim up does
        # that); read the run's sequence chunks directly: a metric value's key is
        # ("seqs", "v2", "chunks", run hash, context, name, "val", step key)
        from aim.storage.encoding import decode_path
        from aim.storage.rockscontainer import RocksContainer

        n = 0
        for path in glob.glob(os.path.join(folder, ".aim", "seqs", "chunks", "*")):
            container = RocksContainer(path, read_only=True)
            for key, _ in container.items():
                parts = decode_path(key)
                if (len(parts) == 8 and parts[:2] == ["seqs", "v2"] and parts[6] == "val"
                        and not str(parts[5]).startswith("__system__") and (not name or parts[5] in name)):
                    n += 1
            container.close()
        return n
    if peer == "dvclive":
        n = 0
        for path in glob.glob(os.path.join(folder, "dvclive", "plots", "metrics", "**", "*.tsv"), recursive=True):
            series = Path(path).relative_to(os.path.join(folder, "dvclive", "plots", "metrics")).with_suffix("")
            if name and series.as_posix() not in name and (series.name not in name or series.parent.name):
                continue
            with open(path) as f:
                n += max(0, sum(1 for _ in f) - 1)
        return n
    if peer == "clearml":
        n = 0
        for path in glob.glob(os.path.join(folder, "clearml-cache", "**", "metrics.jsonl"), recursive=True):
            with open(path) as f:
                for line in f:
                    events = json.loads(line)
                    for event in events if isinstance(events, list) else [events]:
                        if event.get("type") == "training_stats_scalar" and (not name or event.get("metric") in name):
                            n += 1
        return n
    raise ValueError(peer)


def stored_bytes(peer: str, folder: str) -> int:
    if peer == "clearml":  # the session folder; close() also zips it beside (a second copy, for import)
        return sum(folder_bytes(p) for p in glob.glob(os.path.join(folder, "clearml-cache", "**", "offline", "*"),
                                                       recursive=True) if os.path.isdir(p))
    return folder_bytes(folder)

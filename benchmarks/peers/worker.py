"""Run one measurement of one peer inside that peer's venv; print its result as one JSON line.

    <peer venv>/bin/python benchmarks/peers/worker.py '{"task": "throughput", "peer": "aim", "metrics": 1, "steps": 1000}'
    <peer venv>/bin/python benchmarks/peers/worker.py '{"task": "calls", "peer": "wandb", "framework": "lightning",
                                                       "calls": 20000, "repeats": 5, "budget": 3}'

The last line printed is ``{"ok": true, ...}`` or ``{"ok": false, "why": "..."}``: the benchmarks
show the reason in the peer's row. Called by throughput.py and logger_calls.py, one process per
measurement (a fresh interpreter: no state left from the one before).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import peer_logging as pl

perf = time.perf_counter


def values(metrics: int, steps: int) -> tuple[list[str], list[list[float]]]:
    """The same points as log_throughput.Workload."""
    names = ["loss"] if metrics == 1 else [f"metric_{j:02d}" for j in range(metrics)]
    return names, [[(i * 0.001 + j) * 0.5 for j in range(metrics)] for i in range(steps)]


def throughput(job: dict[str, Any]) -> dict[str, Any]:
    peer, metrics, steps = job["peer"], job["metrics"], job["steps"]
    names, rows = values(metrics, steps)
    with tempfile.TemporaryDirectory(prefix=f"bench-{peer}-") as folder:
        h = pl.open_run(peer, folder)
        gc.collect()
        t0 = perf()
        if metrics == 1:
            pl.log_scalars(peer, h, names[0], [row[0] for row in rows])
        elif steps:
            pl.log_dicts(peer, h, [dict(zip(names, row)) for row in rows])
        t1 = perf()
        pl.close(peer, h)
        t2 = perf()
        stored = pl.count(peer, folder, names)
        disk = pl.stored_bytes(peer, folder)
    return {"caller": t1 - t0, "durable": t2 - t0, "disk": disk, "stored": stored, "points": metrics * steps}


# ------------------------------------------------------------------------------------------------
# the peers' framework loggers


def lightning_logger(peer: str, folder: str) -> tuple[Any, str]:
    """(the logger, the name its "loss" points are stored under)."""
    pl.quiet(peer, folder)
    if peer == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(project="bench", save_dir=folder, offline=True), "loss"
    if peer == "aim":
        from aim.pytorch_lightning import AimLogger

        return AimLogger(repo=folder, experiment="bench"), "loss"
    if peer == "dvclive":
        from dvclive.lightning import DVCLiveLogger

        return DVCLiveLogger(dir=os.path.join(folder, "dvclive"), save_dvc_exp=False, dvcyaml=None), "loss"
    raise LookupError(f"{peer} has no Lightning logger of its own")


def keras_callback(peer: str, folder: str, hook: str) -> tuple[Any, str]:
    pl.quiet(peer, folder)
    if peer == "wandb":
        import wandb
        from wandb.integration.keras import WandbMetricsLogger

        wandb.init(dir=folder, project="bench")
        return WandbMetricsLogger(log_freq="batch" if hook == "batch" else "epoch"), f"{hook}/loss"
    if peer == "aim":
        if hook == "batch":
            raise LookupError("AimCallback logs per epoch only (on_epoch_end)")
        from aim.keras import AimCallback

        # "loss" and "val_loss" are both stored as "loss" (contexts subset=train and subset=val)
        return AimCallback(repo=folder, experiment="bench"), "loss*2"
    if peer == "dvclive":
        if hook == "batch":
            raise LookupError("DVCLiveCallback logs per epoch only (on_epoch_end)")
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        live = Live(dir=os.path.join(folder, "dvclive"), save_dvc_exp=False, dvcyaml=None)
        return DVCLiveCallback(live=live), "train/loss"  # "val_loss" goes to eval/loss
    raise LookupError(f"{peer} has no Keras callback of its own")


def xgb_callback(peer: str, folder: str) -> tuple[Any, str]:
    pl.quiet(peer, folder)
    if peer == "wandb":
        import wandb
        from wandb.integration.xgboost import WandbCallback

        wandb.init(dir=folder, project="bench")
        return WandbCallback(), "train-rmse"
    if peer == "aim":
        from aim.xgboost import AimCallback

        return AimCallback(repo=folder, experiment="bench"), "rmse"
    if peer == "dvclive":
        from dvclive import Live
        from dvclive.xgb import DVCLiveCallback

        live = Live(dir=os.path.join(folder, "dvclive"), save_dvc_exp=False, dvcyaml=None)
        return DVCLiveCallback(live=live), "train/rmse"
    raise LookupError(f"{peer} has no XGBoost callback of its own")


def finish(peer: str, thing: Any) -> None:
    if peer == "wandb":
        import wandb

        wandb.finish()
    elif peer == "aim":
        run = getattr(thing, "_run", None) or getattr(thing, "experiment", None)
        if run is not None and hasattr(run, "close"):
            run.close()
    elif peer == "dvclive":
        live = getattr(thing, "live", None) or getattr(thing, "experiment", None)
        if live is not None and hasattr(live, "end"):
            live.end()


def calls(job: dict[str, Any]) -> dict[str, Any]:
    peer, framework = job["peer"], job["framework"]
    n, repeats, budget = job["calls"], job["repeats"], job["budget"]
    with tempfile.TemporaryDirectory(prefix=f"bench-{peer}-") as folder:
        try:
            if framework == "lightning":
                thing, name = lightning_logger(peer, folder)
                us, per_loop, expected = harness.time_lightning(thing, n, repeats, budget)
                thing.finalize("success")
            elif framework in ("keras-batch", "keras-epoch"):
                hook = framework.split("-")[1]
                thing, name = keras_callback(peer, folder, hook)
                us, per_loop, expected = harness.time_keras(thing, hook, n, repeats, budget)
            elif framework == "xgb":
                thing, name = xgb_callback(peer, folder)
                us, per_loop, expected = harness.time_xgb(thing, n, repeats, budget)
            else:
                raise ValueError(framework)
        except LookupError as err:
            return {"ok": False, "why": str(err)}
        finish(peer, thing)
        name, _, times = name.partition("*")
        stored = pl.count(peer, folder, name)
        expected *= int(times or 1)
    return {"us": us, "calls": per_loop, "stored": stored, "expected": expected, "series": name}


def fill_aim(job: dict[str, Any]) -> dict[str, Any]:
    """ui_load.py's data in an Aim repo: a run "big" with a "loss" series of ``points`` points, then
    ``runs`` runs of ``metrics`` metrics (one value each, step 0) and ``params`` params. No system-metrics
    thread nor console capture: only the data counts here."""
    from aim import Run

    quiet = {"system_tracking_interval": None, "capture_terminal_logs": False, "log_system_params": False}
    big = Run(repo=job["repo"], experiment="bench", **quiet)
    big.name = "big"
    track = big.track
    for step in range(job["points"]):
        track(1.0 / (step + 1) + (step % 1000) * 1e-6, name="loss", step=step)
    big_hash = big.hash
    big.close()
    for index in range(job["runs"]):
        run = Run(repo=job["repo"], experiment="bench", **quiet)
        run.name = f"run-{index:05d}"
        for k in range(job["params"]):
            run[f"p{k}"] = index * k
        run.track({f"m{k}": index * 0.5 + k for k in range(job["metrics"])}, step=0)
        run.close()
    return {"big": big_hash}


def main() -> None:
    job = json.loads(sys.argv[1])
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            result = {"throughput": throughput, "calls": calls, "fill-aim": fill_aim}[job["task"]](job)
        result.setdefault("ok", True)
    except Exception as err:
        result = {"ok": False, "why": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300],
                  "traceback": traceback.format_exc()[-3000:]}
    print("\n" + json.dumps(result), flush=True)
    os._exit(0)  # peers' background threads (system stats, uploaders) must not hold the exit


if __name__ == "__main__":
    main()

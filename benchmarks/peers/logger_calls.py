"""Per-call cost of each framework's loggers as the framework calls them: runlog, the frameworks' own, MLflow and the peers.

    python benchmarks/peers/logger_calls.py                    # every framework, every logger
    python benchmarks/peers/logger_calls.py --quick            # fewer calls (a smoke run)
    python benchmarks/peers/logger_calls.py --only lightning xgb --peers wandb

What is called (harness.py, the same code in every venv):

    lightning    ``logger.log_metrics({4 floats + "epoch": int}, step)`` + ``logger.save()``
    keras-batch  ``on_train_batch_begin`` + ``on_train_batch_end(batch, 4 floats)``
    keras-epoch  ``on_epoch_begin`` + ``on_epoch_end(epoch, 4 train + 4 val floats)``
    xgb          ``after_iteration(booster, epoch, evals_log)``: 2 data sets x 2 metrics

runlog, the do-nothing references, the frameworks' own loggers and MLflow run in this interpreter;
W&B (offline), Aim and DVCLive in their own venvs (setup_venvs.py), one process per row (worker.py).
Each figure is the best of ``--repeats`` loops of up to ``--calls`` calls (fewer for a slow logger, so
that a loop takes about ``--budget`` s); "all there" = the points read back from what the logger
wrote (after it finished) are every point logged. A logger that has no such hook, or cannot run
here, keeps its row with the reason.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent.parent / "src"))

import harness  # noqa: E402
import setup_venvs  # noqa: E402
from log_throughput import markdown, plain, tfrecord_count  # noqa: E402, F401
from throughput import run_worker  # noqa: E402

# (framework, label, kind): kind is a local logger, a peer (its venv), or "-" with the reason as label
ROWS: dict[str, list[tuple[str, str]]] = {
    "lightning": [("null", "a do-nothing Logger"), ("runlog", "RunlogLogger"), ("csv", "CSVLogger"),
                  ("tensorboard", "TensorBoardLogger"), ("mlflow", "MLFlowLogger (sqlite:///)"),
                  ("wandb", "WandbLogger (offline)"), ("aim", "AimLogger"), ("dvclive", "DVCLiveLogger"),
                  ("clearml", "ClearML")],
    "keras-batch": [("null", "a do-nothing Callback"), ("runlog", "RunlogCallback(log_every_n_batches=1)"),
                    ("mlflow", "MlflowCallback(log_every_n_steps=1)"),
                    ("wandb", "WandbMetricsLogger(log_freq='batch')"), ("aim", "AimCallback"),
                    ("dvclive", "DVCLiveCallback"), ("clearml", "ClearML")],
    "keras-epoch": [("null", "a do-nothing Callback"), ("runlog", "RunlogCallback"), ("csv", "keras CSVLogger"),
                    ("mlflow", "MlflowCallback"), ("wandb", "WandbMetricsLogger"), ("aim", "AimCallback"),
                    ("dvclive", "DVCLiveCallback"), ("clearml", "ClearML")],
    "xgb": [("null", "a do-nothing TrainingCallback"), ("runlog", "RunlogCallback"), ("mlflow", "MLflow"),
            ("wandb", "WandbCallback"), ("aim", "AimCallback"), ("dvclive", "DVCLiveCallback"), ("clearml", "ClearML")],
}
PEER_KINDS = ("wandb", "aim", "dvclive")
REASONS = {
    ("clearml", "lightning"): "no Lightning logger of its own: Task.init captures what TensorBoardLogger writes",
    ("clearml", "keras-batch"): "no Keras callback of its own: Task.init captures Keras's TensorBoard callback",
    ("clearml", "keras-epoch"): "no Keras callback of its own: Task.init captures Keras's TensorBoard callback",
    ("clearml", "xgb"): "no XGBoost callback: Task.init patches xgb.train",
    ("mlflow", "xgb"): "no XGBoost callback: mlflow.xgboost.autolog() patches xgb.train (tabular_overhead.py times it)",
    ("csv", "keras-batch"): "keras CSVLogger logs per epoch only",
}
FRAMEWORK_TITLES = {
    "lightning": "Lightning log_metrics({4 floats + epoch}, step) + save()",
    "keras-batch": "Keras on_train_batch_begin + on_train_batch_end (4 floats)",
    "keras-epoch": "Keras on_epoch_begin + on_epoch_end (4 train + 4 val floats)",
    "xgb": "XGBoost after_iteration (2 data sets x 2 metrics)",
}


# ------------------------------------------------------------------------------------------------
# the loggers of this interpreter: (logger or callback, read back the points of its series, finish)


def _runlog_count(run: Any, name: str) -> int:
    run.flush()
    return len(run.get_metric_history(name))


def _mlflow_count(uri: str, run_id: str, name: str) -> int:
    from mlflow.tracking import MlflowClient

    return len(MlflowClient(tracking_uri=uri).get_metric_history(run_id, name))


def _tensorboard_count(folder: str, tag: str) -> int:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    n = 0
    for path in Path(folder).rglob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            n += sum(1 for value in event.summary.value if value.tag == tag)
    return n


def _csv_count(folder: str, column: str) -> int:
    import csv

    n = 0
    for path in Path(folder).rglob("*.csv"):
        with path.open() as f:
            n += sum(1 for row in csv.DictReader(f) if row.get(column) not in (None, ""))
    return n


def lightning_local(kind: str, folder: str) -> tuple[Any, Any]:
    import lightning.pytorch as pl

    if kind == "null":
        class NullLogger(pl.loggers.Logger):
            name, version = "null", "0"

            def log_metrics(self, metrics: Any, step: Any = None) -> None:
                pass

            def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
                pass

        return NullLogger(), None
    if kind == "runlog":
        from runlog_integrations.lightning import RunlogLogger

        logger = RunlogLogger(experiment_name="bench", store=os.path.join(folder, "runlog"), save_dir=folder)
        logger.log_hyperparams({"width": 0})  # starts the run, as fit does before training
        return logger, lambda: _runlog_count(logger.experiment, "loss")
    if kind == "csv":
        logger = pl.loggers.CSVLogger(folder)
        return logger, lambda: _csv_count(folder, "loss")
    if kind == "tensorboard":
        logger = pl.loggers.TensorBoardLogger(folder)
        return logger, lambda: _tensorboard_count(folder, "loss")
    if kind == "mlflow":
        uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
        logger = pl.loggers.MLFlowLogger(experiment_name="bench", tracking_uri=uri,
                                         artifact_location=os.path.join(folder, "mlruns"))
        return logger, lambda: _mlflow_count(uri, logger.run_id, "loss")
    raise LookupError(kind)


def keras_local(kind: str, folder: str, hook: str) -> tuple[Any, Any]:
    import keras

    if kind == "null":
        return keras.callbacks.Callback(), None
    if kind == "runlog":
        from runlog_integrations.keras import RunlogCallback

        callback = RunlogCallback(experiment="bench", store=os.path.join(folder, "runlog"),
                                  log_every_n_batches=1 if hook == "batch" else None)
        name = "batch/loss" if hook == "batch" else "loss"
        return callback, lambda: _runlog_count(callback.run, name)
    if kind == "csv":
        path = os.path.join(folder, "log.csv")
        return keras.callbacks.CSVLogger(path), lambda: _csv_count(folder, "loss")
    if kind == "mlflow":
        import mlflow

        uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("bench", artifact_location=os.path.join(folder, "mlruns"))
        run = mlflow.start_run(experiment_id=experiment)
        kwargs = {"log_every_epoch": False, "log_every_n_steps": 1} if hook == "batch" else {}
        callback = mlflow.keras.MlflowCallback(**kwargs)

        def count() -> int:
            mlflow.end_run()
            return _mlflow_count(uri, run.info.run_id, "loss")

        return callback, count
    raise LookupError(kind)


def xgb_local(kind: str, folder: str) -> tuple[Any, Any]:
    import xgboost as xgb

    if kind == "null":
        return xgb.callback.TrainingCallback(), None
    if kind == "runlog":
        from runlog_core import Experiment
        from runlog_integrations.xgboost import RunlogCallback

        callback = RunlogCallback(experiment=Experiment("bench", store=os.path.join(folder, "runlog")))
        return callback, lambda: _runlog_count(callback.active_run, "train-rmse")
    raise LookupError(kind)


def measure_local(framework: str, kind: str, calls: int, repeats: int, budget: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as folder:
        if framework == "lightning":
            thing, count = lightning_local(kind, folder)
            us, per_loop, expected = harness.time_lightning(thing, calls, repeats, budget)
            thing.finalize("success")
        elif framework.startswith("keras"):
            hook = framework.split("-")[1]
            thing, count = keras_local(kind, folder, hook)
            us, per_loop, expected = harness.time_keras(thing, hook, calls, repeats, budget)
        else:
            thing, count = xgb_local(kind, folder)
            us, per_loop, expected = harness.time_xgb(thing, calls, repeats, budget)
        stored = count() if count is not None else None
    return {"ok": True, "us": us, "calls": per_loop, "stored": stored, "expected": expected}


def measure(framework: str, kind: str, calls: int, repeats: int, budget: float) -> dict[str, Any]:
    if (kind, framework) in REASONS:
        return {"ok": False, "why": REASONS[(kind, framework)]}
    if kind in PEER_KINDS:
        ready, why = setup_venvs.ensure(kind)
        if not ready:
            return {"ok": False, "why": why}
        return run_worker(kind, {"task": "calls", "peer": kind, "framework": framework, "calls": calls,
                                 "repeats": repeats, "budget": budget}, timeout=600)
    try:
        return measure_local(framework, kind, calls, repeats, budget)
    except ImportError as err:
        return {"ok": False, "why": f"not installed ({err.name})"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int, default=None, help="calls per loop at most (default 20,000; quick 2,000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed loops, best kept (default 5; quick 2)")
    parser.add_argument("--budget", type=float, default=None, help="seconds a loop may take (default 2; quick 0.3)")
    parser.add_argument("--only", nargs="*", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--peers", nargs="*", default=[*PEER_KINDS, "clearml"], choices=[*PEER_KINDS, "clearml"])
    args = parser.parse_args()
    calls = args.calls or (2_000 if args.quick else 20_000)
    repeats = args.repeats or (2 if args.quick else 5)
    budget = args.budget or (0.3 if args.quick else 2.0)
    warnings.filterwarnings("ignore")
    import logging

    for name in ("lightning.pytorch", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(1)
    print(f"runlog logger_calls: Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
          f"best of {repeats} loops of up to {calls:,} calls (about {budget} s a loop at most)")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    head = ["hook", "logger", "us per call", "x do-nothing", "x runlog", "calls", "all there", "note"]
    rows: list[list[str]] = []
    for framework in args.only:
        figures: dict[str, float] = {}
        for kind, label in ROWS[framework]:
            if kind in (*PEER_KINDS, "clearml") and kind not in args.peers:
                continue
            start = time.monotonic()
            result = measure(framework, kind, calls, repeats, budget)
            if result.get("ok"):
                figures[kind] = result["us"]
                stored, expected = result.get("stored"), result.get("expected")
                there = "-" if stored is None else ("yes" if stored == expected else "NO")
                note = "" if stored in (None, expected) else f"read back {stored:,} of {expected:,} points"
                rows.append([FRAMEWORK_TITLES[framework], label, f"{result['us']:.2f}", "", "", f"{result['calls']:,}",
                             there, note])
            else:
                rows.append([FRAMEWORK_TITLES[framework], label, "-", "-", "-", "-", "-", result.get("why", "?")])
            print(f"  {framework:<12} {label:<40} {rows[-1][2]:>10} us   {rows[-1][6]:<4} {rows[-1][7]}   "
                  f"({time.monotonic() - start:.0f} s)", flush=True)
        for row in rows:
            if row[0] == FRAMEWORK_TITLES[framework] and row[2] != "-":
                us = float(row[2])
                row[3] = f"{us / figures['null']:,.1f}x" if figures.get("null") else "-"
                row[4] = f"{us / figures['runlog']:,.1f}x" if figures.get("runlog") else "-"
    print()
    print(plain(head, rows))
    versions = {peer: setup_venvs.status(peer)[1] for peer in PEER_KINDS if peer in args.peers}
    print("\npeer versions: " + "; ".join(f"{peer}: {v}" for peer, v in versions.items()))
    print("\n--- markdown ---\n")
    print(f"Measured with `python benchmarks/peers/logger_calls.py{''.join(' ' + a for a in sys.argv[1:])}` on "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}.\n")
    print(markdown(head, rows))
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time a small Keras 3 fit with no callback, RunlogCallback, Keras's CSVLogger and MLflow's callback.

Variants run interleaved (rotated order each repeat); medians and the overhead over no
callback are printed. ``--per-batch`` also logs every batch (runlog ``log_every_n_batches=1``,
MLflow ``log_every_n_steps=1``; Keras's CSVLogger only ever logs per epoch). Peers that are not installed are skipped with a note.

    KERAS_BACKEND=torch python benchmarks/keras_overhead.py
    KERAS_BACKEND=torch python benchmarks/keras_overhead.py --per-batch --skip-peers mlflow
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

PEERS = ("csv", "mlflow")


def make_callbacks(kind: str, folder: str, shared: str, per_batch: bool) -> list[Any]:
    if kind == "none":
        return []
    if kind == "runlog":
        from runlog_integrations.keras import RunlogCallback

        return [RunlogCallback(experiment="bench", store=os.path.join(shared, "runlog"),
                               log_every_n_batches=1 if per_batch else None)]
    if kind == "csv":
        return [keras.callbacks.CSVLogger(os.path.join(folder, "log.csv"))]
    if kind == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{os.path.join(shared, 'mlflow.db')}")
        if mlflow.get_experiment_by_name("bench") is None:
            mlflow.create_experiment("bench", artifact_location=os.path.join(shared, "mlruns"))
        mlflow.set_experiment("bench")
        mlflow.start_run()  # the callback logs into the active run
        kwargs = {"log_every_epoch": False, "log_every_n_steps": 1} if per_batch else {}
        return [mlflow.keras.MlflowCallback(**kwargs)]
    raise ValueError(kind)


def available(kind: str) -> str | None:
    try:
        if kind == "mlflow":
            import mlflow.keras  # noqa: F401
        elif kind == "runlog":
            import runlog_integrations.keras  # noqa: F401
    except ImportError as err:
        return f"not installed ({err.name})"
    return None


def fit_once(kind: str, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, per_batch: bool,
             shared: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        callbacks = make_callbacks(kind, folder, shared, per_batch)
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10)])
        model.compile(optimizer=keras.optimizers.SGD(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="xent"),
                               keras.metrics.SparseTopKCategoricalAccuracy(k=3, name="top3")])
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
        elapsed = time.perf_counter() - start
        if kind == "mlflow":
            import mlflow

            mlflow.end_run()
    return elapsed


def micro(calls: int = 20_000) -> None:
    """The cost of RunlogCallback's batch hook alone (4 metrics as Keras passes them), best of 5."""
    from runlog_integrations.keras import RunlogCallback

    with tempfile.TemporaryDirectory() as folder:
        callback = RunlogCallback(experiment="micro", store=os.path.join(folder, "runlog"), log_every_n_batches=1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        callback.set_model(model)
        callback.set_params({"epochs": 1, "steps": calls})
        callback.on_train_begin()
        logs = {"loss": 2.3, "accuracy": 0.1, "xent": 2.3, "top3": 0.3}
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for batch in range(calls):
                callback.on_train_batch_end(batch, logs)
            best = min(best, time.perf_counter() - start)
        callback.on_train_end()
    print(f"\nRunlogCallback.on_train_batch_end: {1e6 * best / calls:.2f} us per call "
          f"(log_every_n_batches=1, 4 metrics, best of 5 x {calls})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps runs comparable)")
    parser.add_argument("--per-batch", action="store_true", help="log every batch, not only every epoch")
    parser.add_argument("--skip-peers", nargs="*", default=[], choices=[*PEERS, "all"])
    parser.add_argument("--micro", action="store_true", help="also time the batch hook alone")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    skip = set(PEERS) if "all" in args.skip_peers else set(args.skip_peers)
    kinds = ["none", "runlog"] + [p for p in PEERS if p not in skip]
    for kind in list(kinds):
        why = available(kind)
        if why:
            print(f"skipping {kind}: {why}")
            kinds.remove(kind)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, 32)).astype("float32")
    y = rng.integers(0, 10, args.samples)
    steps = -(-args.samples // args.batch_size) * args.epochs
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {steps} steps, 4 metrics "
          f"{'per batch' if args.per_batch else 'per epoch'}, {args.repeats} repeats, {os.cpu_count()} cpus, "
          f"{args.threads} torch thread(s)")
    # stores that exist before the clock starts, as a user's usually do; the warm-up creates them
    shared = tempfile.mkdtemp(prefix="keras_overhead_")
    for kind in kinds:
        fit_once(kind, x[:3200], y[:3200], 1, args.batch_size, args.per_batch, shared)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for repeat in range(args.repeats):
        order = kinds[repeat % len(kinds):] + kinds[:repeat % len(kinds)]
        for kind in order:
            times[kind].append(fit_once(kind, x, y, args.epochs, args.batch_size, args.per_batch, shared))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f}s" for k in kinds), flush=True)
    shutil.rmtree(shared, ignore_errors=True)
    if args.micro:
        micro()
    base = statistics.median(times["none"])
    print(f"\n{'callback':<10} {'median s':>9} {'overhead':>9} {'paired':>8}   all runs (s)")
    for kind in kinds:
        median = statistics.median(times[kind])
        # paired: the median over repeats of (this run / the no-logger run of the same repeat)
        paired = statistics.median(t / b for t, b in zip(times[kind], times["none"]))
        print(f"{kind:<10} {median:9.3f} {100 * (median / base - 1):+8.1f}% {100 * (paired - 1):+7.1f}%   "
              + " ".join(f"{t:.2f}" for t in times[kind]))


if __name__ == "__main__":
    sys.exit(main())

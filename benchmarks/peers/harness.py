"""Time one framework hook as the framework calls it, for any logger: the same code in every venv.

    lightning    ``logger.log_metrics({4 floats + "epoch": int}, step)`` then ``logger.save()``, as
                 Lightning's logger connector calls them at every logged step (the tensors already
                 turned into Python numbers); a new dict per call
    keras-batch  ``on_train_batch_begin(b)`` + ``on_train_batch_end(b, logs)``, logs = 4 Python floats
                 (what Keras 3 hands callbacks), inside one epoch; the optimizer's ``iterations`` advanced
                 between calls, outside the clock, as training would
    keras-epoch  ``on_epoch_begin(e)`` + ``on_epoch_end(e, logs)``, logs = 4 train + 4 val floats
    xgb          ``after_iteration(booster, epoch, evals_log)``, evals_log = 2 data sets x 2 metrics
                 whose histories grow by one value per call, as XGBoost's do

Each measure is the best of ``repeats`` timed loops of ``calls`` calls (a warm-up call first), in
microseconds per call. How many calls: ``calls`` at most, fewer for a slow logger so that one loop
takes about ``budget`` seconds (a first loop of 50 calls estimates the cost); the count used is
returned. Nothing here imports runlog or a peer: the caller passes the logger it made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

perf = time.perf_counter
LIGHTNING_METRICS = {"loss": 2.3, "acc": 0.1, "logit_mean": 0.01, "logit_std": 0.5}
KERAS_BATCH_LOGS = {"loss": 2.3, "accuracy": 0.1, "xent": 2.3, "top3": 0.3}
KERAS_EPOCH_LOGS = {**KERAS_BATCH_LOGS, **{f"val_{k}": v for k, v in KERAS_BATCH_LOGS.items()}}
FRAMEWORKS = ("lightning", "keras-batch", "keras-epoch", "xgb")


def _plan(one_loop: Callable[[int, int], float], calls: int, repeats: int, budget: float) -> tuple[float, int, int]:
    """(best seconds per call, calls per loop, calls made in all). ``one_loop(first, n)`` times n calls."""
    probe = one_loop(1, 50)
    per_call = max(probe / 50, 1e-9)
    n = max(50, min(calls, int(budget / per_call)))
    best, first = float("inf"), 51
    for _ in range(repeats):
        best = min(best, one_loop(first, n) / n)
        first += n
    return best, n, first


def time_lightning(logger: Any, calls: int, repeats: int, budget: float) -> tuple[float, int, int]:
    """Returns (us per call, calls per loop, points of "loss" that should be stored)."""
    logger.log_metrics(dict(LIGHTNING_METRICS, epoch=0), 0)

    def loop(first: int, n: int) -> float:
        batch = [dict(LIGHTNING_METRICS, epoch=(first + i) // 1000) for i in range(n)]  # a new dict per call
        log_metrics, save = logger.log_metrics, logger.save
        start = perf()
        for step, item in enumerate(batch, first):
            log_metrics(item, step)
            save()
        return perf() - start

    best, n, made = _plan(loop, calls, repeats, budget)
    return best * 1e6, n, made


def _keras_model() -> Any:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def time_keras(callback: Any, hook: str, calls: int, repeats: int, budget: float) -> tuple[float, int, int]:
    """``hook``: "batch" or "epoch". Returns (us per call, calls per loop, calls made in all)."""
    model = _keras_model()
    callback.set_model(model)
    callback.set_params({"epochs": 10**9 if hook == "epoch" else 1, "steps": 10**9, "verbose": 0})
    callback.on_train_begin({})
    if hook == "batch":
        callback.on_epoch_begin(0, {})
        callback.on_train_batch_begin(0, {})
        callback.on_train_batch_end(0, dict(KERAS_BATCH_LOGS))

        iterations = model.optimizer.iterations

        def loop(first: int, n: int) -> float:
            logs = [dict(KERAS_BATCH_LOGS) for _ in range(n)]
            begin, end = callback.on_train_batch_begin, callback.on_train_batch_end
            total = 0.0
            for batch, item in enumerate(logs, first):
                iterations.assign(batch)  # the optimizer's step, as fit advances it (MLflow logs at it)
                start = perf()
                begin(batch)
                end(batch, item)
                total += perf() - start
            return total
    else:
        callback.on_epoch_begin(0, {})
        callback.on_epoch_end(0, dict(KERAS_EPOCH_LOGS))

        def loop(first: int, n: int) -> float:
            logs = [dict(KERAS_EPOCH_LOGS) for _ in range(n)]
            begin, end = callback.on_epoch_begin, callback.on_epoch_end
            start = perf()
            for epoch, item in enumerate(logs, first):
                begin(epoch)
                end(epoch, item)
            return perf() - start

    best, n, made = _plan(loop, calls, repeats, budget)
    if hook == "batch":
        callback.on_epoch_end(0, dict(KERAS_EPOCH_LOGS))
    callback.on_train_end({})
    return best * 1e6, n, made


def xgb_booster() -> Any:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)).astype("float32")
    dtrain = xgb.DMatrix(x, x @ rng.normal(size=5))
    return xgb.train({"max_depth": 2, "nthread": 1, "eval_metric": ["rmse", "mae"]}, dtrain, 2)


def time_xgb(callback: Any, calls: int, repeats: int, budget: float) -> tuple[float, int, int]:
    """Returns (us per call, calls per loop, iterations made in all, i.e. values per metric)."""
    booster = xgb_booster()
    booster = callback.before_training(booster) or booster
    history: dict[str, dict[str, list[float]]] = {"train": {"rmse": [], "mae": []}, "valid": {"rmse": [], "mae": []}}
    state = {"epoch": 0}

    def step() -> None:
        e = state["epoch"]
        for data, metrics in history.items():
            for name, values in metrics.items():
                values.append(1.0 / (e + 1) + (0.1 if data == "valid" else 0.0) + (0.5 if name == "mae" else 0.0))

    step()
    callback.after_iteration(booster, 0, history)
    state["epoch"] = 1

    def loop(first: int, n: int) -> float:
        after = callback.after_iteration
        total = 0.0
        for _ in range(n):
            step()  # XGBoost's own bookkeeping, outside the clock
            e = state["epoch"]
            start = perf()
            after(booster, e, history)
            total += perf() - start
            state["epoch"] = e + 1
        return total

    best, n, _ = _plan(loop, calls, repeats, budget)
    callback.after_training(booster)
    return best * 1e6, n, state["epoch"]

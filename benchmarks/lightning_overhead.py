"""Time a small Lightning fit with no logger, RunlogLogger and Lightning's own loggers, interleaved.

Each repeat runs every variant once, in a rotated order, so drift (thermal, caches) spreads
evenly; the medians and the overhead over ``logger=False`` are printed. Four metrics are logged
at every step (``log_every_n_steps=1``). Peers that are not installed are skipped with a note.
``null`` is a Logger that does nothing: what Lightning itself spends once any logger is attached
(it turns the logged tensors into Python numbers for every logger call).

    python benchmarks/lightning_overhead.py                       # CPU, all peers
    python benchmarks/lightning_overhead.py --accelerator gpu --skip-peers mlflow
    python benchmarks/lightning_overhead.py --micro               # one log_metrics call, side by side
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

import torch
from torch.utils.data import DataLoader, TensorDataset

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover
    import pytorch_lightning as pl  # type: ignore[no-redef]

PEERS = ("csv", "tensorboard", "mlflow")


class Tiny(pl.LightningModule):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(32, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log_dict({"loss": loss, "acc": acc, "logit_mean": logits.mean(), "logit_std": logits.std()})
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class NullLogger(pl.loggers.Logger):
    """Receives everything and does nothing: Lightning's own cost of having a logger."""

    name = "null"
    version = "0"

    def log_metrics(self, metrics: Any, step: Any = None) -> None:
        pass

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def make_logger(kind: str, folder: str, shared: str) -> Any:
    if kind == "none":
        return False
    if kind == "null":
        return NullLogger()
    if kind == "runlog":
        from runlog_integrations.lightning import PLRunlogLogger, RunlogLogger

        cls = RunlogLogger if pl.__name__.startswith("lightning") else PLRunlogLogger
        logger = cls(experiment_name="bench", store=os.path.join(shared, "runlog"), save_dir=folder)
        logger.log_hyperparams({"width": 0})  # outside a Trainer: starts the run, as fit does before training
        return logger
    if kind == "csv":
        return pl.loggers.CSVLogger(folder)
    if kind == "tensorboard":
        return pl.loggers.TensorBoardLogger(folder)
    if kind == "mlflow":
        return pl.loggers.MLFlowLogger(experiment_name="bench", artifact_location=os.path.join(shared, "mlruns"),
                                       tracking_uri=f"sqlite:///{os.path.join(shared, 'mlflow.db')}")
    raise ValueError(kind)


def available(kind: str) -> str | None:
    """None if the peer can run, else why not."""
    try:
        if kind == "tensorboard":
            import tensorboard  # noqa: F401
        elif kind == "mlflow":
            import mlflow  # noqa: F401
        elif kind == "runlog":
            import runlog_integrations.lightning  # noqa: F401
    except ImportError as err:
        return f"not installed ({err.name})"
    return None


def fit_once(kind: str, steps: int, width: int, accelerator: str, data: DataLoader, shared: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        logger = make_logger(kind, folder, shared)
        trainer = pl.Trainer(max_steps=steps, max_epochs=-1, logger=logger, log_every_n_steps=1,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             accelerator=accelerator, devices=1, default_root_dir=folder)
        torch.manual_seed(0)
        model = Tiny(width)
        start = time.perf_counter()
        trainer.fit(model, data)
        elapsed = time.perf_counter() - start
        if kind == "runlog":
            logger.experiment.flush()  # after the clock: durability is not training's cost
    return elapsed


def micro(kinds: list[str], calls: int = 20_000) -> None:
    """The cost of one ``log_metrics`` call (4 floats + the int ``epoch``, as Lightning sends them), best of 5.

    Lightning has already turned the logged tensors into Python numbers when it calls the logger.
    For runlog the points are then read back from the store, so a call that silently logged
    nothing cannot look fast.
    """
    print(f"\nper-call cost of logger.log_metrics({{4 floats + 'epoch': int}}, step), {calls} calls, best of 5:")
    metrics = {"loss": 2.3, "acc": 0.1, "logit_mean": 0.01, "logit_std": 0.5, "epoch": 0}
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            if kind in ("none", "mlflow"):
                continue  # mlflow: one sqlite transaction per call, ~ms; see the fit timings
            logger = make_logger(kind, os.path.join(folder, kind), os.path.join(folder, "shared"))
            logger.log_metrics(dict(metrics), 0)
            best = float("inf")
            for repeat in range(5):
                first = 1 + repeat * calls
                batch = [dict(metrics, epoch=(first + i) // 1000) for i in range(calls)]  # a new dict per call
                start = time.perf_counter()
                for step, item in enumerate(batch, first):
                    logger.log_metrics(item, step)
                    logger.save()
                best = min(best, time.perf_counter() - start)
            results[kind] = 1e6 * best / calls
            if kind == "runlog":
                run = logger.experiment
                run.flush()
                stored = len(run.get_metric_history("loss"))
                assert stored == 1 + 5 * calls, f"runlog stored {stored} points of loss, not {1 + 5 * calls}"
            logger.finalize("success")
    for kind, cost in results.items():
        ratios = "  ".join(f"{cost / results[other]:5.2f}x {other}" for other in ("null", "csv") if other in results)
        print(f"  {kind:<12} {cost:7.2f} us per call   {ratios}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1875, help="optimizer steps per fit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu, auto...")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps runs comparable)")
    parser.add_argument("--skip-peers", nargs="*", default=[], choices=[*PEERS, "all"],
                        help="peers not to run ('all' runs only no-logger and runlog)")
    parser.add_argument("--micro", action="store_true",
                        help="only time log_metrics calls (runlog, null, csv, tensorboard), no fits")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)

    torch.set_num_threads(args.threads)
    skip = set(PEERS) if "all" in args.skip_peers else set(args.skip_peers)
    kinds = ["none", "null", "runlog"] + [p for p in PEERS if p not in skip]
    for kind in list(kinds):
        why = available(kind)
        if why:
            print(f"skipping {kind}: {why}")
            kinds.remove(kind)

    if args.micro:
        micro([kind for kind in kinds if kind in ("null", "runlog", "csv", "tensorboard")])
        return
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.steps * args.batch_size, 32, generator=generator)
    y = torch.randint(0, 10, (len(x),), generator=generator)
    data = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=False)

    print(f"lightning {pl.__version__}, torch {torch.__version__}, accelerator={args.accelerator}, "
          f"device={torch.cuda.get_device_name() if args.accelerator == 'gpu' else 'cpu'}, "
          f"{args.steps} steps x 4 metrics, {args.repeats} repeats, {os.cpu_count()} cpus, "
          f"{args.threads} torch thread(s)")
    # stores that exist before the clock starts, as a user's usually do (runlog folder, MLflow
    # database); the warm-up creates them and loads every module
    shared = tempfile.mkdtemp(prefix="lightning_overhead_")
    for kind in kinds:
        fit_once(kind, 50, args.width, args.accelerator, data, shared)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for repeat in range(args.repeats):
        order = kinds[repeat % len(kinds):] + kinds[:repeat % len(kinds)]
        for kind in order:
            times[kind].append(fit_once(kind, args.steps, args.width, args.accelerator, data, shared))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f}s" for k in kinds), flush=True)
    shutil.rmtree(shared, ignore_errors=True)
    base = statistics.median(times["none"])
    print(f"\n{'logger':<12} {'median s':>9} {'overhead':>9} {'paired':>8} {'vs null':>8}   all runs (s)")
    for kind in kinds:
        median = statistics.median(times[kind])
        # paired: the median over repeats of (this run / the no-logger run of the same repeat);
        # vs null: the same against the do-nothing logger, i.e. the logger's own cost
        paired = statistics.median(t / b for t, b in zip(times[kind], times["none"]))
        null = statistics.median(t / b for t, b in zip(times[kind], times["null"]))
        print(f"{kind:<12} {median:9.3f} {100 * (median / base - 1):+8.1f}% {100 * (paired - 1):+7.1f}% "
              f"{100 * (null - 1):+7.1f}%   " + " ".join(f"{t:.2f}" for t in times[kind]))


if __name__ == "__main__":
    sys.exit(main())

"""Tiny LightningModules for the RunlogLogger tests; importable by spawned DDP workers."""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from torch.utils.data import DataLoader, TensorDataset


class HistoryModel(BoringModel):
    """Lightning's own generic logger check (tests_pytorch/loggers/test_all.py)."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self.step(batch)
        self.log("train_some_val", loss)
        return {"loss": loss}

    def on_validation_epoch_end(self) -> None:
        self.log_dict({"early_stop_on": torch.tensor(1.0), "val_loss": torch.tensor(0.5)})

    def on_test_epoch_end(self) -> None:
        self.log("test_loss", torch.tensor(2.0))


class TinyRegressor(LightningModule):
    """A 2-layer MLP on generated data; four metrics per step like the benchmark."""

    def __init__(self, lr: float = 0.05, hidden: int = 8, layers: list[int] | None = None,
                 optimizer: dict[str, Any] | None = None, notes: dict[str, Any] | None = None,
                 fail_at_step: int = -1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.global_step == self.hparams.fail_at_step:
            raise RuntimeError("boom in training_step")
        x, y = batch
        pred = self(x)
        loss = torch.nn.functional.mse_loss(pred, y)
        mae = (pred - y).abs().mean()
        self.log_dict({"train_loss": loss, "train_mae": mae, "lr": self.hparams.lr, "batch_mean": y.mean()})
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self(x), y), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders(n: int = 64, batch_size: int = 8, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=generator)
    data = TensorDataset(x, y)
    return (DataLoader(data, batch_size=batch_size, shuffle=False),
            DataLoader(data, batch_size=batch_size * 2, shuffle=False))


class RecordStores(Callback):
    """At the end of fit, each rank writes how many runlog stores its process opened."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        from runlog_core.plugins import manager as _plugins
        from runlog_core.writer import registry as _writers

        # core internals (issue 8 reshapes them): the stores this process opened, the points its writers hold
        opened = getattr(_plugins, "open_stores", None)
        if opened is not None:
            stores = [str(getattr(store, "uri", store)) for store in opened()]
        else:
            stores = [key for key in _plugins._stores if key.startswith(f"{os.getpid()}:")]
        points = sum(len(getattr(w, "_points", None) or getattr(w, "points", None) or ())
                     for w in _writers.all_writers())
        with open(os.path.join(self.folder, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump({"stores": stores, "buffered_points": points,
                       "version": trainer.logger.version if trainer.global_rank == 0 else None}, f)


class RankZeroLoggerCheck(Callback):
    """Lightning's own check (tests_pytorch/loggers/test_all.py): a no-op experiment off rank 0."""

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        from lightning.pytorch.loggers.logger import DummyExperiment

        is_dummy = isinstance(trainer.logger.experiment, DummyExperiment)
        assert is_dummy != trainer.is_global_zero
        if not trainer.is_global_zero:
            assert pl_module.logger.experiment.something(foo="bar") is None

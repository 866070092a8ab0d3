"""Train a small classifier with PyTorch Lightning and record it with runlog.

Generated data, CPU, well under a minute. Afterwards:

    runlog runs -e lightning_classifier
    runlog show <run id printed at the end>

Run it again with ``--resume`` to continue the same run from the last checkpoint.
"""

from __future__ import annotations

import argparse
import os
import warnings

import torch
from lightning.pytorch import LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from runlog_integrations.lightning import RunlogLogger, callbacks_factory


class Classifier(LightningModule):
    def __init__(self, features: int = 20, hidden: list[int] | None = None, lr: float = 0.05,
                 optimizer: dict | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()  # nested dicts and lists are kept as they are
        hidden = hidden or [32, 16]
        layers: list[torch.nn.Module] = []
        width = features
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            width = size
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(width, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log_dict({f"{stage}_loss": loss, f"{stage}_acc": acc}, prog_bar=stage == "val")
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        options = self.hparams.optimizer or {}
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=options.get("momentum", 0.0))


def data(n: int, features: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, features, generator=torch.Generator().manual_seed(0)) * 0.35
    y = torch.randint(0, 3, (n,), generator=generator)
    x = centers[y] + torch.randn(n, features, generator=generator)
    return TensorDataset(x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--resume", action="store_true", help="continue from lightning_classifier/last.ckpt")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    seed_everything(0)
    train = DataLoader(data(4000, 20, 1), batch_size=64, shuffle=True)
    val = DataLoader(data(1000, 20, 2), batch_size=256)
    test = DataLoader(data(1000, 20, 3), batch_size=256)

    logger = RunlogLogger(experiment_name="lightning_classifier", tags={"example": "lightning"}, log_model=True)
    checkpoint = ModelCheckpoint(dirpath="lightning_classifier", monitor="val_loss", save_last=True)
    trainer = Trainer(max_epochs=args.epochs, logger=logger, log_every_n_steps=10, accelerator="cpu",
                      # callbacks_factory(): the run id travels in checkpoints, so --resume continues the run
                      callbacks=[*callbacks_factory(), checkpoint, EarlyStopping(monitor="val_loss", patience=3)],
                      enable_model_summary=False)
    model = Classifier(hidden=[32, 16], optimizer={"name": "sgd", "momentum": 0.9})
    last = os.path.join("lightning_classifier", "last.ckpt")
    trainer.fit(model, train, val, ckpt_path=last if args.resume and os.path.exists(last) else None)
    trainer.test(model, test, verbose=False)

    run = logger.experiment
    val_acc = run.get_metric_history("val_acc")[-1].value
    test_acc = run.get_metric_history("test_acc")[-1].value
    print(f"run {run.id} ({run.get_status()}): val_acc {val_acc:.3f}, test_acc {test_acc:.3f}, "
          f"files {run.get_file_names()}")
    print(f"see it with: runlog show {run.id}")


if __name__ == "__main__":
    main()

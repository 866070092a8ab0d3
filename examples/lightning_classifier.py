"""Train a small classifier with PyTorch Lightning and record it with runlog.

Generated data, CPU, well under a minute. Afterwards:

    runlog runs -e lightning_classifier
    runlog show <run id printed at the end>

Run it again with ``--resume`` to continue the same run from the end of the last epoch it trained (its
checkpoints go under the store's folder, ``./runlog/checkpoints/lightning_classifier`` by default, never
into the folder you run it from).
"""

from __future__ import annotations

import argparse
import getpass
import os
import tempfile
import warnings
from collections.abc import Sequence

import torch
from lightning.pytorch import LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
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


class LastEpochCheckpoint(Checkpoint):
    """Write ``last.ckpt`` at the end of every training epoch: what ``--resume`` continues from.

    ``ModelCheckpoint(save_last=True)`` is not that: it rewrites ``last.ckpt`` only when that same callback
    has just saved a top-k checkpoint (lightning/pytorch/callbacks/model_checkpoint.py, ``on_train_epoch_end``:
    ``if self._last_global_step_saved == trainer.global_step: self._save_last_checkpoint(...)``). With
    ``monitor="val_loss"`` that happens only in epochs where val_loss improved, so after an epoch that did
    not improve, ``last.ckpt`` lags behind and a resumed fit trains and logs those epochs again. A second
    ``ModelCheckpoint`` without a monitor would save every epoch, but it would also tell the logger about
    each file, which ``log_model=True`` would then upload as the best checkpoint.

    This saves where ``ModelCheckpoint`` saves when validation runs once an epoch (``on_train_epoch_end``,
    after validation; its ``_should_save_on_train_epoch_end``), not while sanity checking, only while
    fitting; being a ``Checkpoint``, Lightning runs it after the other callbacks (EarlyStopping checks on
    the same hook), so the file holds their state of this epoch.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        trainer.save_checkpoint(self.path)


def checkpoint_folder(name: str) -> str:
    """The folder for this example's checkpoints: under the store's folder (``RUNLOG_STORE``, else ./runlog),
    or, for a store that is not a local folder, a folder of this user's under the system's temporary folder."""
    store = os.environ.get("RUNLOG_STORE") or "runlog"
    if "://" in store:
        return os.path.join(tempfile.gettempdir(), f"runlog-{getpass.getuser()}", "checkpoints", name)
    return os.path.join(store, "checkpoints", name)


def data(n: int, features: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, features, generator=torch.Generator().manual_seed(0)) * 0.35
    y = torch.randint(0, 3, (n,), generator=generator)
    x = centers[y] + torch.randn(n, features, generator=generator)
    return TensorDataset(x, y)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="train up to this many epochs in all (default 8)")
    parser.add_argument("--resume", action="store_true", help="continue from the end of the last epoch trained")
    parser.add_argument("--checkpoints", default=checkpoint_folder("lightning_classifier"),
                        help="the checkpoints' folder (default: %(default)s)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    seed_everything(0)
    train = DataLoader(data(4000, 20, 1), batch_size=64, shuffle=True)
    val = DataLoader(data(1000, 20, 2), batch_size=256)
    test = DataLoader(data(1000, 20, 3), batch_size=256)

    logger = RunlogLogger(experiment_name="lightning_classifier", tags={"example": "lightning"}, log_model=True)
    best = ModelCheckpoint(dirpath=args.checkpoints, monitor="val_loss")  # what log_model=True uploads
    last = os.path.join(args.checkpoints, "last.ckpt")
    trainer = Trainer(max_epochs=args.epochs, logger=logger, log_every_n_steps=10, accelerator="cpu",
                      default_root_dir=args.checkpoints,
                      # callbacks_factory(): the run id travels in checkpoints, so --resume continues the run
                      callbacks=[*callbacks_factory(), best, LastEpochCheckpoint(last),
                                 EarlyStopping(monitor="val_loss", patience=3)],
                      enable_model_summary=False)
    model = Classifier(hidden=[32, 16], optimizer={"name": "sgd", "momentum": 0.9})
    trainer.fit(model, train, val, ckpt_path=last if args.resume and os.path.exists(last) else None)
    trainer.test(model, test, verbose=False)

    run = logger.experiment
    val_acc = run.get_metric_history("val_acc")[-1].value
    test_acc = run.get_metric_history("test_acc")[-1].value
    print(f"run {run.id} ({run.get_status()}): val_acc {val_acc:.3f}, test_acc {test_acc:.3f}, "
          f"files {run.get_file_names()}")
    print(f"see it with: runlog show {run.id}")
    return run.id


if __name__ == "__main__":
    main()

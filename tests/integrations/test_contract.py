"""What every integration promises alike: its own runs end with the training's outcome and leave
the script's ./outputs folder (Azure's convention for the script's main run) alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from runlog_core import Experiment


def _xgboost(experiment: str) -> None:
    xgb = pytest.importorskip("xgboost")
    from sklearn.datasets import load_diabetes

    from runlog_integrations.xgboost import RunlogCallback

    X, y = load_diabetes(return_X_y=True)
    xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 3, callbacks=[RunlogCallback(experiment=experiment)])


def _sklearn(experiment: str) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from runlog_integrations.sklearn import TrackedSearch

    TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2), experiment=experiment).fit(
        *load_diabetes(return_X_y=True))


def _keras(experiment: str) -> None:
    keras = pytest.importorskip("keras")
    import numpy as np

    from runlog_integrations.keras import RunlogCallback

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0, callbacks=[RunlogCallback(experiment=experiment)])


def _lightning(experiment: str) -> None:
    pytest.importorskip("lightning")
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from runlog_integrations.lightning import RunlogLogger

    class Tiny(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.ones(8, 3), torch.ones(8, 1)), batch_size=4)
    Trainer(max_epochs=1, logger=RunlogLogger(experiment_name=experiment), accelerator="cpu", log_every_n_steps=1,
            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False).fit(Tiny(), data)


ADAPTERS: dict[str, Callable[[str], None]] = {"xgboost": _xgboost, "sklearn": _sklearn, "keras": _keras,
                                              "lightning": _lightning}


@pytest.mark.parametrize("train", list(ADAPTERS.values()), ids=list(ADAPTERS))
def test_integration_runs_complete_and_leave_outputs_alone(train: Callable[[str], None], tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "unrelated.bin").write_bytes(b"not the integration's")
    train("contract")
    runs = Experiment("contract").get_runs()
    assert runs, "the integration started no run"
    for run in runs:
        assert run.get_status() == "Completed"
        assert not any(name.startswith("outputs/") for name in run.get_file_names())
        assert run.get_metrics(), "nothing was logged"

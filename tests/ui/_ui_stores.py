"""Stores for the browser tests: real (tiny) training runs from each integration, and one run with
every data type, hostile strings included."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>']

HERE = Path(__file__).resolve().parent


def lightning_run(store: str) -> str:
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from runlog_integrations.lightning import RunlogLogger

    class Tiny(LightningModule):
        def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    logger = RunlogLogger(experiment_name="lightning", run_name="tiny-mlp", store=store)
    trainer = Trainer(max_epochs=3, logger=logger, log_every_n_steps=1, enable_progress_bar=False,
                      enable_model_summary=False, enable_checkpointing=False, accelerator="cpu", devices=1)
    trainer.fit(Tiny(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=16))
    return str(logger.version)


def keras_run(store: str) -> str:
    import keras
    import numpy as np

    from runlog_integrations.keras import RunlogCallback

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    from runlog_core import Experiment

    with Experiment("keras", store=store).start_logging(name="keras-fit", outputs=None) as run:
        model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[RunlogCallback(run=run)])
    return run.id


def sklearn_search(store: str) -> str:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from runlog_core import Experiment
    from runlog_integrations.sklearn import log_search

    X, y = load_diabetes(return_X_y=True)
    grid = GridSearchCV(Ridge(), {"alpha": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}, cv=3)
    grid.fit(X, y)
    return log_search(grid, experiment=Experiment("sklearn", store=store)).id


def xgboost_run(store: str) -> str:
    import xgboost as xgb
    from sklearn.datasets import load_diabetes

    from runlog_core import Experiment
    from runlog_integrations.xgboost import RunlogCallback

    X, y = load_diabetes(return_X_y=True)
    callback = RunlogCallback(experiment=Experiment("xgboost", store=store))
    xgb.train({"eta": 0.3, "max_depth": 3, "nthread": 1, "seed": 0}, xgb.DMatrix(X[:300], y[:300]), 20,
              evals=[(xgb.DMatrix(X[300:], y[300:]), "valid")], callbacks=[callback], verbose_eval=False)
    assert callback.active_run is not None
    return callback.active_run.id


def every_type_run(store: str, tmp: Path) -> dict[str, Any]:
    """A run with every data type; hostile strings in every place a logged string shows."""
    import numpy as np

    from runlog_core import Experiment

    ids: dict[str, Any] = {}
    exp = Experiment("showcase", store=store)
    name = "every-type " + XSS[0]
    with exp.start_logging(name=name, capture_output=True, outputs=None) as run:
        ids["run"] = run.id
        run.log_params({"lr": 0.01, "optimizer": "adam", "layers": [64, 32], "xss_param": XSS[1], XSS[2]: 1})
        run.set_tags({"team": "vision", "xss_tag": XSS[0], XSS[1]: "key"})
        for step in range(50):
            run.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 50}, step=step)
        run.log(XSS[1], 3.5)
        run.log("system/cpu_percent", 12.5)
        run.log("system/cpu_percent", 14.0)
        run.log("flag", True)
        run.log_list("fold_scores", [0.91, 0.93, 0.92])
        run.log_list("xss_list", XSS)
        for epoch in range(3):
            run.log_row("per_epoch", epoch=epoch, train=0.5 / (epoch + 1), note=XSS[epoch])
        run.log_table("confusion", {"label": ["cat", "dog", XSS[2]], "cat": [40, 3, 1], "dog": [2, 55, 0]})
        run.log("notes", "a plain string " + XSS[0])
        for step in range(3):
            pixels = np.zeros((16, 16, 3), dtype="uint8")
            pixels[:, : 5 * (step + 1), step] = 255
            run.log_image("samples", image=pixels, step=step * 10)
        page = tmp / "report.html"
        page.write_text("<html><body><script>alert('artifact')</script>report</body></html>")
        run.upload_file("outputs/report.html", str(page))
        run.upload_file("outputs/model.bin", b"\x00\x01weights")
        run.upload_file("outputs/" + XSS[1].replace("/", "_").replace("<", "lt").replace(">", "gt"), b"x")
        ids["xss_file"] = _try_upload(run, tmp)
        print("hello from stdout", XSS[0])
        print("a second line", file=sys.stderr)
        logging.getLogger("showcase").warning("a logging record %s", XSS[2])
        with run.child_run(name="child-a") as child:
            child.log_params({"alpha": 0.1})
            child.log("score", 0.8)
        with run.child_run(name="child-b " + XSS[2]) as child:
            child.log_params({"alpha": 1.0})
            child.log("score", 0.9)
    ids["name"] = name
    return ids


def _try_upload(run: Any, tmp: Path) -> str | None:
    """An artifact whose name carries markup, if the store's name checks accept one."""
    for name in ("outputs/" + XSS[1], "outputs/<b>bold</b>.txt", "outputs/a&quot;b'c.txt"):
        try:
            run.upload_file(name, b"hostile name")
            return name
        except Exception:  # refused by the artifact name checks: the next candidate
            continue
    return None


def compare_runs(store: str) -> list[str]:
    """Two plain runs that share some params and differ in others."""
    from runlog_core import Experiment

    exp = Experiment("compare", store=store)
    ids = []
    for i, lr in enumerate((0.1, 0.01)):
        with exp.start_logging(name=f"lr={lr}", outputs=None) as run:
            run.log_params({"lr": lr, "batch": 32, "seed": i})
            for step in range(30):
                run.log("loss", (1 + i) / (step + 1))
            ids.append(run.id)
    return ids


def many_metrics_run(store: str, count: int = 1000) -> str:
    """One run with ``count`` metrics of 5 points each."""
    from runlog_core import Experiment

    with Experiment("many", store=store).start_logging(name="a-thousand-metrics", outputs=None) as run:
        for step in range(5):
            run.log_metrics({f"layer{i:04d}/grad_norm": i + step * 0.1 for i in range(count)}, step=step)
    return run.id


def paging_runs(store: str, count: int = 130) -> None:
    """More runs than one page of the runs table holds."""
    from runlog_core import Experiment

    exp = Experiment("paging", store=store)
    for index in range(count):
        with exp.start_logging(name=f"page-run-{index:03d}", outputs=None) as run:
            run.log("score", index)


def build(store: str, tmp: Path) -> dict[str, Any]:
    paging_runs(store)
    return {"many": many_metrics_run(store), "lightning": lightning_run(store), "keras": keras_run(store), "sklearn": sklearn_search(store),
            "xgboost": xgboost_run(store), "every": every_type_run(store, tmp), "compare": compare_runs(store)}


if __name__ == "__main__":  # python tests/ui/_ui_stores.py <store folder>: a store to look at
    import json
    import time

    t0 = time.perf_counter()
    out = build(sys.argv[1], Path(sys.argv[1]).parent)
    print(json.dumps(out, indent=1), f"{time.perf_counter() - t0:.1f} s")

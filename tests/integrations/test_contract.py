"""What every integration promises alike, checked over the four adapters with one tiny real fit each.

- a run of its own ends with the training's outcome: Completed, or Failed with the traceback while
  the user's exception propagates unchanged (the very same object);
- the hyperparameters are logged, read back with ``get_params()``;
- the adapter pickles before and after a fit (a run pickles as its id, never with its store),
  and the copy records a fit of its own;
- ``experiment="x"`` (Lightning: ``experiment_name="x"``) puts the run in experiment x;
- under ``runlog submit`` it logs into the submitted run and leaves it Running;
- it leaves the script's ./outputs folder (Azure's convention for the script's main run) alone.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _kx_submitted import runs_outside, submitted_run

from runlog_core import Experiment, search_runs

pytest.importorskip("sklearn")  # its data sets feed every adapter's fit
from sklearn.linear_model import Ridge


def _xgboost_make(target: dict[str, Any]) -> Any:
    pytest.importorskip("xgboost")
    from runlog_integrations.xgboost import RunlogCallback

    return RunlogCallback(**target)


def _xgboost_fit(adapter: Any, error: BaseException | None) -> None:
    import xgboost as xgb
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    dtrain = xgb.DMatrix(X[:100], y[:100])
    calls: list[int] = []

    def objective(predt: Any, data: Any) -> Any:  # squared error, raising at the second round
        calls.append(1)
        if error is not None and len(calls) == 2:
            raise error
        return predt - data.get_label(), predt * 0 + 1.0

    xgb.train({"max_depth": 2, "nthread": 1}, dtrain, 3, evals=[(dtrain, "train")], verbose_eval=False,
              obj=objective, callbacks=[adapter])


def _sklearn_make(target: dict[str, Any]) -> Any:
    from sklearn.model_selection import GridSearchCV

    from runlog_integrations.sklearn import TrackedSearch

    return TrackedSearch(GridSearchCV(FailingRidge(), {"alpha": [0.1, 1.0]}, cv=2, error_score="raise"), **target)


class FailingRidge(Ridge):
    """A Ridge whose ``fit`` raises ``error`` when one is set (a module-level class: searches clone
    their estimator, and a fitted search pickles it)."""

    error: BaseException | None = None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        if FailingRidge.error is not None:
            raise FailingRidge.error
        return super().fit(X, y, sample_weight)


def _sklearn_fit(adapter: Any, error: BaseException | None) -> None:
    from sklearn.datasets import load_diabetes

    FailingRidge.error = error
    try:
        adapter.fit(*load_diabetes(return_X_y=True))
    finally:
        FailingRidge.error = None


def _keras_make(target: dict[str, Any]) -> Any:
    pytest.importorskip("keras")
    from runlog_integrations.keras import RunlogCallback

    return RunlogCallback(**target)


def _keras_fit(adapter: Any, error: BaseException | None) -> None:
    import keras
    import numpy as np

    def fail(batch: int, logs: Any) -> None:
        if error is not None and batch == 1:
            raise error

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=1, verbose=0,
              callbacks=[adapter, keras.callbacks.LambdaCallback(on_train_batch_end=fail)])


def _lightning_make(target: dict[str, Any]) -> Any:
    pytest.importorskip("lightning")
    from runlog_integrations.lightning import RunlogLogger

    if "experiment" in target:
        target = {"experiment_name": target.pop("experiment"), **target}
    return RunlogLogger(**target)


def _lightning_fit(adapter: Any, error: BaseException | None) -> None:
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(LightningModule):
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if error is not None and batch_idx == 1:
                raise error
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])

    data = DataLoader(TensorDataset(torch.ones(8, 3), torch.ones(8, 1)), batch_size=4)
    Trainer(max_epochs=1, logger=adapter, accelerator="cpu", log_every_n_steps=1, enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False).fit(Tiny(), data)


@dataclass(frozen=True)
class Adapter:
    make: Callable[[dict[str, Any]], Any]  # the adapter, given run= or experiment= (or neither)
    fit: Callable[[Any, BaseException | None], None]  # one tiny fit; raises `error` mid-training when given
    default: str  # the experiment of its own runs when none is named
    params: dict[str, Any]  # hyperparameters it logs, as read back
    copy_continues: bool = False  # a pickled copy logs into the original's run (Lightning: DDP spawn pickles it)


ADAPTERS: dict[str, Adapter] = {
    "xgboost": Adapter(_xgboost_make, _xgboost_fit, "xgboost", {"max_depth": 2, "nthread": 1}),
    "sklearn": Adapter(_sklearn_make, _sklearn_fit, "sklearn", {"search": "GridSearchCV", "cv": 2,
                                                                 "param_grid.alpha": [0.1, 1.0]}),
    "keras": Adapter(_keras_make, _keras_fit, "keras", {"batch_size": 4, "epochs": 1, "optimizer_name": "SGD"}),
    "lightning": Adapter(_lightning_make, _lightning_fit, "lightning_logs", {"lr": 0.1}, copy_continues=True),
}

each_adapter = pytest.mark.parametrize("adapter", list(ADAPTERS.values()), ids=list(ADAPTERS))


def _top_level(experiment: str) -> list[Any]:
    return [run for run in Experiment(experiment).get_runs() if run.parent is None]


@each_adapter
def test_own_run_completes_logs_params_and_leaves_outputs_alone(adapter: Adapter, tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "unrelated.bin").write_bytes(b"not the integration's")
    adapter.fit(adapter.make({"experiment": "contract"}), None)
    runs = _top_level("contract")
    assert len(runs) == 1, "one fit, one run of its own"
    run = runs[0]
    assert run.get_status() == "Completed"
    params = run.get_params()
    assert {name: params.get(name) for name in adapter.params} == adapter.params
    assert run.get_metrics(), "nothing was logged"
    for each in Experiment("contract").get_runs(include_children=True):
        assert not any(name.startswith("outputs/") for name in each.get_file_names())


@each_adapter
def test_failing_fit_ends_own_run_failed_with_traceback(adapter: Adapter) -> None:
    error = RuntimeError("boom mid-training")
    with pytest.raises(RuntimeError) as caught:
        adapter.fit(adapter.make({"experiment": "contract"}), error)
    assert caught.value is error  # the very same exception object
    runs = _top_level("contract")
    assert len(runs) == 1
    details = runs[0].get_details()
    assert runs[0].get_status() == "Failed"
    assert "Traceback" in (details["error"] or "") and "boom mid-training" in details["error"], details["error"]


@each_adapter
def test_adapter_pickles_before_and_after_a_fit(adapter: Adapter) -> None:
    given = Experiment("given").start_logging()
    for target in ({"experiment": "contract"}, {"run": given}):
        original = adapter.make(dict(target))
        before = pickle.loads(pickle.dumps(original))
        adapter.fit(original, None)
        after = pickle.loads(pickle.dumps(original))
        adapter.fit(before, None)  # the copies record fits of their own
        adapter.fit(after, None)
    fits = 1 if adapter.copy_continues else 3
    assert [run.get_status() for run in _top_level("contract")] == ["Completed"] * fits
    assert given.get_status() == "Running"  # a given run is the caller's to end, in copies too
    assert len({run.id for run in search_runs() if run.parent is None}) == fits + 1
    given.complete()


@each_adapter
def test_experiment_x_gets_the_run(adapter: Adapter) -> None:
    adapter.fit(adapter.make({"experiment": "x"}), None)
    runs = _top_level("x")
    assert len(runs) == 1 and runs[0].get_status() == "Completed"
    assert [run.experiment.name for run in search_runs() if run.parent is None] == ["x"]
    assert Experiment(adapter.default).get_runs() == []


@each_adapter
def test_submitted_run_gets_the_metrics(adapter: Adapter, monkeypatch: pytest.MonkeyPatch) -> None:
    with submitted_run(monkeypatch) as submitted:
        adapter.fit(adapter.make({}), None)
        assert submitted.get_status() == "Running"  # the submitter ends it, not the integration
        assert submitted.get_metrics(), "nothing was logged into the submitted run"
        params = submitted.get_params()
        assert {name: params.get(name) for name in adapter.params} == adapter.params
        assert runs_outside(submitted) == []

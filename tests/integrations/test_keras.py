"""RunlogCallback: real Keras 3 fits (torch backend) on tiny models, read back from the store."""

from __future__ import annotations

import errno
import gc
import pickle
import sqlite3
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest

pytest.importorskip("keras")
import keras
import numpy as np
from _kx_submitted import runs_outside, submitted_run

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_integrations.keras import RunlogCallback


def _data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4)).astype("float32")
    return x, (x.sum(axis=1) > 2).astype("float32")


def _model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def _active(callback: RunlogCallback) -> Run:
    assert callback.run is not None, "the callback started no run"
    return callback.run


def _steps(run: Run) -> dict[str, list[int]]:
    return {name: [p.step for p in run.get_metric_history(name)] for name in run.get_metrics()}


def test_fit_logs_params_epochs_and_summary() -> None:
    x, y = _data()
    callback = RunlogCallback(experiment="keras-test")
    history = _model().fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0, callbacks=[callback])
    run = Run(Experiment("keras-test"), _active(callback).id)
    params = run.get_params()
    assert {k: params[k] for k in ("batch_size", "epochs", "steps_per_epoch", "optimizer_name", "loss",
                                   "trainable_params", "total_params", "validation_split")} == {
        "batch_size": 16, "epochs": 3, "steps_per_epoch": 3, "optimizer_name": "Adam",
        "loss": "binary_crossentropy", "trainable_params": 49, "total_params": 49, "validation_split": 0.25}
    assert params["optimizer.learning_rate"] == pytest.approx(0.01)
    assert params["optimizer.beta_1"] == pytest.approx(0.9)
    steps = _steps(run)
    assert steps == {name: [0, 1, 2] for name in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")}
    for name, values in history.history.items():  # exactly what Keras reports
        assert [p.value for p in run.get_metric_history(name)] == values
    assert run.get_file_names() == ["model_summary.txt"]
    run.download_file("model_summary.txt", "summary.txt")
    assert "Trainable params: 49" in open("summary.txt").read()
    assert run.get_status() == "Completed"


def test_batch_size_read_from_the_installed_keras_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras hands callbacks no batch size: it is read from ``fit``'s frame. This runs against the
    installed release, strictly (the guard raises), so a Keras that moves it fails here."""
    monkeypatch.setenv("RUNLOG_STRICT_INTEGRATIONS", "1")
    x, y = _data()
    for batch_size in (8, 16):
        callback = RunlogCallback()
        _model().fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[callback])
        assert _active(callback).get_params()["batch_size"] == batch_size, keras.__version__
        assert _active(callback).get_params()["steps_per_epoch"] == 64 // batch_size


def test_batch_size_from_keras_default_and_from_a_data_loader() -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y = _data()
    callback = RunlogCallback()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[callback])  # Keras's default batch size
    assert _active(callback).get_params()["batch_size"] == 32
    assert _active(callback).experiment.name == "keras"
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    _model().fit(loader, epochs=1, verbose=0, callbacks=[callback])
    assert _active(callback).get_params()["batch_size"] == 8
    assert _active(callback).get_params()["steps_per_epoch"] == 8


def test_per_batch_logging_is_keras_running_average() -> None:
    x, y = _data()
    seen: list[float] = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
    callback = RunlogCallback(log_every_n_batches=2)
    _model().fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback, probe])
    history = _active(callback).get_metric_history("batch/loss")
    assert [p.step for p in history] == [0, 2, 4, 6]  # global batch index, across epochs
    assert [p.value for p in history] == pytest.approx(seen[::2])


def test_early_stopping_outcome() -> None:
    x, y = _data()
    callback = RunlogCallback()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best_weights=True)
    _model().fit(x, y, batch_size=16, epochs=10, verbose=0, callbacks=[callback, stop])
    run = _active(callback)
    assert run.get_params()["early_stopping.patience"] == 1
    assert run.get_params()["early_stopping.monitor"] == "loss"
    metrics = run.get_metrics()
    assert metrics["early_stopping.stopped"] is True
    assert metrics["early_stopping.stopped_epoch"] == stop.stopped_epoch == 1
    assert metrics["early_stopping.best_epoch"] == 0
    assert metrics["early_stopping.best_value"] == pytest.approx(stop.best)
    assert metrics["early_stopping.weights_restored"] is True
    assert _steps(run)["loss"] == [0, 1]


def test_log_model_uploads_checkpoints_and_final_model() -> None:
    x, y = _data()
    checkpoint = keras.callbacks.ModelCheckpoint("ckpt/epoch{epoch:02d}.weights.h5", save_weights_only=True)
    callback = RunlogCallback(log_model=True)
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[checkpoint, callback])
    names = _active(callback).get_file_names()
    assert names == ["checkpoints/epoch01.weights.h5", "checkpoints/epoch02.weights.h5", "model/model.keras",
                     "model_summary.txt"]
    _active(callback).download_file("model/model.keras", "back.keras")
    restored = keras.models.load_model("back.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("where", ["callback", "train_step"])
def test_failed_fit_ends_run_failed_with_traceback_and_exception_propagates(where: str) -> None:
    x, y = _data()
    error = ValueError(f"boom in the {where} at epoch 1")
    armed: list[bool] = [False]

    class Boom(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            armed[0] = epoch == 1

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if where == "callback" and epoch == 1:
                raise error

    def loss(y_true: Any, y_pred: Any) -> Any:  # runs inside Keras's train step
        if where == "train_step" and armed[0]:
            raise error
        return keras.losses.binary_crossentropy(y_true, y_pred)

    model = _model()
    model.compile(optimizer="adam", loss=loss)
    callback = RunlogCallback()
    with pytest.raises(ValueError) as caught:
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[callback, Boom()])
    assert caught.value is error  # the very same exception object
    run = Experiment("keras").get_runs()[0]  # no gc needed: the run ended as the exception passed
    assert run.get_status() == "Failed"
    assert "Traceback" in run.get_details()["error"] and str(error) in run.get_details()["error"]
    assert _steps(run)["loss"] == ([0, 1] if where == "callback" else [0])
    assert "evaluate" not in vars(model) and not hasattr(model.train_function, "__runlog_original__")


def test_fit_raising_where_unwatched_still_ends_the_run_failed() -> None:
    class Data(keras.utils.PyDataset):  # the data pipeline fails in the second epoch
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            self.calls += 1
            if self.calls > 3:
                raise OSError("data source went away")
            x, y = _data(16)
            return x, y

    callback = RunlogCallback()
    with pytest.raises(OSError, match="went away"):
        _model().fit(Data(), epochs=3, verbose=0, callbacks=[callback])
    run = Experiment("keras").get_runs()[0]
    deadline = time.monotonic() + 60
    while run.get_status() == "Running" and time.monotonic() < deadline:
        gc.collect()  # fit's frame goes with the traceback: the callback list's finalizer ends the run
        time.sleep(0.05)
    assert run.get_status() == "Failed"


def test_two_fits_make_two_runs_without_carry_over() -> None:
    x, y = _data()
    callback = RunlogCallback(log_every_n_batches=1)
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    first = _active(callback)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    second = _active(callback)
    assert first.id != second.id
    assert len(Experiment("keras").get_runs()) == 2
    assert first.get_params()["batch_size"] == 16 and second.get_params()["batch_size"] == 32
    assert _steps(second)["loss"] == [0] and _steps(second)["batch/loss"] == [0, 1]
    assert first.get_status() == second.get_status() == "Completed"


def test_run_passed_in_is_left_open() -> None:
    run = Experiment("mine").start_logging()
    _model().fit(*_data(), epochs=2, verbose=0, callbacks=[RunlogCallback(run=run)])
    assert run.get_status() == "Running"
    assert _steps(run)["loss"] == [0, 1]
    run.complete()


def _fit(callbacks: list[Any]) -> tuple[list[np.ndarray], dict[str, list[float]]]:
    x, y = _data()
    model = _model(seed=7)
    history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0, callbacks=callbacks)
    return model.get_weights(), history.history


@pytest.mark.parametrize("fault", ["write-enospc", "everything-locked"])
def test_failing_store_never_breaks_training(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.sqlite import store as _sqlite

    baseline = _fit([])

    def enospc(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def locked(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    if fault == "write-enospc":
        monkeypatch.setattr(_sqlite.SQLiteStore, "write", enospc)
    else:
        for name in ("write", "get_or_create_experiment", "create_run", "reattach_run", "get_run",
                     "list_runs", "get_series", "get_params"):
            monkeypatch.setattr(_sqlite.SQLiteStore, name, locked)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights, history = _fit([RunlogCallback(log_every_n_batches=1, log_model=True)])
    assert history == baseline[1]
    assert all(np.array_equal(a, b) for a, b in zip(weights, baseline[0]))  # bitwise
    ours = [str(w.message) for w in caught if str(w.message).startswith("runlog:")]
    assert ours, "the failure is reported"
    assert len(ours) == len(set(ours)) <= 4, ours  # at most once per kind of failure


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.sqlite import store as _sqlite

    monkeypatch.setenv("RUNLOG_STRICT_INTEGRATIONS", "1")
    monkeypatch.setattr(_sqlite.SQLiteStore, "create_run",
                        lambda *a, **k: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")))
    with pytest.raises(sqlite3.OperationalError):
        _model().fit(*_data(), epochs=1, verbose=0, callbacks=[RunlogCallback()])


def test_bad_arguments_raise_runlog_errors_at_construction() -> None:
    for kwargs, argument in (({"run": "abc"}, "run"), ({"experiment": 3}, "experiment"),
                             ({"log_every_n_batches": 0}, "log_every_n_batches"),
                             ({"log_every_n_batches": 1.5}, "log_every_n_batches"), ({"log_model": "yes"}, "log_model")):
        with pytest.raises(InvalidArgumentError, match=argument) as caught:
            RunlogCallback(**kwargs)
        assert caught.value.argument == argument and isinstance(caught.value, TypeError)


def test_callback_pickles_before_and_after_a_fit_without_model_or_run() -> None:
    callback = RunlogCallback(experiment=Experiment("keras-pickle"), log_every_n_batches=2)
    before = pickle.loads(pickle.dumps(callback))
    model = _model()
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[callback])
    data = pickle.dumps(callback)
    assert b"keras.src" not in data  # the model stays out
    after = pickle.loads(data)
    assert after.run is None and after._every == 2
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[after])
    model.fit(*_data(), epochs=1, verbose=0, callbacks=[before])
    runs = Experiment("keras-pickle").get_runs()
    assert [run.get_status() for run in runs] == ["Completed"] * 3


@pytest.mark.parametrize("attach", ["by hand", "autolog"])
def test_submitted_run_gets_the_fit(attach: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import runlog_core

    with submitted_run(monkeypatch) as submitted:
        if attach == "autolog":
            runlog_core.autolog(frameworks="keras", experiment="named-but-submitted")
            try:
                _model().fit(*_data(), batch_size=16, epochs=2, verbose=0)
            finally:
                runlog_core.autolog(frameworks="keras", disable=True)
        else:
            _model().fit(*_data(), batch_size=16, epochs=2, verbose=0, callbacks=[RunlogCallback()])
        assert submitted.get_status() == "Running"  # the submitter ends it, not the callback
        assert _steps(submitted)["loss"] == [0, 1]
        assert submitted.get_params()["batch_size"] == 16
        assert runs_outside(submitted) == []


def test_never_imports_tensorflow() -> None:
    code = ("import os; os.environ['KERAS_BACKEND'] = 'torch'; import sys, runlog_integrations.keras; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

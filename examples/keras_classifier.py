"""Train a small Keras 3 classifier (torch backend by default) and record it with runlog.

Generated data, CPU, well under a minute; TensorFlow is not needed. Afterwards:

    runlog runs -e keras_classifier
    runlog show <run id printed at the end>

Its best model is kept under the store's folder (``./runlog/checkpoints/keras_classifier/best.keras`` by
default), never in the folder you run it from.
"""

from __future__ import annotations

import getpass
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from runlog_core import Experiment
from runlog_integrations.keras import RunlogCallback


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).standard_normal((3, 20)) * 0.35
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.standard_normal((n, 20))).astype("float32"), y


def checkpoint_folder(name: str) -> str:
    """The folder for this example's checkpoints: under the store's folder (``RUNLOG_STORE``, else ./runlog),
    or, for a store that is not a local folder, a folder of this user's under the system's temporary folder."""
    store = os.environ.get("RUNLOG_STORE") or "runlog"
    if "://" in store:
        return os.path.join(tempfile.gettempdir(), f"runlog-{getpass.getuser()}", "checkpoints", name)
    return os.path.join(store, "checkpoints", name)


def main() -> None:
    keras.utils.set_random_seed(0)
    x, y = data(4000, 1)
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callback = RunlogCallback(experiment=Experiment("keras_classifier"), log_every_n_batches=20, log_model=True)
    model.fit(x, y, batch_size=64, epochs=10, validation_split=0.2, verbose=2, callbacks=[
        callback,
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(os.path.join(checkpoint_folder("keras_classifier"), "best.keras"),
                                        monitor="val_loss", save_best_only=True),
    ])
    run = callback.run
    val_accuracy = run.get_metric_history("val_accuracy")[-1].value
    print(f"run {run.id} ({run.get_status()}): val_accuracy {val_accuracy:.3f}, "
          f"files {run.get_file_names()}")
    print(f"see it with: runlog show {run.id}")


if __name__ == "__main__":
    main()

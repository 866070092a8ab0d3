"""Keras 3: a callback that records a ``fit`` into a runlog run, on any backend.

``model.fit(..., callbacks=[RunlogCallback()])`` logs the fit's settings, the optimizer, the loss,
parameter counts and the model summary at train begin, every entry of ``logs`` per epoch (and per
batch when asked), the early-stopping outcome, and on request the checkpoints and the final model.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from typing import Any

try:
    import keras
    from keras.callbacks import Callback, EarlyStopping, ModelCheckpoint
except ImportError as err:
    raise ImportError("runlog_integrations.keras needs Keras 3: pip install 'runlog[keras]'") from err

from typing_extensions import override

from runlog_core import Experiment, Run
from runlog_core._guard import WarnOnce

__all__ = ["RunlogCallback"]

_FIT_ARGS = ("batch_size", "epochs", "validation_split", "shuffle", "initial_epoch", "steps_per_epoch",
             "validation_steps", "validation_batch_size", "validation_freq")


def _number(value: Any) -> Any:
    """A Python number for a log value (already pythonified by Keras, or a backend scalar)."""
    t = type(value)
    if t is float or t is int or t is bool:
        return value
    try:
        return float(keras.ops.convert_to_numpy(value))
    except Exception:
        return float(value)


class RunlogCallback(Callback):
    """Record a Keras ``fit`` in a runlog run.

    Args:
        run: log into this run; it is left open for its owner.
        experiment: an :class:`~runlog_core.Experiment` or its name; each ``fit`` then starts its
            own run there and ends it Completed, or Failed when ``fit`` raised. Default ``"keras"``.
        log_every_n_batches: also log Keras's per-batch logs every ``n`` batches, as
            ``batch/<name>`` at the global batch index. Keras reports running averages over the
            epoch so far there, not per-batch values.
        log_model: upload the files ``ModelCheckpoint`` wrote during the fit and the final model
            (``model/model.keras``).
        store: the store for a run the callback starts (a folder or URI).

    Example::

        model.fit(x, y, epochs=5, callbacks=[RunlogCallback(experiment="mnist")])
    """

    # our batch hook only appends to an in-memory buffer: Keras may call it from its dispatch thread
    async_safe = True

    def __init__(self, run: Run | None = None, experiment: Experiment | str | None = None,
                 log_every_n_batches: int | None = None, log_model: bool = False,
                 store: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if run is not None and not isinstance(run, Run):
            raise TypeError(f"run must be a runlog Run or None, got {type(run).__name__}: {run!r}")
        if experiment is not None and not isinstance(experiment, (Experiment, str)):
            raise TypeError(f"experiment must be an Experiment, a name or None, got "
                            f"{type(experiment).__name__}: {experiment!r}")
        if log_every_n_batches is not None and (type(log_every_n_batches) is not int or log_every_n_batches < 1):
            raise ValueError(f"log_every_n_batches must be a positive int or None, got {log_every_n_batches!r}")
        self._given_run = run
        self._experiment = experiment
        self._store = store
        self._every = log_every_n_batches
        self._log_model = bool(log_model)
        self.run: Run | None = run
        self._guard = WarnOnce()
        self._fit_locals: dict[str, Any] = {}
        self._callbacks: list[Any] = []
        self._started_at = 0.0
        self._batches = 0
        self._ended = True
        self._fit_index = 0

    # -- guard ----------------------------------------------------------------------------------

    def _fail(self, what: str, err: BaseException) -> None:
        self._guard(what, err)

    # -- train begin --------------------------------------------------------------------------------

    @override
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._ended:  # the previous fit raised and its frame is still alive
            self._fit_raised(self._fit_index)
        self._fit_index += 1
        self._batches = 0
        self._started_at = time.time()
        self._ended = False
        try:
            self._find_fit()
        except Exception as err:
            self._fail("read the fit arguments", err)
        try:
            if self._given_run is None:
                experiment = self._experiment
                if not isinstance(experiment, Experiment):
                    experiment = Experiment(experiment or "keras", store=self._store)
                    self._experiment = experiment
                # one run per fit: params and steps never carry over from a previous fit
                self.run = experiment.start_logging(outputs=None)
            else:
                self.run = self._given_run
        except Exception as err:
            self.run = None
            self._fail("start the run", err)
            return
        try:
            self.run.log_params(self._params())
        except Exception as err:
            self._fail("log the fit's parameters", err)
        try:
            lines: list[str] = []
            self.model.summary(print_fn=lambda line, **_: lines.append(line))
            self.run.upload_file("model_summary.txt", io.BytesIO("\n".join(lines).encode()))
        except Exception as err:
            self._fail("store the model summary", err)

    def _find_fit(self) -> None:
        """Read ``fit``'s arguments and callbacks from its frame: Keras hands callbacks neither.

        The batch size, like MLflow's autolog, comes from the ``fit`` call; the callback list
        gives the early-stopping outcome and, when the fit raises, a way to see that it did.
        """
        self._fit_locals, self._callbacks = {}, []
        model = self.model
        frame = sys._getframe(1)
        for _ in range(12):
            if frame is None:
                return
            if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
                local = frame.f_locals
                self._fit_locals = {key: local.get(key) for key in _FIT_ARGS}
                if self._fit_locals.get("batch_size") is None:
                    adapter = getattr(local.get("epoch_iterator"), "data_adapter", None)
                    self._fit_locals["batch_size"] = getattr(adapter, "batch_size", None)
                callback_list = local.get("callbacks")
                self._callbacks = list(getattr(callback_list, "callbacks", []) or [])
                if callback_list is not None and self._given_run is None:
                    # the list lives as long as fit's frame: if it goes before on_train_end,
                    # fit raised (Keras has no on_exception hook)
                    weakref.finalize(callback_list, _fit_gone, weakref.ref(self), self._fit_index)
                return
            frame = frame.f_back

    def _params(self) -> dict[str, Any]:
        model = self.model
        params: dict[str, Any] = {}
        fit = dict(self._fit_locals)
        keras_params = self.params or {}
        fit["epochs"] = keras_params.get("epochs", fit.get("epochs"))
        fit["steps_per_epoch"] = keras_params.get("steps", fit.get("steps_per_epoch"))
        params.update({key: value for key, value in fit.items() if key in _FIT_ARGS})
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            params["optimizer_name"] = type(optimizer).__name__
            config = optimizer.get_config()
            params["optimizer"] = {key: _plain(value) for key, value in config.items() if key != "name"}
        loss = getattr(model, "loss", None)
        if loss is not None:
            params["loss"] = _name_of(loss)
        trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
        params["trainable_params"] = int(trainable)
        params["total_params"] = int(model.count_params())
        params["keras_backend"] = keras.backend.backend()
        return params

    # -- per epoch and batch ------------------------------------------------------------------------

    @override
    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        run = self.run
        if run is None:
            return
        try:
            metrics = {key: _number(value) for key, value in (logs or {}).items()}
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and "learning_rate" not in metrics:
                metrics["learning_rate"] = _number(optimizer.learning_rate)
            run.log_metrics(metrics, step=epoch)
        except Exception as err:
            self._fail("log the epoch's metrics", err)

    @override
    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        every = self._every
        if every is None:
            return
        step = self._batches
        self._batches = step + 1
        if step % every or self.run is None:
            return
        try:
            self.run.log_metrics({f"batch/{key}": _number(value) for key, value in (logs or {}).items()},
                                 step=step)
        except Exception as err:
            self._fail("log the batch's metrics", err)

    # -- train end ----------------------------------------------------------------------------------

    @override
    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._ended = True
        run = self.run
        if run is None:
            return
        try:
            self._early_stopping(run)
        except Exception as err:
            self._fail("log the early-stopping outcome", err)
        if self._log_model:
            try:
                self._upload_model(run)
            except Exception as err:
                self._fail("upload the model", err)
        if self._given_run is None:
            try:
                run.complete()
            except Exception as err:
                self._fail("end the run", err)

    def _early_stopping(self, run: Run) -> None:
        for callback in self._callbacks:
            if not isinstance(callback, EarlyStopping):
                continue
            run.log_params({"early_stopping": {
                "monitor": callback.monitor, "patience": callback.patience, "min_delta": abs(callback.min_delta),
                "mode": getattr(callback, "mode", "auto"), "baseline": callback.baseline,
                "restore_best_weights": callback.restore_best_weights,
                "start_from_epoch": getattr(callback, "start_from_epoch", 0)}})
            stopped = int(callback.stopped_epoch)
            outcome: dict[str, Any] = {
                "early_stopping.stopped": stopped > 0,
                "early_stopping.stopped_epoch": stopped,
                "early_stopping.best_epoch": int(getattr(callback, "best_epoch", 0)),
                # Keras restores on its own on_train_end when it has best weights
                "early_stopping.weights_restored": bool(callback.restore_best_weights
                                                        and callback.best_weights is not None),
            }
            if callback.best is not None and math.isfinite(float(callback.best)):
                outcome["early_stopping.best_value"] = float(callback.best)
            run.log_metrics(outcome, step=0)
            return

    def _upload_model(self, run: Run) -> None:
        for callback in self._callbacks:
            if not isinstance(callback, ModelCheckpoint):
                continue
            pattern = re.sub(r"\{[^}]*\}", "*", callback.filepath)
            for path in sorted(glob.glob(pattern)):
                if os.path.isfile(path) and os.path.getmtime(path) >= self._started_at - 1:
                    run.upload_file(f"checkpoints/{os.path.basename(path)}", path)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            self.model.save(path)
            run.upload_file("model/model.keras", path)

    def _fit_raised(self, index: int) -> None:
        if self._ended or index != self._fit_index:
            return
        self._ended = True
        run, self.run = self.run, None
        if run is not None and self._given_run is None:
            try:
                run.fail("model.fit raised an exception before on_train_end")
            except Exception as err:
                self._fail("end the run", err)


def _fit_gone(ref: weakref.ref[RunlogCallback], index: int) -> None:
    callback = ref()
    if callback is not None:
        callback._fit_raised(index)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        return float(keras.ops.convert_to_numpy(value))
    except Exception:
        return str(value)


def _name_of(loss: Any) -> Any:
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Mapping):
        return {str(k): _name_of(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [_name_of(v) for v in loss]
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__

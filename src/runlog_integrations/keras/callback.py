"""Keras 3: a callback that records a ``fit`` into a runlog run, on any backend.

``model.fit(..., callbacks=[RunlogCallback()])`` logs the fit's settings, the optimizer, the loss,
parameter counts and the model summary at train begin, every entry of ``logs`` per epoch (and per
batch when asked), the early-stopping outcome, and on request the checkpoints and the final model.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
import glob
import inspect
import io
import math
import os
import re
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

try:
    import keras
    from keras.callbacks import Callback, EarlyStopping, ModelCheckpoint
except ImportError as err:
    raise ImportError("runlog_integrations.keras needs Keras 3: pip install 'runlog[keras]'") from err

from typing_extensions import override

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.integration import Patches, WarnOnce, check_target, end_run, nested, resolve_run, selected, warn_once
from runlog_integrations.keras.values import control_flow, name_of, number, plain

__all__ = ["RunlogCallback", "attach_autolog"]

DEFAULT_EXPERIMENT = "keras"

# what fit calls between on_train_begin and on_train_end: an exception from any of them ends
# our run Failed with its traceback (Keras has no on_exception hook for callbacks)
_LIST_METHODS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin",
                 "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_train_end")
_MODEL_METHODS = ("train_function", "evaluate")
_FIT_ARGS = ("batch_size", "epochs", "validation_split", "shuffle", "initial_epoch", "steps_per_epoch",
             "validation_steps", "validation_batch_size", "validation_freq")


class RunlogCallback(Callback):
    """Record a Keras ``fit`` in a runlog run.

    Which run: ``run=`` when given; else, under ``runlog submit``, the submitted run; else each
    ``fit`` starts a run of its own in ``experiment=``, ``RUNLOG_EXPERIMENT`` or ``"keras"``, and
    ends it Completed, or Failed with the traceback when ``fit`` raised. A run it did not start
    is left open for its owner.

    Args:
        run: log into this run.
        experiment: an :class:`~runlog_core.Experiment` or its name, for the runs it starts.
        log_every_n_batches: also log Keras's per-batch logs every ``n`` batches, as
            ``batch/<name>`` at the global batch index. Keras reports running averages over the
            epoch so far there, not per-batch values.
        log_model: upload the files ``ModelCheckpoint`` wrote during the fit and the final model
            (``model/model.keras``).
        store: the store for a run the callback starts (a folder or URI).

    Raises:
        InvalidArgumentError: ``run`` is not a Run, ``experiment`` not a name or an Experiment,
            ``log_every_n_batches`` not a positive int, or ``log_model`` not a bool.

    Example::

        model.fit(x, y, epochs=5, callbacks=[RunlogCallback(experiment="mnist")])
    """

    # our batch hook only appends to an in-memory buffer: Keras may call it from its dispatch thread
    async_safe = True

    def __init__(self, run: Run | None = None, experiment: Experiment | str | None = None,
                 log_every_n_batches: int | None = None, log_model: bool = False,
                 store: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        check_target(run, experiment)
        if log_every_n_batches is not None and (type(log_every_n_batches) is not int or log_every_n_batches < 1):
            raise InvalidArgumentError("log_every_n_batches", log_every_n_batches, "a positive int or None")
        if not isinstance(log_model, bool):
            raise InvalidArgumentError("log_model", log_model, "True or False")
        self._given_run = run
        self._experiment = experiment
        self._store = store
        self._every = log_every_n_batches
        self._log_model = log_model
        self.run: Run | None = run
        self._owned = False
        self._guard = WarnOnce()
        self._patches = Patches(weak=True)
        self._fit_locals: dict[str, Any] = {}
        self._callbacks: list[Any] = []
        self._started_at = 0.0
        self._batches = 0
        self._ended = True
        self._fit_index = 0

    # -- pickling: the callback travels with its settings; a run it started stays here ------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        experiment = state["_experiment"]
        if isinstance(experiment, Experiment):  # its open store stays here: keep what names it
            state["_experiment"], state["_store"] = experiment.name, experiment.store
        # the model and the fit's callbacks are the user's to pickle; a given run pickles as its id
        state.update(_model=None, params=None, run=self._given_run, _owned=False, _patches=Patches(weak=True),
                     _fit_locals={}, _callbacks=[], _ended=True)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- guard ----------------------------------------------------------------------------------

    def _fail(self, what: str, err: BaseException) -> None:
        self._guard(what, err)

    # -- train begin --------------------------------------------------------------------------------

    @override
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._ended:  # the previous fit raised where we could not see it
            self._fit_raised(self._fit_index)
        self._fit_index += 1
        self._batches = 0
        self._started_at = time.time()
        self._ended = False
        callback_list: Any = None
        try:
            callback_list = self._find_fit()
        except Exception as err:
            self._fail("read the fit arguments", err)
        try:
            # one run per fit when it is ours: params and steps never carry over from a previous fit
            self.run, self._owned = resolve_run(run=self._given_run, experiment=self._experiment,
                                                default=DEFAULT_EXPERIMENT, store=self._store)
        except Exception as err:
            self.run, self._owned = None, False
            self._fail("start the run", err)
            return
        if self._owned:
            try:
                self._watch(callback_list)
            except Exception as err:
                self._fail("watch the fit for exceptions", err)
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

    def _find_fit(self) -> Any:
        """Read ``fit``'s arguments and callback list from its frame: Keras hands callbacks neither.

        The batch size, like MLflow's autolog, comes from the ``fit`` call (no public way: the
        guard turns a Keras that moved it into one warning, and a test runs against the installed
        release); the callback list gives the early-stopping outcome and a way to see ``fit`` raise.
        """
        self._fit_locals, self._callbacks = {}, []
        model = self.model
        frame: Any = sys._getframe(1)
        for _ in range(12):
            if frame is None:
                break
            if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
                local = frame.f_locals
                self._fit_locals = {key: local.get(key) for key in _FIT_ARGS}
                if self._fit_locals.get("batch_size") is None:
                    adapter = getattr(local.get("epoch_iterator"), "data_adapter", None)
                    self._fit_locals["batch_size"] = getattr(adapter, "batch_size", None)
                callback_list = local.get("callbacks")
                self._callbacks = list(getattr(callback_list, "callbacks", []) or [])
                return callback_list
            frame = frame.f_back
        raise LookupError(f"no Model.fit frame above on_train_begin (Keras {keras.__version__}): "
                          "batch_size and early stopping are not logged")

    def _watch(self, callback_list: Any) -> None:
        """Until on_train_end, route what ``fit`` calls through :meth:`_fit_failed` on an exception.

        Keras tells callbacks nothing when ``fit`` raises: the fit's callback list and the model's
        train step are wrapped for the fit's length (instance attributes, put back at its end).
        Should ``fit`` raise elsewhere, the list's finalizer (it lives as long as fit's frame)
        ends the run Failed without a traceback.
        """
        index = self._fit_index
        owners: list[tuple[Any, tuple[str, ...]]] = [(self.model, _MODEL_METHODS)]
        if callback_list is not None:
            owners.append((callback_list, _LIST_METHODS))
            weakref.finalize(callback_list, _fit_gone, weakref.ref(self), index)
        for owner, names in owners:
            for name in names:
                if callable(getattr(owner, name, None)):
                    self._patches.patch(owner, name, functools.partial(_watched, weakref.ref(self), index))

    def _fit_failed(self, error: BaseException, index: int | None = None) -> None:
        """``fit`` raised ``error``: end our run as a with-block would (Failed, with the traceback)."""
        if self._ended or (index is not None and index != self._fit_index):
            return
        self._ended = True
        self._patches.restore()
        run, self.run = self.run, None
        if run is not None and self._owned:
            try:
                end_run(run, error)
            except Exception as err:
                self._fail("end the run", err)
        self._owned = False

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
            params["optimizer"] = {key: plain(value) for key, value in config.items() if key != "name"}
        loss = getattr(model, "loss", None)
        if loss is not None:
            params["loss"] = name_of(loss)
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
            metrics = {key: number(value) for key, value in (logs or {}).items()}
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and "learning_rate" not in metrics:
                metrics["learning_rate"] = number(optimizer.learning_rate)
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
            self.run.log_metrics({f"batch/{key}": number(value) for key, value in (logs or {}).items()},
                                 step=step)
        except Exception as err:
            self._fail("log the batch's metrics", err)

    # -- train end ----------------------------------------------------------------------------------

    @override
    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._ended = True
        self._patches.restore()
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
        if self._owned:
            self._owned = False
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
        """``fit`` ended without on_train_end, raising where it was not watched (no traceback here)."""
        if self._ended or index != self._fit_index:
            return
        self._ended = True
        self._patches.restore()
        run, self.run = self.run, None
        if run is not None and self._owned:
            try:
                run.fail("model.fit raised an exception before on_train_end")
            except Exception as err:
                self._fail("end the run", err)
        self._owned = False


def _fit_gone(ref: weakref.ref[RunlogCallback], index: int) -> None:
    callback = ref()
    if callback is not None:
        callback._fit_raised(index)


def _watched(ref: weakref.ref[RunlogCallback], index: int, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` reporting an exception to the callback, then raising it unchanged."""

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except BaseException as error:
            callback = ref()
            # the TensorFlow backend ends an epoch of unknown length with an exception it catches
            if callback is not None and not control_flow(error):
                callback._fit_failed(error, index)
            raise

    return call


# -- autolog --------------------------------------------------------------------------------------


class _Autolog:
    """What ``autolog()`` set: the patched ``Model.fit`` and the experiment of the runs."""

    def __init__(self) -> None:
        self.patches = Patches()
        self.experiment: str | None = None


_state = _Autolog()


def _wrap_fit(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(model: Any, *args: Any, **kwargs: Any) -> Any:
        if nested.get() or not _state.patches:
            return original(model, *args, **kwargs)
        ours: RunlogCallback | None = None
        try:
            bound = signature.bind(model, *args, **kwargs)
            callbacks = bound.arguments.get("callbacks")
            current = list(callbacks) if callbacks else []
            if not any(isinstance(item, RunlogCallback) for item in current):
                ours = RunlogCallback(experiment=_state.experiment)
                bound.arguments["callbacks"] = [*current, ours]
                args, kwargs = bound.args[1:], bound.kwargs
        except Exception as err:
            warn_once("add a RunlogCallback to Model.fit", err)
        token = nested.set(True)
        try:
            return original(model, *args, **kwargs)
        except BaseException as error:
            if ours is not None:
                ours._fit_failed(error)
            raise
        finally:
            nested.reset(token)

    return fit


def attach_autolog(config: dict[str, Any]) -> None:
    """Add a :class:`RunlogCallback` to every ``Model.fit`` call that has none, or put ``fit`` back.

    Called by runlog's ``runlog`` entry-point plugin when ``autolog()`` selects Keras.

    Args:
        config: ``autolog()``'s settings: ``frameworks`` (``None`` for all), ``experiment``
            (the runs' experiment: ``None`` for the submitted run, else ``RUNLOG_EXPERIMENT``,
            else ``"keras"``) and ``disable``.
    """
    if not selected(config, "keras"):
        return
    if config.get("disable"):
        _state.patches.restore()
        return
    _state.experiment = config.get("experiment")
    _state.patches.patch(keras.Model, "fit", _wrap_fit)

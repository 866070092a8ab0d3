"""The worker side: :func:`setup_runlog`, and how the driver tells a trial which run is its own.

A trainable runs in a Ray worker process, possibly on another host. When the Tuner run's first
trial has started, and before its trainable is first called (``TuneController._actor_started``
calls ``Callback.on_trial_start`` first), :class:`~runlog_integrations.ray.RunlogLoggerCallback`
publishes ``{store, experiment, parent_id}`` once for the Tuner run, under its name, in the
cluster's key-value store (the GCS, which Ray Tune's own registry uses too); each trial's child
has the id ``stable_run_id(parent_id, trial_id)``, so :func:`setup_runlog` derives it from the
trial's id and opens that very run: one child per trial, whoever calls ``setup_runlog`` and how
often. (A child whose id is not derived so, one found again by its tag after a restore, is
published under the trial's own id, which is read first.)
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from ray.experimental import internal_kv
from ray.tune import get_context

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError, RunlogError, RunNotFoundError
from runlog_core.integration import (
    WarnOnce,
    current_trial_run,
    experiment_from_environment,
    resolve_run,
    set_active_run,
    stable_run_id,
)

__all__ = ["child_id", "forget", "forget_tuner", "publish", "publish_tuner", "setup_runlog"]

_NAMESPACE = "runlog"
_lock = threading.Lock()
_opened: dict[str, Run] = {}  # trial id -> its run, in this worker process
_warn = WarnOnce("the trial goes on")


def _key(trial_id: str) -> bytes:
    return f"ray/trial/{trial_id}".encode()


def _tuner_key(name: str) -> bytes:
    return f"ray/tuner/{name}".encode()


def child_id(parent_id: str, trial_id: str) -> str:
    """The id of the trial ``trial_id``'s child of the parent ``parent_id``, as driver and workers derive it."""
    return stable_run_id("ray", parent_id, trial_id)


def publish_tuner(name: str, store: str, experiment: str, parent_id: str) -> None:
    """Tell the workers of the Tuner run ``name`` its parent (called once a Tuner run by the driver):
    a trial's child is ``child_id(parent_id, trial_id)``."""
    if not internal_kv._internal_kv_initialized():
        return
    value = json.dumps({"store": store, "experiment": experiment, "parent_id": parent_id}).encode()
    internal_kv._internal_kv_put(_tuner_key(name), value, overwrite=True, namespace=_NAMESPACE)


def forget_tuner(name: str, parent_id: str) -> None:
    """The Tuner run ended: its entry goes, unless another Tuner run of that name has replaced it."""
    if not internal_kv._internal_kv_initialized():
        return
    raw = internal_kv._internal_kv_get(_tuner_key(name), namespace=_NAMESPACE)
    if raw is not None and json.loads(raw).get("parent_id") == parent_id:
        internal_kv._internal_kv_del(_tuner_key(name), namespace=_NAMESPACE)


def publish(trial_id: str, store: str, experiment: str, run_id: str) -> None:
    """Tell the trial ``trial_id``'s workers which run is theirs (called by the driver)."""
    if not internal_kv._internal_kv_initialized():  # no Ray cluster connected: no trial can ask
        return
    value = json.dumps({"store": store, "experiment": experiment, "run_id": run_id}).encode()
    internal_kv._internal_kv_put(_key(trial_id), value, overwrite=True, namespace=_NAMESPACE)


def forget(trial_id: str) -> None:
    """The trial ended: its entry goes (a retried or restored trial is published again)."""
    if internal_kv._internal_kv_initialized():
        internal_kv._internal_kv_del(_key(trial_id), namespace=_NAMESPACE)


def _published(trial_id: str, tuner: str) -> dict[str, str] | None:
    """``{store, experiment, run_id}`` of the trial's child: published for the trial, else derived
    from its Tuner run's entry; None when no callback published either."""
    if not internal_kv._internal_kv_initialized():
        return None
    raw = internal_kv._internal_kv_get(_key(trial_id), namespace=_NAMESPACE)
    if raw is not None:
        return json.loads(raw)
    raw = internal_kv._internal_kv_get(_tuner_key(tuner), namespace=_NAMESPACE)
    if raw is None:
        return None
    entry = json.loads(raw)
    return {"store": entry["store"], "experiment": entry["experiment"],
            "run_id": child_id(entry["parent_id"], trial_id)}


def _trial() -> tuple[str, str, str]:
    """The current trial's id, name and experiment name; a clear error outside a trainable."""
    context = get_context()
    with warnings.catch_warnings():  # Ray warns and returns None outside a trial: we raise instead
        warnings.simplefilter("ignore")
        trial_id = context.get_trial_id()
        name = context.get_trial_name()
        experiment = context.get_experiment_name()
    if not trial_id:
        raise RunlogError("setup_runlog() must be called inside a Ray Tune trainable (a function or "
                          "Trainable run by tune.Tuner); outside one, use Experiment.start_logging()")
    return str(trial_id), str(name), str(experiment)


def _open_published(entry: dict[str, str]) -> Run:
    """The published run, logged into from this process and never ended here (the driver ends it).

    Made the process's context run as ``runlog submit`` does (``RUNLOG_RUN_ID``, ``RUNLOG_STORE``),
    so that ``Run.get_context()`` and integrations created without ``run=`` log into it too, and
    whatever it logged is committed when the worker ends.
    """
    run = Run(Experiment(entry["experiment"], store=entry["store"]), entry["run_id"])  # RunNotFoundError if not
    os.environ["RUNLOG_STORE"], os.environ["RUNLOG_RUN_ID"] = entry["store"], entry["run_id"]
    context = Run.get_context()
    if context.id == entry["run_id"]:
        return context
    # this worker process served another trial before (reuse_actors=True): its context run is
    # that trial's; log into this one by its id (made the trial's active run by setup_runlog),
    # committed by flush() and at the latest at exit
    import atexit

    atexit.register(run.flush)
    return run


def setup_runlog(config: Mapping[str, Any] | None = None) -> Run:
    """The current trial's run, inside a Ray Tune trainable.

    With :class:`~runlog_integrations.ray.RunlogLoggerCallback` in the Tuner's ``RunConfig``, this
    is the child run the callback made for the trial (never a second one, however often it is
    called); the callback ends it with the trial's outcome. ``Run.get_context()`` and the
    integrations created without ``run=``/``experiment=`` (Lightning, Keras, XGBoost) log into it
    too. Without the callback, the trial gets a run of its own in the experiment
    ``config["runlog"]["experiment"]``, else ``RUNLOG_EXPERIMENT``, else the Ray experiment's
    name, in the store ``config["runlog"]["store"]``, else ``RUNLOG_STORE`` as the worker sees it,
    with the rest of the config as params; it ends when the trial's process does.

    Args:
        config: the trial's config (what the trainable was called with), or None.

    Returns:
        The trial's :class:`~runlog_core.Run`.

    Raises:
        InvalidArgumentError: ``config`` is not a dict or None.
        RunlogError: called outside a Ray Tune trainable.

    Example::

        def train(config):
            run = setup_runlog(config)
            for step in range(10):
                run.log("extra", step)            # besides what tune.report sends
                tune.report({"loss": 1 / (step + 1)})
            run.upload_file("model.txt", b"...")
    """
    if config is not None and not isinstance(config, Mapping):
        raise InvalidArgumentError("config", config, "the trial's config (a dict) or None")
    trial_id, trial_name, ray_experiment = _trial()
    with _lock:
        run = _opened.get(trial_id)
        if run is not None:
            _activate(run)
            return run
        entry = _published(trial_id, ray_experiment)
        run = None
        if entry is not None:
            try:
                run = _open_published(entry)
            except RunNotFoundError:  # an entry left by an earlier Tuner run of that name
                run = None
        if run is None:
            own = config.get("runlog") if config is not None else None
            own = own if isinstance(own, Mapping) else {}
            tags = {"ray.trial_id": trial_id}
            target, owned = resolve_run(experiment=own.get("experiment") or experiment_from_environment() or ray_experiment,
                                        default=ray_experiment, store=own.get("store"), name=trial_name, tags=tags)
            run = target if owned else target.child_run(name=trial_name, tags=tags)  # never mix two trials
            if config:
                try:
                    run.log_params({k: v for k, v in config.items() if k != "runlog"})
                except RunlogError as err:
                    _warn("log the trial's config", err)
        _opened[trial_id] = run
        _activate(run)
        _flush_when_done(run)
        return run


def _activate(run: Run) -> None:
    """Make ``run`` the one ``Run.get_context()`` (and integrations created without ``run=``) give in
    this thread, the trainable's: with ``reuse_actors=True`` the process's context run is another
    trial's. The trainable's thread ends with the trial, and the setting with it."""
    if current_trial_run() is not run:
        set_active_run(run)


def _flush_when_done(run: Run) -> None:
    """Commit what the trial logged as soon as its function returns or raises.

    A trial's worker process ends in its own time after the trial, or is killed, so the writer's
    last batch (up to ``RUNLOG_FLUSH_INTERVAL`` of values) would wait for that exit, or be lost
    with the process. A function trainable
    runs on a thread of its own, started for the trial: a watcher flushes once it ends. (A class
    ``Trainable`` calls ``run.flush()`` in its ``cleanup()``.)
    """
    runner = threading.current_thread()
    if runner is threading.main_thread():
        return

    def watch() -> None:
        runner.join()
        try:
            run.flush()
        except Exception as err:
            _warn("commit what the trial logged", err)

    threading.Thread(target=watch, name="runlog-ray-flush", daemon=True).start()

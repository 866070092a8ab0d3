"""The API for code built on runlog's core: framework integrations, the web UI and third-party tools.

runlog's own integrations (``runlog_integrations``) and its web UI (``runlog_ui``) use the core only
through public modules: ``runlog_core``, ``runlog_core.exceptions``, ``runlog_core.hookspecs``,
``runlog_core.store``, ``runlog_core.views`` and this one. A third-party integration can do what they
do with the same names (docs/architecture.md, "Where things plug in").

Which run to log into (one rule for every integration, see :func:`resolve_run`)::

    run, owned = resolve_run(run=run_arg, experiment=experiment_arg, default="mytool")
    try:
        train()
    except BaseException as error:
        if owned:
            end_run(run, error)      # Failed with the traceback (Canceled for Ctrl-C), then re-raise
        raise
    if owned:
        end_run(run, None)           # Completed

Sweep engines (Optuna, Ray Tune): :func:`active_run` makes a trial's run the one ``Run.get_context()``
and :func:`resolve_run` give in the thread or task running the trial (:func:`set_active_run` /
:func:`reset_active_run` without a ``with`` block, :func:`current_trial_run` to read it);
:func:`stable_run_id` and :func:`open_run` let workers in many processes make one run per id;
:func:`end_trial_run` ends a trial's run as the engine ended the trial, without a round trip to the store.

Never break the user's training: ``guard = WarnOnce()``, then ``guard("log the model", err)`` where
runlog's own code failed inside a framework hook (one warning per kind of failure; raises instead
under ``RUNLOG_STRICT_INTEGRATIONS=1``).

``autolog()`` support, for a plugin implementing the ``runlog_autolog(config)`` hook:
:class:`Patches` (patch framework functions, restored by identity on ``autolog(disable=True)``),
:func:`selected` (whether ``config`` asks for this framework), :data:`nested` (a context variable
that is True while an integration's own code runs, so patched calls inside it are not recorded
twice) and :data:`warn_once` (the guard shared by autolog patches).
"""

from __future__ import annotations

from runlog_core.base import config as _config
from runlog_core.base.values import flatten_params
from runlog_core.integration.autolog import FRAMEWORKS, Patches, nested, selected, warn_once
from runlog_core.integration.guard import WarnOnce, strict
from runlog_core.integration.target import check_target, end_run, resolve_run
from runlog_core.integration.trial import (
    active_run,
    current_trial_run,
    end_trial_run,
    open_run,
    reset_active_run,
    set_active_run,
    stable_run_id,
)
from runlog_core.plugins.manager import open_store

__all__ = [
    "FRAMEWORKS",
    "Patches",
    "WarnOnce",
    "active_run",
    "check_target",
    "current_trial_run",
    "end_run",
    "end_trial_run",
    "experiment_from_environment",
    "flatten_params",
    "nested",
    "open_run",
    "open_store",
    "reset_active_run",
    "resolve_run",
    "selected",
    "set_active_run",
    "stable_run_id",
    "strict",
    "submitted_run_id",
    "warn_once",
]


def submitted_run_id() -> str | None:
    """The id of the submitted run this process belongs to (``RUNLOG_RUN_ID`` under ``runlog submit``), or None."""
    return _config.run_id() or None


def experiment_from_environment() -> str | None:
    """The experiment named by ``RUNLOG_EXPERIMENT``, or None."""
    return _config.experiment() or None

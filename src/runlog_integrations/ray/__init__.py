"""Ray Tune: one parent run per Tuner run, one child run per trial (docs/ray.md).

    from runlog_integrations.ray import RunlogLoggerCallback, setup_runlog
    tune.Tuner(trainable, param_space=..., run_config=tune.RunConfig(callbacks=[RunlogLoggerCallback(experiment="x")]))
    run = setup_runlog(config)                     # inside the trainable: that trial's run

The modules, one concern each: ``callback`` holds :class:`RunlogLoggerCallback` (the driver
side: runs, params, metrics, statuses, the best trial, restore); ``results`` reads what Tune
hands it (a result's metrics, whether a trial ran its course, the Tuner's metric and mode);
``trial`` holds :func:`setup_runlog` (the worker side) and how the driver tells a trial which run
is its own; ``autolog`` gives every ``Tuner`` the callback while ``autolog()`` is on.
"""

from __future__ import annotations

try:
    import ray.tune  # noqa: F401
except ImportError as err:
    raise ImportError(
        "runlog_integrations.ray needs Ray Tune: pip install 'runlog[ray]'"
    ) from err

from runlog_integrations.ray.autolog import attach_autolog
from runlog_integrations.ray.callback import DEFAULT_EXPERIMENT, RunlogLoggerCallback
from runlog_integrations.ray.trial import setup_runlog

__all__ = ["DEFAULT_EXPERIMENT", "RunlogLoggerCallback", "attach_autolog", "setup_runlog"]

RunlogLoggerCallback.__module__ = __name__  # pickled (tuner.pkl) under the public path

"""Optuna: a study callback that records a parent run per study and a child run per trial (docs/optuna.md).

    from runlog_integrations.optuna import RunlogCallback
    cb = RunlogCallback(experiment="tuning")
    study.optimize(cb.track_in_runlog()(objective), n_trials=50, callbacks=[cb])
"""

from runlog_integrations.optuna._autolog import attach_autolog
from runlog_integrations.optuna.callback import RunlogCallback

__all__ = ["RunlogCallback", "attach_autolog"]

RunlogCallback.__module__ = __name__  # pickled under the public path, wherever the defining module moves

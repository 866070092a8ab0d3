"""PyTorch Lightning: a ``Logger`` that records a fit into a runlog run (docs/lightning.md).

    from runlog_integrations.lightning import RunlogLogger
    trainer = Trainer(logger=RunlogLogger(experiment_name="mnist"))
"""

from runlog_integrations.lightning.logger import PLRunlogLogger, RunlogLogger, attach_autolog, callbacks_factory

__all__ = ["PLRunlogLogger", "RunlogLogger", "attach_autolog", "callbacks_factory"]

# pickled (ddp_spawn, deepcopy) under the public path, wherever the defining module moves
RunlogLogger.__module__ = PLRunlogLogger.__module__ = __name__

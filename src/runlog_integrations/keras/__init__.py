"""Keras 3: a callback that records a ``fit`` into a runlog run, on any backend (docs/keras.md).

    from runlog_integrations.keras import RunlogCallback
    model.fit(x, y, callbacks=[RunlogCallback(experiment="mnist")])
"""

from runlog_integrations.keras.callback import RunlogCallback, attach_autolog

__all__ = ["RunlogCallback", "attach_autolog"]

RunlogCallback.__module__ = __name__  # pickled under the public path, wherever the defining module moves

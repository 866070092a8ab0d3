"""``autolog()`` for Lightning: every ``Trainer`` built while it is on gets a ``RunlogLogger``.

:func:`runlog_integrations.lightning.attach_autolog` (called by the lightning entry point's
``runlog_autolog`` hook) hands this module its logger classes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from runlog_core.integration import Patches, selected, warn_once
from runlog_integrations.lightning.support import attach_state_callback, state_callback_class

__all__ = ["attach"]

_patches = Patches()
_config: dict[str, Any] = {}


def attach(config: dict[str, Any], logger_for: dict[Any, type]) -> None:
    """Patch ``Trainer.__init__`` of each distribution (``logger_for``: Trainer class -> its logger class).

    ``config["disable"]`` puts the very same functions back instead.
    """
    if not selected(config, "lightning"):
        return
    if config.get("disable"):
        _patches.restore()
        return
    _config["experiment"] = config.get("experiment")
    for trainer, logger_class in logger_for.items():
        _patches.patch(trainer, "__init__", functools.partial(_wrap_init, logger_class=logger_class))


def _is_ours(logger: Any) -> bool:
    return hasattr(logger, "_runlog_restore")


def _wrap_init(original: Any, logger_class: type) -> Any:
    @functools.wraps(original)
    def __init__(trainer: Any, *args: Any, **kwargs: Any) -> None:
        try:
            logger = kwargs.get("logger", None)
            if logger is not False:
                ours = logger_class(experiment_name=_config.get("experiment"))
                if logger is None or logger is True:
                    kwargs["logger"] = ours
                else:
                    loggers = list(logger) if isinstance(logger, Iterable) else [logger]
                    if not any(_is_ours(item) for item in loggers):
                        kwargs["logger"] = [*loggers, ours]
        except Exception as err:
            warn_once("add a RunlogLogger to the Trainer", err)
        original(trainer, *args, **kwargs)
        try:
            for item in trainer.loggers:  # in time for fit(ckpt_path=...) to restore the run id
                if _is_ours(item):
                    attach_state_callback(trainer, state_callback_class(item._callback_base), item._checkpoint_types)
                    break
        except Exception as err:
            warn_once("add the runlog state callback to the Trainer", err)

    return __init__

"""Which Lightning distributions are installed, and their classes the logger binds to.

``FLAVOURS`` holds ``(Logger base, Callback base, Trainer class, Checkpoint class, dummy
experiment)`` for ``lightning.pytorch`` first, then ``pytorch_lightning``, each when importable.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BOTH", "FLAVOURS", "PendingRun", "rank", "rank_zero_only"]

FLAVOURS: list[tuple[Any, ...]] = []
_lpt: Any
_ptl: Any
try:
    import lightning.pytorch as _lpt
    from lightning.fabric.loggers.logger import _DummyExperiment as _LDummy
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    FLAVOURS.append((_lpt.loggers.Logger, _lpt.Callback, _lpt.Trainer, _lpt.callbacks.Checkpoint, _LDummy))
except ImportError:
    _lpt = None
try:
    import pytorch_lightning as _ptl
    from lightning_fabric.loggers.logger import _DummyExperiment as _PDummy
    from pytorch_lightning.utilities.rank_zero import rank_zero_only  # the same object

    FLAVOURS.append((_ptl.loggers.Logger, _ptl.Callback, _ptl.Trainer, _ptl.callbacks.Checkpoint, _PDummy))
except ImportError:
    _ptl = None
if not FLAVOURS:
    raise ImportError(
        "runlog_integrations.lightning needs PyTorch Lightning: pip install 'runlog[lightning]'"
    )

# both distributions are installed: PLRunlogLogger is a class of its own
BOTH = _lpt is not None and _ptl is not None


def rank() -> int:
    """This process's global rank as Lightning set it (0 outside distributed training)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


class PendingRun:
    """What ``logger.experiment`` gives before the fit has said which run it continues.

    Lightning takes ``logger.experiment`` when a fit sets up, before it restores a checkpoint's
    callback states, where the run id of a resumed fit is. Any use of this stand-in starts (or
    continues) the run and forwards to it.
    """

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        run = self._logger._decide()
        return getattr(run if run is not None else self._logger._dummy_type(), name)

    def __repr__(self) -> str:
        return f"<runlog run of {self._logger.name!r}, started on first use>"

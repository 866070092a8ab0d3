"""Keras values as what runlog stores: numbers from backend scalars, plain configs, loss names.

Helpers of :mod:`runlog_integrations.keras`; Keras is imported there first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

__all__ = ["control_flow", "name_of", "number", "plain"]


def number(value: Any) -> Any:
    """A Python number for a log value (already pythonified by Keras, or a backend scalar)."""
    t = type(value)
    if t is float or t is int or t is bool:
        return value
    try:  # a scalar tensor, Variable or numpy scalar converts itself: 0.3-3 us, against 4-17 us through numpy
        return float(value)
    except Exception:
        return float(keras.ops.convert_to_numpy(value))


def control_flow(error: BaseException) -> bool:
    """An exception a Keras backend raises and catches itself to end an epoch (TensorFlow's)."""
    return isinstance(error, (StopIteration, StopAsyncIteration)) or type(error).__name__ == "OutOfRangeError"


def plain(value: Any) -> Any:
    """An optimizer config value as plain Python: scalars kept, tensors as floats, the rest as str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    try:
        return float(keras.ops.convert_to_numpy(value))
    except Exception:
        return str(value)


def name_of(loss: Any) -> Any:
    """A loss (a name, a function, a Loss object, or a dict/list of them) by its name."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, Mapping):
        return {str(k): name_of(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [name_of(v) for v in loss]
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__

"""Checking and converting what users pass in: names, metric values, params, artifact names.

Nothing here imports numpy or a framework: arrays and tensors are recognised by
duck typing (``.item()``, ``.shape``).
"""

from __future__ import annotations

import math
import re

from runlog_core.exceptions import (
    InvalidArgumentError,
    InvalidMetricError,
    InvalidNameError,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Final

# Series kinds, stored in the ``series.kind`` column.
NUMBER: Final = "number"
BOOL: Final = "bool"
STR: Final = "str"
LIST: Final = "list"
ROW: Final = "row"
TABLE: Final = "table"
IMAGE: Final = "image"
SCALAR_KINDS: Final = frozenset({NUMBER, BOOL, STR})

MAX_NAME_LENGTH: Final = 1000
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(argument: str, name: object) -> str:
    """Return ``name`` if it can name a metric, param, tag, experiment or run; raise otherwise.

    Names are kept byte for byte (no Unicode normalisation, no stripping).
    """
    if type(name) is not str:
        if isinstance(name, str):
            name = str(name)
        else:
            raise InvalidArgumentError(argument, name, "a non-empty str")
    if not name or name.isspace():
        raise InvalidNameError(argument, name, "it must contain a visible character")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            argument, name[:40] + "...", f"it has {len(name)} characters, at most {MAX_NAME_LENGTH} are allowed"
        )
    if _CONTROL.search(name):
        raise InvalidNameError(argument, name, "control characters (newline, tab, NUL...) are not allowed")
    return name


def check_step(name: str, step: object) -> int:
    """Return ``step`` as an int in the int64 range; raise a clear error otherwise."""
    if type(step) is int:
        value = step
    elif isinstance(step, (bool, str, bytes)):
        raise InvalidArgumentError(f"step of metric {name!r}", step, "an int (or None to count up)")
    else:
        try:
            value = int(step.__index__())  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            as_float = _as_float(step)
            if as_float is None or not as_float.is_integer():
                raise InvalidArgumentError(
                    f"step of metric {name!r}", step, "an int (or None to count up)"
                ) from None
            value = int(as_float)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(f"step of metric {name!r}", step, "an int within the signed 64-bit range")
    return value


def auto_step(name: str, next_step: int, count: int = 1) -> int:
    """``next_step`` if ``count`` points starting there stay in the int64 range; raise otherwise."""
    if next_step + count - 1 > INT64_MAX:
        raise InvalidArgumentError(
            f"step of metric {name!r}", None,
            "given explicitly here: the last step was the largest int64, so there is no next one")
    return next_step


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def metric_value(name: str, value: Any) -> tuple[str, Any]:
    """Return ``(kind, stored_value)`` for a scalar metric value, or raise :class:`InvalidMetricError`.

    ``kind`` is ``"number"``, ``"bool"`` or ``"str"``. Ints keep their type within the
    int64 range and become floats beyond it; numpy and torch scalars (0-d or
    one-element) are unwrapped with ``.item()``; ``Decimal`` and ``Fraction`` become floats.
    NaN and +/-inf are kept.
    """
    t = type(value)
    if t is float:
        return NUMBER, value
    if t is int:
        return NUMBER, value if INT64_MIN <= value <= INT64_MAX else _big_int(name, value)
    if t is bool:
        return BOOL, value
    if t is str:
        return STR, value
    if value is None or isinstance(value, (bytes, bytearray, dict, list, tuple, set, frozenset)):
        raise InvalidMetricError(name, value)
    if isinstance(value, bool):
        return BOOL, bool(value)
    if isinstance(value, int):
        return metric_value(name, int(value))
    if isinstance(value, float):
        return NUMBER, float(value)
    if isinstance(value, str):
        return STR, str(value)
    item = getattr(value, "item", None)
    if item is not None:
        size = getattr(value, "size", None)
        size = size() if callable(size) else size  # torch: size() is a method returning a shape
        if isinstance(size, int) and size != 1:
            raise InvalidMetricError(name, value, f"a scalar, not an array with {size} elements")
        if size is not None and not isinstance(size, int) and _numel(size) not in (None, 1):
            raise InvalidMetricError(name, value, f"a scalar, not an array of shape {tuple(size)}")
        try:
            unwrapped = item()
        except (ValueError, RuntimeError, TypeError) as err:
            raise InvalidMetricError(name, value, f"a scalar ({err})") from None
        if unwrapped is value:
            raise InvalidMetricError(name, value)
        kind, stored = metric_value(name, unwrapped)
        if kind == STR:
            raise InvalidMetricError(name, value)
        return kind, stored
    if not hasattr(value, "__float__"):
        raise InvalidMetricError(name, value)
    try:  # Decimal, Fraction, other numbers.Real
        as_float = float(value)
    except OverflowError:  # Fraction(10**400, 3)
        raise InvalidMetricError(name, value, _OUT_OF_RANGE) from None
    except (TypeError, ValueError):
        raise InvalidMetricError(name, value) from None
    if math.isinf(as_float) and not _equals(value, as_float):  # Decimal("1e400") is finite, its float is not
        raise InvalidMetricError(name, value, _OUT_OF_RANGE)
    return NUMBER, as_float


# #9: 10**400 raised a raw OverflowError; a number no float can hold is refused at the call site
_OUT_OF_RANGE: Final = ("a number within the float range (magnitude up to about 1.8e308; ints beyond the "
                        "signed 64-bit range are stored as floats): scale it, or log it as a str or a param")


def _big_int(name: str, value: int) -> float:
    """An int beyond int64 as the float it is stored as; refused when no float can hold it."""
    try:
        return float(value)
    except OverflowError:
        raise InvalidMetricError(name, value, _OUT_OF_RANGE) from None


def _equals(value: object, number: float) -> bool:
    try:
        return bool(value == number)
    except Exception:  # a number type whose comparison fails is not a number we can store
        return False


def _numel(shape: Any) -> int | None:
    try:
        n = 1
        for dim in shape:
            n *= int(dim)
        return n
    except TypeError:
        return None


def row_value(name: str, value: Any) -> Any:
    """Convert one cell of a row or table to a JSON-compatible scalar."""
    if value is None:
        return None
    kind, stored = metric_value(name, value)
    return stored


def dumps(value: Any) -> str:
    """JSON that keeps NaN and +/-inf (as Python's json does) and keys in order."""
    import json  # not at module import: keeps `import runlog_core` light

    return json.dumps(value, ensure_ascii=False, allow_nan=True, separators=(",", ":"))


def loads(text: str) -> Any:
    import json

    return json.loads(text)


# ---------------------------------------------------------------------------------------------
# Params


MAX_PARAM_DEPTH: Final = 100
"""How deep params may nest (dicts, lists, dataclasses...): deeper is refused (#9: a RecursionError)."""


def _enter(key: str, value: Any, path: tuple[int, ...]) -> tuple[int, ...]:
    """``path`` (the ids of the enclosing containers) with ``value`` added; refuses a cycle or absurd depth."""
    if id(value) in path:
        raise InvalidArgumentError(
            f"param {key!r}", value,
            "a value that does not contain itself: it is the same object as a container enclosing it; "
            "log a copy without the reference back")
    if len(path) >= MAX_PARAM_DEPTH:
        raise InvalidArgumentError(
            f"param {key!r}", value, f"nested at most {MAX_PARAM_DEPTH} levels deep; flatten it or log it as a str")
    return (*path, id(value))


def param_value(key: str, value: Any, _path: tuple[int, ...] = ()) -> Any:
    """Return a JSON-compatible copy of a param value.

    Lists, tuples and sets become lists, nested containers are kept, numpy/torch
    scalars are unwrapped, anything else becomes its ``str``.

    Raises:
        InvalidArgumentError: the value contains itself, nests deeper than :data:`MAX_PARAM_DEPTH`,
            or is an int too long to write as decimal digits.
    """
    t = type(value)
    if value is None or t is str or t is float or t is bool:
        return value
    if t is int:
        return _param_int(key, value)
    if isinstance(value, (bool, int, float, str)):
        return param_value(key, type_base(value), _path)
    if isinstance(value, dict):
        inner = _enter(key, value, _path)
        return {str(k): param_value(f"{key}.{k}", v, inner) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        inner = _enter(key, value, _path)
        return [param_value(key, v, inner) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [param_value(key, v, _path) for v in value]  # a set holds only hashable values: no cycle
        try:
            return sorted(items)
        except TypeError:
            return items
    if type(value).__module__.startswith("omegaconf"):  # a ListConfig or DictConfig on its own
        from omegaconf import OmegaConf

        return param_value(key, OmegaConf.to_container(value, resolve=True), _enter(key, value, _path))
    item = getattr(value, "item", None)
    if callable(item):
        try:
            unwrapped = item()
        except (ValueError, RuntimeError, TypeError):
            pass
        else:
            return param_value(key, unwrapped, _enter(key, value, _path))
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            listed = tolist()
        except (ValueError, RuntimeError, TypeError):
            pass
        else:
            return param_value(key, listed, _enter(key, value, _path))
    return str(value)


def _param_int(key: str, value: int) -> int:
    """An int param of any size that JSON can write and read back (#9: 10**400 reads back exactly)."""
    if not INT64_MIN <= value <= INT64_MAX:
        try:
            str(value)
        except ValueError:  # beyond sys.get_int_max_str_digits(): neither written nor read back
            raise InvalidArgumentError(
                f"param {key!r}", value,
                f"an int of at most {_max_digits()} decimal digits; log it as a str or in a file") from None
    return value


def _max_digits() -> int:
    import sys

    return sys.get_int_max_str_digits()


def type_base(value: Any) -> Any:
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value


def flatten_params(params: Any, argument: str = "params") -> dict[str, Any]:
    """Flatten nested dicts into ``{"a.b": value}``; lists and empty values stay as they are.

    Raises:
        InvalidNameError: two entries flatten to the same name.
        InvalidArgumentError: ``params`` is not a mapping, contains itself, or nests deeper
            than :data:`MAX_PARAM_DEPTH`.
    """
    if not isinstance(params, dict):
        as_dict = _mapping_of(params)
        if as_dict is None:
            raise InvalidArgumentError(argument, params, "a dict (nested dicts are flattened as 'a.b')")
    else:
        as_dict = params
    flat: dict[str, Any] = {}
    # an explicit stack, not recursion: (prefix, the mapping's items, ids of the enclosing objects)
    stack: list[tuple[str, Iterator[tuple[Any, Any]], tuple[int, ...]]] = [("", iter(as_dict.items()), (id(params),))]
    while stack:
        prefix, items, path = stack[-1]
        entry = next(items, None)
        if entry is None:
            stack.pop()
            continue
        raw_key, value = entry
        key = check_name("param name", str(raw_key) if not isinstance(raw_key, str) else raw_key)
        full = f"{prefix}.{key}" if prefix else key
        nested = None if isinstance(value, (str, bytes, list, tuple)) else _mapping_of(value, strict=True)
        if nested:
            stack.append((full, iter(nested.items()), _enter(full, value, path)))
            continue
        if full in flat:
            raise InvalidNameError("param name", full, "two entries of the params flatten to this same name")
        flat[full] = {} if nested is not None else param_value(full, value, path)
    return flat


def _mapping_of(value: Any, strict: bool = False) -> dict[str, Any] | None:
    """A dict view of dataclasses, argparse Namespaces, OmegaConf configs and Mappings."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if type(value).__module__.startswith("omegaconf"):  # DictConfig: the user has omegaconf installed
        from omegaconf import OmegaConf

        container = OmegaConf.to_container(value, resolve=True)
        return {str(k): v for k, v in container.items()} if isinstance(container, dict) else None
    if type(value).__name__ in ("Namespace", "AttributeDict", "SimpleNamespace"):
        return dict(vars(value)) if not isinstance(value, dict) else dict(value)
    if not strict and hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {k: value[k] for k in value.keys()}
    return None

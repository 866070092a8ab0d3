"""Checking and converting what users pass in: names, metric values, params, artifact names.

Nothing here imports numpy or a framework: arrays and tensors are recognised by
duck typing (``.item()``, ``.shape``).
"""

from __future__ import annotations

import re

from .exceptions import (
    InvalidArgumentError,
    InvalidMetricError,
    InvalidNameError,
    UnsafeArtifactNameError,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
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
        return NUMBER, value if INT64_MIN <= value <= INT64_MAX else float(value)
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
    as_float = _as_float(value)  # Decimal, Fraction, other numbers.Real
    if as_float is not None and hasattr(value, "__float__"):
        return NUMBER, as_float
    raise InvalidMetricError(name, value)


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


def param_value(key: str, value: Any) -> Any:
    """Return a JSON-compatible copy of a param value.

    Lists, tuples and sets become lists, nested containers are kept, numpy/torch
    scalars are unwrapped, anything else becomes its ``str``.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, (bool, int, float, str)):
        return value if type(value) in (bool, int, float, str) else type_base(value)
    if isinstance(value, dict):
        return {str(k): param_value(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [param_value(key, v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [param_value(key, v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if type(value).__module__.startswith("omegaconf"):  # a ListConfig or DictConfig on its own
        from omegaconf import OmegaConf

        return param_value(key, OmegaConf.to_container(value, resolve=True))
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return param_value(key, item())
        except (ValueError, RuntimeError, TypeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return param_value(key, tolist())
        except (ValueError, RuntimeError, TypeError):
            pass
    return str(value)


def type_base(value: Any) -> Any:
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    return value


def flatten_params(params: Any, argument: str = "params") -> dict[str, Any]:
    """Flatten nested dicts into ``{"a.b": value}``; lists and empty values stay as they are.

    Raises :class:`InvalidNameError` when two entries flatten to the same name.
    """
    if not isinstance(params, dict):
        as_dict = _mapping_of(params)
        if as_dict is None:
            raise InvalidArgumentError(argument, params, "a dict (nested dicts are flattened as 'a.b')")
        params = as_dict
    flat: dict[str, Any] = {}

    def walk(prefix: str, mapping: dict[Any, Any]) -> None:
        for raw_key, value in mapping.items():
            key = check_name("param name", str(raw_key) if not isinstance(raw_key, str) else raw_key)
            full = f"{prefix}.{key}" if prefix else key
            nested = None if isinstance(value, (str, bytes, list, tuple)) else _mapping_of(value, strict=True)
            if nested:
                walk(full, nested)
                continue
            if full in flat:
                raise InvalidNameError(
                    "param name", full, "two entries of the params flatten to this same name"
                )
            flat[full] = {} if nested is not None else param_value(full, value)

    walk("", params)
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


# ---------------------------------------------------------------------------------------------
# Artifact names

_PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_LOOKALIKE_SLASHES = "\u2215\u2044\uff0f\u29f8\uff3c\u2216"
_RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}


def check_artifact_name(name: object) -> str:
    """Return ``name`` if it is a safe relative artifact path; raise :class:`UnsafeArtifactNameError`."""
    if not isinstance(name, str):
        raise InvalidArgumentError("name", name, "a str such as 'outputs/model.pt'")
    if not name:
        raise UnsafeArtifactNameError(name, "it is empty")
    if len(name) > 1024:
        raise UnsafeArtifactNameError(name, f"it has {len(name)} characters, at most 1024 are allowed")
    if _CONTROL.search(name):
        raise UnsafeArtifactNameError(name, "it contains a control character")
    if "\\" in name:
        raise UnsafeArtifactNameError(name, "it contains a backslash")
    if any(ch in name for ch in _LOOKALIKE_SLASHES):
        raise UnsafeArtifactNameError(name, "it contains a character that looks like a slash")
    if _PERCENT_ENCODED.search(name):
        raise UnsafeArtifactNameError(name, "it contains a percent-encoded character")
    if name.startswith("/") or _DRIVE.match(name) or "://" in name:
        raise UnsafeArtifactNameError(name, "it is absolute")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafeArtifactNameError(name, f"it contains the path segment {segment!r}")
        if segment != segment.rstrip(" ."):
            raise UnsafeArtifactNameError(name, "a path segment ends with a dot or a space")
        if segment.split(".")[0].lower() in _RESERVED:
            raise UnsafeArtifactNameError(name, f"{segment!r} is a reserved device name on Windows")
        if ":" in segment:
            raise UnsafeArtifactNameError(name, "it contains ':'")
    return name

"""How the PostgreSQL store lays one value out as ``(vtype, num, txt)`` columns, and reads it back. No SQL here.

Numeric series are packed in chunks by ``store.sqlite.codec.encode_columns`` (driver-independent: the
same little-endian bytes, stored as ``bytea``); what it leaves a row each (strings, rows, tables,
ints mixed with floats) and each series' latest value go through :func:`encode_value`, which keeps
every value's type: PostgreSQL has no dynamic column as SQLite has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

from runlog_core.base.values import BOOL, INT64_MAX, INT64_MIN, ROW, TABLE, loads

__all__ = ["Encoded", "decode_rows", "decode_value", "encode_value"]

Encoded = tuple[str, float | None, str | None]
_JSON_KINDS: Final = frozenset({ROW, TABLE})


def encode_value(value: Any) -> Encoded:
    """``(vtype, num, txt)`` for one point value (rows and tables arrive as JSON text).

    Raises:
        OverflowError: an int outside int64.
        TypeError: a value of a type the store cannot hold.
        ValueError: a str with a NUL character (PostgreSQL text cannot hold one).
    """
    kind = type(value)
    if kind is float:
        return "d", None if math.isnan(value) else value, None
    if kind is bool:
        return "?", 1.0 if value else 0.0, None
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise OverflowError(f"int {value} is outside the signed 64-bit range")
        return "q", float(value), str(value)
    if kind is str:
        if "\x00" in value:
            raise ValueError("PostgreSQL text cannot hold a NUL character")
        return "s", None, value
    raise TypeError(f"cannot store a {kind.__name__} as a point")


def decode_value(kind: str, vtype: str | None, num: float | None, txt: str | None) -> Any:
    """The Python value of a stored ``(vtype, num, txt)`` in a series of ``kind``."""
    if kind in _JSON_KINDS and vtype == "s":
        return loads(txt) if txt is not None else None
    if vtype == "d":
        value: Any = math.nan if num is None else num
    elif vtype == "q":
        value = int(txt) if txt is not None else 0
    elif vtype == "?":
        value = num != 0
    else:
        value = txt
    return bool(value) if kind == BOOL else value


def decode_rows(kind: str, rows: Iterable[tuple[int, float, str, float | None, str | None]]
                ) -> list[tuple[int, Any, float]]:
    """``(step, value, time)`` points from stored ``(step, time, vtype, num, txt)`` rows."""
    return [(step, decode_value(kind, vtype, num, txt), ts) for step, ts, vtype, num, txt in rows]

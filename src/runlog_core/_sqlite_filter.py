"""The search filter (a tree from :mod:`runlog_core._search`) as an SQLite ``WHERE`` and ``ORDER BY``.

Every value and every metric, param or tag name is bound as a parameter; the only SQL text
comes from this module's fixed fragments. The statements read runs as ``r`` joined to their
experiment ``e`` (see ``_sqlite_schema.RUN_FROM``) and bind ``:now`` for the Killed check.
"""

from __future__ import annotations

from typing import Any

from ._search import And, Compare, Field, Or
from ._sqlite_schema import END_SQL, STATUS_SQL, STATUSES
from ._values import BOOL, NUMBER, STR
from .exceptions import InvalidArgumentError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._search import Expression

__all__ = ["compile_filter", "compile_order"]

_SCALAR_KINDS = f"('{NUMBER}', '{BOOL}', '{STR}')"
_ATTRIBUTES = {
    "status": STATUS_SQL,
    "name": "r.name",
    "id": "r.id",
    "experiment": "e.name",
    "start_time": "r.start_time",
    "end_time": END_SQL,
    "duration": f"(coalesce({END_SQL}, :now) - r.start_time)",
}
_OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">="})


def _bind(params: dict[str, Any], value: Any) -> str:
    name = f"p{len(params)}"
    params[name] = value
    return f":{name}"


def _attribute(key: str) -> str:
    try:
        return _ATTRIBUTES[key]
    except KeyError:
        raise InvalidArgumentError("search field", key, f"one of {', '.join(_ATTRIBUTES)}") from None


def compile_filter(expression: Expression, params: dict[str, Any]) -> str:
    """The SQL condition for ``expression``; its values are added to ``params``."""
    if isinstance(expression, And):
        return f"({compile_filter(expression.left, params)} AND {compile_filter(expression.right, params)})"
    if isinstance(expression, Or):
        return f"({compile_filter(expression.left, params)} OR {compile_filter(expression.right, params)})"
    if not isinstance(expression, Compare) or expression.op not in _OPERATORS:
        raise InvalidArgumentError("search expression", expression, "a tree of And, Or and Compare")
    field, op, value = expression.field, expression.op, expression.value
    numeric = not isinstance(value, str)
    if field.namespace == "metrics":
        typed = "typeof(s.last_value) IN ('integer', 'real')" if numeric else "typeof(s.last_value) = 'text'"
        return (f"EXISTS (SELECT 1 FROM series s WHERE s.run_id = r.id AND s.name = {_bind(params, field.key)}"
                f" AND s.kind IN {_SCALAR_KINDS} AND {typed} AND s.last_value {op} {_bind(params, value)})")
    if field.namespace == "params":
        column = "p.num" if numeric else "p.txt"
        return (f"EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.id AND p.key = {_bind(params, field.key)}"
                f" AND {column} {op} {_bind(params, value)})")
    if field.namespace == "tags":
        column = "CAST(t.value AS REAL)" if numeric else "t.value"
        return (f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = {_bind(params, field.key)}"
                f" AND {column} {op} {_bind(params, value)})")
    if field.key == "status" and isinstance(value, str):
        value = next((s for s in STATUSES if s.lower() == value.lower()), value)
    return f"{_attribute(field.key)} {op} {_bind(params, value)}"


def compile_order(field: Field, params: dict[str, Any]) -> str:
    """The SQL expression a run sorts by for ``field``; its names are added to ``params``."""
    if field.namespace == "metrics":
        return (f"(SELECT s.last_value FROM series s WHERE s.run_id = r.id AND s.name = {_bind(params, field.key)}"
                f" AND s.kind IN {_SCALAR_KINDS})")
    if field.namespace == "params":
        key = _bind(params, field.key)
        return f"(SELECT coalesce(p.num, p.txt) FROM params p WHERE p.run_id = r.id AND p.key = {key})"
    if field.namespace == "tags":
        return f"(SELECT t.value FROM tags t WHERE t.run_id = r.id AND t.key = {_bind(params, field.key)})"
    return _attribute(field.key)

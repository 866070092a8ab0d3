"""The search filter (a tree from :mod:`runlog_core.base.filter`) as a PostgreSQL ``WHERE`` and ``ORDER BY``.

The same semantics as ``store.sqlite.filter``: every value and every metric, param or tag name is a
bound parameter (``%(pN)s``); the only SQL text comes from this module's fixed fragments. The
statements read runs as ``r`` joined to their experiment ``e`` (``schema.RUN_FROM``) and
bind ``%(now)s`` for the Killed check. Text compares byte-wise (``COLLATE "C"``), as in SQLite.
"""

from __future__ import annotations

import math
from typing import Any, Final

from runlog_core.base.filter import And, Compare, Field, Or
from runlog_core.base.values import BOOL, NUMBER, STR
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.store.postgres.schema import END_SQL, STATUS_SQL, STATUSES
from runlog_core.store.sql_runs import SOURCES, bind
from runlog_core.store.sql_runs import Joins as SharedJoins

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runlog_core.base.filter import Expression

__all__ = ["SCALAR_KINDS", "Joins", "compile_filter", "compile_order", "placeholder"]

SCALAR_KINDS: Final = f"('{NUMBER}', '{BOOL}', '{STR}')"
_SCALAR_KINDS: Final = SCALAR_KINDS
_NUMERIC_VTYPES: Final = "('d', 'q', '?')"
_TEXT_ATTRIBUTES: Final = {"status": STATUS_SQL, "name": "r.name", "id": "r.id", "experiment": "e.name"}
_NUMBER_ATTRIBUTES: Final = {
    "start_time": "r.start_time",
    "end_time": END_SQL,
    "duration": f"(coalesce({END_SQL}, %(now)s) - r.start_time)",
}
_OPERATORS: Final = frozenset({"=", "!=", "<", "<=", ">", ">="})
_SHORT: Final = {"metrics": "s", "params": "p", "tags": "t"}
_MAX_JOINS: Final = 32
_GROUP: Final = 32  # terms per parenthesised group: a long chain stays a few levels deep


def placeholder(name: str) -> str:
    return f"%({name})s"


def _bind(params: dict[str, Any], value: Any) -> str:
    return bind(params, value, placeholder)


def _number(value: Any) -> float:
    """A filter's number as a float8 (an int beyond any float compares as +/-inf)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def _attribute(key: str) -> tuple[str, bool]:
    """``(sql, is_text)`` of an attribute."""
    if key in _TEXT_ATTRIBUTES:
        return _TEXT_ATTRIBUTES[key], True
    if key in _NUMBER_ATTRIBUTES:
        return _NUMBER_ATTRIBUTES[key], False
    known = ", ".join([*_TEXT_ATTRIBUTES, *_NUMBER_ATTRIBUTES])
    raise InvalidArgumentError("search field", key, f"one of {known}")


class Joins(SharedJoins):
    """The rows a filter reads, joined once per name (see :class:`runlog_core.store.sql_runs.Joins`)."""

    def __init__(self) -> None:
        super().__init__(placeholder, _MAX_JOINS, _SCALAR_KINDS, key_cast="::text")


def compile_filter(expression: Expression, params: dict[str, Any], joins: Joins | None = None) -> str:
    """The SQL condition for ``expression``; its values are added to ``params``.

    With ``joins``, the metrics, params and tags it names are read through the joins it adds there
    (put ``joins.sql`` after the ``FROM``); without, through subqueries. A flat chain of 10,000 terms
    is one node: it recurses once, and its SQL is nested a few groups deep. Names past the join limit
    are read through scalar subqueries.
    """
    if isinstance(expression, (And, Or)):
        parts = [compile_filter(term, params, joins) for term in expression.terms]
        return _grouped(parts, " AND " if isinstance(expression, And) else " OR ")
    if not isinstance(expression, Compare) or expression.op not in _OPERATORS:
        raise InvalidArgumentError("search expression", expression, "a tree of And, Or and Compare")
    field, op, value = expression.field, expression.op, expression.value
    sql_op = "<>" if op == "!=" else op
    if field.namespace not in SOURCES:
        return _compare_attribute(field.key, sql_op, value, params)
    alias = joins.alias(field, params) if joins is not None else None
    row = alias or _SHORT[field.namespace]
    numeric = not isinstance(value, str)
    compared = _value_sql(field.namespace, row, numeric)
    if alias is None:
        # #11: a scalar subquery, not EXISTS: PostgreSQL turns each EXISTS of an AND into a semi-join,
        # and planning 200 of them took 40 s; a scalar subquery stays a subplan
        table, column = SOURCES[field.namespace]
        kinds = f" AND {row}.kind IN {_SCALAR_KINDS}" if field.namespace == "metrics" else ""
        compared = (f"(SELECT {compared} FROM {table} {row} WHERE {row}.run_id = r.id"
                    f" AND {row}.{column} = {_bind(params, field.key)}::text{kinds})")
    if numeric and alias is not None and field.namespace == "metrics":
        # issue 21: the same test as the CASE, written so that an index on (name, last_num) serves it
        return (f"({row}.last_vtype IN {_NUMERIC_VTYPES} AND {row}.last_num {sql_op}"
                f" {_bind(params, _number(value))}::float8)")
    if numeric:
        return f"({compared} {sql_op} {_bind(params, _number(value))}::float8)"
    return f"({compared} COLLATE \"C\" {sql_op} {_bind(params, value)}::text)"


def _value_sql(namespace: str, row: str, numeric: bool) -> str:
    """The value of the metric, param or tag in ``row`` as it compares with a number or a text (else NULL)."""
    if namespace == "metrics":
        if numeric:
            return f"CASE WHEN {row}.last_vtype IN {_NUMERIC_VTYPES} THEN {row}.last_num END"
        return f"CASE WHEN {row}.last_vtype = 's' THEN {row}.last_txt END"
    if namespace == "params":
        return f"{row}.num" if numeric else f"{row}.txt"
    return f"runlog_number({row}.value)" if numeric else f"{row}.value"


def _compare_attribute(key: str, op: str, value: Any, params: dict[str, Any]) -> str:
    sql, is_text = _attribute(key)
    if is_text:
        if key == "status" and isinstance(value, str):
            value = next((s for s in STATUSES if s.lower() == value.lower()), value)
        text = value if isinstance(value, str) else repr(float(value)) if isinstance(value, float) else str(value)
        return f"({sql} COLLATE \"C\" {op} {_bind(params, text)}::text)"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            # as SQLite orders them: every number sorts before any text
            return f"({sql} IS NOT NULL)" if op in ("<", "<=", "<>") else "FALSE"
    return f"({sql} {op} {_bind(params, _number(value))}::float8)"


def _grouped(conditions: list[str], joiner: str) -> str:
    """``conditions`` joined, in parenthesised groups of at most ``_GROUP``, groups of groups and so on."""
    while len(conditions) > _GROUP:
        conditions = [f"({joiner.join(conditions[i:i + _GROUP])})" for i in range(0, len(conditions), _GROUP)]
    return f"({joiner.join(conditions)})"


def compile_order(field: Field, params: dict[str, Any]) -> list[str]:
    """The SQL expressions a run sorts by for ``field`` (in this order, all the same direction).

    Like SQLite's one dynamic column: numbers before text, a missing value NULL (sorted last by the
    caller's ``NULLS LAST``): a rank (0 number, 1 text), then the number, then the text.
    """
    if field.namespace == "metrics":
        where = (f"FROM series s WHERE s.run_id = r.id AND s.name = {_bind(params, field.key)}::text"
                 f" AND s.kind IN {_SCALAR_KINDS}")
        return [f"(SELECT CASE WHEN s.last_vtype IN {_NUMERIC_VTYPES} THEN (CASE WHEN s.last_num IS NOT NULL"
                f" THEN 0 END) WHEN s.last_vtype = 's' THEN 1 END {where})",
                f"(SELECT s.last_num {where})",
                f"(SELECT CASE WHEN s.last_vtype = 's' THEN s.last_txt END COLLATE \"C\" {where})"]
    if field.namespace == "params":
        where = f"FROM params p WHERE p.run_id = r.id AND p.key = {_bind(params, field.key)}::text"
        return [f"(SELECT CASE WHEN p.num IS NOT NULL THEN 0 ELSE 1 END {where})",
                f"(SELECT p.num {where})",
                f"(SELECT CASE WHEN p.num IS NULL THEN p.txt END COLLATE \"C\" {where})"]
    if field.namespace == "tags":
        return [f"(SELECT t.value COLLATE \"C\" FROM tags t WHERE t.run_id = r.id"
                f" AND t.key = {_bind(params, field.key)}::text)"]
    sql, is_text = _attribute(field.key)
    return [f"({sql}) COLLATE \"C\"" if is_text else sql]

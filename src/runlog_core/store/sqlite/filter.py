"""The search filter (a tree from :mod:`runlog_core.base.filter`) as an SQLite ``WHERE`` and ``ORDER BY``.

Every value and every metric, param or tag name is bound as a parameter; the only SQL text
comes from this module's fixed fragments. The statements read runs as ``r`` joined to their
experiment ``e`` (see ``schema.RUN_FROM``) and bind ``:now`` for the Killed check.
"""

from __future__ import annotations

from typing import Any

from runlog_core.base.filter import And, Compare, Field, Or
from runlog_core.base.values import BOOL, NUMBER, STR
from runlog_core.exceptions import InvalidArgumentError
from runlog_core.store.sql_runs import SOURCES, bind
from runlog_core.store.sql_runs import Joins as SharedJoins
from runlog_core.store.sqlite.schema import END_SQL, STATUS_SQL, STATUSES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runlog_core.base.filter import Expression

__all__ = ["SCALAR_KINDS", "Joins", "compile_filter", "compile_order", "placeholder"]

SCALAR_KINDS = f"('{NUMBER}', '{BOOL}', '{STR}')"
"""The series kinds whose latest value a filter compares and a sort orders by, as an SQL list."""
_SCALAR_KINDS = SCALAR_KINDS
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
_SHORT = {"metrics": "s", "params": "p", "tags": "t"}
_MAX_JOINS = 48
_GROUP = 32  # terms per group: 10,000 terms are three levels of groups, each at most 32 deep


def placeholder(name: str) -> str:
    return f":{name}"


def _bind(params: dict[str, Any], value: Any) -> str:
    return bind(params, value, placeholder)


def _attribute(key: str) -> str:
    try:
        return _ATTRIBUTES[key]
    except KeyError:
        raise InvalidArgumentError("search field", key, f"one of {', '.join(_ATTRIBUTES)}") from None


class Joins(SharedJoins):
    """The rows a filter reads, joined once per name (see :class:`runlog_core.store.sql_runs.Joins`)."""

    def __init__(self) -> None:
        super().__init__(placeholder, _MAX_JOINS, _SCALAR_KINDS)


def compile_filter(expression: Expression, params: dict[str, Any], joins: Joins | None = None) -> str:
    """The SQL condition for ``expression``; its values are added to ``params``.

    With ``joins``, the metrics, params and tags it names are read through the joins it adds there
    (put ``joins.sql`` after the ``FROM``); without, through subqueries. A filter of
    :data:`~runlog_core.base.filter.MAX_COMPARISONS` comparisons binds at most twice as many
    parameters, within SQLite's default limit of 32766.
    """
    if isinstance(expression, (And, Or)):
        # #9: 'a OR b OR c ...' is a left-deep tree in SQLite, and SQLITE_MAX_EXPR_DEPTH (1000) refused
        # 100 nested or 1,000 flat terms; groups of _GROUP terms keep the tree a few groups deep.
        # Nested nodes come first in each group, so SQLite's parser holds less while it reads them.
        parts = sorted(expression.terms, key=lambda term: not isinstance(term, (And, Or)))
        return _grouped([compile_filter(term, params, joins) for term in parts],
                        " AND " if isinstance(expression, And) else " OR ")
    if not isinstance(expression, Compare) or expression.op not in _OPERATORS:
        raise InvalidArgumentError("search expression", expression, "a tree of And, Or and Compare")
    field, op, value = expression.field, expression.op, expression.value
    if field.namespace not in SOURCES:
        if field.key == "status" and isinstance(value, str):
            value = next((s for s in STATUSES if s.lower() == value.lower()), value)
        return f"{_attribute(field.key)} {op} {_bind(params, value)}"
    alias = joins.alias(field, params) if joins is not None else None
    row = alias or _SHORT[field.namespace]
    numeric = not isinstance(value, str)
    if field.namespace == "metrics":
        typed = f"typeof({row}.last_value) IN ('integer', 'real')" if numeric else f"typeof({row}.last_value) = 'text'"
        test = f"{typed} AND {row}.last_value {op} {_bind(params, value)}"
    elif field.namespace == "params":
        test = f"{row}.{'num' if numeric else 'txt'} {op} {_bind(params, value)}"
    else:
        test = f"{f'CAST({row}.value AS REAL)' if numeric else f'{row}.value'} {op} {_bind(params, value)}"
    if alias is not None:
        return f"({test})"
    table, column = SOURCES[field.namespace]
    kinds = f" AND {row}.kind IN {_SCALAR_KINDS}" if field.namespace == "metrics" else ""
    return (f"EXISTS (SELECT 1 FROM {table} {row} WHERE {row}.run_id = r.id"
            f" AND {row}.{column} = {_bind(params, field.key)}{kinds} AND {test})")


def _grouped(conditions: list[str], joiner: str) -> str:
    """``conditions`` joined, in parenthesised groups of at most ``_GROUP``, groups of groups and so on."""
    while len(conditions) > _GROUP:
        conditions = [f"({joiner.join(conditions[i:i + _GROUP])})" for i in range(0, len(conditions), _GROUP)]
    return f"({joiner.join(conditions)})"


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

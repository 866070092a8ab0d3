"""What the two SQL stores (SQLite and PostgreSQL) say alike: list_runs' conditions, search_runs'
statement and a filter's joins.

Each dialect hands in how it writes a bound parameter (``:name`` or ``%(name)s``) and its own
pieces of SQL (the Killed check, a cast on a bound key); every value stays a bound parameter.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from runlog_core.base.filter import Expression, Field

__all__ = ["Joins", "bind", "run_conditions", "search_statement"]

# where a filter reads metrics, params and tags from: (table, its name column)
SOURCES = {"metrics": ("series", "name"), "params": ("params", "key"), "tags": ("tags", "key")}


def bind(params: dict[str, Any], value: Any, mark: Callable[[str], str]) -> str:
    """Add ``value`` to ``params`` under a fresh name; return the placeholder that names it."""
    name = f"p{len(params)}"
    params[name] = value
    return mark(name)


def run_conditions(mark: Callable[[str], str], status_sql: str, experiment_id: int | None, status: str | None,
                   tags: dict[str, str | None] | None, parent_id: str | None,
                   include_children: bool, include_deleted: bool = False) -> tuple[list[str], dict[str, Any]]:
    """``list_runs``' ``WHERE`` terms and their parameters (``now`` for ``status_sql``'s Killed check)."""
    where: list[str] = [] if include_deleted else ["r.deleted IS NULL"]
    params: dict[str, Any] = {"now": time.time()}
    if experiment_id is not None:
        where.append(f"r.experiment_id = {mark('experiment')}")
        params["experiment"] = experiment_id
    if parent_id is not None:
        where.append(f"r.parent_id = {mark('parent')}")
        params["parent"] = parent_id
    elif not include_children:
        where.append("r.parent_id IS NULL")
    if status is not None:
        where.append(f"{status_sql} = {mark('status')}")
        params["status"] = status
    for index, (key, value) in enumerate((tags or {}).items()):
        params[f"tk{index}"] = key
        test = ""
        if value is not None:
            params[f"tv{index}"] = value
            test = f" AND t.value = {mark(f'tv{index}')}"
        where.append(f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = {mark(f'tk{index}')}{test})")
    return where, params


def search_statement(select: str, mark: Callable[[str], str], expression: Expression | None,
                     order_by: list[tuple[Field, bool]], experiment_id: int | None, joins: Any,
                     compile_filter: Callable[[Expression, dict[str, Any], Any], str],
                     order_keys: Callable[[Field, dict[str, Any]], list[str]], tiebreak: str
                     ) -> tuple[str, dict[str, Any]]:
    """``search_runs``' SQL and its parameters: ``select`` (the columns and ``FROM``) with the filter's
    joins, its condition and the experiment's, ordered by ``order_by`` (missing values last), then
    ``tiebreak``. ``order_keys`` gives the expressions one sort field sorts by."""
    params: dict[str, Any] = {"now": time.time()}
    where = ["r.deleted IS NULL"]  # deleted runs are found by id only (issue 20)
    if expression is not None:
        where.append(compile_filter(expression, params, joins))
    if experiment_id is not None:
        where.append(f"r.experiment_id = {mark('experiment')}")
        params["experiment"] = experiment_id
    sql = f"{select} {joins.sql}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    orders = [f"{key} {'DESC' if desc else 'ASC'} NULLS LAST"
              for field, desc in order_by for key in order_keys(field, params)]
    orders.append(tiebreak)
    return sql + " ORDER BY " + ", ".join(orders), params


class Joins:
    """The rows a filter reads: one ``LEFT JOIN`` per metric, param or tag it names, up to ``limit``.

    #9: a correlated subquery per comparison made the cost grow with the square of their number
    (10,000 ``or`` terms: minutes); a joined row is read once per run and each comparison is a plain
    column test. Series, params and tags are unique per run and name, so a join never repeats a run.
    Names beyond the limit are read through subqueries (SQLite joins at most 64 tables; PostgreSQL's
    planner stops reordering joins beyond a few).
    """

    def __init__(self, mark: Callable[[str], str], limit: int, scalar_kinds: str, key_cast: str = "") -> None:
        self.clauses: list[str] = []
        self._aliases: dict[tuple[str, str], str] = {}
        self._mark, self._limit, self._kinds, self._cast = mark, limit, scalar_kinds, key_cast

    def alias(self, field: Field, params: dict[str, Any]) -> str | None:
        """The alias of the row holding ``field`` for the run, joined on first use; ``None`` past the limit."""
        found = self._aliases.get((field.namespace, field.key))
        if found is None and len(self._aliases) < self._limit:
            found = self._aliases[(field.namespace, field.key)] = f"f{len(self._aliases)}"
            table, column = SOURCES[field.namespace]
            kinds = f" AND {found}.kind IN {self._kinds}" if field.namespace == "metrics" else ""
            key = bind(params, field.key, self._mark)
            self.clauses.append(f"LEFT JOIN {table} {found} ON {found}.run_id = r.id"
                                f" AND {found}.{column} = {key}{self._cast}{kinds}")
        return found

    @property
    def sql(self) -> str:
        return " ".join(self.clauses)

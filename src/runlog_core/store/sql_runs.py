"""What the two SQL stores (SQLite and PostgreSQL) say alike: list_runs' conditions, search_runs'
statement (a page of it, and its count), the grouped count of children and a filter's joins.

Each dialect hands in how it writes a bound parameter (``:name`` or ``%(name)s``) and its own
pieces of SQL (the Killed check, a cast on a bound key); every value stays a bound parameter.
"""

from __future__ import annotations

import time

from runlog_core.exceptions import InvalidArgumentError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from runlog_core.base.filter import Expression, Field

__all__ = ["Joins", "bind", "children_statement", "count_statement", "page_size", "page_start", "run_conditions",
           "search_conditions", "search_statement"]

_NO_LIMIT = 2**63 - 1
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


def page_start(offset: object) -> int:
    """``search_runs``' ``offset`` checked: an int, 0 or more."""
    if type(offset) is not int or offset < 0:
        raise InvalidArgumentError("offset", offset, "an int, 0 or more (the runs to skip)")
    return min(offset, _NO_LIMIT)  # past any store's end: an empty page, not an overflow


def page_size(limit: object) -> int | None:
    """``search_runs``' ``limit`` checked: ``None`` (every run) or an int, 0 or more."""
    if limit is not None and (type(limit) is not int or limit < 0):
        raise InvalidArgumentError("limit", limit, "None (every run) or an int, 0 or more")
    return None if limit is None else min(limit, _NO_LIMIT)


def search_conditions(mark: Callable[[str], str], expression: Expression | None, experiment_id: int | None,
                      joins: Any, compile_filter: Callable[[Expression, dict[str, Any], Any], str],
                      parent_id: str | None = None, include_children: bool = True
                      ) -> tuple[list[str], dict[str, Any]]:
    """``search_runs``' ``WHERE`` terms and their parameters: never a deleted run, the filter (reading
    through ``joins``), the experiment, only ``parent_id``'s direct children, or only top-level runs."""
    params: dict[str, Any] = {"now": time.time()}
    where = ["r.deleted IS NULL"]  # deleted runs are found by id only (issue 20)
    if expression is not None:
        where.append(compile_filter(expression, params, joins))
    if experiment_id is not None:
        where.append(f"r.experiment_id = {mark('experiment')}")
        params["experiment"] = experiment_id
    if parent_id is not None:
        where.append(f"r.parent_id = {mark('parent')}")
        params["parent"] = parent_id
    elif not include_children:
        where.append("r.parent_id IS NULL")
    return where, params


def search_statement(select: str, mark: Callable[[str], str], expression: Expression | None,
                     order_by: list[tuple[Field, bool]], experiment_id: int | None, joins: Any,
                     compile_filter: Callable[[Expression, dict[str, Any], Any], str],
                     order_keys: Callable[[Field, dict[str, Any]], list[str]], tiebreak: str,
                     parent_id: str | None = None, include_children: bool = True,
                     offset: int = 0, limit: int | None = None) -> tuple[str, dict[str, Any]]:
    """``search_runs``' SQL and its parameters: ``select`` (the columns and ``FROM``) with the filter's
    joins, its condition and the experiment's (see :func:`search_conditions`), ordered by ``order_by``
    (missing values last), then ``tiebreak``; then ``offset`` and ``limit`` (issue 21: a page costs the
    store a page, not every run). ``order_keys`` gives the expressions one sort field sorts by."""
    where, params = search_conditions(mark, expression, experiment_id, joins, compile_filter, parent_id,
                                      include_children)
    sql = f"{select} {joins.sql} WHERE " + " AND ".join(where)
    orders = [f"{key} {'DESC' if desc else 'ASC'} NULLS LAST"
              for field, desc in order_by for key in order_keys(field, params)]
    orders.append(tiebreak)
    sql += " ORDER BY " + ", ".join(orders)
    if limit is not None or offset:  # no limit: the largest one both dialects take
        params["limit"], params["offset"] = _NO_LIMIT if limit is None else limit, offset
        sql += f" LIMIT {mark('limit')} OFFSET {mark('offset')}"
    return sql, params


def count_statement(mark: Callable[[str], str], expression: Expression | None, experiment_id: int | None,
                    joins: Any, compile_filter: Callable[[Expression, dict[str, Any], Any], str],
                    parent_id: str | None = None, include_children: bool = True) -> tuple[str, dict[str, Any]]:
    """``count_runs``' SQL: how many runs ``search_runs`` finds with the same arguments, without a page."""
    where, params = search_conditions(mark, expression, experiment_id, joins, compile_filter, parent_id,
                                      include_children)
    # the experiment joined as search_runs joins it: a filter may name it (experiment = 'x')
    return (f"SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id {joins.sql}"
            " WHERE " + " AND ".join(where)), params


def children_statement(mark: Callable[[str], str], run_ids: Sequence[str], experiment_id: int | None
                       ) -> tuple[str, dict[str, Any]]:
    """``count_children``' SQL: ``(parent id, number of its children not deleted)`` for the runs ``run_ids``
    that have any, in one grouped query (issue 21: for a page's runs, not the experiment's)."""
    params: dict[str, Any] = {}
    marks = ", ".join(bind(params, run_id, mark) for run_id in run_ids)
    sql = f"SELECT r.parent_id, count(*) FROM runs r WHERE r.parent_id IN ({marks}) AND r.deleted IS NULL"
    if experiment_id is not None:  # `+`: SQLite would read the experiment's every run by its index, not the page's
        sql += f" AND +r.experiment_id = {mark('experiment')}"  # children by theirs (100,000 runs: 17 ms, not 0.1)
        params["experiment"] = experiment_id
    return sql + " GROUP BY r.parent_id", params


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

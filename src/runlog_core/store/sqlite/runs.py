"""The SQLite store's run search: a page of runs found by a filter and sorted, their count, and the
children of a page's runs counted in one grouped query (issue 21: the runs table at 100,000 runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runlog_core.base.records import RunInfo
from runlog_core.store.sql_runs import (
    children_statement,
    count_statement,
    page_size,
    page_start,
    search_conditions,
    search_statement,
)
from runlog_core.store.sqlite.db import store_errors
from runlog_core.store.sqlite.filter import SCALAR_KINDS, Joins, compile_filter, compile_order, placeholder
from runlog_core.store.sqlite.retain import SQLiteRetention
from runlog_core.store.sqlite.schema import RUN_COLUMNS, RUN_FROM

if TYPE_CHECKING:
    from runlog_core.base.filter import Expression, Field

__all__ = ["TIEBREAK", "SQLiteRunSearch"]

TIEBREAK = "r.start_time DESC, r.rowid DESC"  # newest first, then the latest created
_IDS_PER_QUERY = 500  # run ids bound in one count_children statement (SQLite binds at most 32,766)


class SQLiteRunSearch(SQLiteRetention):
    """``search_runs``, ``count_runs`` and ``count_children`` of
    :class:`~runlog_core.store.sqlite.store.SQLiteStore` (see :class:`runlog_core.store.Store`)."""

    @store_errors
    def search_runs(self, expression: Expression | None, order_by: list[tuple[Field, bool]],
                    experiment_id: int | None = None, *, parent_id: str | None = None,
                    include_children: bool = True, offset: int = 0, limit: int | None = None) -> list[RunInfo]:
        offset, limit = page_start(offset), page_size(limit)
        if limit is not None and len(order_by) == 1 and order_by[0][0].namespace == "metrics":
            return self._page_by_metric(expression, order_by[0], experiment_id, parent_id, include_children,
                                        offset, limit)
        sql, params = search_statement(f"SELECT {RUN_COLUMNS} {RUN_FROM}", placeholder, expression, order_by,
                                       experiment_id, Joins(), compile_filter,
                                       lambda field, params: [compile_order(field, params)],
                                       TIEBREAK, parent_id, include_children, offset, limit)
        return [RunInfo(*row) for row in self._conn().execute(sql, params)]

    def _page_by_metric(self, expression: Expression | None, order: tuple[Field, bool], experiment_id: int | None,
                        parent_id: str | None, include_children: bool, offset: int, limit: int) -> list[RunInfo]:
        """A page of runs sorted by one metric, read in the order of the index ``series_by_value``.

        Issue 21: sorting by a scalar subquery per run read every run to show 100 of 100,000 (0.5 s). The
        same order in two parts: the runs with a value, by value then newest first (the index gives the
        order, so the first pages cost a page), then those without one, newest first; the second part is
        read only when the page reaches it.
        """
        field, descending = order
        conn = self._conn()
        joins = Joins()
        where, params = search_conditions(placeholder, expression, experiment_id, joins, compile_filter, parent_id,
                                          include_children)
        params["sort_key"] = field.key
        sorted_by = (f" JOIN series o ON o.run_id = r.id AND o.name = :sort_key AND o.kind IN {SCALAR_KINDS}"
                     " AND o.last_value IS NOT NULL")
        conditions = " WHERE " + " AND ".join(where)
        rows = conn.execute(
            f"SELECT {RUN_COLUMNS} {RUN_FROM}{sorted_by} {joins.sql}{conditions}"
            f" ORDER BY o.last_value {'DESC' if descending else 'ASC'}, {TIEBREAK} LIMIT :limit OFFSET :offset",
            {**params, "limit": limit, "offset": offset}).fetchall()
        if len(rows) == limit or limit == 0:
            return [RunInfo(*row) for row in rows]
        with_value = offset + len(rows) if rows else conn.execute(
            f"SELECT count(*) {RUN_FROM}{sorted_by} {joins.sql}{conditions}", params).fetchone()[0]
        rows += conn.execute(
            f"SELECT {RUN_COLUMNS} {RUN_FROM} {joins.sql}{conditions} AND NOT EXISTS (SELECT 1 FROM series o"
            f" WHERE o.run_id = r.id AND o.name = :sort_key AND o.kind IN {SCALAR_KINDS} AND o.last_value IS NOT NULL)"
            f" ORDER BY {TIEBREAK} LIMIT :limit OFFSET :offset",
            {**params, "limit": limit - len(rows), "offset": max(0, offset - with_value)}).fetchall()
        return [RunInfo(*row) for row in rows]

    @store_errors
    def count_runs(self, expression: Expression | None, experiment_id: int | None = None, *,
                   parent_id: str | None = None, include_children: bool = True) -> int:
        sql, params = count_statement(placeholder, expression, experiment_id, Joins(), compile_filter, parent_id,
                                      include_children)
        count: int = self._conn().execute(sql, params).fetchone()[0]
        return count

    @store_errors
    def count_children(self, run_ids: Sequence[str], experiment_id: int | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        ids = list(dict.fromkeys(run_ids))
        for start in range(0, len(ids), _IDS_PER_QUERY):
            sql, params = children_statement(placeholder, ids[start:start + _IDS_PER_QUERY], experiment_id)
            counts.update((parent, int(count)) for parent, count in self._conn().execute(sql, params))
        return counts

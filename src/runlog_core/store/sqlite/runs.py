"""The SQLite store's run search: a page of runs found by a filter and sorted, their count, the
children of a page's runs counted in one grouped query (issue 21: the runs table at 100,000 runs), and
the latest metrics, params and tags of many runs read together (``search_runs(output="pandas")``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runlog_core.base.records import RunInfo
from runlog_core.base.values import NUMBER
from runlog_core.store.sql_runs import (
    children_statement,
    count_statement,
    page_size,
    page_start,
    search_conditions,
    search_statement,
)
from runlog_core.store.sqlite.codec import BOOL_VTYPE, decode_param, decode_value
from runlog_core.store.sqlite.db import readable, store_errors
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

    @store_errors
    @readable
    def get_runs_values(self, run_ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]]:
        """Optional in the store contract (:mod:`runlog_core.store`): for each of ``run_ids``, the latest
        value of each scalar series (as ``get_series``'s ``last_value``), its params and its tags, in three
        queries per 500 runs rather than three per run (issue 21: a frame of 10,000 runs made 30,000)."""
        found: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {}
        ids = list(dict.fromkeys(run_ids))
        conn = self._conn()
        for start in range(0, len(ids), _IDS_PER_QUERY):
            part = ids[start:start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(part))
            for run_id in part:
                found[run_id] = ({}, {}, {})
            for run_id, series_id, name, kind, value in conn.execute(
                    f"SELECT run_id, id, name, kind, last_value FROM series WHERE run_id IN ({marks})"
                    f" AND kind IN {SCALAR_KINDS} AND last_step IS NOT NULL ORDER BY id", part):
                value = decode_value(kind, value)
                if type(value) is int and value in (0, 1) and kind == NUMBER:
                    value = self._last_bool(series_id, value)
                found[run_id][0][name] = value
            for run_id, key, text in conn.execute(
                    f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks}) ORDER BY rowid", part):
                found[run_id][1][key] = decode_param(text)
            for run_id, key, text in conn.execute(
                    f"SELECT run_id, key, value FROM tags WHERE run_id IN ({marks}) ORDER BY rowid", part):
                found[run_id][2][key] = text
        return found

    def _last_bool(self, series_id: int, value: int) -> int | bool:
        """``value`` as a bool when the series' last point is in a bool chunk (SQLite keeps a bool as 0/1)."""
        found = self._conn().execute(
            "SELECT vtype FROM chunks WHERE series_id = :id"
            " AND seq > coalesce((SELECT max(seq) FROM points WHERE series_id = :id), -1)"
            " ORDER BY seq DESC LIMIT 1", {"id": series_id}).fetchone()
        return bool(value) if found is not None and found[0] == BOOL_VTYPE else value

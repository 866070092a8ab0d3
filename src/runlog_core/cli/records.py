"""What the ``runlog`` listings share: one vocabulary for runs as JSON, runs as a tree, a series' last value.

JSON output names a run's fields as the DataFrames do (``run_id``, ``parent_run_id``, ``start_time``,
``end_time``: :data:`runlog_core.views.JSON_KEYS`) in ``runs --json``, ``show --json`` and
``export --format json``; Azure's camelCase stays with ``Run.get_details()``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runlog_core.base import values as _values
from runlog_core.cli.table import iso

if TYPE_CHECKING:
    from runlog_core.store import RunInfo, SeriesInfo, Store

__all__ = ["at_least", "last_value", "run_record", "tree_order", "tree_name"]


def run_record(store: Store, info: RunInfo) -> dict[str, Any]:
    """A run's record as ``show --json`` and ``export --format json`` give it (snake_case, as the frames)."""
    end = info.end_time
    artifacts = store.get_artifacts(info.id)
    return {
        "run_id": info.id,
        "name": info.name,
        "experiment": info.experiment_name,
        "status": info.status,
        "parent_run_id": info.parent_id,
        "start_time": iso(info.start_time),
        "end_time": iso(end),
        "duration": None if end is None else end - info.start_time,
        "host": info.host,
        "pid": info.pid,
        "error": info.error,
        "tags": store.get_tags(info.id),
        "params": store.get_params(info.id),
        "log_files": {a.name: a.uri for a in artifacts if a.name.startswith("logs/")},
        "files": [{"name": a.name, "bytes": a.size, "sha256": a.sha256} for a in artifacts],
    }


def last_value(series: SeriesInfo) -> Any:
    """A series' "last value" cell: the value of a scalar or a list's last item, "(table)" for rows and
    tables, an image's file name (``show`` and ``metrics`` alike)."""
    if series.kind in (_values.ROW, _values.TABLE):
        return "(table)"
    return series.last_value


def tree_order(infos: Sequence[RunInfo]) -> list[tuple[RunInfo, int]]:
    """``infos`` with each child right under its parent (depth 1, its children 2...), each level in the
    given order; a run whose parent is not listed (a filter or ``--limit`` left it out) stays at the top."""
    listed = {info.id for info in infos}
    children: dict[str, list[RunInfo]] = {}
    for info in infos:
        if info.parent_id is not None and info.parent_id in listed:
            children.setdefault(info.parent_id, []).append(info)
    ordered: list[tuple[RunInfo, int]] = []
    seen: set[str] = set()
    stack = [(info, 0) for info in reversed(infos) if info.parent_id is None or info.parent_id not in listed]
    while stack:  # depth first without recursion (a sweep can nest deeply); a cycle cannot loop
        info, depth = stack.pop()
        if info.id in seen:
            continue
        seen.add(info.id)
        ordered.append((info, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(info.id, [])))
    ordered.extend((info, 0) for info in infos if info.id not in seen)  # parent links in a loop: never lost
    return ordered


def tree_name(name: str, depth: int) -> str:
    """A run's name indented under its parent in a table: ``└ child`` one level down, two spaces more a level."""
    return name if depth == 0 else "  " * (depth - 1) + "└ " + name


def at_least(lowest: int) -> Any:
    """An argparse ``type``: a whole number no lower than ``lowest`` (the usage error says so in one line)."""
    def convert(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = lowest - 1
        if number < lowest:
            raise argparse.ArgumentTypeError(f"give a whole number of {lowest} or more, got {text!r}")
        return number

    return convert

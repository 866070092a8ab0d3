"""How runs, experiments and lists of runs look in Jupyter: compact HTML for ``_repr_html_``.

Every logged string (names, params, tags, string metrics, error text, the experiment's name) enters
the markup through :func:`_text` or :func:`_attr`, which escape it, never raw. Styles are inline and
colours either inherit the notebook's text colour or sit on a solid badge, so the output reads the
same in light and dark themes and needs no CSS, JavaScript or network.

This module is loaded on first display (and for :class:`RunList`), so it imports nothing heavy;
``html`` and ``datetime`` are imported inside the functions that need them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Protocol, TypeVar

    from runlog_core.base.records import RunInfo, SeriesInfo
    from runlog_core.store import Store

    # what these views need of runlog_core.Run and runlog_core.Experiment: views sit below run/ and
    # never import it, not even for annotations
    class RunLike(Protocol):
        @property
        def id(self) -> str: ...
        @property
        def _store(self) -> Store: ...
        def flush(self) -> None: ...

    class ExperimentLike(Protocol):
        @property
        def name(self) -> str: ...
        @property
        def store(self) -> str: ...
        def get_runs(self) -> Sequence[RunLike]: ...

    _RunT = TypeVar("_RunT", bound=RunLike)

__all__ = ["RunList", "experiment_html", "run_html", "runs_html"]

MAX_ITEMS = 10  # params, metrics and tags shown in a run's card before "+ N more"
MAX_ROWS = 20  # runs shown in an experiment's table before "+ N more"
MAX_LIST_ROWS = 50  # runs shown for a list of runs
MAX_COLUMNS = 4  # shared metric columns in a table of runs
MAX_CHARS = 80  # longer strings are cut (the whole value stays in the cell's tooltip)

_STATUS_COLOURS = {
    "Running": "#1f6feb",
    "Completed": "#1a7f37",
    "Failed": "#cf222e",
    "Canceled": "#6e7781",
    "Killed": "#bc4c00",
}
_BOX = "font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; font-size: 13px; line-height: 1.45; color: inherit"
_MUTED = "opacity: 0.7"
_CELL = "text-align: left; padding: 2px 10px 2px 0; border: none; vertical-align: top"
_HEAD = _CELL + "; font-weight: 600; border-bottom: 1px solid rgba(128, 128, 128, 0.4)"
_TABLE = "border-collapse: collapse; margin: 0; font-size: 12px"
_MONO = "font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px"


class RunList(list["_RunT"]):
    """A list of runs, as :func:`search_runs` returns it, that shows as a table in Jupyter.

    It is a plain ``list`` in every other way (same ``repr``, equality, slicing gives lists).
    For type checkers it is generic in the kind of run: ``RunList[Run]``.
    """

    def _repr_html_(self) -> str:
        return runs_html(self)


def _ui_link(run: RunLike) -> str | None:
    """The URL of ``run``'s page in a UI server for its store: one this process runs
    (``runlog_ui.start_server``, ``RunDetails``), else a ``runlog ui`` of this user's on this
    machine serving the same store (see :mod:`runlog_core.views.ui_registry`; a browser that has not
    opened that server's printed URL yet is asked to);
    ``None`` when there is none. Whatever it returns is escaped."""
    from runlog_core.views.ui_registry import find_ui

    base = find_ui(getattr(run._store, "uri", ""))
    if base is None:
        return None
    from urllib.parse import quote

    return f"{base}/runs/{quote(run.id, safe='')}"


# -- escaping and formatting ------------------------------------------------------------------


def _text(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as escaped text, cut to ``limit`` characters (the cut value keeps an escaped tooltip)."""
    import html

    shown = _plain(value)
    if len(shown) <= limit:
        return html.escape(shown)
    return f'<span title="{_attr(shown)}">{html.escape(shown[: limit - 1])}…</span>'


def _attr(value: object) -> str:
    """``value`` escaped for an attribute in double quotes."""
    import html

    return html.escape(_plain(value), quote=True)


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else str(value)


def _when(moment: float | None) -> str:
    """A local time, with the UTC time as a tooltip; an empty cell when there is none."""
    if moment is None:
        return ""
    from datetime import datetime, timezone

    local = datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S")
    utc = datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")
    return f'<span title="{_attr(utc)}">{_text(local)}</span>'


def _duration(info: RunInfo) -> str:
    """How long the run took, or has been running (then with a trailing "+")."""
    import time

    end = info.end_time
    seconds = (time.time() if end is None else end) - info.start_time
    suffix = "+" if end is None else ""
    if seconds < 60:
        return f"{max(seconds, 0.0):.1f}s{suffix}"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s{suffix}"
    return f"{minutes}m {secs:02d}s{suffix}"


def _badge(status: str) -> str:
    colour = _STATUS_COLOURS.get(status, "#6e7781")
    style = (f"background: {colour}; color: #fff; border-radius: 9px; padding: 1px 8px; "
             "font-size: 11px; font-weight: 600; white-space: nowrap")
    return f'<span style="{style}">{_text(status)}</span>'


def _more(count: int, what: str) -> str:
    return f'<div style="{_MUTED}">+ {count} more {what}</div>' if count > 0 else ""


def _series_value(series: SeriesInfo) -> str:
    from runlog_core.base.values import SCALAR_KINDS

    if series.kind in SCALAR_KINDS:
        return _text(series.last_value)
    return f'<i style="{_MUTED}">{_text(series.kind)}</i>'


def _key_values(title: str, items: list[tuple[str, str]], total: int, what: str) -> str:
    """A two-column table of already escaped ``(key, value)`` cells under a title."""
    if not items:
        return ""
    rows = "".join(f'<tr><td style="{_CELL}; {_MONO}">{key}</td><td style="{_CELL}">{value}</td></tr>'
                   for key, value in items)
    return (f'<div style="min-width: 160px"><div style="font-weight: 600">{title}</div>'
            f'<table style="{_TABLE}">{rows}</table>{_more(total - len(items), what)}</div>')


# -- one run ----------------------------------------------------------------------------------


def run_html(run: RunLike) -> str:
    """A card for ``run``: name, id, status, times, error, latest metrics, params, tags and lineage."""
    run.flush()
    store: Store = run._store
    info = store.get_run(run.id)
    if info is None:
        return f'<div style="{_BOX}">run {_text(run.id)} is not in the store {_text(store.uri)}</div>'
    series = store.get_series(run.id)
    params = store.get_params(run.id)
    tags = store.get_tags(run.id)
    children = len(store.list_runs(parent_id=run.id))
    link = _ui_link(run)

    head = [_badge(info.status), f'<b style="font-size: 14px">{_text(info.name)}</b>',
            f'<code style="{_MONO}; {_MUTED}">{_text(info.id)}</code>',
            f'<span style="{_MUTED}">in {_text(info.experiment_name)}</span>']
    if link is not None:
        head.append(f'<a href="{_attr(link)}" target="_blank" rel="noopener">open in runlog ui</a>')
    times = [f"started {_when(info.start_time)}"]
    if info.end_time is not None:
        times.append(f"ended {_when(info.end_time)}")
    times.append(f"duration {_duration(info)}")
    if info.parent_id is not None:
        times.append(f'parent <code style="{_MONO}">{_text(info.parent_id)}</code>')
    if children:
        times.append(f"{children} child run{'s' if children != 1 else ''}")

    parts = [f'<div style="display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline">{" ".join(head)}</div>',
             f'<div style="{_MUTED}; margin: 2px 0 6px 0">{" · ".join(times)}</div>']
    if info.error:
        # a traceback's last line is the exception and its message: the summary; the rest unfolds
        summary = info.error.strip().splitlines()[-1] if info.error.strip() else info.error
        parts.append(f'<details style="margin-bottom: 6px"><summary style="color: #cf222e">{_text(summary, 160)}'
                     f'</summary><pre style="{_MONO}; white-space: pre-wrap; margin: 4px 0">'
                     f'{_text(info.error, 20000)}</pre></details>')
    metrics = [(_text(s.name), _series_value(s)) for s in series[:MAX_ITEMS]]
    param_items = [(_text(k), _text(v)) for k, v in list(params.items())[:MAX_ITEMS]]
    tag_items = [(_text(k), _text(v)) for k, v in list(tags.items())[:MAX_ITEMS]]
    tables = (_key_values("Metrics (latest)", metrics, len(series), "metrics")
              + _key_values("Params", param_items, len(params), "params")
              + _key_values("Tags", tag_items, len(tags), "tags"))
    if tables:
        parts.append(f'<div style="display: flex; flex-wrap: wrap; gap: 24px">{tables}</div>')
    elif not info.error:
        parts.append(f'<div style="{_MUTED}">nothing logged yet</div>')
    return f'<div class="runlog-run" style="{_BOX}">{"".join(parts)}</div>'


# -- tables of runs ---------------------------------------------------------------------------


def _shared_metrics(latest: list[dict[str, Any]]) -> list[str]:
    """Up to :data:`MAX_COLUMNS` metric names, those most runs have first (then first met)."""
    counts: dict[str, int] = {}
    for metrics in latest:
        for name in metrics:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda name: -counts[name])  # stable: ties keep the order first met
    return ranked[:MAX_COLUMNS]


def _runs_table(store_of: list[tuple[Store, RunInfo]], with_experiment: bool) -> str:
    """A table of runs: status, name, id, experiment (when asked), start, duration, shared metrics."""
    from runlog_core.base.values import SCALAR_KINDS

    latest = [{s.name: s.last_value for s in store.get_series(info.id) if s.kind in SCALAR_KINDS}
              for store, info in store_of]
    columns = _shared_metrics(latest)
    head = ["status", "name", "id"] + (["experiment"] if with_experiment else []) + ["started", "duration"]
    cells = "".join(f'<th style="{_HEAD}">{title}</th>' for title in head)
    cells += "".join(f'<th style="{_HEAD}; {_MONO}">{_text(name, 30)}</th>' for name in columns)
    rows = [f"<tr>{cells}</tr>"]
    for (_, info), metrics in zip(store_of, latest):
        row = [_badge(info.status), _text(info.name, 40), f'<code style="{_MONO}">{_text(info.id)}</code>']
        if with_experiment:
            row.append(_text(info.experiment_name, 40))
        row += [_when(info.start_time), _duration(info)]
        row += [_text(metrics[name], 20) if name in metrics else "" for name in columns]
        rows.append("<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>")
    return f'<table style="{_TABLE}">{"".join(rows)}</table>'


def _infos(runs: Sequence[RunLike]) -> list[tuple[Store, RunInfo]]:
    """Each run's store and record, read after what was logged so far is committed."""
    flushed: set[int] = set()
    found: list[tuple[Store, RunInfo]] = []
    for run in runs:
        store: Store = run._store
        if id(store) not in flushed:
            flushed.add(id(store))
            run.flush()
        info = store.get_run(run.id)
        if info is not None:
            found.append((store, info))
    return found


def experiment_html(experiment: ExperimentLike) -> str:
    """The experiment's name and store, and a table of its latest top-level runs."""
    runs = experiment.get_runs()  # newest first; it commits what was logged so far
    title = (f'<div><b style="font-size: 14px">{_text(experiment.name)}</b> '
             f'<span style="{_MUTED}">experiment · store <code style="{_MONO}">{_text(experiment.store, 200)}'
             f'</code> · {len(runs)} run{"s" if len(runs) != 1 else ""}</span></div>')
    if not runs:
        return f'<div class="runlog-experiment" style="{_BOX}">{title}<div style="{_MUTED}">no runs yet</div></div>'
    shown = runs[:MAX_ROWS]
    table = _runs_table(_infos(shown), with_experiment=False)
    return (f'<div class="runlog-experiment" style="{_BOX}">{title}{table}'
            f'{_more(len(runs) - len(shown), "runs (exp.get_runs() lists them all)")}</div>')


def runs_html(runs: Sequence[RunLike]) -> str:
    """A table of ``runs`` in their order (the first :data:`MAX_LIST_ROWS`)."""
    if not runs:
        return f'<div class="runlog-runs" style="{_BOX}; {_MUTED}">no runs</div>'
    store_of = _infos(runs[:MAX_LIST_ROWS])
    experiments = {info.experiment_name for _, info in store_of}
    table = _runs_table(store_of, with_experiment=len(experiments) > 1)
    count = f'<div style="{_MUTED}">{len(runs)} run{"s" if len(runs) != 1 else ""}</div>'
    return (f'<div class="runlog-runs" style="{_BOX}">{count}{table}'
            f'{_more(len(runs) - min(len(runs), MAX_LIST_ROWS), "runs")}</div>')

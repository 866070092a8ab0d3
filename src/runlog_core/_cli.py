"""The ``runlog`` command line: list, show, compare and export runs; submit scripts."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from . import _values
from .exceptions import FilterSyntaxError, RunlogError, StoreError

if TYPE_CHECKING:
    from ._run import Run
    from .store import RunInfo, Store

__all__ = ["main"]


def _format_value(value: Any, width: int = 40) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = f"{value:.6g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(moment: float | None) -> str:
    return "" if moment is None else datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: float, end: float | None) -> str:
    seconds = (end if end is not None else time.time()) - start
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO = sys.stdout) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[_format_value(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    line = "  ".join(header.ljust(widths[i]) for i, header in enumerate(headers)).rstrip()
    out.write(line + "\n" + "  ".join("-" * width for width in widths) + "\n")
    for row in cells:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def _store(args: argparse.Namespace) -> Store:
    """The store to read; a local store that does not exist is an error (looking never creates one)."""
    from ._plugins import open_store, resolve_store_uri
    from ._sqlite import store_exists

    uri = resolve_store_uri(args.store)
    if store_exists(uri) is False:
        raise StoreError(f"no store at {uri}: nothing was logged there yet; "
                         "give the store with --store or RUNLOG_STORE")
    store: Store = open_store(uri)
    return store


def _resolve_run(store: Store, key: str) -> RunInfo:
    """A run's record from its id, a unique id prefix, or its name."""
    info = store.get_run(key)
    if info is not None:
        return info
    matches = store.find_run_ids(key)
    found = store.get_run(matches[0]) if len(matches) == 1 else None
    if found is not None:
        return found
    if not matches:
        raise RunlogError(f"no run matches {key!r} in {store.uri}; see `runlog runs`")
    raise RunlogError(f"{key!r} matches {len(matches)} runs ({', '.join(matches[:5])}...); give more of the id")


def _open_run(store: Store, key: str) -> Run:
    from ._experiment import Experiment
    from ._run import Run

    info = _resolve_run(store, key)
    return Run(Experiment(info.experiment_name, store=store), info.id, _info=info)


def _latest_metrics(store: Store, run_id: str) -> dict[str, Any]:
    return {s.name: s.last_value for s in store.get_series(run_id) if s.kind in _values.SCALAR_KINDS}


def cmd_runs(args: argparse.Namespace) -> int:
    from ._search import parse_filter, parse_order_by

    store = _store(args)
    expression = parse_filter(args.filter) if args.filter else None
    experiment_id = None
    if args.experiment is not None:
        experiment_id = store.get_experiment_id(args.experiment)
        if experiment_id is None:
            raise RunlogError(f"no experiment {args.experiment!r} in {store.uri}")
    infos = store.search_runs(expression, parse_order_by(args.sort), experiment_id)
    if not args.all and not args.filter:
        infos = [info for info in infos if info.parent_id is None]
    infos = infos[: args.limit]
    metric_names: list[str] = []
    latest = {}
    for info in infos:
        latest[info.id] = _latest_metrics(store, info.id)
        for name in latest[info.id]:
            if name not in metric_names and not name.startswith("system/"):
                metric_names.append(name)
    shown = metric_names[: args.metrics]
    headers = ["id", "experiment", "name", "status", "started", "duration", *shown]
    rows = [[info.id, info.experiment_name, info.name, info.status, _when(info.start_time),
             _duration(info.start_time, info.end_time), *[latest[info.id].get(m) for m in shown]]
            for info in infos]
    if not rows:
        print("no runs" + (f" match {args.filter!r}" if args.filter else "") + f" in {store.uri}")
        return 0
    print_table(headers, rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    info = _resolve_run(store, args.run)
    print(f"Run {info.id}  ({info.name})")
    fields = [
        ("experiment", info.experiment_name), ("status", info.status),
        ("started", _when(info.start_time)), ("ended", _when(info.end_time)),
        ("duration", _duration(info.start_time, info.end_time)), ("parent", info.parent_id or ""),
        ("host", f"{info.host} (pid {info.pid})"), ("store", store.uri),
    ]
    for key, value in fields:
        print(f"  {key:<11}{value}")
    if info.error:
        print("  error:")
        for line in info.error.rstrip().splitlines()[-15:]:
            print("    " + line)
    params = store.get_params(info.id)
    if params:
        print("\nParams")
        print_table(["name", "value"], sorted(params.items()))
    tags = store.get_tags(info.id)
    if tags:
        print("\nTags")
        print_table(["name", "value"], sorted(tags.items()))
    series = store.get_series(info.id)
    if series:
        print("\nMetrics")
        rows = []
        for s in series:
            rows.append([s.name, s.kind, s.last_step, s.last_value if s.kind in _values.SCALAR_KINDS
                         else ("(table)" if s.kind in (_values.ROW, _values.TABLE) else s.last_value),
                         store.count_points(s.id)])
        print_table(["name", "kind", "last step", "last value", "points"], rows)
    children = store.list_runs(parent_id=info.id)
    if children:
        print(f"\nChild runs ({len(children)})")
        print_table(["id", "name", "status"], [[c.id, c.name, c.status] for c in children[:50]])
    artifacts = store.get_artifacts(info.id)
    if artifacts:
        print("\nFiles")
        print_table(["name", "bytes"], [[a.name, a.size] for a in artifacts])
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    store = _store(args)
    run = _open_run(store, args.run)
    series = store.get_series(run.id)
    if args.name is None:
        rows = [[s.name, s.kind, s.last_step, s.last_value if s.kind in _values.SCALAR_KINDS else "",
                 _when(s.last_time)] for s in series]
        print_table(["name", "kind", "last step", "last value", "time"], rows)
        return 0
    if args.name not in {s.name for s in series}:
        raise RunlogError(f"run {run.id} has no metric {args.name!r}; see `runlog metrics {run.id}`")
    value = run.get_metrics(args.name)
    if isinstance(value, dict):
        columns = list(value)
        length = max((len(v) for v in value.values()), default=0)
        print_table(columns, [[value[c][i] if i < len(value[c]) else None for c in columns] for i in range(length)])
        return 0
    history = run.get_metric_history(args.name)
    print_table(["step", "value", "time"], [[p.step, p.value, _when(p.timestamp)] for p in history])
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = _store(args)
    infos = [_resolve_run(store, key) for key in args.runs]
    params = {info.id: store.get_params(info.id) for info in infos}
    metrics = {info.id: _latest_metrics(store, info.id) for info in infos}
    keys: list[tuple[str, str]] = []
    for source, prefix in ((params, "params."), (metrics, "metrics.")):
        for per_run in source.values():
            for name in per_run:
                if (prefix, name) not in keys:
                    keys.append((prefix, name))
    rows: list[list[Any]] = [["status", *[info.status for info in infos]]]
    for prefix, name in keys:
        source = params if prefix == "params." else metrics
        values = [source[info.id].get(name) for info in infos]
        marker = "" if len({json.dumps(v, default=str) for v in values}) == 1 else " *"
        rows.append([prefix + name + marker, *values])
    print_table(["", *[f"{info.name} ({info.id[:8]})" for info in infos]], rows)
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    store = _store(args)
    info = _resolve_run(store, args.run)
    print_table(["name", "bytes", "sha256"], [[a.name, a.size, a.sha256[:16]] for a in store.get_artifacts(info.id)])
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    store = _store(args)
    run = _open_run(store, args.run)
    names = run.get_file_names()
    if args.name in names:
        print(run.download_file(args.name, args.dest))
        return 0
    written = run.download_files(prefix=args.name.rstrip("/") + "/", output_directory=args.dest or ".")
    if not written:
        raise RunlogError(f"run {run.id} has no file or folder {args.name!r}; see `runlog files {run.id}`")
    for path in written:
        print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    run = _open_run(store, args.run)
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.format == "json":
            details = run.get_details()
            details["metrics"] = {
                s.name: [{"step": p.step, "value": p.value, "timestamp": p.timestamp}
                         for p in run.get_metric_history(s.name)]
                for s in store.get_series(run.id)
            }
            json.dump(_finite(details), out, indent=2, default=str, allow_nan=False)
            out.write("\n")
        else:
            writer = csv.writer(out)
            writer.writerow(["run_id", "metric", "step", "value", "timestamp"])
            for s in store.get_series(run.id):
                for p in run.get_metric_history(s.name):
                    value = json.dumps(p.value) if isinstance(p.value, (dict, list)) else p.value
                    writer.writerow([run.id, s.name, p.step, value, repr(p.timestamp)])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _finite(value: Any) -> Any:
    """``value`` with NaN and +/-inf as the strings "NaN", "Infinity", "-Infinity": JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}; see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runlog", description="Look at and manage runlog runs.")
    parser.add_argument("--store", default=None,
                        help="store folder or URI (default: $RUNLOG_STORE, else ./runlog)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help)
        command.add_argument("--store", default=argparse.SUPPRESS, help="store folder or URI")
        command.set_defaults(func=func)
        return command

    runs = add("runs", cmd_runs, "list runs, newest first")
    runs.add_argument("-e", "--experiment", default=None, help="only this experiment")
    runs.add_argument("--filter", default=None,
                      help="e.g. \"metrics.mse < 3000 and params.alpha >= 0.1\"")
    runs.add_argument("--sort", action="append", default=None, help="sort key, e.g. metrics.mse or 'start_time DESC'")
    runs.add_argument("--all", action="store_true", help="include child runs")
    runs.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs.add_argument("--metrics", type=int, default=4, help="how many metric columns to show (default 4)")

    show = add("show", cmd_show, "show one run: status, params, tags, metrics, files")
    show.add_argument("run", help="run id, id prefix or name")

    metrics = add("metrics", cmd_metrics, "a run's metrics, or one metric's history")
    metrics.add_argument("run")
    metrics.add_argument("name", nargs="?")

    compare = add("compare", cmd_compare, "params and latest metrics of runs side by side")
    compare.add_argument("runs", nargs="+")

    files = add("files", cmd_files, "a run's files")
    files.add_argument("run")

    download = add("download", cmd_download, "download a file or folder of a run")
    download.add_argument("run")
    download.add_argument("name")
    download.add_argument("dest", nargs="?", default=None)

    export = add("export", cmd_export, "export a run's metrics as CSV or the whole run as JSON")
    export.add_argument("run")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")

    for module in ("runlog_core._submit_cli", "runlog_core._ui_cli"):
        try:
            register = __import__(module, fromlist=["register"]).register
        except ImportError:
            continue
        register(sub)
    return parser


def _one_line(err: BaseException) -> str:
    """The error as one line: a filter error names the character instead of drawing a caret under it."""
    if isinstance(err, FilterSyntaxError):
        return f"{err.message} at character {err.position + 1} of the filter {_excerpt(err.text, err.position)}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def _excerpt(text: str, position: int, width: int = 60) -> str:
    """``text`` quoted, or the part around ``position`` when it is long (a filter can be 100 KB)."""
    if len(text) <= width:
        return repr(text)
    start = max(0, min(position - width // 2, len(text) - width))
    return ("..." if start else "") + repr(text[start:start + width]) + ("..." if start + width < len(text) else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``runlog`` command; every error is one line on stderr and a non-zero status (#9)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "store"):
            args.store = None
        return int(args.func(args) or 0)
    except RunlogError as err:
        print(f"runlog: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `runlog metrics ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:  # a destination that cannot be written, a full disk
        print(f"runlog: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("runlog: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug of ours or of a plugin: still one line, never a traceback
        print(f"runlog: internal error: {err!r}; please report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

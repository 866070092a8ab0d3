"""The ``runlog`` command line: list, show, compare and export runs; submit scripts; import runs.

Every listing (``runs``, ``show``, ``metrics``, ``compare``, ``files``) takes ``--wide`` (cells are never
cut) and ``--json`` (valid JSON on stdout: NaN and infinities as the strings "NaN", "Infinity",
"-Infinity", times of runs as UTC ISO 8601, times of points as seconds since the epoch). Column choice
lives in ``runlog_core.views.columns``, terminal tables in ``runlog_core.cli.table``. The core's own
commands come from its CLI modules (imported plainly: one that cannot be imported is an error, never a
missing command); plugins add theirs through the ``runlog_cli_commands`` hook (``runlog ui``).
Stored text (names, values, a failed run's error) and every message reach the terminal with their
control characters as escapes (``\\x1b``, ``\\u202e``: :mod:`runlog_core.base.text`); errors are one
line (:mod:`runlog_core.cli.errors`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

from runlog_core.base import values as _values
from runlog_core.base.text import visible
from runlog_core.cli.access import open_run, resolve_run, store_for
from runlog_core.cli.errors import one_line, say
from runlog_core.cli.export import cmd_download, cmd_export
from runlog_core.cli.push import cmd_push
from runlog_core.cli.records import at_least, last_value, run_record, tree_name, tree_order
from runlog_core.cli.table import duration, iso, print_json, print_table, when
from runlog_core.exceptions import FilterSyntaxError, RunlogError
from runlog_core.views.columns import (
    ATTRIBUTE_COLUMNS,
    choose_columns,
    json_key,
    json_ready,
    named_fields,
    parse_columns,
)

if TYPE_CHECKING:
    from runlog_core.store import RunInfo, Store

__all__ = ["build_parser", "main"]

_CHILD_RULE = ("Child runs (a sweep's runs, a parameter search's candidates) are listed only with --all, "
               "with or without --filter; --filter and --sort then apply to them too, and the table shows "
               "each child under its parent, its name indented.")
_COLUMNS_RULE = ("Columns: id, experiment, name, status, started, duration, then the metrics, params and tags that "
                 "--filter and --sort name, then the metrics most of the listed runs share (--metrics N of them); "
                 "--columns metrics.NAME,params.NAME,tags.NAME,status,... picks them exactly "
                 f"(attributes: {', '.join(ATTRIBUTE_COLUMNS)}); headers are the keys as --columns takes them. "
                 "With --json: one object per run, keys run_id, experiment, name, status, parent_run_id, "
                 "start_time, end_time, duration, metrics.*, params.*, tags.* (with --columns: exactly those, "
                 "id, parent, started and ended as run_id, parent_run_id, start_time and end_time).")


def _latest_metrics(store: Store, run_id: str) -> dict[str, Any]:
    return {s.name: s.last_value for s in store.get_series(run_id) if s.kind in _values.SCALAR_KINDS}


def _attribute(info: RunInfo, column: str, for_json: bool) -> Any:
    """The value of an attribute column of ``runlog runs``, as a table shows it or as JSON gives it."""
    if column in ("started", "ended"):
        moment = info.start_time if column == "started" else info.end_time
        return iso(moment) if for_json else when(moment)
    if column == "duration":
        if for_json:
            return None if info.end_time is None else info.end_time - info.start_time
        return duration(info.start_time, info.end_time)
    return {"id": info.id, "experiment": info.experiment_name, "name": info.name, "status": info.status,
            "parent": info.parent_id}[column]


def cmd_runs(args: argparse.Namespace) -> int:
    from runlog_core.base.filter import parse_filter, parse_order_by

    columns = parse_columns(args.columns) if args.columns is not None else None  # checked before any I/O
    store = store_for(args)
    expression = parse_filter(args.filter) if args.filter else None
    try:
        order_by = parse_order_by(args.sort)
    except FilterSyntaxError as err:  # about the sort key, not "the filter"
        raise RunlogError(f"the sort key {err.text!r} (--sort), at character {err.position + 1}: {err.message}; "
                          "e.g. --sort metrics.loss or --sort 'start_time DESC'") from None
    experiment_id = None
    if args.experiment is not None:
        experiment_id = store.get_experiment_id(args.experiment)
        if experiment_id is None:
            raise RunlogError(f"no experiment {args.experiment!r} in {store.uri}; see `runlog runs` for the experiments")
    # children only with --all, with or without --filter (issue 12); the store finds the page (issue 21)
    infos = store.search_runs(expression, order_by, experiment_id, include_children=args.all, limit=args.limit)
    latest = {info.id: _latest_metrics(store, info.id) for info in infos}
    if columns is None:
        columns = choose_columns(named_fields(expression, order_by), (latest[i.id] for i in infos), args.metrics)
    full_json = args.json and args.columns is None
    params = {i.id: store.get_params(i.id) for i in infos
              if full_json or any(c.startswith("params.") for c in columns)}
    tags = {i.id: store.get_tags(i.id) for i in infos if full_json or any(c.startswith("tags.") for c in columns)}

    def cell(info: RunInfo, column: str) -> Any:
        namespace, _dot, key = column.partition(".")
        source = {"metrics": latest, "params": params, "tags": tags}.get(namespace)
        return _attribute(info, column, args.json) if source is None else source[info.id].get(key)

    if full_json:
        print_json([{"run_id": i.id, "experiment": i.experiment_name, "name": i.name, "status": i.status,
                     "parent_run_id": i.parent_id, "start_time": iso(i.start_time), "end_time": iso(i.end_time),
                     "duration": None if i.end_time is None else i.end_time - i.start_time,
                     **{f"metrics.{k}": v for k, v in latest[i.id].items()},
                     **{f"params.{k}": v for k, v in params[i.id].items()},
                     **{f"tags.{k}": v for k, v in tags[i.id].items()}} for i in infos])
    elif args.json:
        print_json([{json_key(column): cell(info, column) for column in columns} for info in infos])
    elif not infos:
        print(visible("no runs" + (f" match {args.filter!r}" if args.filter else "") + f" in {store.uri}"
                      + ("" if args.all else " (child runs are listed with --all)")))
    else:
        placed = tree_order(infos) if args.all else [(info, 0) for info in infos]

        def shown(info: RunInfo, column: str, depth: int) -> Any:
            return tree_name(info.name, depth) if column == "name" else cell(info, column)

        print_table(columns, [[shown(i, c, depth) for c in columns] for i, depth in placed], wide=args.wide)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = store_for(args)
    info = resolve_run(store, args.run)
    params, tags, series = store.get_params(info.id), store.get_tags(info.id), store.get_series(info.id)
    children, artifacts = store.list_runs(parent_id=info.id), store.get_artifacts(info.id)
    metrics = [[s.name, s.kind, s.last_step, last_value(s), store.count_points(s.id)] for s in series]
    if args.json:
        details = run_record(store, info)
        details["metrics"] = [dict(zip(("name", "kind", "last_step", "last_value", "points"), row))
                              for row in metrics]
        details["children"] = [{"run_id": c.id, "name": c.name, "status": c.status} for c in children]
        print_json(details)
        return 0
    print(visible(f"Run {info.id}  ({info.name})"))  # stored text: its control characters as escapes
    fields = [
        ("experiment", info.experiment_name), ("status", info.status),
        ("started", when(info.start_time)), ("ended", when(info.end_time)),
        ("duration", duration(info.start_time, info.end_time)), ("parent", info.parent_id or ""),
        ("host", f"{info.host} (pid {info.pid})"), ("store", store.uri),
    ]
    if info.deleted_time is not None:  # issue 20: found by id, hidden from listings
        fields.insert(2, ("deleted", f"{when(info.deleted_time)} (runlog restore {info.id} brings it back)"))
    for key, value in fields:
        print(visible(f"  {key:<11}{value}"))
    if info.error:  # a traceback: its lines kept, every other control character (an ESC in the message) escaped
        print("  error:")
        for line in visible(info.error.rstrip().replace("\r\n", "\n"), lines=True).split("\n")[-15:]:
            print("    " + line)
    shown = 50 if not args.wide else len(children)
    for title, headers, rows in (
        ("Params", ["name", "value"], sorted(params.items())),
        ("Tags", ["name", "value"], sorted(tags.items())),
        ("Metrics", ["name", "kind", "last step", "last value", "points"], metrics),
        (f"Child runs ({len(children)})", ["id", "name", "status"], [[c.id, c.name, c.status] for c in children[:shown]]),
        ("Files", ["name", "bytes"], [[a.name, a.size] for a in artifacts]),
    ):
        if rows:
            print("\n" + title)
            print_table(headers, rows, wide=args.wide)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    store = store_for(args)
    run = open_run(store, args.run)
    series = store.get_series(run.id)
    if args.name is None:
        if args.json:
            print_json([{"name": s.name, "kind": s.kind, "last_step": s.last_step, "last_value": s.last_value,
                         "last_time": s.last_time} for s in series])
            return 0
        rows = [[s.name, s.kind, s.last_step, last_value(s), when(s.last_time)] for s in series]
        print_table(["name", "kind", "last step", "last value", "time"], rows, wide=args.wide)
        return 0
    if args.name not in {s.name for s in series}:
        raise RunlogError(f"run {run.id} has no metric {args.name!r}; see `runlog metrics {run.id}`")
    value = run.get_metrics(args.name)
    if isinstance(value, dict):  # a row or a table: its columns
        if args.json:
            print_json(value)
            return 0
        columns = list(value)
        length = max((len(v) for v in value.values()), default=0)
        print_table(columns, [[value[c][i] if i < len(value[c]) else None for c in columns] for i in range(length)],
                    wide=args.wide)
        return 0
    history = run.get_metric_history(args.name)
    if args.json:
        print_json([{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in history])
        return 0
    print_table(["step", "value", "time"], [[p.step, p.value, when(p.timestamp)] for p in history], wide=args.wide)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        raise RunlogError("compare needs two or more runs (ids, id prefixes or names); to see one, `runlog show RUN`")
    columns = parse_columns(args.columns) if args.columns is not None else None
    store = store_for(args)
    infos = [resolve_run(store, key) for key in args.runs]
    values: dict[str, dict[str, dict[str, Any]]] = {
        "params": {info.id: store.get_params(info.id) for info in infos},
        "metrics": {info.id: _latest_metrics(store, info.id) for info in infos},
        "tags": {info.id: store.get_tags(info.id) for info in infos},
    }
    if columns is None:
        columns = ["status"] + list(dict.fromkeys(
            f"{namespace}.{name}" for namespace in ("params", "metrics")
            for per_run in values[namespace].values() for name in per_run))

    def cell(info: RunInfo, column: str) -> Any:
        namespace, _dot, key = column.partition(".")
        return _attribute(info, column, args.json) if namespace not in values else values[namespace][info.id].get(key)

    table = {column: [cell(info, column) for info in infos] for column in columns}
    differ = [c for c, row in table.items() if len({json.dumps(json_ready(v), default=str) for v in row}) > 1]
    if args.json:
        print_json({"runs": [{"run_id": info.id, "name": info.name, **{json_key(c): table[c][n] for c in columns}}
                             for n, info in enumerate(infos)], "different": [json_key(c) for c in differ]})
        return 0
    rows = [[column + (" *" if column in differ else ""), *row] for column, row in table.items()]
    print_table(["", *[f"{info.name} ({info.id[:8]})" for info in infos]], rows, wide=args.wide)
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    store = store_for(args)
    info = resolve_run(store, args.run)
    artifacts = store.get_artifacts(info.id)
    if args.json:
        print_json([{"name": a.name, "bytes": a.size, "sha256": a.sha256, "uri": a.uri} for a in artifacts])
        return 0
    rows = [[a.name, a.size, a.sha256 if args.wide else a.sha256[:16]] for a in artifacts]
    print_table(["name", "bytes", "sha256"], rows, wide=args.wide)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        say(f"{self.prog}: {message}; see `{self.prog} --help`")
        sys.exit(2)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("runlog")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``runlog`` parser: every subcommand sets ``func``, which :func:`main` calls with the arguments."""
    parser = _Parser(prog="runlog", description="Look at and manage runlog runs.")
    parser.add_argument("--version", action="version", version=visible(f"runlog {_version()}"),
                        help="print runlog's version and exit")
    parser.add_argument("--store", default=None,
                        help="store folder or URI (default: $RUNLOG_STORE, else ./runlog)")
    # typed as the plain parser's: commands registered by other modules and plugins (submit, import, ui) take that
    sub = cast("argparse._SubParsersAction[argparse.ArgumentParser]",
               parser.add_subparsers(dest="command", metavar="COMMAND"))
    sub.required = True

    def add(name: str, func: Any, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=epilog)
        command.add_argument("--store", default=argparse.SUPPRESS, help="store folder or URI")
        command.set_defaults(func=func)
        return command

    def listing(command: argparse.ArgumentParser) -> None:
        command.add_argument("--wide", action="store_true", help="never cut long values (default: at 40 columns)")
        command.add_argument("--json", action="store_true",
                             help="print JSON instead of a table (NaN and infinities as strings)")

    run_help = "a run: its id, a unique prefix of its id, or its name"
    runs = add("runs", cmd_runs, "list runs, newest first", _CHILD_RULE + " " + _COLUMNS_RULE)
    runs.add_argument("-e", "--experiment", default=None, help="only this experiment")
    runs.add_argument("--filter", default=None,
                      help="e.g. \"metrics.mse < 3000 and params.alpha >= 0.1\" (top-level runs only, unless --all)")
    runs.add_argument("--sort", action="append", default=None, help="sort key, e.g. metrics.mse or 'start_time DESC'")
    runs.add_argument("--all", action="store_true", help="include child runs (also with --filter)")
    runs.add_argument("--limit", type=at_least(1), default=50, metavar="N", help="at most N runs, 1 or more (default 50)")
    runs.add_argument("--metrics", type=at_least(0), default=4, metavar="N",
                      help="besides those --filter and --sort name, the N metrics most runs share (default 4)")
    runs.add_argument("--columns", default=None, metavar="COLUMNS",
                      help="exactly these columns, comma-separated: metrics.NAME, params.NAME, tags.NAME, "
                           f"{', '.join(ATTRIBUTE_COLUMNS)}")
    listing(runs)

    show = add("show", cmd_show, "show one run: status, params, tags, metrics, child runs, files")
    show.add_argument("run", metavar="RUN", help=run_help)
    listing(show)

    metrics = add("metrics", cmd_metrics, "a run's metrics, or one metric's history")
    metrics.add_argument("run", metavar="RUN", help=run_help)
    metrics.add_argument("name", nargs="?", metavar="NAME", help="a metric's name: print its every point (default: list the metrics)")
    listing(metrics)

    compare = add("compare", cmd_compare, "params and latest metrics of runs side by side (* marks a difference)")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs: ids, id prefixes or names")
    compare.add_argument("--columns", default=None, metavar="COLUMNS",
                         help="compare exactly these, comma-separated: metrics.NAME, params.NAME, tags.NAME, status, ...")
    listing(compare)

    files = add("files", cmd_files, "a run's files")
    files.add_argument("run", metavar="RUN", help=run_help)
    listing(files)

    download = add("download", cmd_download, "download a file or folder of a run")
    download.add_argument("run", metavar="RUN", help=run_help)
    download.add_argument("name", metavar="NAME", help="the file's or folder's name in the run, as `runlog files RUN` lists it")
    download.add_argument("dest", nargs="?", default=None, metavar="DEST",
                          help="where to write it: a file, or a folder (default: here, under the file's own name)")
    download.add_argument("--overwrite", action="store_true", help="replace local files that exist (default: refuse)")

    export = add("export", cmd_export, "export a run's metrics as CSV or the whole run as JSON")
    export.add_argument("run", metavar="RUN", help=run_help)
    export.add_argument("--format", choices=("csv", "json"), default="csv",
                        help="csv: run_id, metric, step, value, timestamp; json: the run with every point "
                             "(NaN and infinities as the strings \"NaN\", \"Infinity\", \"-Infinity\")")
    export.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="file to write, in a folder that exists (default: stdout)")
    export.add_argument("--overwrite", action="store_true", help="replace FILE if it exists (default: refuse)")

    push = add("push", cmd_push, "copy runs with their ids to another store, e.g. a team's PostgreSQL "
               "(again: copies only what is new)",
               "Copies runs, points, params, tags, statuses, parent links, logs and files; pushing again "
               "brings pushed runs up to date and copies nothing twice; after Ctrl-C or a lost connection, "
               "the same command resumes. Parents go with their children.")
    push.add_argument("runs", nargs="*", metavar="RUN",
                      help="runs (ids, id prefixes or names) to push, with their child runs")
    push.add_argument("--to", required=True, metavar="URI",
                      help="the destination store, e.g. postgresql://user@host/db (created when missing)")
    push.add_argument("--artifacts", default=None, metavar="URI",
                      help="where files go: s3://bucket/prefix or a folder (default: $RUNLOG_ARTIFACTS, else "
                           "the destination's own)")
    push.add_argument("-e", "--experiment", default=None, help="push every run of this experiment")
    push.add_argument("--all", action="store_true", help="push every run of the store")

    from runlog_core.cli.imports import add_import_parsers
    from runlog_core.cli.retain import register as add_retain_parsers
    from runlog_core.cli.submit import register as add_submit_parser

    add_retain_parsers(add, run_help)

    add_submit_parser(sub)
    add_import_parsers(sub)
    _add_plugin_commands(sub)
    return parser


class PluginCommandError(Exception):
    """A plugin's ``runlog_cli_commands`` raised: ``runlog`` stops (exit 1) rather than lose a command."""


def _add_plugin_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands of plugins (``runlog ui``: runlog_ui's), each plugin's on its own so that an error names it."""
    from runlog_core.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    impls = pm.hook.runlog_cli_commands.get_hookimpls()
    for impl in reversed(impls):  # pluggy's order: the last registered first
        others = [other.plugin for other in impls if other.plugin is not impl.plugin]
        try:
            pm.subset_hook_caller("runlog_cli_commands", remove_plugins=others)(subparsers=sub, store_for=store_for)
        except Exception as err:
            raise PluginCommandError(f"plugin {impl.plugin_name!r} failed to add its commands: {one_line(err)} "
                                     f"({type(err).__name__}); fix or uninstall it") from err


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``runlog`` command; every error is one line on stderr and a non-zero status (#9)."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # a usage error (its line is out), --help, --version: a status, as any error
            return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
        if not hasattr(args, "store"):
            args.store = None
        func = getattr(args, "func", None)
        if func is None:  # a command with subcommands of its own (`runlog import`) given none
            say(f"runlog {args.command}: give a subcommand; see `runlog {args.command} --help`")
            return 2
        return int(func(args) or 0)
    except RunlogError as err:
        say(f"runlog: {one_line(err)}")
        return 2
    except PluginCommandError as err:
        say(f"runlog: {err}")
        return 1
    except BrokenPipeError:  # `runlog metrics ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:  # a destination that cannot be written, a full disk: never a raw "[Errno 2]"
        if isinstance(err, RunlogError) or not err.strerror:
            say(f"runlog: {one_line(err)}")
        else:
            say(f"runlog: {err.strerror}" + (f": {err.filename!r}" if err.filename else ""))
        return 2
    except ImportError as err:  # an optional dependency a command needs (the importers: mlflow, tensorboard)
        say(f"runlog: {one_line(err)}")
        return 2
    except KeyboardInterrupt:
        say("runlog: interrupted")
        return 130
    except Exception as err:  # a bug of ours or of a plugin: still one line, never a traceback
        say(f"runlog: internal error: {err!r}; please report it")
        return 1


if __name__ == "__main__":
    sys.exit(main())

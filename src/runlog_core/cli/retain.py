"""``runlog delete``, ``runlog restore``, ``runlog gc`` and ``runlog models`` (issue 20).

``delete`` lists what it will hide and asks on a terminal (``--yes`` for scripts; without a terminal
and without ``--yes`` it refuses); checks come first, so an error changes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from runlog_core.base.records import RUNNING
from runlog_core.base.text import visible
from runlog_core.cli.access import resolve_run, store_for
from runlog_core.cli.table import iso, print_json, print_table, when
from runlog_core.exceptions import RunlogError

if TYPE_CHECKING:
    from runlog_core.store import RunInfo, Store

__all__ = ["register"]


def _running_below(store: Store, info: RunInfo) -> RunInfo | None:
    """The run itself or a run below it that is Running, if any."""
    pending, seen = [info], set()
    while pending:
        current = pending.pop()
        if current.status == RUNNING:
            return current
        seen.add(current.id)
        pending.extend(c for c in store.list_runs(parent_id=current.id, include_deleted=True) if c.id not in seen)
    return None


def _chosen(store: Store, args: argparse.Namespace) -> list[RunInfo]:
    if args.runs and args.experiment is not None:
        raise RunlogError("give runs or -e EXPERIMENT, not both")
    if args.runs:
        if args.filter is not None:
            raise RunlogError("--filter goes with -e EXPERIMENT; with runs named, leave it out")
        return list({info.id: info for info in (resolve_run(store, key) for key in args.runs)}.values())
    if args.experiment is None:
        raise RunlogError("name the runs to delete (RUN ...) or an experiment (-e EXPERIMENT [--filter EXPR])")
    experiment_id = store.get_experiment_id(args.experiment)
    if experiment_id is None:
        raise RunlogError(f"no experiment {args.experiment!r} in {store.uri}; see `runlog runs`")
    from runlog_core.base.filter import parse_filter

    expression = parse_filter(args.filter) if args.filter else None
    return [info for info in store.search_runs(expression, [], experiment_id) if info.parent_id is None]


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise RunlogError("not asking without a terminal: add --yes to delete these runs")
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_delete(args: argparse.Namespace) -> int:
    store = store_for(args)
    infos = [info for info in _chosen(store, args) if info.deleted_time is None]
    if not infos:
        print(visible("no runs to delete" + (f" match {args.filter!r}" if args.filter else "")))
        return 0
    if not args.force:
        for info in infos:
            running = _running_below(store, info)
            if running is not None:
                raise RunlogError(f"run {running.id} ({running.name}) is Running; end it first, or add --force "
                                  "to delete it while it runs; nothing was deleted")
    if not args.yes:
        print(("This run" if len(infos) == 1 else f"These {len(infos)} runs") + " (with their child runs) will be deleted "
              "(hidden; `runlog restore RUN` brings one back until `runlog gc` removes it):")
        print_table(["id", "experiment", "name", "status", "started"],
                    [[i.id, i.experiment_name, i.name, i.status, when(i.start_time)] for i in infos])
        if not _confirm(f"Delete {len(infos)} run{'s' if len(infos) != 1 else ''}? [y/N] "):
            print("nothing was deleted")
            return 1
    marked = store.delete_runs([info.id for info in infos], time.time())
    children = len(marked) - len(infos)
    print(visible(f"deleted {len(infos)} run{'s' if len(infos) != 1 else ''}"
                  + (f" and {children} child run{'s' if children != 1 else ''}" if children > 0 else "")
                  + "; `runlog restore RUN` brings one back, `runlog gc` removes them for good"))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    store = store_for(args)
    infos = [resolve_run(store, key) for key in args.runs]
    for info in infos:
        if info.deleted_time is None:
            raise RunlogError(f"run {info.id} ({info.name}) is not deleted: nothing to restore; nothing was restored")
    restored = store.restore_runs([info.id for info in infos])
    missing = [info for info in infos if info.id not in restored]
    for info in missing:
        print(visible(f"runlog: run {info.id} ({info.name}) is being removed by `runlog gc`; it cannot be restored"),
              file=sys.stderr)
    print(f"restored {len(restored)} run{'s' if len(restored) != 1 else ''}")
    return 1 if missing else 0


def cmd_gc(args: argparse.Namespace) -> int:
    from runlog_core.store.gc import check_days, collect_garbage

    check_days(args.older_than, "--older-than")  # before the store is opened
    store = store_for(args)
    shown = (lambda info: print(visible(f"{'would remove' if args.dry_run else 'removing'} {info.id} ({info.name}, "
                                        f"{info.experiment_name}, deleted {when(info.deleted_time)})"))) \
        if args.verbose else None
    summary = collect_garbage(store, args.older_than, dry_run=args.dry_run, rewrite=args.vacuum, progress=shown)
    for info, reason in summary.skipped:
        print(visible(f"runlog: kept {info.id} ({info.name}): {reason}; delete it again once it has ended"),
              file=sys.stderr)
    print(summary.line())
    return 0


def _model_row(model: Any, for_json: bool) -> dict[str, Any]:
    return {"name": model.name, "version": model.version, "run_id": model.run_id,
            "experiment": model.experiment_name, "path": model.path, "files": len(model.files),
            "created": iso(model.created_time) if for_json else when(model.created_time),
            "tags": model.tags if for_json else ", ".join(f"{k}={v}" for k, v in model.tags.items()),
            **({"properties": model.properties, "description": model.description} if for_json else {})}


def cmd_models(args: argparse.Namespace) -> int:
    from runlog_core.run.models import Model

    store = store_for(args)
    models = Model.list(store=store, name=args.name)
    if args.json:
        print_json([_model_row(model, True) for model in models])
        return 0
    if not models:
        print(visible(f"no models{f' named {args.name!r}' if args.name else ''} in {store.uri}; "
                      "register one with run.register_model(name, model_path)"))
        return 0
    headers = ["name", "version", "run_id", "experiment", "path", "files", "created", "tags"]
    print_table(headers, [[_model_row(m, False)[h] for h in headers] for m in models], wide=args.wide)
    return 0


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0:  # negative or NaN: said here, as the flag, not as gc()'s argument
        raise argparse.ArgumentTypeError(f"DAYS must be a number of days, 0 or more (e.g. 30), got {text!r}")
    return days


def register(add: Any, run_help: str) -> None:
    """Add the commands through ``add(name, func, help, epilog)`` of :func:`runlog_core.cli.main.build_parser`."""
    delete = add("delete", cmd_delete, "delete runs: hide them (and their child runs) from every listing",
                 "Restore them with `runlog restore RUN`; `runlog gc` removes deleted runs for good.")
    delete.add_argument("runs", nargs="*", metavar="RUN", help=run_help)
    delete.add_argument("-e", "--experiment", default=None, help="delete the (top-level) runs of this experiment")
    delete.add_argument("--filter", default=None, help="with -e: only runs matching, e.g. \"metrics.mse > 5000\"")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask (needed without a terminal)")
    delete.add_argument("--force", action="store_true", help="delete runs that are still Running too")

    restore = add("restore", cmd_restore, "bring deleted runs back, with the child runs deleted with them")
    restore.add_argument("runs", nargs="+", metavar="RUN", help=run_help)

    gc = add("gc", cmd_gc, "remove deleted runs for good: rows, points, files; says what it freed",
             "Files of registered models are kept. Safe to interrupt and run again; runs logging meanwhile "
             "lose nothing.")
    gc.add_argument("--older-than", type=_days, default=None, metavar="DAYS",
                    help="only runs deleted at least DAYS days ago (default: every deleted run)")
    gc.add_argument("--dry-run", action="store_true", help="change nothing; say what would be removed")
    gc.add_argument("--vacuum", action="store_true",
                    help="also rewrite a store created before runlog gc existed, to give its free space back "
                         "(writers wait while it runs)")
    gc.add_argument("-v", "--verbose", action="store_true", help="name each run as it is removed")

    models = add("models", cmd_models, "list registered models, newest first")
    models.add_argument("name", nargs="?", default=None, metavar="NAME", help="only versions of this model")
    models.add_argument("--wide", action="store_true", help="never cut long values")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

"""``runlog import mlflow`` and ``runlog import tensorboard``: the command-line side of the importers.

Each command draws a progress bar on stderr (on a terminal), prints the summary line on stdout and
each run it could not read as one line on stderr. Exit status 0, or 1 when runs were skipped and
none was imported.
"""

from __future__ import annotations

import argparse
import sys

from runlog_core.transfer.import_common import ImportSummary, ProgressLine

__all__ = ["add_import_parsers", "cmd_import_mlflow", "cmd_import_tensorboard"]


def add_import_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``runlog import {mlflow,tensorboard}`` on the ``runlog`` command's sub-parsers."""
    text = "copy runs from MLflow or TensorBoard into the runlog store (again: copies only new runs)"
    parser = subparsers.add_parser("import", help=text, description=text)
    tools = parser.add_subparsers(dest="tool", metavar="TOOL")
    tools.required = True

    text = ("copy MLflow experiments and runs: params, tags, metric histories, statuses, times, "
            "parent/child runs, artifacts")
    mlflow = tools.add_parser("mlflow", help=text, description=text)
    source = mlflow.add_mutually_exclusive_group()
    source.add_argument("--tracking-uri", dest="tracking_uri", default=None, metavar="URI",
                        help="MLflow tracking URI, e.g. sqlite:///mlflow.db (default: $MLFLOW_TRACKING_URI, "
                             "else ./mlruns, else ./mlflow.db)")
    source.add_argument("path", nargs="?", default=None,
                        help="an MLflow folder (./mlruns) or SQLite file (mlflow.db), instead of --tracking-uri")
    mlflow.add_argument("-e", "--experiment", default=None,
                        help="only this MLflow experiment (default: all); runs keep their experiment's name")
    mlflow.add_argument("--store", default=argparse.SUPPRESS, help="runlog store folder or URI to copy into")
    mlflow.set_defaults(func=cmd_import_mlflow)

    text = "turn each folder of TensorBoard event files under LOGDIR into a run: scalars, hparams, images"
    tensorboard = tools.add_parser("tensorboard", help=text, description=text)
    tensorboard.add_argument("logdir", metavar="LOGDIR",
                             help="the log_dir of SummaryWriter or TensorBoardLogger, or a folder above them")
    tensorboard.add_argument("-e", "--experiment", default=None,
                             help="runlog experiment to import into (default: LOGDIR's folder name)")
    tensorboard.add_argument("--store", default=argparse.SUPPRESS, help="runlog store folder or URI to copy into")
    tensorboard.set_defaults(func=cmd_import_tensorboard)


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    """``runlog import mlflow``."""
    from runlog_core.transfer.import_mlflow import import_mlflow

    source = args.tracking_uri if args.tracking_uri is not None else args.path
    progress = ProgressLine("importing MLflow runs")
    try:
        summary = import_mlflow(source, store=getattr(args, "store", None), experiment=args.experiment,
                                progress=progress)
    finally:
        progress.close()
    return _report(summary)


def cmd_import_tensorboard(args: argparse.Namespace) -> int:
    """``runlog import tensorboard``."""
    from runlog_core.transfer.import_tensorboard import import_tensorboard

    progress = ProgressLine("importing TensorBoard runs")
    try:
        summary = import_tensorboard(args.logdir, store=getattr(args, "store", None), experiment=args.experiment,
                                     progress=progress)
    finally:
        progress.close()
    return _report(summary)


def _report(summary: ImportSummary) -> int:
    for line in summary.skipped:
        print(f"runlog: skipped {line}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.skipped and not summary.runs else 0

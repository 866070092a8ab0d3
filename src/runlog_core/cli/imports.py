"""``runlog import mlflow`` and ``runlog import tensorboard``: the command-line side of the importers.

Each command draws a progress bar on stderr (on a terminal), prints the summary line on stdout
(``2 imported, 1 skipped; 6 points, 1 files``) and on stderr one line per run it skipped
(``runlog: skipped NAME: why``), per thing an imported run lacks (``runlog: NAME: ...``) and per
name it had to change. Exit status 0 when every run found was copied whole, 1 when anything was
skipped or left out. Every line goes through :func:`say`, which shows control characters as
escapes (``visible``): names in them come from files someone else may have written.
"""

from __future__ import annotations

import argparse
import sys

from runlog_core.base.text import visible
from runlog_core.transfer.import_common import ImportSummary, ProgressLine
from runlog_core.transfer.import_read import MAX_PARAMS

__all__ = ["add_import_parsers", "cmd_import_mlflow", "cmd_import_tensorboard", "say"]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def _max_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-params", dest="max_params", type=_count, default=MAX_PARAMS, metavar="N",
                        help=f"copy at most N params into each run (default {MAX_PARAMS:,}); the rest are "
                             "one line each run, and the exit status is 1")


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
    mlflow.add_argument("--artifacts-from-anywhere", dest="artifacts_from_anywhere", action="store_true",
                        help="also copy artifacts stored outside the source (another folder, s3://, gs://, "
                             "http(s)://), read with your own permissions and credentials; without it such "
                             "runs are imported without their artifacts, one line each")
    _max_params(mlflow)
    mlflow.add_argument("--store", default=argparse.SUPPRESS, help="runlog store folder or URI to copy into")
    mlflow.set_defaults(func=cmd_import_mlflow)

    text = "turn each folder of TensorBoard event files under LOGDIR into a run: scalars, hparams, images"
    tensorboard = tools.add_parser("tensorboard", help=text, description=text)
    tensorboard.add_argument("logdir", metavar="LOGDIR",
                             help="the log_dir of SummaryWriter or TensorBoardLogger, or a folder above them")
    tensorboard.add_argument("-e", "--experiment", default=None,
                             help="runlog experiment to import into (default: LOGDIR's folder name)")
    _max_params(tensorboard)
    tensorboard.add_argument("--store", default=argparse.SUPPRESS, help="runlog store folder or URI to copy into")
    tensorboard.set_defaults(func=cmd_import_tensorboard)


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    """``runlog import mlflow``."""
    from runlog_core.transfer.import_mlflow import import_mlflow

    source = args.tracking_uri if args.tracking_uri is not None else args.path
    progress = ProgressLine("importing MLflow runs")
    try:
        summary = import_mlflow(source, store=getattr(args, "store", None), experiment=args.experiment,
                                progress=progress, max_params=args.max_params,
                                artifacts_from_anywhere=args.artifacts_from_anywhere)
    finally:
        progress.close()
    return _report(summary)


def cmd_import_tensorboard(args: argparse.Namespace) -> int:
    """``runlog import tensorboard``."""
    from runlog_core.transfer.import_tensorboard import import_tensorboard

    progress = ProgressLine("importing TensorBoard runs")
    try:
        summary = import_tensorboard(args.logdir, store=getattr(args, "store", None), experiment=args.experiment,
                                     progress=progress, max_params=args.max_params)
    finally:
        progress.close()
    return _report(summary)


def say(line: str, err: bool = True) -> None:
    """Print one line (on stderr, else stdout), its control characters shown as escapes."""
    print(visible(line), file=sys.stderr if err else sys.stdout)


def _report(summary: ImportSummary) -> int:
    for line in summary.skipped:
        say(f"runlog: skipped {line}")
    for line in summary.left_out:
        say(f"runlog: {line}")
    for line in summary.notes:
        say(f"runlog: {line}")
    say(summary.line(), err=False)
    return 0 if summary.complete else 1

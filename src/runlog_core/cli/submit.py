"""``runlog submit``: run a script as a run (or a sweep of runs) from the shell.

runlog's own messages (they quote the run's and the experiment's names) show control characters as
escapes; the script's live output is the user's own program talking and is passed on exactly.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runlog_core.base import config as _config
from runlog_core.cli.errors import say

if TYPE_CHECKING:
    from runlog_core.hyperdrive import HyperDriveConfig
    from runlog_core.run.experiment import Experiment
    from runlog_core.submit.config import ScriptRunConfig

__all__ = ["register", "run_submit"]

_EPILOG = """\
examples:
  runlog submit train.py -e diabetes -- --alpha 0.5
  runlog submit train.py -e diabetes --sweep alpha=0.1,0.5,1.0 --sweep l1=0,1 --max-parallel 2
  runlog submit train.py --sweep alpha=uniform(0,1) --sampling random --max-runs 20 --max-parallel 4 \
      --metric mse --goal min --policy bandit:0.1:1
  RUNLOG_STORE=postgresql://runlog@db/runs RUNLOG_ARTIFACTS=s3://ml/runlog \
      runlog submit train.py --compute-target ray://head:10001 --sweep alpha=0.1,0.5 --max-parallel 2

The script runs in a fresh copy of the source folder, with RUNLOG_RUN_ID set so that
Run.get_context() inside it logs into the submitted run. The exit status is the script's
(128+N when killed by signal N, 130 when canceled); for a sweep, 0 when every run completed
or was stopped by the policy. Sweeps are HyperDrive sweeps (docs/hyperdrive.md).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``submit`` subcommand to the ``runlog`` parser."""
    parser = subparsers.add_parser(
        "submit", help="run a script as a run, streaming its output (or a sweep of runs)",
        description="Run a Python script in a subprocess as a runlog run, streaming its output.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", metavar="SCRIPT", help="the Python script, inside the source folder")
    parser.add_argument("script_args", nargs="*", default=[], metavar="-- ARGS",
                        help="arguments for the script, after --")
    parser.add_argument("-e", "--experiment", help="experiment name (default: RUNLOG_EXPERIMENT, else the script's name)")
    parser.add_argument("-d", "--source-directory", default=".",
                        help="the folder copied for the run and kept as its snapshot (default: .)")
    # SUPPRESS: `runlog --store X submit ...` (the top-level option) must survive the subcommand's default
    parser.add_argument("--store", default=argparse.SUPPRESS,
                        help="store folder or URI (default: RUNLOG_STORE, else ./runlog)")
    parser.add_argument("-n", "--name", help="the run's display name")
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="run once per combination of values, passed as --NAME VALUE (repeatable)")
    parser.add_argument("--max-parallel", type=int, default=1, metavar="N",
                        help="for a sweep: how many runs at a time (default: 1)")
    parser.add_argument("--sampling", default="grid", choices=("grid", "random", "bayesian"),
                        help="for a sweep: every combination (default), random draws, or Bayesian (TPE)")
    parser.add_argument("--max-runs", type=int, metavar="N",
                        help="for a sweep: the most runs (needed with --sampling random|bayesian)")
    parser.add_argument("--seed", type=int, help="for --sampling random: repeatable draws")
    parser.add_argument("--metric", metavar="NAME", help="for a sweep: the primary metric the script logs")
    parser.add_argument("--goal", choices=("min", "max"), help="for --metric: minimize or maximize it")
    parser.add_argument("--policy", metavar="SPEC",
                        help="for a sweep: early termination, bandit:SLACK[:INTERVAL[:DELAY]], "
                             "median[:INTERVAL[:DELAY]], truncation:PERCENT[:INTERVAL[:DELAY]] or none")
    parser.add_argument("--python", help="the interpreter to run the script with (default: this one)")
    parser.add_argument("--compute-target", default="local", metavar="TARGET",
                        help="where the script (or each run of a sweep) runs: local (this machine, the default), "
                             "ray (the Ray cluster at RUNLOG_RAY_ADDRESS, else the one Ray finds) or "
                             "ray://HOST:PORT; a Ray cluster needs a team store (docs/hyperdrive.md)")
    parser.add_argument("--no-stream", action="store_true",
                        help="do not print the script's output (or the sweep's progress bar)")
    parser.set_defaults(func=run_submit)
    # argparse cannot give "--" arguments to a positional once options came between them and
    # the script (`submit train.py -e x -- --lr 1`), so the submit parser splits at "--" itself.
    parse = parser.parse_known_args

    def parse_known_args(args: list[str] | None = None, namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        tail: list[str] = []
        if "--" in args:
            at = args.index("--")
            args, tail = args[:at], args[at + 1:]
        namespace, extras = parse(args, namespace)
        namespace.script_args = [*(namespace.script_args or []), *tail]
        return namespace, extras

    parser.parse_known_args = parse_known_args


def _on_sigterm(signum: int, frame: object) -> None:
    # Turned into KeyboardInterrupt so that waiting stops the script's process group the same
    # way as Ctrl-C does, and the run ends Canceled.
    raise KeyboardInterrupt("SIGTERM")


_FLAGS = {"script": "SCRIPT", "source_directory": "--source-directory", "python": "--python",
          "compute_target": "--compute-target"}


def _as_typed(err: BaseException) -> str:
    """An error in one line, naming what was typed (SCRIPT, --python) rather than ScriptRunConfig's arguments."""
    from runlog_core.exceptions import InvalidArgumentError, RunlogError

    if isinstance(err, InvalidArgumentError) and err.argument in _FLAGS:
        accepted = err.accepted.replace("source_directory", "the source folder (--source-directory)")
        return f"{_FLAGS[err.argument]} must be {accepted}, got {str(err.value)!r}"
    if isinstance(err, OSError) and not isinstance(err, RunlogError) and err.strerror:  # never "[Errno 2]"
        return err.strerror + (f": {err.filename!r}" if err.filename else "")
    return " ".join(str(err).split())


def run_submit(args: argparse.Namespace) -> int:
    """Carry out ``runlog submit``; returns the exit status."""
    from runlog_core.exceptions import RunlogError
    from runlog_core.run.experiment import Experiment
    from runlog_core.submit.api import ScriptRunConfig, ScriptRunError, submit

    script_args = list(args.script_args)
    source = Path(args.source_directory)
    script = Path(args.script)
    if not script.is_absolute() and not (source / script).is_file() and script.is_file():
        script = script.resolve()  # given relative to here rather than to --source-directory
    if script.is_absolute():
        try:
            script = script.relative_to(source.resolve())
        except ValueError:
            say(f"runlog submit: {args.script} is not inside the source folder {source.resolve()}; "
                "pass -d/--source-directory")
            return 2
    if args.max_parallel < 1:
        say(f"runlog submit: --max-parallel must be >= 1, got {args.max_parallel}")
        return 2
    problem = _sweep_problem(args)
    if problem:
        say(f"runlog submit: {problem}")
        return 2
    try:
        config = ScriptRunConfig(source_directory=source, script=str(script), arguments=script_args,
                                 python=args.python, compute_target=args.compute_target)
        hd_config = _hyperdrive_config(args, config) if args.sweep else None
        name = args.experiment or _config.experiment() or Path(config.script).stem
        experiment = Experiment(name, store=getattr(args, "store", None))
    except (RunlogError, OSError) as err:
        say(f"runlog submit: {_as_typed(err)}")
        return 2

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass
    try:
        if hd_config is not None:
            return _run_sweep(experiment, hd_config, args)
        run = submit(experiment, config, name=args.name)
        say(f"runlog: run {run.id} ({run.name}) in experiment {experiment.name!r}")
        try:
            details = run.wait_for_completion(show_output=not args.no_stream, raise_on_error=False)
        except KeyboardInterrupt:
            say(f"runlog: run {run.id} canceled")
            return 130
        status, code = details["status"], details.get("exitCode")
        say(f"runlog: run {run.id} {status}" + (f" (exit code {code})" if code else ""))
        if status == "Completed":
            return 0
        if status == "Canceled":
            return 130
        if code is not None and code < 0:
            return 128 - code
        return code if isinstance(code, int) and 0 < code < 256 else 1
    except ScriptRunError as err:
        # one line: the script's output was shown as it ran; the log tail stays on the exception
        say(f"runlog submit: {str(err).splitlines()[0]}")
        return 1
    except (RunlogError, OSError) as err:
        say(f"runlog submit: {_as_typed(err)}")
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sweep_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the sweep flags (one line), before anything starts."""
    sweep_only = [flag for flag, value in (("--sampling", args.sampling != "grid"), ("--max-runs", args.max_runs),
                                           ("--metric", args.metric), ("--goal", args.goal),
                                           ("--policy", args.policy), ("--seed", args.seed is not None))
                  if value]
    if not args.sweep:
        return f"{sweep_only[0]} is for a sweep: add --sweep NAME=V1,V2,..." if sweep_only else None
    if args.max_runs is not None and args.max_runs < 1:
        return f"--max-runs must be >= 1, got {args.max_runs}"
    if args.sampling != "grid" and args.max_runs is None:
        return f"--sampling {args.sampling} needs --max-runs N"
    if (args.metric is None) != (args.goal is None):
        return "--metric NAME and --goal min|max go together"
    if args.sampling == "bayesian" and args.metric is None:
        return "--sampling bayesian needs --metric NAME --goal min|max (it learns from the metric)"
    if args.policy and args.policy.strip().lower() != "none" and args.metric is None:
        return "--policy needs --metric NAME --goal min|max (the policy reads the metric)"
    return None


def _hyperdrive_config(args: argparse.Namespace, config: ScriptRunConfig) -> HyperDriveConfig:
    from runlog_core.hyperdrive import HyperDriveConfig
    from runlog_core.hyperdrive.command_line import parse_policy, parse_space, sampling_for

    sampling = sampling_for(args.sampling, parse_space(args.sweep), seed=args.seed)
    hd_config = HyperDriveConfig(run_config=config, hyperparameter_sampling=sampling,
                                 primary_metric_name=args.metric,
                                 primary_metric_goal={"min": "minimize", "max": "maximize"}.get(args.goal or ""),
                                 max_total_runs=args.max_runs, max_concurrent_runs=args.max_parallel,
                                 max_duration_minutes=None, policy=parse_policy(args.policy))
    hd_config._params_from_text = True
    return hd_config


def _run_sweep(experiment: Experiment, hd_config: HyperDriveConfig, args: argparse.Namespace) -> int:
    from runlog_core.hyperdrive.run import start_hyperdrive

    parent = start_hyperdrive(experiment, hd_config, name=args.name)
    say(f"runlog: sweep {parent.id} ({parent.total} runs, {hd_config.max_concurrent_runs} at a time) "
        f"in experiment {experiment.name!r}")
    try:
        details = parent.wait_for_completion(show_output=not args.no_stream, raise_on_error=False)
    except KeyboardInterrupt:
        say(f"runlog: sweep {parent.id} canceled")
        return 130
    ranked = {e["run_id"]: e["best_primary_metric"] for e in parent.get_children_sorted_by_primary_metric()}
    bad = 0
    for child in sorted(parent.get_children(), key=lambda c: c.name):
        status = child.status
        stopped = status == "Canceled" and "policy" in (child.get_details().get("error") or "")
        bad += status != "Completed" and not stopped
        best = ranked.get(child.id)
        shown = "" if best is None or hd_config.primary_metric_name is None else \
            f" {hd_config.primary_metric_name}={best:.6g}"
        say(f"  {child.name:<30} {status:<10} {child.id}{shown}" + (" (stopped by the policy)" if stopped else ""))
    best_run = parent.get_best_run_by_primary_metric() if hd_config.primary_metric_name else None
    if best_run is not None:
        say(f"runlog: best run {best_run.id} ({best_run.name})")
    say(f"runlog: sweep {parent.id} {details['status']}")
    return 0 if details["status"] == "Completed" and not bad else 1

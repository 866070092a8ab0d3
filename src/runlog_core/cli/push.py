"""``runlog push``: copy runs, with their ids, to another store; its messages quote run names, escaped."""

from __future__ import annotations

import argparse

from runlog_core.cli.access import resolve_run, store_for
from runlog_core.cli.errors import one_line, say
from runlog_core.exceptions import RunlogError

__all__ = ["cmd_push"]


def cmd_push(args: argparse.Namespace) -> int:
    """``runlog push``: copy runs, with their ids, to another store (see ``_push``); 130 on Ctrl-C."""
    import warnings

    from runlog_core.base.redact import redact_value
    from runlog_core.base.text import visible
    from runlog_core.base.uri import hide_password
    from runlog_core.transfer.push import PushInterrupted, PushProgress, lines, push

    chosen = [flag for flag, given in (("RUN ids", bool(args.runs)), ("-e EXPERIMENT", args.experiment is not None),
                                       ("--all", args.all)) if given]
    if len(chosen) != 1:
        said = "no runs were chosen" if not chosen else f"{' and '.join(chosen)} were both given"
        raise RunlogError(f"say which runs to push with one of: RUN ids (or names), -e EXPERIMENT, --all; {said}")
    from runlog_core.plugins.manager import resolve_store_uri

    resolve_store_uri(args.to, "--to")  # a malformed URI named as the flag it came from
    source = store_for(args)
    for key in args.runs:  # an unknown RUN is refused before the destination is created
        resolve_run(source, key)
    progress = PushProgress()
    try:
        with warnings.catch_warnings():  # a store's warning (files kept on this host only) as one line
            warnings.showwarning = lambda message, *_args, **_kwargs: say(str(message))
            summary = push(source, args.to, runs=args.runs, experiment=args.experiment, all=args.all,
                           artifacts=args.artifacts, progress=progress)
    except PushInterrupted as stopped:
        progress.close()
        for line in lines(stopped.summary):  # a refused or skipped run, by its name
            say(f"runlog: {line}")
        say(f"runlog: interrupted; {stopped.summary.line()}; run the same command again to resume "
            "(nothing is copied twice)")
        return 130
    except RunlogError as err:  # never a password of --to, whatever the driver's message says
        progress.close()
        raise RunlogError(hide_password(args.to, redact_value(one_line(err)))) from err
    progress.close()
    for line in lines(summary):
        say(f"runlog: {line}")
    print(visible(summary.line()))
    return 1 if summary.refused or summary.skipped else 0

"""``runlog ui``: the web UI's command, added to the ``runlog`` command line as a plugin.

``pyproject.toml`` names this module under ``[project.entry-points.runlog]`` (``runlog.ui``), as a third
party's plugin would be; runlog loads it with its other plugins and calls :func:`runlog_cli_commands`
as it builds its parser. Loading it imports none of the UI's dependencies: without the ``ui`` extra,
``runlog ui`` says ``pip install 'runlog[ui]'`` in one line when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from runlog_core.exceptions import RunlogError
from runlog_core.hookspecs import hookimpl

__all__ = ["cmd_ui", "runlog_cli_commands"]

_EPILOG = """\
examples:
  runlog ui                                   # http://127.0.0.1:5005/?token=<random>
  RUNLOG_STORE=postgresql://runlog@db/runs runlog ui --port 0
                                              # any store (password: PGPASSWORD or ~/.pgpass); a free port
  RUNLOG_UI_TOKEN="$(openssl rand -hex 24)" runlog ui --host 0.0.0.0
                                              # other machines (a token set in the environment: the
                                              # command line is visible to every user in `ps`)
  runlog ui --no-token                        # no token, loopback only: every local user can read the runs

The first line printed is the URL to open, with its token. Ctrl-C stops the server. See docs/ui.md
and docs/security.md.
"""


@hookimpl
def runlog_cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                        store_for: Callable[[argparse.Namespace], Any]) -> None:
    """Add the ``ui`` subcommand to the ``runlog`` parser."""
    parser = subparsers.add_parser(
        "ui", help="serve the web UI for a store (runs, live charts, compare)",
        description="Serve the web UI and its JSON API for a store, read-only.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=argparse.SUPPRESS,
                        help="store folder or URI (default: RUNLOG_STORE, else ./runlog)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5005, help="port (default 5005; 0: any free port)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--token", default=None,
                        help="token every request must carry, 16 characters or more (default: RUNLOG_UI_TOKEN, "
                             "else a random one; the printed URL carries it)")
    choice.add_argument("--no-token", action="store_true",
                        help="serve without a token, on a loopback address only: every local user can read the runs")
    parser.set_defaults(func=lambda args: cmd_ui(args, store_for))


def cmd_ui(args: argparse.Namespace, store_for: Callable[[argparse.Namespace], Any]) -> int:
    """Serve until Ctrl-C or SIGTERM; the host, the token and the extra are checked before the store is opened."""
    from . import require_extra

    if not 0 <= args.port <= 65535:
        raise RunlogError(f"--port must be between 0 and 65535, got {args.port}")
    require_extra("runlog ui")
    from ._server import check_host, serve

    token = check_host(args.host, args.token, args.no_token)
    store = store_for(args)
    try:
        serve(store, host=args.host, port=args.port, token=token, no_token=token is None)
    except KeyboardInterrupt:  # Ctrl-C while starting: stopping is what was asked
        pass
    return 0

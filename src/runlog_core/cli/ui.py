"""``runlog ui``: serve the web UI for a store (the ``runlog_ui`` package, extra ``ui``).

``runlog_core`` never imports ``runlog_ui`` (the UI depends on the core, not the reverse): the
command loads it by name when it runs, and says how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["register"]

_EPILOG = """\
examples:
  runlog ui                                   # http://127.0.0.1:5005/
  runlog ui --store postgresql://... --port 0 # any store; a free port
  runlog ui --host 0.0.0.0 --token SECRET     # other machines: a token is required

The first line printed is the URL to open. Ctrl-C stops the server. See docs/ui.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ui`` subcommand to the ``runlog`` parser."""
    parser = subparsers.add_parser(
        "ui", help="serve the web UI for a store (runs, live charts, compare)",
        description="Serve the web UI and its JSON API for a store, read-only.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=argparse.SUPPRESS,
                        help="store folder or URI (default: RUNLOG_STORE, else ./runlog)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other needs a token)")
    parser.add_argument("--port", type=int, default=5005, help="port (default 5005; 0: any free port)")
    parser.add_argument("--token", default=None,
                        help="token every request must carry (default: RUNLOG_UI_TOKEN); required for another host")
    parser.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    from runlog_core.base import config as _config
    from runlog_core.cli.access import store_for
    from runlog_core.exceptions import RunlogError

    token = args.token if args.token is not None else _config.ui_token()
    if not 0 <= args.port <= 65535:
        raise RunlogError(f"--port must be between 0 and 65535, got {args.port}")
    try:
        server = importlib.import_module("runlog_ui._server")
    except ImportError as err:
        raise ImportError(f"runlog ui needs the ui extra ({err.name or err} is missing): "
                          "pip install 'runlog[ui]'") from None
    security = importlib.import_module("runlog_ui._security")
    if not security.is_loopback(args.host) and not token:  # checked before the store is opened
        raise RunlogError(f"--host {args.host} serves other machines: give a token with --token or RUNLOG_UI_TOKEN "
                          "(anyone who can reach the port could read every run otherwise)")
    store = store_for(args)
    try:
        server.serve(store, host=args.host, port=args.port, token=token)
    except KeyboardInterrupt:  # Ctrl-C while starting: stopping is what was asked
        pass
    return 0

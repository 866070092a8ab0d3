"""The hooks runlog calls, for plugin authors.

A plugin is any object or module with functions named like the hooks below and
decorated with :data:`hookimpl`. Register it with :func:`runlog_core.register_plugin`
or publish it under the entry-point group ``runlog``::

    [project.entry-points.runlog]
    csv_mirror = "my_package.plugin"

Event hooks (``runlog_run_started`` ... ``runlog_run_ended``) are called on runlog's
background writer thread, in batches, after the store has committed the data they
describe; never on the training thread, never once per ``log`` call. An exception
raised by a plugin is reported once as a warning and does not stop logging.

``runlog_cli_commands`` is the one hook of the ``runlog`` command line: it is called as the
command builds its parser, and a plugin that raises there stops ``runlog`` with an error naming
it (a command gone missing with only a warning would be worse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from runlog_core.base.handle import PublicRun as Run  # a runlog_core.Run (the floors below it name it so)
    from runlog_core.base.records import LoggedPoint
    from runlog_core.store import Store

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("runlog")
hookimpl = pluggy.HookimplMarker("runlog")


@hookspec(firstresult=True)
def runlog_open_store(uri: str) -> Store | None:
    """Return a :class:`runlog_core.store.Store` for ``uri``, or ``None`` to let another plugin try.

    Called once per distinct store URI in a process, the first time it is used.
    ``uri`` is what the user passed as ``store=`` or ``RUNLOG_STORE`` (a folder
    path, ``sqlite:///file.db``, ``postgresql://...``), or the default ``runlog``
    folder. Stops at the first non-None result; the built-in SQLite store is
    registered with ``trylast=True`` so a plugin can take any URI from it.
    :mod:`runlog_core.store` documents what a store must do; check one with
    :mod:`runlog_core.testing.store_conformance`.
    """


@hookspec
def runlog_run_started(run: Run) -> None:
    """A run was started (or reattached) by this process.

    ``run`` is the :class:`runlog_core.Run`; its id, name and experiment are set.
    Called on the writer thread once the run's row is committed.
    """


@hookspec
def runlog_params_logged(run: Run, params: dict[str, Any]) -> None:
    """Params of ``run`` were committed.

    ``params`` maps flattened names (``"optimizer.lr"``) to the values stored,
    for one batch; the same run may appear in several calls.
    """


@hookspec
def runlog_metrics_logged(run: Run, points: list[LoggedPoint]) -> None:
    """A batch of metric points of ``run`` was committed.

    ``points`` is a list of :class:`runlog_core.LoggedPoint` ``(name, step, value,
    timestamp)`` in the order they were logged, for scalar series (numbers, bools
    and strings). Row, table, list and image entries are not included.
    """


@hookspec
def runlog_artifact_uploaded(run: Run, name: str, uri: str) -> None:
    """A file was stored for ``run`` under the artifact name ``name``.

    ``uri`` says where the bytes are (a ``file://`` URI for the local store).
    """


@hookspec
def runlog_run_ended(run: Run, status: str) -> None:
    """``run`` ended with ``status``: ``"Completed"``, ``"Failed"``, ``"Canceled"`` or ``"Killed"``.

    Called after everything the run logged is committed.
    """


@hookspec
def runlog_autolog(config: dict[str, Any]) -> None:
    """Attach (or, with ``config["disable"]``, detach) a framework integration.

    ``config`` holds ``frameworks`` (a set of names, or ``None`` for all),
    ``experiment`` (a name or ``None``) and ``disable`` (bool). An implementation
    does nothing when its framework is not importable or not selected.
    """


@hookspec
def runlog_cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                        store_for: Callable[[argparse.Namespace], Store]) -> None:
    """Add subcommands to the ``runlog`` command line (``runlog ui`` comes from ``runlog_ui`` this way).

    ``subparsers`` is what ``add_subparsers()`` returned for the ``runlog`` parser: add each command
    with ``subparsers.add_parser(name, help=...)`` and give it ``set_defaults(func=...)``. ``runlog``
    calls ``func(args)`` and exits with the int it returns. ``args.store`` is the ``--store`` given
    before the command (or ``None``); add ``--store`` with ``default=argparse.SUPPRESS`` to take it
    after the command's name too. ``store_for(args)`` opens that store as every ``runlog`` command
    does (``--store``, else ``RUNLOG_STORE``, else ``./runlog``); one that does not exist is an error,
    never created by looking. A :class:`~runlog_core.exceptions.RunlogError` or an ``ImportError``
    (a missing optional dependency) raised by ``func`` is printed as one line, exit status 2.

    Called once per ``runlog`` process, as it builds its parser, so implementations must be quick
    and import nothing heavy (a command imports what it needs when it runs). An exception raised
    here is not swallowed as in the other hooks: ``runlog`` stops with one line naming the plugin.
    """

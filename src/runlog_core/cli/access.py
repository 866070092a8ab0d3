"""What every ``runlog`` command starts with: the store it reads (never created by looking) and the run it names."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from runlog_core.exceptions import StoreError
from runlog_core.run.lookup import resolve_run  # lives with the runs (push uses it too); the commands import it here

if TYPE_CHECKING:
    from runlog_core.run.run import Run
    from runlog_core.store import Store

__all__ = ["open_run", "resolve_run", "store_for"]


def store_for(args: argparse.Namespace) -> Store:
    """The store to read; a local store that does not exist is an error (looking never creates one)."""
    from runlog_core.plugins.builtin import store_exists
    from runlog_core.plugins.manager import open_store, resolve_store_uri

    uri = resolve_store_uri(args.store, "--store")
    if store_exists(uri) is False:  # a database without runlog's tables too: no store there
        from runlog_core.base.uri import parse_store_uri

        raise StoreError(f"no store at {parse_store_uri(uri).redacted}: nothing was logged there yet; "
                         "give the store with --store or RUNLOG_STORE")
    store: Store = open_store(uri)
    return store


def open_run(store: Store, key: str) -> Run:
    from runlog_core.run.experiment import Experiment
    from runlog_core.run.run import Run

    info = resolve_run(store, key)
    return Run(Experiment(info.experiment_name, store=store), info.id, _info=info)

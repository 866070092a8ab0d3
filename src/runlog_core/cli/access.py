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
    from runlog_core.plugins.manager import open_store, resolve_store_uri
    from runlog_core.store.sqlite.store import store_exists

    uri = resolve_store_uri(args.store)
    exists = store_exists(uri)
    if exists is None and uri.startswith(("postgresql://", "postgres://")):
        from runlog_core.store.postgres.store import store_exists as database_has_store

        exists = database_has_store(uri)  # a database without runlog's tables: no store there
    if exists is False:
        from runlog_core.base.redact import redact_url

        raise StoreError(f"no store at {redact_url(uri)}: nothing was logged there yet; "
                         "give the store with --store or RUNLOG_STORE")
    store: Store = open_store(uri)
    return store


def open_run(store: Store, key: str) -> Run:
    from runlog_core.run.experiment import Experiment
    from runlog_core.run.run import Run

    info = resolve_run(store, key)
    return Run(Experiment(info.experiment_name, store=store), info.id, _info=info)

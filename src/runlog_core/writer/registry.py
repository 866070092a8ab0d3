"""The writers of this process: one per store, found by the store object; closing stores; fork.

:mod:`runlog_core.writer.writer` is one writer (buffers, thread, commits); this module keeps the
process's writers, closes stores (their writer first), and gives a forked child writers of
its own.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

from runlog_core.plugins import manager as _plugins
from runlog_core.writer.writer import Writer

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from runlog_core.store import Store

__all__ = ["all_writers", "close_all", "close_store", "close_writer", "flush_all", "get_writer"]

_writers: dict[int, Writer] = {}
_writers_lock = threading.Lock()


def get_writer(store: Store) -> Writer:
    key = id(store)
    writer = _writers.get(key)
    if writer is None or writer.store is not store:
        with _writers_lock:
            writer = _writers.get(key)
            if writer is None or writer.store is not store:
                writer = Writer(store)
                _writers[key] = writer
    return writer


def all_writers() -> list[Writer]:
    return list(_writers.values())


def close_writer(store: Store) -> None:
    """Commit and stop the writer of ``store``, if it has one."""
    with _writers_lock:
        writer = _writers.pop(id(store), None)
    if writer is not None and writer.store is store:
        writer.close()


def close_store(store: Store) -> None:
    """Commit what is buffered for ``store``, end its writer thread and close its connections.

    The next ``open_store`` of its URI opens it again.
    """
    try:
        close_writer(store)
    finally:
        _plugins.forget_store(store)
        store.close()


def close_all() -> None:
    """Close every store this process opened (at interpreter exit)."""
    for store in _plugins.open_stores():
        close_store(store)


def flush_all() -> None:
    for writer in all_writers():
        try:
            writer.flush()
        except Exception as err:
            warnings.warn(f"runlog: could not flush to {getattr(writer.store, 'uri', '')}: {err!r}",
                          RuntimeWarning, stacklevel=2)


def _after_fork_in_child() -> None:
    for writer in list(_writers.values()):
        writer._after_fork()
    # a child of multiprocessing leaves through os._exit, past atexit: commit its points before.
    # multiprocessing clears its finalizers in the child, then runs its after-fork callbacks
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _writers:
        util.register_after_fork(_fork_marker, _finalize_in_child)


class _ForkMarker:
    """An object for multiprocessing's after-fork registry (it keeps its entries weakly)."""


_fork_marker = _ForkMarker()


def _finalize_in_child(_: object) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, flush_all, exitpriority=100)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""Finding a run in a store by what people type: its id, a unique id prefix, or its name.

``runlog`` commands (``runlog metrics RUN``, ``runlog export RUN``...) and :func:`runlog_core.push`
(``push(src, dst, runs=[...])``) name runs so; both look them up here.
"""

from __future__ import annotations

from runlog_core.exceptions import RunlogError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from runlog_core.store import RunInfo, Store

__all__ = ["resolve_run"]


def resolve_run(store: Store, key: str) -> RunInfo:
    """A run's record from its id, a unique id prefix, or its name.

    Raises:
        RunlogError: ``key`` is empty, no run matches it, or several do (give more of the id).
    """
    if not isinstance(key, str) or not key.strip():  # '' is a prefix of every id: it must not pick the only run
        raise RunlogError(f"give a run by its id, a unique prefix of it, or its name; got {key!r}, which names none "
                          "(see `runlog runs`)")
    info = store.get_run(key)
    if info is not None:
        return info
    matches = store.find_run_ids(key)
    found = store.get_run(matches[0]) if len(matches) == 1 else None
    if found is not None:
        return found
    if not matches:
        raise RunlogError(f"no run matches {key!r} in {store.uri}; see `runlog runs`")
    raise RunlogError(f"{key!r} matches {len(matches)} runs ({', '.join(matches[:5])}...); give more of the id")

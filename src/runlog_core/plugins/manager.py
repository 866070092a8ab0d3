"""The plugin manager: built-in plugins, entry points (loaded once, on first use), stores by URI.

pluggy's manager is built on first need. Until then, while the ``runlog`` entry points installed are
runlog's own (:data:`OWN_ENTRY_POINTS`: the integrations' ``runlog_autolog`` and the UI's
``runlog_cli_commands``), no plugin can open a store or hear a run's events: :func:`open_store` opens
the built-in stores directly (:mod:`.stores`) and the event hooks have no implementation. A script that
only logs (a submitted script, a sweep's child) thus never imports pluggy (issue 18). A third-party
entry point, :func:`register_plugin`, :func:`get_plugin_manager` or a call of one of the own hooks
builds the manager, and from then on every hook goes through it.
"""

from __future__ import annotations

import os
import threading
import warnings

from runlog_core.base import config as _config
from runlog_core.exceptions import StoreError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    import pluggy

    from runlog_core.plugins.entry_points import EntryPoint

__all__ = ["OWN_ENTRY_POINTS", "get_plugin_manager", "open_store", "register_plugin", "resolve_store_uri",
           "unregister_plugin"]

# runlog's own `runlog` entry points (pyproject.toml), by module, and the only hooks their plugins
# implement (tests/core/test_plugin_manager_lazy.py checks this against the plugins themselves)
OWN_ENTRY_POINTS: dict[str, frozenset[str]] = {
    "runlog_integrations._entry_points": frozenset({"runlog_autolog"}),
    "runlog_ui._cli": frozenset({"runlog_cli_commands"}),
}
_OWN_HOOKS = frozenset().union(*OWN_ENTRY_POINTS.values())

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_entry_points_loaded = False
_found_entry_points: list[EntryPoint] | None = None
_only_own: bool | None = None  # whether every `runlog` entry point installed is runlog's own
_stores: dict[str, Any] = {}


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-in plugins and ``runlog`` entry points loaded."""
    global _pm, _entry_points_loaded
    pm = _pm
    if pm is not None and _entry_points_loaded:
        return pm
    with _lock:
        if _pm is None:
            from runlog_core import hookspecs
            from runlog_core.plugins import guarded as _guarded_hooks
            from runlog_core.plugins.builtin import PostgresPlugin, SQLitePlugin

            pm = _guarded_hooks.GuardedPluginManager("runlog")
            pm.add_hookspecs(hookspecs)
            pm.register(SQLitePlugin(), name="runlog.sqlite")
            pm.register(PostgresPlugin(), name="runlog.postgres")
            _pm = pm
        if not _entry_points_loaded:
            _entry_points_loaded = True
            _load_entry_points(_pm)
        return _pm


def _entry_points() -> list[EntryPoint]:
    """The ``runlog`` entry points installed, looked up once per process."""
    global _found_entry_points
    found = _found_entry_points
    if found is None:
        from runlog_core.plugins.entry_points import entry_points  # not importlib.metadata: see there

        with _lock:
            if _found_entry_points is None:
                _found_entry_points = entry_points(group="runlog")
            found = _found_entry_points
    return found


def _builtins_only(hook_name: str) -> bool:
    """Whether no plugin manager is needed for ``hook_name``: none built yet, the hook not one of
    runlog's own entry points', and no ``runlog`` entry point installed but those."""
    global _only_own
    if _pm is not None or hook_name in _OWN_HOOKS:
        return False
    if _only_own is None:  # the entry points installed do not change while the process runs
        _only_own = all(point.value.partition(":")[0].strip() in OWN_ENTRY_POINTS for point in _entry_points())
    return _only_own


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for entry_point in _entry_points():
        if pm.get_plugin(entry_point.name) is not None or pm.is_blocked(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as err:  # a broken third-party plugin must not break logging
            warnings.warn(f"runlog: plugin {entry_point.name!r} ({entry_point.value}) failed to load: {err!r}",
                          RuntimeWarning, stacklevel=3)
            continue
        pm.register(plugin, name=entry_point.name)


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object or module; returns the name it was registered under.

    Its hooks are called in pluggy's order (``tryfirst``/``trylast``, wrappers around the
    rest); one that raises costs one warning per hook and plugin, never the other plugins'
    calls or the training.
    """
    registered = get_plugin_manager().register(plugin, name=name)
    return registered or ""


def unregister_plugin(plugin: object | None = None, name: str | None = None) -> None:
    """Unregister a plugin given as the object or by the name it was registered under."""
    get_plugin_manager().unregister(plugin=plugin, name=name)


def call_hook(hook_name: str, /, **kwargs: Any) -> Any:
    """Call a hook through pluggy (its order, ``firstresult`` and wrappers); returns pluggy's result.

    With no plugin but the built-in ones able to answer (see the module), the same result without
    pluggy: ``runlog_open_store`` from the built-in stores, no results for the other hooks.
    """
    if _builtins_only(hook_name):
        if hook_name == "runlog_open_store":
            from runlog_core.plugins.stores import open_builtin

            return open_builtin(kwargs["uri"])
        return []
    return getattr(get_plugin_manager().hook, hook_name)(**kwargs)


def has_hook_impls(name: str) -> bool:
    if _builtins_only(name):
        return False
    return bool(getattr(get_plugin_manager().hook, name).get_hookimpls())


def resolve_store_uri(store: str | os.PathLike[str] | None, argument: str = "store") -> str:
    """The URI a ``store=`` argument names: the argument, else ``RUNLOG_STORE``, else ``./runlog``;
    a relative path in it made absolute (see :func:`runlog_core.base.uri.parse_store_uri`).

    Raises:
        InvalidArgumentError: ``store`` is neither a path nor a well-formed URI (the error names ``argument``).
        ConfigError: ``RUNLOG_STORE`` is not a well-formed URI.
    """
    from runlog_core.base.uri import parse_store_uri

    if store is None:
        configured = _config.store()
        if configured:
            return parse_store_uri(configured, "RUNLOG_STORE").absolute().text
        store = "runlog"
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    return parse_store_uri(store, argument).absolute().text  # refuses what is not a str, too


def open_store(store: str | os.PathLike[str] | Any | None = None) -> Any:
    """Return the store for ``store`` (a path, a URI, or a store object), opening it once per process."""
    if store is not None and not isinstance(store, (str, os.PathLike)):
        if hasattr(store, "write") and hasattr(store, "get_run"):
            return store
    uri = resolve_store_uri(store)
    key = f"{os.getpid()}:{uri}"
    found = _stores.get(key)
    if found is not None:
        return found
    with _lock:
        found = _stores.get(key)
        if found is None:
            found = call_hook("runlog_open_store", uri=uri)
            if found is None:
                raise StoreError(f"no plugin can open the store {uri!r}; install the plugin for its scheme "
                                 "(for PostgreSQL: pip install 'runlog[postgres]')")
            _stores[key] = found
            if getattr(found, "remote", False):
                _replay_spills(found)
        return found


def _replay_spills(store: Any) -> None:
    """Write what an earlier program could not write into this remote store before it ended (:mod:`runlog_core.store.spill`)."""
    from runlog_core.store.spill import replay, spills_for

    if not spills_for(store.uri):
        return
    try:
        written = replay(store)
    except Exception as err:  # still refusing: kept for the next time, logging goes on
        warnings.warn(f"runlog: {store.uri} did not take yet what an earlier program kept for it on local disk "
                      f"({err}); it stays there and is written the next time the store is opened",
                      RuntimeWarning, stacklevel=4)
        return
    if written:
        warnings.warn(f"runlog: wrote into {store.uri} the {written} batch(es) an earlier program kept on local disk "
                      "when the store was down at its end", RuntimeWarning, stacklevel=4)


def forget_store(store: Any) -> None:
    """Drop ``store`` from the cache of open stores: the next ``open_store`` of its URI opens it again."""
    with _lock:
        for key, found in list(_stores.items()):
            if found is store:
                del _stores[key]


def open_stores() -> list[Any]:
    """The stores this process opened and has not closed."""
    with _lock:
        return list(_stores.values())


def _forget_stores() -> None:
    _stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_stores)

"""Plugins' hooks called the way pluggy means, yet a raising plugin never stops the others.

runlog calls hooks through pluggy, so its documented order holds (later-registered first,
``tryfirst``/``trylast``, ``wrapper=True`` and old-style ``hookwrapper=True`` wrappers around
the rest, ``firstresult``). pluggy itself stops a call at the first exception; a plugin's bug
must instead cost one warning and leave the other plugins, the store and the training alone.
So, as each plugin is registered, the functions of its hook implementations are replaced by
guarded ones: a plain implementation that raises returns ``None`` (except a store plugin's
``RunlogError``, a store saying why it cannot open, which reaches the user); a wrapper that raises before
its ``yield`` lets the call go on without it, and one that raises after gives back the result
it was handed. ``KeyboardInterrupt`` and ``SystemExit`` are never swallowed. The hooks of
:data:`UNGUARDED_HOOKS` are left as pluggy calls them: the ``runlog`` command line's, where a
plugin's error must stop the command rather than leave one of its commands missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

import pluggy

from runlog_core.exceptions import RunlogError
from runlog_core.plugins.stores import report_plugin_error as _report

__all__ = ["UNGUARDED_HOOKS", "GuardedPluginManager"]

UNGUARDED_HOOKS = frozenset({"runlog_cli_commands"})


def _guard_plain(function: Callable[..., Any], hook: str, plugin: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RunlogError as err:
            if hook == "runlog_open_store":  # a store that says why it cannot open (a newer schema...)
                raise
            _report(hook, plugin, err)
            return None
        except Exception as err:
            _report(hook, plugin, err)
            return None

    return guarded


def _guard_wrapper(function: Callable[..., Any], hook: str, plugin: str) -> Callable[..., Any]:
    """A new-style wrapper: ``result = yield``; returns the (possibly changed) result."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
        try:
            inner = function(*args, **kwargs)
            next(inner)
        except Exception as err:  # raised (or returned) before its yield: the call goes on without it
            _report(hook, plugin, err if not isinstance(err, StopIteration) else RuntimeError("did not yield"))
            return (yield)
        try:
            result = yield
        except BaseException as exc:  # an inner implementation raised: the wrapper may handle it
            try:
                inner.throw(exc)
            except StopIteration as stop:
                return stop.value
            inner.close()
            raise
        try:
            inner.send(result)
        except StopIteration as stop:
            return stop.value
        except Exception as err:
            _report(hook, plugin, err)
            return result
        inner.close()
        _report(hook, plugin, RuntimeError("the wrapper yielded twice"))
        return result

    return guarded


def _guard_old_wrapper(function: Callable[..., Any], hook: str, plugin: str) -> Callable[..., Any]:
    """An old-style ``hookwrapper``: ``outcome = yield`` receives a pluggy Result."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, None]:
        try:
            inner = function(*args, **kwargs)
            next(inner)
        except Exception as err:
            _report(hook, plugin, err if not isinstance(err, StopIteration) else RuntimeError("did not yield"))
            yield
            return
        outcome = yield
        try:
            inner.send(outcome)
        except StopIteration:
            return
        except Exception as err:
            _report(hook, plugin, err)
            return
        inner.close()

    return guarded


class GuardedPluginManager(pluggy.PluginManager):
    """A ``pluggy.PluginManager`` whose registered hook implementations cannot break a call."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        # pluggy looks at every name of a plugin with inspect.getattr_static: the dunders of each
        # plugin object are most of them, and never hooks (issue 18: what a submitted script pays)
        if name.startswith("__") and name.endswith("__"):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        if registered is None:
            return None
        for caller in self.get_hookcallers(plugin) or []:
            if caller.name in UNGUARDED_HOOKS:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin or getattr(impl.function, "__runlog_guarded__", False):
                    continue
                if impl.hookwrapper:
                    guarded = _guard_old_wrapper(impl.function, caller.name, impl.plugin_name)
                elif impl.wrapper:
                    guarded = _guard_wrapper(impl.function, caller.name, impl.plugin_name)
                else:
                    guarded = _guard_plain(impl.function, caller.name, impl.plugin_name)
                guarded.__runlog_guarded__ = True  # type: ignore[attr-defined]
                impl.function = guarded  # type: ignore[misc]  # pluggy marks it Final; calls read it each time
        return registered

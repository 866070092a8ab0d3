"""One rule for every integration: runlog never breaks the user's training.

A failure of runlog's own code inside a framework hook becomes one warning per kind of failure
and the hook returns normally. ``RUNLOG_STRICT_INTEGRATIONS=1`` makes those failures raise
instead, which is how runlog's own tests catch them.
"""

from __future__ import annotations

import warnings

from runlog_core.base import config as _config

__all__ = ["WarnOnce", "strict"]


def strict() -> bool:
    """``RUNLOG_STRICT_INTEGRATIONS`` is set: integration failures raise instead of warning."""
    return _config.strict_integrations()


class WarnOnce:
    """Call ``guard(what, err)`` where a runlog failure must not stop training.

    Args:
        goes_on: what the warning says carries on, e.g. ``"training goes on"``.
    """

    def __init__(self, goes_on: str = "training goes on") -> None:
        self.goes_on = goes_on
        self.seen: set[str] = set()

    def __call__(self, what: str, err: BaseException) -> None:
        if strict():
            raise err
        key = f"{what}:{type(err).__name__}"
        if key in self.seen:
            return
        self.seen.add(key)
        text = repr(err) if len(repr(err)) <= 300 else repr(err)[:297] + "..."
        warnings.warn(f"runlog: could not {what} ({text}); {self.goes_on}, later failures of this kind "
                      "are not shown", RuntimeWarning, stacklevel=3)


WarnOnce.__module__ = "runlog_core.integration"  # pickled (with a logger or callback) under its public path

"""runlog's web UI: ``runlog ui``, its JSON API and the notebook widget (see docs/ui.md).

Needs the ``ui`` extra: ``pip install 'runlog[ui]'`` (Starlette, uvicorn, numpy). ``import runlog_ui``
itself needs none of them, so that runlog can load the ``runlog ui`` command (``runlog_ui._cli``, a
plugin of the entry-point group ``runlog``) without them; ``serve``, ``start_server`` and ``RunDetails``
raise ``ImportError`` naming the extra when one is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import serve, start_server
    from ._widget import RunDetails

__all__ = ["RunDetails", "serve", "start_server"]


def require_extra(what: str = "runlog_ui") -> None:
    """Raise ``ImportError`` saying ``pip install 'runlog[ui]'`` when Starlette, uvicorn or numpy is missing."""
    try:
        import numpy  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ImportError(f"{what} needs the ui extra ({err.name or err} is missing): pip install 'runlog[ui]'",
                          name=err.name) from err


def __getattr__(name: str) -> Any:
    if name in ("serve", "start_server"):
        require_extra()
        from . import _server

        return getattr(_server, name)
    if name == "RunDetails":
        require_extra()
        from ._widget import RunDetails

        return RunDetails
    raise AttributeError(f"module 'runlog_ui' has no attribute {name!r}")

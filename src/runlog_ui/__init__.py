"""runlog's web UI: ``runlog ui``, its JSON API and the notebook widget (see docs/ui.md).

Needs the ``ui`` extra: ``pip install 'runlog[ui]'`` (Starlette, uvicorn, numpy).
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as err:
    raise ImportError(f"runlog_ui needs the ui extra ({err.name} is missing): pip install 'runlog[ui]'") from err

from ._server import serve, start_server
from ._widget import RunDetails

__all__ = ["RunDetails", "serve", "start_server"]

"""``RunDetails(run).show()``: a run's live page in a Jupyter notebook, as an iframe of a UI server
this process starts (once per store) on a free loopback port."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from ._server import start_server

__all__ = ["RunDetails"]


class RunDetails:
    """The live view of a run in a notebook: ``RunDetails(run).show()``, or leave it as a cell's value.

    Args:
        run: a :class:`runlog_core.Run` (or a run id together with ``store``).
        store: the store of a run given by id (default: the run's own store).
        height: the frame's height in pixels.
    """

    def __init__(self, run: Any, store: Any = None, height: int = 640) -> None:
        if isinstance(run, str):
            self.run_id, self.store = run, store
        else:
            self.run_id = run.id
            self.store = store if store is not None else run._store
            flush = getattr(run, "flush", None)
            if callable(flush) and run.__class__.__module__.startswith("runlog_core"):
                flush()  # what was logged shows at once
        self.height = int(height)
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The run's page as the frame shows it (the server starts on first use)."""
        if self._url is None:
            base = start_server(self.store)
            self._url = f"{base}/runs/{quote(self.run_id, safe='')}?embed=1"
        return self._url

    def _repr_html_(self) -> str:
        src = html.escape(self.url, quote=True)
        return (f'<iframe src="{src}" width="100%" height="{self.height}" '
                f'style="border: 1px solid rgba(128, 128, 128, 0.4); border-radius: 4px" '
                f'title="runlog run {html.escape(self.run_id, quote=True)}"></iframe>'
                f'<div style="font-size: 12px; opacity: 0.7"><a href="{src}" target="_blank" rel="noopener">'
                f"open in a browser tab</a></div>")

    def show(self) -> None:
        """Display the live view in the notebook (in a plain Python session, print its URL)."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            print(self.url)
            return
        display(HTML(self._repr_html_()))

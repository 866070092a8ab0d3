"""``RunDetails(run).show()``: a run's live page in a Jupyter notebook, as an iframe of a UI server
this process starts (once per store) on a free loopback port.

The frame's URL carries the server's token (``?embed=1&token=...``): a frame of another site (Jupyter
on ``localhost``, VS Code's webview) gets no cookie, so the page sends the token itself. The link to
open it in a browser tab carries it too, and logs that tab in (the cookie) as the printed URL of
``runlog ui`` does.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from ._server import background_server, login_url

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
        self._server: tuple[str, str] | None = None

    def _page(self, embed: bool) -> str:
        if self._server is None:
            self._server = background_server(self.store, 0, "127.0.0.1", None)  # the server starts on first use
        base, token = self._server
        path = f"/runs/{quote(self.run_id, safe='')}" + ("?embed=1" if embed else "")
        return login_url(base, token, path)

    @property
    def url(self) -> str:
        """The run's page as the frame shows it, token included (the server starts on first use)."""
        return self._page(embed=True)

    @property
    def tab_url(self) -> str:
        """The run's page to open in a browser tab: it logs the tab in and drops the token from the address."""
        return self._page(embed=False)

    def _repr_html_(self) -> str:
        src, tab = html.escape(self.url, quote=True), html.escape(self.tab_url, quote=True)
        return (f'<iframe src="{src}" width="100%" height="{self.height}" '
                f'style="border: 1px solid rgba(128, 128, 128, 0.4); border-radius: 4px" '
                f'title="runlog run {html.escape(self.run_id, quote=True)}"></iframe>'
                f'<div style="font-size: 12px; opacity: 0.7"><a href="{tab}" target="_blank" rel="noopener">'
                f"open in a browser tab</a></div>")

    def show(self) -> None:
        """Display the live view in the notebook (in a plain Python session, print its URL)."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            print(self.url)
            return
        display(HTML(self._repr_html_()))

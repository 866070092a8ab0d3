"""The notebook widget's frame with its token, in headless Chromium: a notebook page of another site
(`localhost`, as Jupyter prints it) frames the run page of the widget's server (`127.0.0.1`). The frame
gets no cookie there, so the page must send the token itself; the "open in a browser tab" link must log
the tab in."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install playwright)")
pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def notebook_page(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A page at http://localhost:<port>/ holding what `RunDetails(run)` shows in a notebook."""
    import numpy as np

    from runlog_core import Experiment
    from runlog_ui import RunDetails

    with Experiment("framed", store=str(tmp_path / "store")).start_logging(name="framed-run", outputs=None) as run:
        run.log_params({"lr": 0.25})
        for step in range(5):
            run.log("loss", 1.0 / (step + 1))
        run.log_image("sample", image=np.full((8, 8, 3), 200, dtype="uint8"))
    widget = RunDetails(run)
    body = f"<!doctype html><html><body><h1>notebook</h1>{widget._repr_html_()}</body></html>".encode()

    class Notebook(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Notebook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://localhost:{server.server_address[1]}/", "widget": widget, "run": run.id}
    server.shutdown()
    server.server_close()


def test_the_frame_sends_its_token_and_the_tab_link_logs_in(notebook_page: dict[str, Any]) -> None:
    widget = notebook_page["widget"]
    assert "&token=" in widget.url and "?embed=1" in widget.url and "embed" not in widget.tab_url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context()
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(notebook_page["url"])
            frame = page.frame_locator("iframe")
            frame.locator("#app[data-ready]").wait_for()
            sync_api.expect(frame.locator("#run-status")).to_have_text("Completed")
            sync_api.expect(frame.locator('.metric-card[data-metric="loss"] .latest')).to_have_text("0.2")
            sync_api.expect(frame.get_by_text("0.25").first).to_be_visible()
            image = frame.locator("img").first
            image.scroll_into_view_if_needed()
            sync_api.expect(image).to_be_visible()
            assert image.evaluate("img => img.complete && img.naturalWidth") == 8  # a file, fetched with the token
            assert context.cookies() == []  # a frame of another site: no cookie, the token did it all
            assert problems == [], problems

            with context.expect_page() as opened:
                page.get_by_text("open in a browser tab").click()
            tab = opened.value
            tab.wait_for_selector("#app[data-ready]")
            assert tab.url.endswith(f"/runs/{notebook_page['run']}")  # the token left the address bar
            sync_api.expect(tab.locator("#run-status")).to_have_text("Completed")
            sync_api.expect(tab.locator("#topbar")).to_be_visible()
            (cookie,) = context.cookies()
            port = widget.url.split(":")[2].split("/")[0]
            assert cookie["name"] == f"runlog_ui_{port}" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        finally:
            browser.close()

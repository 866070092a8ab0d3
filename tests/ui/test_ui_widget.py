"""The notebook widget in a real notebook run by a real kernel: the iframe, the server it starts in the
kernel (`start_server`), the live page, and the link from a run's own HTML to it."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, get_json, served

CELLS = [
    "from runlog_core import Experiment\nfrom runlog_ui import RunDetails",
    "run = Experiment('notebook', store={store!r}).start_logging(name='in a notebook', outputs=None)\n"
    "for step in range(5):\n    run.log('loss', 1.0 / (step + 1))",
    "RunDetails(run).show()",
    "for step in range(5, 8):\n    run.log('loss', 1.0 / (step + 1))\nrun.flush()",
    "run",
]


def _html_of(cell: Any) -> str:
    return "".join(output["data"].get("text/html", "") for output in cell.get("outputs", [])
                   if output["output_type"] in ("execute_result", "display_data"))


def test_run_details_shows_the_live_run_page_in_a_notebook(kernel_name: str, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    store = str(tmp_path / "store")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source.format(store=store)) for source in CELLS]
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=60, startup_timeout=60,
                                     resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():  # the server lives in the kernel: look at it while the kernel runs
        for index in range(3):
            client.execute_cell(notebook.cells[index], index)
        shown = _html_of(notebook.cells[2])
        found = re.search(r'<iframe src="(http://127\.0\.0\.1:(\d+)/runs/([0-9a-f]+)\?embed=1&amp;token=([\w-]+))"',
                          shown)
        assert found, shown
        page, run_id = html.unescape(found.group(1)), found.group(3)
        assert len(found.group(4)) >= 32  # a random token of the server's, in the frame's URL
        base = served(page)
        # the frame's URL is all it takes; without the token, nothing
        status, headers, body = get(page, anonymous=True)
        assert status == 200 and b'src="/static/app.js"' in body
        assert get(f"{base}/runs/{run_id}?embed=1", anonymous=True)[0] == 401
        assert get(f"{base}/api/runs/{run_id}", anonymous=True)[0] == 401
        # a notebook served from this machine may frame it; nothing else may
        ancestors = headers["content-security-policy"].split("frame-ancestors")[1]
        assert "http://localhost:*" in ancestors and "http://127.0.0.1:*" in ancestors and " * " not in ancestors + " "
        run = get_json(f"{base}/api/runs/{run_id}")
        assert run["name"] == "in a notebook" and run["status"] == "Running"
        assert run["series"][0]["count"] == 5
        client.execute_cell(notebook.cells[3], 3)
        live = get_json(f"{base}/api/runs/{run_id}/live")  # the page polls this: the new points are there
        assert live["series"][0]["count"] == 8 and live["series"][0]["last_step"] == 7
        # the run's own HTML now links to its page in that server
        client.execute_cell(notebook.cells[4], 4)
        card = _html_of(notebook.cells[4])
        assert f'href="{base}/runs/{run_id}"' in card and "open in runlog ui" in card

"""``RunDetails(hd_run).show()`` for a HyperDrive parent: its live page, its tags and its children (issue 18)."""

from __future__ import annotations

import html
import json
import sys
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from _hd_helpers import write_script

from runlog_core import Experiment, ScriptRunConfig
from runlog_core.hyperdrive import GridParameterSampling, HyperDriveConfig, choice

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups: Linux")
pytest.importorskip("optuna", reason="HyperDrive samples with Optuna: pip install 'runlog[hyperdrive]'")
pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")


def _get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def test_run_details_shows_the_sweep_parent(tmp_path: Path) -> None:
    from runlog_ui import RunDetails

    src = write_script(tmp_path / "src", "import sys\nfrom runlog_core import Run\n"
                                         "Run.get_context().log('acc', float(sys.argv[-1]))\n")
    hd_run = Experiment("widget", store=tmp_path / "store").submit(HyperDriveConfig(
        GridParameterSampling({"--x": choice(0.5, 0.9)}), "acc", "maximize", max_concurrent_runs=2,
        run_config=ScriptRunConfig(src, "train.py")))
    hd_run.wait_for_completion()
    details = RunDetails(hd_run)
    details.show()  # what a notebook cell shows: the iframe of the parent's page
    url = details.url
    assert html.escape(url, quote=True) in details._repr_html_()
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    base = f"{parts.scheme}://{parts.netloc}"
    status, page = _get(url, token)
    assert status == 200 and b"<html" in page.lower()
    status, body = _get(f"{base}/api/runs/{hd_run.id}", token)
    record = json.loads(body)
    assert record["status"] == "Completed"
    assert record["tags"]["runlog.sweep.primary_metric"] == "acc" and record["tags"]["runlog.sweep.goal"] == "maximize"
    assert sorted(child["id"] for child in record["children"]) == sorted(c.id for c in hd_run.get_children())

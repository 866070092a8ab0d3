"""`runlog ui --store postgresql://...`: the team's dashboard reads PostgreSQL and S3 through the store contract."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from _ui_helpers import get, get_json, start_ui, stop

from runlog_core import Experiment


def test_runlog_ui_serves_a_postgresql_store_with_files_in_s3(pg_uri: str, s3_bucket: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    exp = Experiment("dashboard", store=pg_uri)
    run = exp.start_logging(name="resnet")
    run.log_params({"lr": 0.1})
    for step in range(3000):
        run.log("loss", 1.0 / (step + 1))
    run.log_row("per_class", cls="cat", precision=0.75)
    (tmp_path / "notes.txt").write_text("hello team")
    run.upload_file("notes.txt", str(tmp_path / "notes.txt"))
    run.complete()

    proc, url = start_ui("--store", pg_uri, env=os.environ.copy())
    try:
        experiments = get_json(f"{url}/api/experiments")["experiments"]
        (found,) = [e for e in experiments if e["name"] == "dashboard"]
        table = get_json(f"{url}/api/experiments/{found['id']}/runs?filter=metrics.loss%20%3C%200.01"
                         "&columns=metrics.loss,params.lr")
        assert [row["id"] for row in table["runs"]] == [run.id]
        assert table["runs"][0]["params"]["lr"] == 0.1
        assert table["runs"][0]["metrics"]["loss"] == pytest.approx(1 / 3000)
        page = get_json(f"{url}/api/runs/{run.id}")
        assert page["status"] == "Completed" and page["name"] == "resnet"
        assert {f["name"] for f in page["files"]} == {"notes.txt"}
        chart = get_json(f"{url}/api/runs/{run.id}/metric?name=loss&width=200")
        assert chart["count"] == 3000 and chart["downsampled"] and len(chart["x"]) < 3000
        assert chart["y"][0] == 1.0 and chart["y"][-1] == pytest.approx(1 / 3000)
        code, headers, body = get(f"{url}/api/runs/{run.id}/files/notes.txt")
        assert (code, body) == (200, b"hello team")
        assert headers["x-content-type-options"] == "nosniff"
        assert "postgres:" not in json.dumps(experiments)
    finally:
        assert stop(proc) == 0

"""A file the run's index lists whose bytes are gone (an S3 object deleted, a local file removed) is a 404
naming it, not a 503 (a failed store): #24. `runlog ui` as a user starts it, over a real S3 endpoint (moto)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, start_ui, stop


def _run_with_files(store: str) -> str:
    from runlog_core import Experiment

    with Experiment("gone", store=store).start_logging(name="files", outputs=None) as run:
        run.upload_file("outputs/model.bin", b"weights")
        run.upload_file("outputs/kept.txt", b"still here")
        run.upload_file("logs/extra.log", b"a line\n")
    return run.id


def _answers(store: str, run_id: str) -> dict[str, tuple[int, Any]]:
    from runlog_core.plugins import manager as _plugins
    from runlog_core.writer import registry as _writers

    for opened in _plugins.open_stores():
        _writers.close_store(opened)
    proc, url = start_ui("--store", store)
    try:
        out = {}
        for label, path in (("file", "files/outputs/model.bin"), ("log", "log?name=logs/extra.log"),
                            ("kept", "files/outputs/kept.txt")):
            status, headers, body = get(f"{url}/api/runs/{run_id}/{path}")
            out[label] = (status, json.loads(body) if headers["content-type"].startswith("application/json") else body)
        return out
    finally:
        stop(proc)


def test_a_listed_file_deleted_from_s3_is_a_404(s3_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    store = str(tmp_path / "store")
    run_id = _run_with_files(store)
    bucket, prefix = s3_bucket[len("s3://"):].split("/", 1)
    for name in ("outputs/model.bin", "logs/extra.log"):
        s3_client.delete_object(Bucket=bucket, Key=f"{prefix}/{run_id}/{name}")
    answers = _answers(store, run_id)
    assert answers["file"][0] == 404 and "outputs/model.bin" in answers["file"][1]["error"], answers
    assert answers["log"][0] == 404 and "logs/extra.log" in answers["log"][1]["error"], answers
    assert answers["kept"] == (200, b"still here")


def test_a_listed_file_removed_from_the_local_folder_is_a_404(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_id = _run_with_files(str(store))
    for name in ("outputs/model.bin", "logs/extra.log"):
        (store / "artifacts" / run_id / name).unlink()
    answers = _answers(str(store), run_id)
    assert answers["file"][0] == 404 and "outputs/model.bin" in answers["file"][1]["error"]
    assert answers["log"][0] == 404 and answers["kept"] == (200, b"still here")

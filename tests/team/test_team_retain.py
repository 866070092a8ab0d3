"""Deleting runs, ``runlog gc`` and the model registry on the team store (issue 20): PostgreSQL for runs,
S3 (moto over HTTP) for files; and a PostgreSQL store of schema 3 upgraded in place."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, Model, Run
from runlog_core.cli.main import main


def _keys(s3_url: str) -> list[str]:
    import boto3

    bucket, _, prefix = s3_url[len("s3://"):].partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"][len(prefix):].lstrip("/") for page in pages for item in page.get("Contents", []))


def test_gc_removes_rows_and_s3_objects_but_keeps_model_files(pg_uri: str, s3_bucket: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RUNLOG_STORE", pg_uri)
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    exp = Experiment("team-retain")
    (tmp_path / "model.pkl").write_bytes(b"weights")
    (tmp_path / "log.txt").write_text("noise")
    with exp.start_logging(name="gone") as gone:
        for step in range(300):
            gone.log("loss", 1 / (step + 1))
        gone.upload_file("outputs/model.pkl", str(tmp_path / "model.pkl"))
        gone.upload_file("outputs/log.txt", str(tmp_path / "log.txt"))
        with gone.child_run(name="fold") as child:
            child.upload_file("fold.txt", str(tmp_path / "log.txt"))
    with exp.start_logging(name="kept") as kept:
        kept.log("loss", 0.1)
        kept.upload_file("outputs/model.pkl", str(tmp_path / "model.pkl"))
    model = gone.register_model("ridge", "outputs/model.pkl", tags={"team": "a"})
    assert model.version == 1
    cached = Path(Model.get_model_path("ridge"))  # in S3: a copy in the cache
    assert cached.read_bytes() == b"weights" and cached.is_relative_to(tmp_path / "cache")

    assert main(["delete", gone.id, "--yes"]) == 0
    assert [run.id for run in exp.get_runs()] == [kept.id]
    assert main(["gc"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 deleted runs: 300 points, 2 files" in out and "kept 1 file of registered models" in out
    assert _keys(s3_bucket) == sorted([f"{gone.id}/outputs/model.pkl", f"{kept.id}/outputs/model.pkl"])
    with pytest.raises(Exception, match="no run"):
        Run(exp, gone.id)
    assert Run(exp, kept.id).get_metrics()["loss"] == 0.1
    downloaded = Path(Model("ridge").download(tmp_path / "after"))
    assert downloaded.read_bytes() == b"weights"
    assert main(["gc"]) == 0 and "removed 0 deleted runs" in capsys.readouterr().out  # again: nothing left


def test_a_schema_3_database_is_upgraded_in_place(pg_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from runlog_core.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    with psycopg.connect(pg_uri, autocommit=True) as conn:  # what runlog wrote before issue 20
        conn.execute("CREATE TABLE runlog_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO runlog_schema VALUES (3)")
        for version in (1, 2, 3):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("INSERT INTO experiments(name, created) VALUES ('old', 1.0)")
        conn.execute("INSERT INTO runs(id, experiment_id, name, status, start_time, end_time)"
                     " VALUES ('oldrun', 1, 'before', 'Completed', %s, %s)", (time.time(), time.time()))
    exp = Experiment("old", store=pg_uri)
    (run,) = exp.get_runs()
    assert run.id == "oldrun"
    with psycopg.connect(pg_uri) as conn:
        row: Any = conn.execute("SELECT version FROM runlog_schema").fetchone()
    assert row[0] == SCHEMA_VERSION  # upgraded to the newest schema in place
    run.delete()
    assert exp.get_runs() == [] and Run(exp, "oldrun").get_details()["deleted"] is True
    run.restore()
    assert [r.id for r in exp.get_runs()] == ["oldrun"]

"""search_runs(output="pandas") on the PostgreSQL store: the runs' latest metrics, params and tags read
many runs per statement (issue 21), each row still its own run's values and types. Own database per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from runlog_core import Experiment, search_runs
from runlog_core.store.postgres import store as pg_store

pd = pytest.importorskip("pandas")


def test_a_frame_reads_its_runs_values_a_page_at_a_time(pg_uri: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setattr(pg_store, "_RUNS_PER_READ", 2)  # 5 runs: three reads, the last of one run
    exp = Experiment("frames", store=pg_uri)
    for i in range(5):
        with exp.start_logging(name=f"r{i}", outputs=None) as run:
            run.log_params({"i": i, "half": i / 2, "digits": str(i), "flag": i % 2 == 0, "items": [i, "x"]})
            run.set_tags({"k": f"v{i}"})
            run.log_metrics({"loss": i / 10, "odd": i % 2}, step=0)
            run.log("done", i % 3 == 0)
            run.log("phase", "a" if i % 2 else "b")
            run.log_list("curve", [1.0, 2.0])
    with exp.start_logging(name="bare", outputs=None):
        pass
    frame = search_runs(experiment=exp, output="pandas")
    assert sorted(frame["name"]) == ["bare", "r0", "r1", "r2", "r3", "r4"]
    assert "metrics.curve" not in frame.columns
    for row in frame.to_dict("records"):
        if row["name"] == "bare":
            assert pd.isna(row["metrics.loss"]) and pd.isna(row["tags.k"]) and pd.isna(row["params.digits"])
            continue
        i = int(row["name"][1:])
        assert (row["params.i"], row["params.half"], row["params.items"]) == (i, i / 2, [i, "x"])
        assert row["params.digits"] == str(i) and row["params.flag"] is (i % 2 == 0)
        assert row["tags.k"] == f"v{i}"
        assert row["metrics.loss"] == i / 10
        assert row["metrics.odd"] == i % 2  # float64: "bare" has none (as mlflow.search_runs gives)
        assert row["metrics.done"] is (i % 3 == 0)
        assert row["metrics.phase"] == ("a" if i % 2 else "b")

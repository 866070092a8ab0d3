"""The run API, as the Azure ML logging notebook uses it, read back from a real SQLite store."""

from __future__ import annotations

import io
import math
import sqlite3
import threading
from pathlib import Path

import pytest

from runlog_core import Experiment, MetricPoint, Run
from runlog_core.exceptions import InvalidArgumentError, ParamConflictError, RunNotFoundError


def test_azure_notebook_flow_reads_back_every_value_exactly(store_dir: Path, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    plt = pytest.importorskip("matplotlib.pyplot")
    from PIL import Image

    exp = Experiment("logging-api-test", store=store_dir)
    run = exp.start_logging(tags={"purpose": "notebook"})
    run.log("alpha", 0.03)
    run.log("message", "hello world")
    run.log("converged", False)
    run.log("count", 2**62)
    for i in range(5):
        run.log("sine", math.sin(i))
    run.log_list("Fibonacci numbers", [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
    for x in range(5):
        run.log_row("Y over X", x=x, y=x * x)
    run.log_row("mixed", a=1, b="x")
    run.log_row("mixed", a=2, c=None)
    run.log_table("Sine Wave", {"angle": [0.0, 0.5, 1.0], "sine": [math.sin(a) for a in (0.0, 0.5, 1.0)]})
    run.log("np scalar", np.float32(0.25))
    run.log("np int", np.int64(7))
    figure = plt.figure()
    plt.plot([1, 2, 3], [3, 1, 2])
    run.log_image("line plot", plot=figure)
    run.log_image("pyplot", plot=plt)  # the pyplot module: its current figure
    plt.close(figure)
    run.log_image("noise", image=np.random.default_rng(0).random((16, 12, 3)))
    png = tmp_path / "pil.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(png)
    run.log_image("from file", path=str(png))
    run.log_image("pil", image=Image.new("L", (3, 5)))
    run.log_params({"model": {"name": "ridge", "alphas": [0.1, 0.5]}, "empty_list": [], "empty": {}, "none": None})
    run.tag("quality", "great")
    run.upload_file("outputs/readme.txt", io.BytesIO(b"some bytes"))
    child = run.child_run(name="child")
    child.log("child metric", 1.5)
    child.complete()
    run.complete()

    again = Run(Experiment("logging-api-test", store=store_dir), run.id)
    metrics = again.get_metrics()
    assert metrics["alpha"] == 0.03
    assert metrics["message"] == "hello world"
    assert metrics["converged"] is False
    assert metrics["count"] == 2**62 and isinstance(metrics["count"], int)
    assert metrics["sine"] == [math.sin(i) for i in range(5)]
    assert metrics["Fibonacci numbers"] == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    assert metrics["Y over X"] == {"x": [0, 1, 2, 3, 4], "y": [0, 1, 4, 9, 16]}
    assert metrics["mixed"] == {"a": [1, 2], "b": ["x", None], "c": [None, None]}
    assert metrics["Sine Wave"] == {"angle": [0.0, 0.5, 1.0], "sine": [math.sin(a) for a in (0.0, 0.5, 1.0)]}
    assert metrics["np scalar"] == 0.25 and metrics["np int"] == 7
    files = again.get_file_names()
    for name in ("line plot", "pyplot", "noise", "from file", "pil"):
        assert metrics[name] in files
    assert metrics["from file"].endswith(".png")
    downloaded = again.download_file(metrics["noise"], tmp_path / "noise.png")
    assert Image.open(downloaded).size == (12, 16)
    assert again.get_params() == {"model.name": "ridge", "model.alphas": [0.1, 0.5], "empty_list": [],
                                  "empty": {}, "none": None}
    assert again.get_tags() == {"purpose": "notebook", "quality": "great"}
    assert "outputs/readme.txt" in files
    again.download_file("outputs/readme.txt", tmp_path / "readme.txt")
    assert (tmp_path / "readme.txt").read_bytes() == b"some bytes"
    assert again.get_status() == "Completed"
    assert [c.name for c in again.get_children()] == ["child"]
    assert again.get_children()[0].get_metrics() == {"child metric": 1.5}
    assert again.get_children()[0].parent == again
    details = again.get_details()
    assert details["status"] == "Completed" and details["runId"] == run.id and details["endTimeUtc"]


def test_steps_count_up_per_name_and_nothing_valid_is_dropped(store_dir: Path) -> None:
    run = Experiment("steps", store=store_dir).start_logging()
    run.log("a", 1.0)
    run.log("a", 2.0)
    run.log("b", 5.0)
    run.log("a", 3.0, step=10)
    run.log("a", 4.0)  # goes on after the last step: 11
    run.log("a", 5.0, step=3)  # lower step: kept, in order
    run.log("a", 6.0, step=3)  # repeated step: kept too
    run.log_metrics({"a": 7.0, "b": 8.0})
    run.complete()
    history = run.get_metric_history("a")
    assert [(p.step, p.value) for p in history] == [(0, 1.0), (1, 2.0), (10, 3.0), (11, 4.0), (3, 5.0), (3, 6.0), (4, 7.0)]
    assert [(p.step, p.value) for p in run.get_metric_history("b")] == [(0, 5.0), (1, 8.0)]
    assert all(isinstance(p, MetricPoint) and p.timestamp > 0 for p in history)
    stamps = [p.timestamp for p in history]
    assert stamps == sorted(stamps)


def test_special_floats_round_trip_exactly(store_dir: Path) -> None:
    run = Experiment("floats", store=store_dir).start_logging()
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1]
    for value in values:
        run.log("x", value)
    run.log_metrics({"y": math.nan, "z": -math.inf})
    run.log_row("row", v=math.inf)
    run.complete()
    got = [p.value for p in Run(run.experiment, run.id).get_metric_history("x")]
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == -math.inf
    assert math.copysign(1.0, got[3]) == -1.0
    assert got[4:] == values[4:]
    metrics = run.get_metrics()
    assert math.isnan(metrics["y"]) and metrics["z"] == -math.inf and metrics["row"] == {"v": [math.inf]}


def test_params_same_value_is_a_no_op_and_a_different_one_raises(store_dir: Path) -> None:
    run = Experiment("params", store=store_dir).start_logging()
    run.log_params({"lr": 0.1, "layers": [64, 32]})
    run.log_param("lr", 0.1)
    run.log_params({"layers": (64, 32)})  # a tuple equals the list that was stored
    with pytest.raises(ParamConflictError, match="'lr' is already 0.1") as caught:
        run.log_params({"batch": 32, "lr": 0.2})
    assert caught.value.old == 0.1 and caught.value.new == 0.2
    run.complete()
    assert run.get_params() == {"lr": 0.1, "layers": [64, 32]}  # nothing of the failed call landed


def test_reopened_run_continues_steps_and_keeps_points(store_dir: Path) -> None:
    exp = Experiment("resume", store=store_dir)
    first = exp.start_logging()
    for i in range(3):
        first.log("loss", float(i))
    first.log_params({"lr": 0.1})
    first.complete()
    resumed = exp.start_logging(run_id=first.id)
    assert resumed.get_status() == "Running"
    resumed.log("loss", 10.0)
    with pytest.raises(ParamConflictError):
        resumed.log_params({"lr": 0.5})
    resumed.complete()
    assert [(p.step, p.value) for p in resumed.get_metric_history("loss")] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 10.0)]
    assert resumed.get_status() == "Completed"


def test_outputs_folder_is_uploaded_when_the_run_ends(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    (out / "sub").mkdir(parents=True)
    (out / "model.pkl").write_bytes(b"\x80\x04model")
    (out / "sub" / "a.txt").write_text("a")
    with Experiment("outputs", store=store_dir).start_logging(outputs=out) as run:
        pass
    assert set(run.get_file_names()) == {"outputs/model.pkl", "outputs/sub/a.txt"}
    target = tmp_path / "down"
    run.download_files(prefix="outputs", output_directory=target)
    assert (target / "outputs" / "model.pkl").read_bytes() == b"\x80\x04model"


def test_capture_output_tees_stdout_stderr_and_logging(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import sys

    logger = logging.getLogger("captured")
    logger.setLevel(logging.INFO)
    with Experiment("capture", store=store_dir).start_logging(capture_output=True) as run:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        logger.info("a record")
    print("after the run")
    seen = capsys.readouterr()
    assert "to stdout" in seen.out and "after the run" in seen.out and "to stderr" in seen.err
    target = store_dir.parent / "logs"
    run.download_files(prefix="logs", output_directory=target)
    std_log = (target / "logs" / "std_log.txt").read_text()
    assert "to stdout\n" in std_log and "to stderr\n" in std_log and "after the run" not in std_log
    assert "INFO captured: a record" in (target / "logs" / "python_logging.txt").read_text()


def test_threads_logging_into_one_run_lose_nothing(store_dir: Path) -> None:
    run = Experiment("threads", store=store_dir).start_logging()

    def work(index: int) -> None:
        for step in range(2000):
            run.log(f"t{index}", float(step), step=step)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.complete()
    for index in range(8):
        assert [p.value for p in run.get_metric_history(f"t{index}")] == [float(s) for s in range(2000)]


def test_logging_never_writes_on_the_callers_thread(store_dir: Path) -> None:
    exp = Experiment("threads-of-writes", store=store_dir)
    store = exp._store
    writers = []
    original = store.write

    def recording_write(batch):  # type: ignore[no-untyped-def]
        writers.append(threading.current_thread().name)
        return original(batch)

    store.write = recording_write
    try:
        run = exp.start_logging()
        for i in range(1000):
            run.log("x", float(i))
            run.log_metrics({"y": 1.0, "z": 2.0})
        run.complete()
    finally:
        del store.write
    assert writers and set(writers) == {"runlog-writer"}
    assert len(run.get_metric_history("x")) == 1000


def test_get_runs_filters_by_status_and_tags_newest_first(store_dir: Path) -> None:
    exp = Experiment("listing", store=store_dir)
    first = exp.start_logging(tags={"team": "a"})
    first.complete()
    second = exp.start_logging(tags={"team": "b"})
    second.fail("boom")
    third = exp.start_logging()
    third.child_run().complete()
    assert [r.id for r in exp.get_runs()] == [third.id, second.id, first.id]
    assert [r.id for r in exp.get_runs(status="Failed")] == [second.id]
    assert [r.id for r in exp.get_runs(tags={"team": "a"})] == [first.id]
    assert [r.id for r in exp.get_runs(tags="team")] == [second.id, first.id]
    assert len(exp.get_runs(include_children=True)) == 4
    third.cancel()
    assert third.get_status() == "Canceled"
    assert Run(exp, second.id).get_details()["error"] == "boom"


def test_unknown_run_id_is_a_clear_error(store_dir: Path) -> None:
    exp = Experiment("missing", store=store_dir)
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        Run(exp, "nope")


def test_sqlite_uri_store_and_integrity(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "runs.db"
    with Experiment("uri", store=f"sqlite:///{db}").start_logging() as run:
        run.log("a", 1)
    assert db.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Run(Experiment("uri", store=f"sqlite:///{db}"), run.id).get_metrics() == {"a": 1}


def test_ints_and_floats_keep_their_type_across_batches(store_dir: Path) -> None:
    run = Experiment("types", store=store_dir).start_logging()
    run.log("v", 1.5)
    run.flush()  # a batch of floats
    run.log("v", 2)
    run.flush()  # a batch of ints
    run.log("v", 3.5)
    run.log("v", 4)
    run.log_metrics({"v": math.nan}, step=20)
    run.log_metrics({"v": 5.0}, step=21)  # the bulk path, in the same batch as a mix of types
    run.complete()
    got = [(p.step, p.value) for p in Run(run.experiment, run.id).get_metric_history("v")]
    assert got[:4] == [(0, 1.5), (1, 2), (2, 3.5), (3, 4)] and got[5] == (21, 5.0)
    assert [type(v) for _, v in got] == [float, int, float, int, float, float]
    assert got[4][0] == 20 and math.isnan(got[4][1])
    assert run.get_metrics("v")[1] == 2 and type(run.get_metrics("v")[1]) is int


def test_children_logged_after_the_fact_keep_their_real_times(store_dir: Path) -> None:
    parent = Experiment("times", store=store_dir).start_logging()
    child = parent.child_run(name="candidate 0", start_time=1_700_000_000.0)
    child.complete(end_time=1_700_000_012.5)
    late = parent.child_run(name="candidate 1", start_time=1_700_000_001.0)
    late.complete(end_time=1_700_000_003.0)
    late.fail("2 of 5 folds failed", end_time=1_700_000_003.0)  # found out afterwards
    parent.complete()
    details = Run(parent.experiment, child.id).get_details()
    assert details["startTimeUtc"] == "2023-11-14T22:13:20+00:00" and details["duration"] == 12.5
    failed = Run(parent.experiment, late.id).get_details()
    assert failed["status"] == "Failed" and failed["duration"] == 2.0 and failed["error"] == "2 of 5 folds failed"
    with pytest.raises(InvalidArgumentError, match="start_time must be seconds since the epoch"):
        parent.child_run(start_time="yesterday")


def test_azure_compatible_arguments(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE", str(store_dir))
    monkeypatch.setenv("RUNLOG_EXPERIMENT", "ported")
    import runlog_core.run.context as context

    monkeypatch.setattr(context, "_context", None)
    run = Run.get_context(allow_offline=False)  # what Azure scripts pass
    assert Run.get_context() is run
    run.log("mse", 3000.0)
    child = run.child_run(name="fold 0")
    child.log("mse", 2900.0)
    grandchild = child.child_run()
    grandchild.log("other", 1)
    for r in (grandchild, child):
        r.complete()
    assert run.get_metrics(recursive=True) == {run.id: {"mse": 3000.0}, child.id: {"mse": 2900.0},
                                               grandchild.id: {"other": 1}}
    assert run.get_metrics("mse", recursive=True) == {run.id: {"mse": 3000.0}, child.id: {"mse": 2900.0},
                                                      grandchild.id: {}}
    run.complete()


def test_metric_history_from_packed_chunks_keeps_every_type_and_the_order(store_dir: Path) -> None:
    """#21: the history is read as columns from the packed chunks: floats, ints and bools come back as
    such, across many chunks (more than 65,536 points a batch) and many batches, as MetricPoints."""
    run = Experiment("chunks", store=store_dir).start_logging()
    n = 150_000
    for i in range(n):
        run.log_metrics({"f": i * 0.25, "i": i - 7, "b": i % 3 == 0}, step=i)
        if i == 70_000:
            run.flush()
    run.complete()
    again = Run(run.experiment, run.id)
    floats, ints, bools = (again.get_metric_history(name) for name in ("f", "i", "b"))
    assert all(type(p) is MetricPoint for p in (floats[0], ints[-1], bools[n // 2]))
    assert [p.step for p in floats] == list(range(n)) and [p.value for p in floats] == [i * 0.25 for i in range(n)]
    assert [p.value for p in ints] == [i - 7 for i in range(n)] and {type(p.value) for p in ints} == {int}
    assert [p.value for p in bools] == [i % 3 == 0 for i in range(n)] and {type(p.value) for p in bools} == {bool}
    assert {type(p.timestamp) for p in floats} == {float} and floats[0].timestamp <= floats[-1].timestamp

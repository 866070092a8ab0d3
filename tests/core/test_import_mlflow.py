"""`runlog import mlflow`: stores written by real MLflow (SQLite and an mlruns folder), read back from runlog."""

from __future__ import annotations

from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from runlog_core import Experiment, ImportSourceError  # noqa: E402
from runlog_core.cli.main import main  # noqa: E402
from runlog_core.transfer.import_mlflow import RUN_ID_TAG, import_mlflow, param_value  # noqa: E402


def fill(uri: str, workdir: Path) -> dict[str, str]:
    """Write two experiments into the MLflow store at ``uri``; returns the MLflow run ids by name."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    vision = client.create_experiment("vision", artifact_location=(workdir / "artifacts").as_uri())
    other = client.create_experiment("other", artifact_location=(workdir / "artifacts2").as_uri())
    ids = {}
    parent = client.create_run(vision, run_name="search", start_time=1_700_000_000_000)
    ids["search"] = pid = parent.info.run_id
    client.log_param(pid, "lr", 0.001)
    client.log_param(pid, "layers", 3)
    client.log_param(pid, "optimizer", "adam")
    client.log_param(pid, "shuffle", True)
    client.log_param(pid, "code", "007")
    client.set_tag(pid, "team", "vision")
    for step in range(4):
        client.log_metric(pid, "loss", 1.0 / (step + 1), timestamp=1_700_000_001_000 + step * 500, step=step * 10)
    client.log_metric(pid, "loss", float("nan"), timestamp=1_700_000_003_000, step=40)
    (workdir / "notes.txt").write_text("hello")
    (workdir / "model").mkdir()
    (workdir / "model" / "weights.bin").write_bytes(b"\x00\x01\x02")
    client.log_artifact(pid, str(workdir / "notes.txt"))
    client.log_artifacts(pid, str(workdir / "model"), artifact_path="model")
    client.set_terminated(pid, "FINISHED", end_time=1_700_000_010_000)

    child = client.create_run(vision, run_name="trial-1", tags={"mlflow.parentRunId": pid},
                              start_time=1_700_000_002_000)
    ids["trial-1"] = cid = child.info.run_id
    client.log_metric(cid, "acc", 0.5, timestamp=1_700_000_002_500, step=0)
    client.set_terminated(cid, "FAILED", end_time=1_700_000_004_000)

    killed = client.create_run(other, run_name="stopped", start_time=1_700_000_020_000)
    ids["stopped"] = kid = killed.info.run_id
    client.set_terminated(kid, "KILLED", end_time=1_700_000_021_000)
    running = client.create_run(other, run_name="running", start_time=1_700_000_030_000)
    ids["running"] = rid = running.info.run_id
    client.log_metric(rid, "x", 2.0, timestamp=1_700_000_031_000, step=7)
    return ids


@pytest.fixture(scope="module")
def sqlite_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """An MLflow SQLite store written once for the module (creating its tables takes MLflow seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, fill(uri, folder)


def test_runs_params_tags_metrics_times_statuses_children_and_files(
        sqlite_source: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, ids = sqlite_source
    store = tmp_path / "store"
    summary = import_mlflow(uri, store=store)

    assert (summary.runs, summary.points, summary.files, summary.existing, summary.skipped) == (4, 7, 2, 0, [])
    vision = {run.name: run for run in Experiment("vision", store=store).get_runs(include_children=True)}
    search, trial = vision["search"], vision["trial-1"]
    assert search.get_params() == {"lr": 0.001, "layers": 3, "optimizer": "adam", "shuffle": True, "code": "007"}
    tags = search.get_tags()
    assert tags["team"] == "vision" and tags[RUN_ID_TAG] == ids["search"] and tags["import.mlflow.status"] == "FINISHED"
    assert not any(key.startswith("mlflow.") for key in tags)
    history = search.get_metric_history("loss")
    assert [(p.step, p.timestamp) for p in history] == [(0, 1_700_000_001.0), (10, 1_700_000_001.5),
                                                        (20, 1_700_000_002.0), (30, 1_700_000_002.5),
                                                        (40, 1_700_000_003.0)]
    assert [p.value for p in history][:4] == [1.0, 0.5, 1 / 3, 0.25] and history[4].value != history[4].value
    info = search._store.get_run(search.id)
    assert (info.start_time, info.end_time, search.get_status()) == (1_700_000_000.0, 1_700_000_010.0, "Completed")
    assert search.get_file_names() == ["model/weights.bin", "notes.txt"]
    out = tmp_path / "weights.bin"
    search.download_file("model/weights.bin", out)
    assert out.read_bytes() == b"\x00\x01\x02"

    assert trial.parent == search and [child.name for child in search.get_children()] == ["trial-1"]
    assert (trial.get_status(), trial.get_metric_history("acc")[0].timestamp) == ("Failed", 1_700_000_002.5)
    assert trial.get_tags()["import.mlflow.parentRunId"] == ids["search"]

    other = {run.name: run for run in Experiment("other", store=store).get_runs()}
    assert other["stopped"].get_status() == "Killed"
    running = other["running"]  # still RUNNING in MLflow: its copy ends Killed at its last point
    assert (running.get_status(), running.get_tags()["import.mlflow.status"]) == ("Killed", "RUNNING")
    assert running._store.get_run(running.id).end_time == 1_700_000_031.0
    assert [(p.step, p.value) for p in running.get_metric_history("x")] == [(7, 2.0)]


def test_importing_twice_copies_nothing_twice_and_one_experiment_only(
        sqlite_source: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    uri, _ = sqlite_source
    store = tmp_path / "store"
    first = import_mlflow(uri, store=store, experiment="vision")
    again = import_mlflow(uri, store=store, experiment="vision")
    assert (first.runs, again.runs, again.existing, again.points, again.files) == (2, 0, 2, 0, 0)
    assert len(Experiment("vision", store=store).get_runs(include_children=True)) == 2
    assert import_mlflow(uri, store=store).runs == 2  # then the rest: only the other experiment's runs
    with pytest.raises(ImportSourceError, match="no experiment named 'nope'"):
        import_mlflow(uri, store=store, experiment="nope")


def test_a_file_store_folder_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    mlruns = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 writes an mlruns folder only when asked
    client = mlflow.MlflowClient(tracking_uri=mlruns.as_uri())  # no fluent API: no global state left behind
    run_id = client.create_run(client.create_experiment("files"), run_name="fs-run").info.run_id
    client.log_param(run_id, "alpha", 0.5)
    for step in range(3):
        client.log_metric(run_id, "mse", 10.0 - step, step=step)
    client.set_terminated(run_id)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the importer reads the folder without it
    store = str(tmp_path / "store")

    assert main(["import", "mlflow", str(mlruns), "--store", store]) == 0
    assert capsys.readouterr().out.strip() == "1 imported, 0 skipped; 3 points, 0 files"
    assert main(["import", "mlflow", "--tracking-uri", mlruns.as_uri(), "--store", store]) == 0
    assert capsys.readouterr().out.strip() == "0 imported, 0 skipped; 0 points, 0 files; 1 already there"
    (run,) = Experiment("files", store=store).get_runs()
    assert (run.name, run.get_params(), run.get_metrics("mse")) == ("fs-run", {"alpha": 0.5}, [10.0, 9.0, 8.0])


def test_a_run_that_cannot_be_read_is_one_line_and_the_rest_goes_on(
        sqlite_source: tuple[str, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, ids = sqlite_source
    real = mlflow.MlflowClient.get_metric_history

    def broken(self: object, run_id: str, key: str) -> object:
        if run_id == ids["search"]:
            raise OSError("disk read error")
        return real(self, run_id, key)  # type: ignore[arg-type]

    monkeypatch.setattr(mlflow.MlflowClient, "get_metric_history", broken)
    summary = import_mlflow(uri, store=tmp_path / "store", experiment="vision")
    assert summary.runs == 1 and summary.skipped == [f"vision/search ({ids['search']}): disk read error"]
    (trial,) = Experiment("vision", store=tmp_path / "store").get_runs()
    assert trial.name == "trial-1" and trial.parent is None  # its parent could not be copied


def test_a_missing_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "mlflow", str(tmp_path / "nowhere")]) == 2
    assert "no such folder or file" in capsys.readouterr().err
    assert main(["import", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("0.001", 0.001), ("1e-10", 1e-10), ("True", True),
                                             ("007", "007"), ("1e-3", "1e-3"), ("None", "None"), ("[1, 2]", "[1, 2]")],
                         ids=["int", "float", "exp", "bool", "zero-padded", "short-exp", "none", "list"])
def test_params_read_back_as_python_logged_them(text: str, value: object) -> None:
    assert param_value(text) == value and type(param_value(text)) is type(value)

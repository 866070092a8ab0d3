"""The model registry (issue 20), as Azure's ``Run.register_model`` and ``Model``, on the SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runlog_core import (
    DestinationExistsError,
    Experiment,
    InvalidArgumentError,
    InvalidNameError,
    Model,
    RunNotFoundError,
)
from runlog_core.cli.main import main
from runlog_core.store.gc import collect_garbage


@pytest.fixture
def trained(store_dir: Path, tmp_path: Path) -> Experiment:
    exp = Experiment("diabetes", store=store_dir)
    outputs = tmp_path / "outputs"
    (outputs / "net").mkdir(parents=True)
    (outputs / "ridge.pkl").write_bytes(b"ridge v1")
    (outputs / "net" / "weights.bin").write_bytes(b"w" * 100)
    (outputs / "net" / "config.json").write_text("{}")
    with exp.start_logging(name="first", outputs=str(outputs)):
        pass
    return exp


def test_versions_count_up_and_models_are_found_by_name_version_and_tags(trained: Experiment) -> None:
    run = trained.get_runs()[0]
    first = run.register_model("ridge", model_path="outputs/ridge.pkl", tags={"area": "diabetes"},
                               properties={"mse": 3000}, description="a ridge")
    second = run.register_model(model_name="ridge", model_path="outputs/ridge.pkl", tags={"area": "other"})
    net = run.register_model("net", "outputs/net/", model_framework="PyTorch")  # Azure's extra arguments pass
    assert (first.version, second.version, net.version) == (1, 2, 1)
    assert first.run_id == run.id and first.tags == {"area": "diabetes"} and first.properties == {"mse": "3000"}
    assert first.created_time > 0 and first.description == "a ridge"
    assert net.files == ["outputs/net/config.json", "outputs/net/weights.bin"]
    assert Model("ridge", store=trained) == second and Model("ridge", 1, store=trained).tags == {"area": "diabetes"}
    assert [(m.name, m.version) for m in Model.list(store=trained)] == [("net", 1), ("ridge", 2), ("ridge", 1)]
    assert [m.version for m in Model.list(store=trained, name="ridge")] == [2, 1]
    assert [m.version for m in Model.list(store=trained, tags=[["area", "diabetes"]])] == [1]
    assert [m.version for m in Model.list(store=trained, tags={"area": None})] == [2, 1]


def test_download_and_get_model_path(trained: Experiment, tmp_path: Path) -> None:
    run = trained.get_runs()[0]
    run.register_model("ridge", "outputs/ridge.pkl")
    run.register_model("net", "outputs/net")
    target = tmp_path / "here"
    path = Model("ridge", store=trained).download(str(target))
    assert Path(path) == target / "ridge.pkl" and Path(path).read_bytes() == b"ridge v1"
    with pytest.raises(DestinationExistsError, match="exist_ok=True"):
        Model("ridge", store=trained).download(str(target))
    folder = Path(Model("net", store=trained).download(target))
    assert folder == target / "net" and (folder / "weights.bin").read_bytes() == b"w" * 100
    local = Path(Model.get_model_path("ridge", store=trained))
    assert local.read_bytes() == b"ridge v1" and local.is_relative_to(Path(trained.store))


def test_a_registered_models_files_outlive_gc_of_its_run(trained: Experiment, tmp_path: Path) -> None:
    run = trained.get_runs()[0]
    run.register_model("net", "outputs/net")
    run.delete()
    summary = collect_garbage(trained._store)
    assert len(summary.runs) == 1 and summary.files == 1 and summary.kept_model_files == 2  # ridge.pkl removed
    assert trained.get_runs(include_deleted=True) == []
    model = Model("net", store=trained)
    folder = Path(model.download(tmp_path / "after"))
    assert (folder / "weights.bin").read_bytes() == b"w" * 100
    assert Path(Model.get_model_path("net", store=trained)).is_dir()


@pytest.mark.parametrize("name", ["", "a/b", "../x", "has space", ".hidden", "x" * 256], ids=repr)
def test_bad_model_names_register_nothing(trained: Experiment, name: str) -> None:
    run = trained.get_runs()[0]
    with pytest.raises(InvalidNameError, match="model_name") as caught:
        run.register_model(name, "outputs/ridge.pkl")
    assert caught.value.value == name
    assert Model.list(store=trained) == []


def test_bad_paths_and_versions_are_clear_errors(trained: Experiment) -> None:
    run = trained.get_runs()[0]
    with pytest.raises(InvalidArgumentError, match=r"model_path must be a file or folder among the run's files"):
        run.register_model("ridge", "outputs/missing.pkl")
    with pytest.raises(InvalidArgumentError, match="model_path"):
        run.register_model("ridge", "outputs/rid")  # a prefix of a name is not a folder
    with pytest.raises(InvalidArgumentError, match="model_name must be a str"):
        run.register_model(3, "outputs/ridge.pkl")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="tags must be a dict"):
        run.register_model("ridge", "outputs/ridge.pkl", tags=["a"])  # type: ignore[arg-type]
    assert Model.list(store=trained) == []
    run.register_model("ridge", "outputs/ridge.pkl")
    with pytest.raises(RunNotFoundError, match="no model 'ridge version 7'"):
        Model("ridge", 7, store=trained)
    with pytest.raises(RunNotFoundError, match="no model 'lasso'"):
        Model.get_model_path("lasso", store=trained)
    with pytest.raises(InvalidArgumentError, match="version must be a version number"):
        Model("ridge", 0, store=trained)


def test_runlog_models_lists_them(trained: Experiment, capsys: pytest.CaptureFixture[str]) -> None:
    run = trained.get_runs()[0]
    run.register_model("ridge", "outputs/ridge.pkl", tags={"area": "diabetes"})
    run.register_model("ridge", "outputs/ridge.pkl")
    assert main(["--store", trained.store, "models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["version"], m["run_id"]) for m in listed] == [("ridge", 2, run.id), ("ridge", 1, run.id)]
    assert listed[1]["tags"] == {"area": "diabetes"} and listed[1]["path"] == "outputs/ridge.pkl"
    assert main(["--store", trained.store, "models", "lasso"]) == 0
    assert "no models named 'lasso'" in capsys.readouterr().out
    assert main(["--store", trained.store, "models", "ridge"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["name", "version", "run_id"] and len(table) == 4

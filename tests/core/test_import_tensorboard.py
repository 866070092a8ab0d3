"""`runlog import tensorboard`: event files written by the real SummaryWriter and Lightning logger, read back."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
torch_tb = pytest.importorskip("torch.utils.tensorboard")

from runlog_core import Experiment, ImportSourceError  # noqa: E402
from runlog_core.cli.main import main  # noqa: E402
from runlog_core.transfer.import_tensorboard import PATH_TAG, import_tensorboard  # noqa: E402


def f32(value: float) -> float:
    """``value`` as TensorBoard stores a scalar: a float32."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def write_run(folder: Path, losses: list[float], image: bool = False, hparams: dict | None = None) -> None:
    writer = torch_tb.SummaryWriter(log_dir=str(folder))
    for step, loss in enumerate(losses):
        writer.add_scalar("train/loss", loss, step * 10)
        writer.add_scalar("lr", 0.1, step * 10)
    if image:
        import numpy as np

        picture = np.zeros((3, 4, 5), dtype=np.uint8)
        picture[0] = 255
        writer.add_image("samples", picture, 20)
    if hparams is not None:
        writer.add_hparams(hparams, {"hparam/accuracy": 0.75})
    writer.close()


def event_times(folder: Path) -> list[float]:
    """Every wall time in the folder's event files (sub-folders included), read with tensorboard's own loader."""
    from tensorboard.backend.event_processing import event_file_loader

    times = []
    for path in sorted(folder.rglob("*tfevents*")):
        times += [event.wall_time for event in event_file_loader.EventFileLoader(str(path)).Load()]
    return times


def test_scalars_hparams_images_and_times_are_imported(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    write_run(logdir / "exp1", [1.0, 0.5, 0.25], image=True, hparams={"lr": 0.1, "optimizer": "adam"})
    write_run(logdir / "exp2", [2.0, 1.0])

    summary = import_tensorboard(logdir, store=tmp_path / "store")

    # exp1: 3 + 3 scalars and the add_hparams folder's accuracy; exp2: 2 + 2; one image
    assert (summary.runs, summary.points, summary.files, summary.existing, summary.skipped) == (2, 11, 1, 0, [])
    exp = Experiment("tb", store=tmp_path / "store")  # the default experiment: LOGDIR's name
    runs = {run.name: run for run in exp.get_runs()}
    assert set(runs) == {"exp1", "exp2"}
    one = runs["exp1"]
    assert one.get_status() == "Completed"
    assert one.get_tags()[PATH_TAG] == "exp1"
    history = one.get_metric_history("train/loss")
    assert [(p.step, p.value) for p in history] == [(0, 1.0), (10, 0.5), (20, 0.25)]
    assert one.get_metrics("hparam/accuracy") == f32(0.75)
    assert one.get_params() == {"lr": 0.1, "optimizer": "adam"}
    assert one.get_file_names() == ["images/samples/step_20.png"]
    downloaded = tmp_path / "img.png"
    one.download_file("images/samples/step_20.png", downloaded)
    assert downloaded.read_bytes().startswith(b"\x89PNG")

    times = event_times(logdir / "exp1")
    assert all(p.timestamp in times for p in history)  # each point keeps its wall time
    info = one._store.get_run(one.id)
    assert (info.start_time, info.end_time) == (min(times), max(times))
    assert runs["exp2"].get_metrics("lr") == [f32(0.1), f32(0.1)]


def test_importing_twice_copies_nothing_twice(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "a", [1.0])
    store = tmp_path / "store"
    first = import_tensorboard(logdir, store=store, experiment="tb")
    write_run(logdir / "b", [3.0])
    again = import_tensorboard(logdir, store=store, experiment="tb")
    assert (first.runs, again.runs, again.existing, again.points) == (1, 1, 1, 2)
    assert sorted(run.name for run in Experiment("tb", store=store).get_runs()) == ["a", "b"]


def test_lightning_layout_with_hparams_yaml(tmp_path: Path) -> None:
    loggers = pytest.importorskip("lightning.pytorch.loggers")
    for version in range(2):
        logger = loggers.TensorBoardLogger(str(tmp_path / "logs"), name="lightning_logs")
        logger.log_hyperparams({"lr": 0.01 * (version + 1), "model": {"layers": 2, "act": "relu"}})
        for step in range(3):
            logger.log_metrics({"train_loss": 1.0 / (step + 1)}, step=step)
        logger.save()
        logger.finalize("success")

    summary = import_tensorboard(tmp_path / "logs", store=tmp_path / "store", experiment="mnist")

    assert (summary.runs, summary.skipped) == (2, [])
    runs = {run.name: run for run in Experiment("mnist", store=tmp_path / "store").get_runs()}
    assert set(runs) == {"lightning_logs/version_0", "lightning_logs/version_1"}
    zero = runs["lightning_logs/version_0"]
    # hparams.yaml keeps the nesting and the ints, flattened as log_params does
    assert zero.get_params() == {"lr": 0.01, "model.layers": 2, "model.act": "relu"}
    assert zero.get_metrics("train_loss") == [1.0, 0.5, f32(1 / 3)]
    assert "hparams.yaml" in zero.get_file_names()
    assert runs["lightning_logs/version_1"].get_tags()[PATH_TAG] == "lightning_logs/version_1"


def test_event_files_directly_in_logdir_are_one_run(tmp_path: Path) -> None:
    write_run(tmp_path / "single", [0.3, 0.2])
    summary = import_tensorboard(tmp_path / "single", store=tmp_path / "store")
    (run,) = Experiment("single", store=tmp_path / "store").get_runs()
    assert (summary.runs, run.name, run.get_tags()[PATH_TAG]) == (1, "single", ".")
    assert run.get_metrics("train/loss") == [f32(0.3), f32(0.2)]


def test_an_unreadable_folder_is_one_skipped_line_and_the_rest_goes_on(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "good", [1.0])
    (logdir / "broken").mkdir()
    (logdir / "broken" / "events.out.tfevents.1.host").write_bytes(b"\x00garbage" * 40)
    summary = import_tensorboard(logdir, store=tmp_path / "store")
    assert summary.runs == 1
    assert len(summary.skipped) == 1 and summary.skipped[0].startswith("broken: ")


def test_the_command_prints_a_summary_and_skipped_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "good", [1.0, 2.0])
    (logdir / "broken").mkdir()
    (logdir / "broken" / "events.out.tfevents.1.host").write_bytes(b"")
    store = str(tmp_path / "store")

    assert main(["import", "tensorboard", str(logdir), "-e", "cli", "--store", store]) == 1  # something skipped
    out, err = capsys.readouterr()
    assert out.strip() == "1 imported, 1 skipped; 4 points, 0 files"
    assert err.strip().startswith("runlog: skipped broken: ")

    assert main(["--store", store, "import", "tensorboard", str(logdir), "-e", "cli"]) == 1  # still skipped
    out, _ = capsys.readouterr()
    assert out.strip() == "0 imported, 1 skipped; 0 points, 0 files; 1 already there"


def test_a_folder_without_event_files_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportSourceError, match="no event files") as caught:
        import_tensorboard(tmp_path / "empty", store=tmp_path / "store")
    assert caught.value.source == str(tmp_path / "empty")
    assert main(["import", "tensorboard", str(tmp_path / "missing")]) == 2
    assert "it is not a folder" in capsys.readouterr().err

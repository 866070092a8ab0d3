"""examples/lightning_classifier.py and keras_classifier.py as a user runs them (issue 19): nothing left in the
folder they run from, and ``--resume`` continues from the end of the last epoch, logging no epoch twice."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from runlog_core import Experiment, Run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lightning_resume_continues_after_the_last_epoch(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    example = _example("lightning_classifier")
    # seeded: val_loss improves in epoch 1 and not in epoch 2, so ModelCheckpoint(save_last=True)'s
    # last.ckpt would still hold epoch 1 and the resumed fit would train and log epoch 2 again
    run_id = example.main(["--epochs", "3"])
    assert sorted(os.listdir(tmp_path)) == ["runlog"]
    assert example.main(["--epochs", "4", "--resume"]) == run_id
    assert sorted(os.listdir(tmp_path)) == ["runlog"]
    run = Run(Experiment("lightning_classifier"), run_id)
    steps = [point.step for point in run.get_metric_history("val_loss")]
    assert len(steps) == 4 and steps == sorted(set(steps)), steps  # one point per epoch, none twice
    train_steps = [point.step for point in run.get_metric_history("train_loss")]
    assert train_steps == sorted(set(train_steps)), train_steps  # no step trained twice either
    assert os.path.isfile(tmp_path / "runlog" / "checkpoints" / "lightning_classifier" / "last.ckpt")


def test_keras_example_keeps_its_checkpoint_under_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("keras")
    example = _example("keras_classifier")
    monkeypatch.setattr(example, "data", lambda n, seed, real=example.data: real(400, seed))  # a smaller fit
    example.main()
    assert sorted(os.listdir(tmp_path)) == ["runlog"]
    assert os.path.isfile(tmp_path / "runlog" / "checkpoints" / "keras_classifier" / "best.keras")

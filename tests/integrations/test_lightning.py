"""RunlogLogger: real Trainer fits on tiny models, read back from the store."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning")
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from runlog_core import Experiment, Run
from runlog_core.exceptions import InvalidArgumentError
from runlog_integrations.lightning import PLRunlogLogger, RunlogLogger, callbacks_factory

sys.path.insert(0, str(Path(__file__).parent))
from _lk_lightning_models import HistoryModel, RankZeroLoggerCheck, RecordStores, TinyRegressor, loaders

QUIET = dict(enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)


def _run(logger: RunlogLogger, experiment: str = "lightning_logs") -> Run:
    return Run(Experiment(experiment), logger.version)


def _points(run: Run) -> dict[str, list[int]]:
    return {name: [p.step for p in run.get_metric_history(name)] for name in run.get_metrics()}


def test_generic_logger_check_fit_then_test() -> None:
    """Lightning's test_loggers_fit_test_all, with the history read back from the store."""

    class StoreHistoryLogger(RunlogLogger):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.history: list[tuple[int, dict[str, Any]]] = []

        def log_metrics(self, metrics: Any, step: Any = None) -> None:
            super().log_metrics(metrics, step)
            self.history.append((step, metrics))

    logger = StoreHistoryLogger()
    trainer = Trainer(max_epochs=1, logger=logger, limit_train_batches=1, limit_val_batches=1,
                      log_every_n_steps=1, **QUIET)
    trainer.fit(HistoryModel())
    trainer.test(verbose=False)

    expected = [(0, ["epoch", "train_some_val"]), (0, ["early_stop_on", "epoch", "val_loss"]),
                (1, ["epoch", "test_loss"])]
    assert [(s, sorted(m)) for s, m in logger.history] == expected
    run = _run(logger)
    # every (step, name) Lightning sent is in the store, once: epoch is sent twice at step 0
    assert sorted((s, n) for n, steps in _points(run).items() for s in steps) == sorted(
        {(s, n) for s, names in expected for n in names})
    assert run.get_metric_history("val_loss")[0].value == 0.5
    assert run.get_metric_history("test_loss")[0].value == 2.0
    assert [p.value for p in run.get_metric_history("epoch")] == [0, 1]
    assert run.get_status() == "Completed"
    assert len(Experiment("lightning_logs").get_runs()) == 1  # test reopened the fit's run
    # name/version/log_dir behave like Lightning's loggers; checkpoints go under them
    assert trainer.log_dir == logger.save_dir == os.getcwd()
    assert logger.log_dir == os.path.join(os.getcwd(), "lightning_logs", run.id)
    assert trainer.checkpoint_callback.best_model_path.startswith(os.path.join(logger.log_dir, "checkpoints"))


@dataclasses.dataclass
class _Config:
    depth: int = 2
    widths: tuple[int, ...] = (4, 8)


def _omegaconf() -> Any:
    omegaconf = pytest.importorskip("omegaconf")
    return omegaconf.OmegaConf.create({"model": {"depth": 2, "widths": [4, 8]}, "tags": []})


@pytest.mark.parametrize("make_params, expected", [
    (lambda: {"model": {"depth": 2, "widths": [4, 8]}, "tags": [], "extra": {}, "none": None},
     {"model.depth": 2, "model.widths": [4, 8], "tags": [], "extra": {}, "none": None}),
    (lambda: argparse.Namespace(lr=0.1, nested=argparse.Namespace(a=1), layers=[{"n": 1}, {"n": 2}]),
     {"lr": 0.1, "nested.a": 1, "layers": [{"n": 1}, {"n": 2}]}),
    (lambda: {"cfg": _Config()}, {"cfg.depth": 2, "cfg.widths": [4, 8]}),
    (_omegaconf, {"model.depth": 2, "model.widths": [4, 8], "tags": []}),
], ids=["nested-dict", "namespace", "dataclass", "omegaconf"])
def test_log_hyperparams_kinds(make_params: Any, expected: dict[str, Any]) -> None:
    logger = RunlogLogger()
    logger.log_hyperparams(make_params())
    assert _run(logger).get_params() == expected


def test_save_hyperparameters_and_four_metrics_per_step() -> None:
    seed_everything(0)
    logger = RunlogLogger(experiment_name="tiny", run_name="first", tags={"team": "a"})
    model = TinyRegressor(layers=[8, 8], optimizer={"name": "sgd", "momentum": 0.0, "betas": []},
                          notes={})
    train, val = loaders()
    trainer = Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, **QUIET)
    trainer.fit(model, train, val)
    run = _run(logger, "tiny")
    assert run.name == "first" and run.get_tags()["team"] == "a"
    assert run.get_params() == {"lr": 0.05, "hidden": 8, "layers": [8, 8], "optimizer.name": "sgd",
                                "optimizer.momentum": 0.0, "optimizer.betas": [], "notes": {},
                                "fail_at_step": -1}
    steps = _points(run)
    assert steps["train_loss"] == list(range(16)) == steps["train_mae"] == steps["lr"]
    assert steps["val_loss"] == [7, 15]
    assert steps["epoch"] == list(range(16))  # once per step, though val resends it at 7 and 15
    epochs = [p.value for p in run.get_metric_history("epoch")]
    assert epochs == [0] * 8 + [1] * 8
    assert run.get_status() == "Completed"


def test_log_metrics_converts_tensors_and_prefixes() -> None:
    logger = RunlogLogger(prefix="tr")
    logger.log_metrics({"a": torch.tensor(1.5), "b": torch.tensor(2), "c": 3.0, "d": torch.tensor(True),
                        "e": torch.tensor([0.25], dtype=torch.float64)}, step=4)
    logger.log_metrics({"a": torch.tensor(2.5), "f": torch.zeros(3)}, step=5)  # non-scalar: skipped
    run = _run(logger)
    assert {n: [(p.step, p.value) for p in run.get_metric_history(n)] for n in run.get_metrics()} == {
        "tr-a": [(4, 1.5), (5, 2.5)], "tr-b": [(4, 2)], "tr-c": [(4, 3.0)], "tr-d": [(4, True)],
        "tr-e": [(4, 0.25)]}


def test_log_model_true_uploads_best_with_score() -> None:
    seed_everything(0)
    logger = RunlogLogger(log_model=True)
    checkpoint = ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=1)
    train, val = loaders()
    Trainer(max_epochs=3, logger=logger, callbacks=[checkpoint], **QUIET).fit(TinyRegressor(), train, val)
    run = _run(logger)
    best = Path(checkpoint.best_model_path)
    assert run.get_file_names() == [f"checkpoints/{best.name}"]
    tags = run.get_tags()
    assert tags["checkpoint.monitor"] == "val_loss"
    assert tags["checkpoint.best_model_path"] == str(best)
    assert float(tags["checkpoint.best_model_score"]) == pytest.approx(checkpoint.best_model_score.item())
    rows = run.get_metrics("checkpoints")
    assert rows["file"] == [f"checkpoints/{best.name}"] and rows["best"] == [True]
    assert rows["score"][0] == pytest.approx(checkpoint.best_model_score.item())


def test_log_model_all_uploads_each_checkpoint() -> None:
    logger = RunlogLogger(log_model="all")
    checkpoint = ModelCheckpoint(save_top_k=-1, every_n_epochs=1)
    train, val = loaders()
    Trainer(max_epochs=3, logger=logger, callbacks=[checkpoint], **QUIET).fit(TinyRegressor(), train, val)
    names = _run(logger).get_file_names()
    assert names == [f"checkpoints/epoch={e}-step={8 * (e + 1)}.ckpt" for e in range(3)]


def test_failure_ends_run_failed_and_exception_propagates() -> None:
    logger = RunlogLogger()
    train, val = loaders()
    with pytest.raises(RuntimeError, match="boom in training_step"):
        Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, **QUIET).fit(
            TinyRegressor(fail_at_step=3), train, val)
    run = _run(logger)
    assert run.get_status() == "Failed"
    assert "boom in training_step" in run.get_details()["error"]
    assert _points(run)["train_loss"] == [0, 1, 2]


def test_keyboard_interrupt_ends_run_canceled() -> None:
    import signal

    class Interrupted(TinyRegressor):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 2:
                raise KeyboardInterrupt
            return super().training_step(batch, batch_idx)

    logger = RunlogLogger()
    train, val = loaders()
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning's graceful shutdown ends in sys.exit(1)
            Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, **QUIET).fit(Interrupted(), train, val)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl+C from then on
    run = _run(logger)
    assert run.get_status() == "Canceled"
    assert _points(run)["train_loss"] == [0, 1]


def test_run_passed_in_is_left_open() -> None:
    experiment = Experiment("mine")
    run = experiment.start_logging()
    logger = RunlogLogger(run=run)
    train, val = loaders()
    Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, **QUIET).fit(TinyRegressor(), train, val)
    assert logger.version == run.id and logger.name == "mine"
    assert run.get_status() == "Running"
    assert len(run.get_metric_history("train_loss")) == 8
    run.complete()


def test_pickles_before_and_after_use() -> None:
    logger = RunlogLogger()
    pickle.loads(pickle.dumps(logger))
    _ = logger.experiment
    logger.log_metrics({"a": 1.0}, step=0)
    copy = pickle.loads(pickle.dumps(Trainer(logger=logger, **QUIET))).logger
    copy.log_metrics({"a": 2.0}, step=1)
    assert copy.version == logger.version and copy.name == logger.name and copy.save_dir == logger.save_dir
    assert [(p.step, p.value) for p in _run(logger).get_metric_history("a")] == [(0, 1.0), (1, 2.0)]


def test_resume_from_checkpoint_continues_the_run() -> None:
    seed_everything(0)
    train, val = loaders()
    first = RunlogLogger(experiment_name="resume")
    checkpoint = ModelCheckpoint(save_last=True)
    Trainer(max_epochs=2, logger=first, callbacks=[checkpoint], log_every_n_steps=1, **QUIET).fit(
        TinyRegressor(), train, val)
    last = checkpoint.last_model_path
    assert torch.load(last, weights_only=True)["callbacks"]["RunlogLogger"]["run_id"] == first.version

    second = RunlogLogger(experiment_name="resume")  # fresh logger, as after a crash
    Trainer(max_epochs=4, logger=second, log_every_n_steps=1, **QUIET).fit(
        TinyRegressor(), train, val, ckpt_path=last)
    assert second.version == first.version
    assert Experiment("lightning_logs").get_runs() == []  # no second run was started
    runs = Experiment("resume").get_runs()
    assert [r.id for r in runs] == [first.version]
    steps = _points(runs[0])
    assert steps["train_loss"] == list(range(32))  # earlier points kept, later ones continue
    assert steps["val_loss"] == [7, 15, 23, 31]
    assert runs[0].get_status() == "Completed"


def test_resume_through_the_state_callback_keeps_the_checkpoint_folder() -> None:
    """With the state callback in the Trainer from the start (the callbacks_factory entry point or
    autolog), Lightning's own callback restore hands the run id over before ModelCheckpoint restores."""
    train, val = loaders()
    first = RunlogLogger(experiment_name="resume")
    checkpoint = ModelCheckpoint(save_last=True)
    Trainer(max_epochs=1, logger=first, callbacks=[*callbacks_factory(), checkpoint], log_every_n_steps=1,
            **QUIET).fit(TinyRegressor(), train, val)
    assert Path(checkpoint.last_model_path).parent == Path(first.log_dir) / "checkpoints"

    second, again = RunlogLogger(), ModelCheckpoint(save_last=True)  # default experiment: the checkpoint's wins
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(max_epochs=2, logger=second, callbacks=[*callbacks_factory(), again], log_every_n_steps=1,
                **QUIET).fit(TinyRegressor(), train, val, ckpt_path=checkpoint.last_model_path)
    assert not [w for w in caught if "dirpath has changed" in str(w.message)]
    assert second.version == first.version and second.name == "resume"
    assert Path(again.last_model_path).parent == Path(first.log_dir) / "checkpoints"
    run = Run(Experiment("resume"), first.version)
    assert _points(run)["train_loss"] == list(range(16)) and run.get_status() == "Completed"
    assert [r.id for r in Experiment("resume").get_runs()] == [first.version]
    assert Experiment("lightning_logs").get_runs() == []


def test_experiment_from_environment_and_explicit_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_EXPERIMENT", "from_env")
    logger = RunlogLogger()
    assert logger.name == "from_env"
    logger.log_metrics({"a": 1.0}, step=0)
    assert [p.value for p in _run(logger, "from_env").get_metric_history("a")] == [1.0]
    named = RunlogLogger(experiment_name="explicit")
    named.log_metrics({"a": 2.0}, step=0)
    assert named.name == "explicit" and _run(named, "explicit").get_metrics("a") == 2.0


def test_submitted_run_is_used_and_left_open(monkeypatch: pytest.MonkeyPatch) -> None:
    submitted = Experiment("submitted").start_logging()
    monkeypatch.setenv("RUNLOG_RUN_ID", submitted.id)
    monkeypatch.setenv("RUNLOG_STORE", os.path.abspath("runlog"))
    logger = RunlogLogger(experiment_name="ignored")
    train, val = loaders()
    Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, **QUIET).fit(TinyRegressor(), train, val)
    assert logger.version == submitted.id and logger.name == "submitted"
    assert len(submitted.get_metric_history("train_loss")) == 8
    assert submitted.get_status() == "Running"
    assert Experiment("ignored").get_runs() == []
    submitted.complete()


@pytest.mark.parametrize("kwargs, argument", [
    ({"run": "abc"}, "run"), ({"experiment_name": 3}, "experiment_name"), ({"log_model": "best"}, "log_model"),
    ({"prefix": 1}, "prefix"), ({"run_id": 5}, "run_id"), ({"tags": ["a"]}, "tags"),
], ids=["run", "experiment_name", "log_model", "prefix", "run_id", "tags"])
def test_bad_arguments_raise_runlog_errors(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError, match=argument) as caught:
        RunlogLogger(**kwargs)
    assert isinstance(caught.value, TypeError)


def test_no_frame_reading_in_the_integration() -> None:
    import runlog_integrations

    folder = Path(runlog_integrations.__file__).parent
    for path in (folder / "lightning").glob("*.py"):
        text = path.read_text()
        assert "_getframe" not in text and "currentframe" not in text, path


def test_run_id_in_checkpoint_when_the_run_started_before_fit() -> None:
    logger = RunlogLogger()
    logger.experiment.log("before_fit", 1.0)  # the run exists before the Trainer sees the logger
    checkpoint = ModelCheckpoint(save_last=True)
    train, val = loaders()
    Trainer(max_epochs=1, logger=logger, callbacks=[checkpoint], **QUIET).fit(TinyRegressor(), train, val)
    state = torch.load(checkpoint.last_model_path, weights_only=True)["callbacks"]["RunlogLogger"]
    assert state["run_id"] == logger.version


def test_pytorch_lightning_distribution() -> None:
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.demos.boring_classes import BoringModel

    logger = PLRunlogLogger()
    assert isinstance(logger, pl.loggers.Logger)
    pl.Trainer(max_steps=3, limit_val_batches=1, logger=logger, log_every_n_steps=1, enable_progress_bar=False,
               enable_model_summary=False).fit(BoringModel())
    run = _run(logger)
    assert run.get_status() == "Completed"
    assert pickle.loads(pickle.dumps(logger)).version == run.id


def _fit_weights(logger: Any) -> tuple[dict[str, torch.Tensor], list[float]]:
    seed_everything(123)
    model = TinyRegressor()
    train, val = loaders()
    trainer = Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_checkpointing=False, **QUIET)
    trainer.fit(model, train, val)
    return {k: v.clone() for k, v in model.state_dict().items()}, [float(trainer.callback_metrics["val_loss"])]


@pytest.mark.parametrize("fault", ["write-enospc", "everything-locked"])
def test_failing_store_never_breaks_training(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.sqlite import store as _sqlite

    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "1")  # how long finalize waits for the failing store

    baseline = _fit_weights(False)

    def enospc(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def locked(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    if fault == "write-enospc":
        monkeypatch.setattr(_sqlite.SQLiteStore, "write", enospc)
    else:
        for name in ("write", "get_or_create_experiment", "create_run", "reattach_run", "get_run",
                     "list_runs", "get_series", "get_params"):
            monkeypatch.setattr(_sqlite.SQLiteStore, name, locked)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logged = _fit_weights(RunlogLogger(log_model=True))
    assert logged[1] == baseline[1]
    assert all(torch.equal(logged[0][k], baseline[0][k]) for k in baseline[0])  # bitwise
    ours = [str(w.message) for w in caught if str(w.message).startswith("runlog:")]
    assert ours, "the failure is reported"
    assert len(ours) == len(set(ours)) <= 4, ours  # at most once per kind of failure


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.sqlite import store as _sqlite

    monkeypatch.setenv("RUNLOG_STRICT_INTEGRATIONS", "1")
    monkeypatch.setattr(_sqlite.SQLiteStore, "create_run",
                        lambda *a, **k: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")))
    with pytest.raises(sqlite3.OperationalError):
        RunlogLogger().log_metrics({"a": 1.0}, step=0)


def _check_ddp(tmp: Path, strategy: str) -> None:
    runs = Experiment("ddp").get_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.get_status() == "Completed"
    steps = _points(run)
    for name, at in steps.items():
        assert len(at) == len(set(at)), f"{name} logged twice at a step under {strategy}"
    assert steps["train_loss"] == list(range(8))  # 64 samples / 8 per batch / 2 ranks = 4 per epoch
    assert steps["val_loss"] == [3, 7]
    assert run.get_params()["hidden"] == 8
    rank0 = json.loads((tmp / "rank0.json").read_text())
    rank1 = json.loads((tmp / "rank1.json").read_text())
    assert rank0["version"] == run.id and len(rank0["stores"]) == 1
    assert rank1["stores"] == [] and rank1["buffered_points"] == 0  # rank 1 never touched runlog


def test_ddp_spawn_two_cpu_processes(tmp_path: Path) -> None:
    train, val = loaders()
    logger = RunlogLogger(experiment_name="ddp")
    trainer = Trainer(strategy="ddp_spawn", accelerator="cpu", devices=2, max_epochs=2, logger=logger,
                      log_every_n_steps=1, callbacks=[RecordStores(str(tmp_path)), RankZeroLoggerCheck()],
                      enable_progress_bar=False,
                      enable_model_summary=False)
    trainer.fit(TinyRegressor(), train, val)
    _check_ddp(tmp_path, "ddp_spawn")
    assert logger.version == Experiment("ddp").get_runs()[0].id  # the spawning process finds the run too


def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from lightning.pytorch import Trainer
        from runlog_integrations.lightning import RunlogLogger
        from _lk_lightning_models import RecordStores, TinyRegressor, loaders

        if __name__ == "__main__":
            train, val = loaders()
            trainer = Trainer(strategy="ddp", accelerator="cpu", devices=2, max_epochs=2,
                              logger=RunlogLogger(experiment_name="ddp"), log_every_n_steps=1,
                              callbacks=[RecordStores({str(tmp_path)!r})], enable_progress_bar=False,
                              enable_model_summary=False)
            trainer.fit(TinyRegressor(), train, val)
    """))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_ddp(tmp_path, "ddp")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA tensors in log_metrics)")
def test_fit_on_a_gpu_stores_every_metric_as_a_number() -> None:
    seed_everything(0)
    logger = RunlogLogger()
    logger.log_metrics({"direct": torch.tensor(0.5, device="cuda"), "one": torch.ones(1, device="cuda")}, step=0)
    train, val = loaders()
    trainer = Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="gpu", devices=1)
    trainer.fit(TinyRegressor(), train, val)
    run = _run(logger)
    steps = [p.step for p in run.get_metric_history("train_loss")]
    assert steps == list(range(trainer.global_step))  # 8 batches x 2 epochs, every step once
    assert all(type(p.value) is float for p in run.get_metric_history("train_loss"))
    assert len(run.get_metric_history("val_loss")) == 2
    assert run.get_metric_history("direct")[0].value == 0.5 and run.get_metric_history("one")[0].value == 1.0
    assert run.get_status() == "Completed"

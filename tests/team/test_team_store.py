"""The team store end to end: PostgreSQL for runs and S3 (moto over HTTP) for files, used the way a
team uses them: the Azure logging flow, Lightning, GridSearchCV and `runlog submit` (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, Run, ScriptRunConfig, search_runs


@pytest.fixture
def team(pg_uri: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A fresh PostgreSQL database and S3 prefix, set as the store and artifact root."""
    monkeypatch.setenv("RUNLOG_STORE", pg_uri)
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    return pg_uri, s3_bucket


def _keys(s3_url: str) -> list[str]:
    import boto3

    bucket, _, prefix = s3_url[len("s3://"):].partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"][len(prefix):].lstrip("/") for page in pages for item in page.get("Contents", [])]


def test_the_azure_flow_keeps_runs_in_postgresql_and_files_in_s3(team: tuple[str, str], tmp_path: Path) -> None:
    _, s3_url = team
    exp = Experiment("team-azure")
    run = exp.start_logging(name="first")
    run.log_params({"lr": 0.01, "layers": [64, 32]})
    for step in range(50):
        run.log("loss", 1.0 / (step + 1))
    run.log("nan", float("nan"))
    run.log_list("accuracies", [0.5, 0.7, 0.9])
    run.log_row("per_class", cls="cat", precision=0.9)
    run.log_table("confusion", {"actual": [0, 1], "predicted": [0, 0]})
    (tmp_path / "model.bin").write_bytes(os.urandom(4096))
    run.upload_file("outputs/model.bin", str(tmp_path / "model.bin"))
    run.tag("team", "vision")
    child = run.child_run(name="fold-0")
    child.log("score", 0.8)
    child.complete()
    run.complete()

    again = Run(Experiment("team-azure"), run.id)
    assert again.get_status() == "Completed"
    metrics = again.get_metrics()
    assert metrics["loss"][-1] == pytest.approx(1 / 50) and len(metrics["loss"]) == 50
    assert metrics["accuracies"] == [0.5, 0.7, 0.9]
    assert metrics["per_class"] == {"cls": ["cat"], "precision": [0.9]}
    assert metrics["confusion"] == {"actual": [0, 1], "predicted": [0, 0]}
    assert again.get_params()["lr"] == 0.01 and again.get_tags()["team"] == "vision"
    assert [c.id for c in again.get_children()] == [child.id]
    assert [r.id for r in search_runs("metrics.loss < 0.05 and tags.team = 'vision'", experiment="team-azure")] \
        == [run.id]
    # the bytes are in the bucket under the run's prefix, and identical when downloaded
    assert f"{run.id}/outputs/model.bin" in _keys(s3_url)
    again.download_file("outputs/model.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "model.bin").read_bytes()
    assert not (Path.cwd() / "runlog" / "artifacts").exists()


def test_lightning_and_gridsearch_log_into_the_team_store(team: tuple[str, str]) -> None:
    pytest.importorskip("lightning")
    pytest.importorskip("sklearn")
    import torch
    from lightning.pytorch import Trainer
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from torch.utils.data import DataLoader, TensorDataset

    from runlog_integrations.lightning import RunlogLogger
    from runlog_integrations.sklearn import log_search

    class Tiny(__import__("lightning").pytorch.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"lr": 0.05})
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
    logger = RunlogLogger(experiment_name="team-lightning")
    Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False).fit(Tiny(), data)
    lightning_run = Run(Experiment("team-lightning"), logger.run_id)
    assert lightning_run.get_status() == "Completed"
    assert len(lightning_run.get_metric_history("train_loss")) == 16
    assert lightning_run.get_params()["lr"] == 0.05

    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    parent = log_search(search, experiment="team-search")
    children = Run(Experiment("team-search"), parent.id).get_children()
    assert sorted(child.get_params()["C"] for child in children) == [0.1, 1.0]
    assert Run(Experiment("team-search"), parent.id).get_metrics()["best_score"] == pytest.approx(search.best_score_)


def test_a_submitted_script_runs_against_postgresql_and_s3(team: tuple[str, str], tmp_path: Path) -> None:
    _, s3_url = team
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent("""
        from runlog_core import Run
        run = Run.get_context()
        for step in range(5):
            run.log("loss", 1.0 / (step + 1))
        print("trained", flush=True)
        open("outputs/result.txt", "w").write("42")
    """))
    (source / "outputs").mkdir()
    run = Experiment("team-submit").submit(ScriptRunConfig(str(source), "train.py"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details
    again = Run(Experiment("team-submit"), run.id)
    assert [p.value for p in again.get_metric_history("loss")] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    keys = _keys(s3_url)
    assert f"{run.id}/outputs/result.txt" in keys
    assert any(key.startswith(f"{run.id}/logs/") for key in keys)
    again.download_file("logs/std_log.txt", str(tmp_path / "std_log.txt"))
    assert "trained" in (tmp_path / "std_log.txt").read_text()


def test_the_cli_reads_the_team_store(team: tuple[str, str]) -> None:
    run = Experiment("team-cli").start_logging()
    run.log("loss", 0.5)
    run.complete()
    shown = subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "runs", "-e", "team-cli", "--json"],
                           capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert shown.returncode == 0, shown.stderr
    assert run.id in shown.stdout


def test_a_submitted_script_connects_with_the_password_the_run_never_records(pg_uri: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-Pa55"  # the local server trusts loopback: any password connects, so it must reach the script
    with_password = pg_uri.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@", 1)
    assert secret in with_password
    monkeypatch.delenv("RUNLOG_STORE", raising=False)
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(f"""
        import os
        from runlog_core import Run
        run = Run.get_context()
        run.log("has_password", float({secret!r} in os.environ["RUNLOG_STORE"]))
    """))
    exp = Experiment("team-secret", store=with_password)
    assert secret not in exp.store
    run = exp.submit(ScriptRunConfig(str(source), "train.py"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details
    again = Run(exp, run.id)
    assert again.get_metrics()["has_password"] == 1.0
    recorded = [str(value) for value in again.get_tags().values()] + [str(again.get_params())]
    recorded += [str(value) for value in again.get_details().values()]
    assert not any(secret in text for text in recorded)

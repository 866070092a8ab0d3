"""Optuna: four worker processes started together on one study make one parent and exactly one child per
finished trial: an RDB study in a fresh PostgreSQL database with a runlog folder store, and a JournalStorage
file with a PostgreSQL runlog store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("sqlalchemy")

from _optuna_helpers import check_study_runs  # noqa: E402

from fixtures_postgres import create_database, database_uri, drop_database  # noqa: E402
from runlog_core import Experiment  # noqa: E402

WORKER = Path(__file__).with_name("_optuna_worker.py")
WORKERS, TRIALS_EACH = 4, 3


def _run_workers(storage_arg: str, study_name: str, store: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path])}
    workers = [subprocess.Popen([sys.executable, str(WORKER), storage_arg, study_name, store, str(TRIALS_EACH)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
               for _ in range(WORKERS)]
    for worker in workers:  # every worker has loaded the study; one line each and they all start
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=240)[0].decode(errors="replace") for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * WORKERS, outputs
    assert not [out for out in outputs if "runlog" in out], outputs  # no warning: nothing runlog could not record


def _check(study: optuna.Study, store: str) -> None:
    assert len(study.trials) == WORKERS * TRIALS_EACH
    experiment = Experiment("shared-study", store=store)
    parent, _ = check_study_runs(experiment, study, inside=True)
    best = study.best_trial
    assert parent.get_tags()["optuna.best_trial"] == str(best.number)  # the last worker to end left the final best
    assert parent.get_status() == "Completed"
    assert {run.get_status() for run in parent.get_children()} == {"Completed", "Canceled", "Failed"}


def test_postgres_study_with_a_folder_store(tmp_path: Path) -> None:
    name = create_database("runlog_optuna")
    try:
        url = database_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
        study = optuna.create_study(study_name="shared-pg", storage=url)
        store = str(tmp_path / "runlog-store")
        _run_workers(url, "shared-pg", store)
        study = optuna.load_study(study_name="shared-pg", storage=url)
        _check(study, store)
    finally:
        drop_database(name)


def test_journal_study_with_a_postgres_store(tmp_path: Path, pg_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    journal = str(tmp_path / "journal.log")
    optuna.create_study(study_name="shared-journal", storage=JournalStorage(JournalFileBackend(journal)))
    _run_workers(f"journal:{journal}", "shared-journal", pg_uri)
    study = optuna.load_study(study_name="shared-journal", storage=JournalStorage(JournalFileBackend(journal)))
    _check(study, pg_uri)

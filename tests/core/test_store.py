"""The SQLite store: schema versions, many first openers, file modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runlog_core import Experiment, Run
from runlog_core._sqlite import _MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from runlog_core.exceptions import StoreVersionError


def _make_v1_store(folder: Path) -> Path:
    """A store as runlog's first schema version wrote it, with one run in it."""
    folder.mkdir(parents=True)
    db = folder / "runlog.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(_MIGRATIONS[1])
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO experiments(name, created) VALUES ('old', 0)")
        conn.execute("INSERT INTO runs(id, experiment_id, name, status, start_time, end_time) "
                     "VALUES ('oldrun', 1, 'from v1', 'Completed', 1, 2)")
        conn.execute("INSERT INTO series(run_id, name, kind, last_step, last_value, last_time) "
                     "VALUES ('oldrun', 'loss', 'number', 1, 0.5, 2)")
        conn.executemany("INSERT INTO points VALUES (1, ?, ?, ?, ?)", [(0, 0, 1.0, 1.5), (1, 1, 0.5, 2.0)])
    return db


def test_an_older_store_is_upgraded_in_place_keeping_its_runs(store_dir: Path) -> None:
    db = _make_v1_store(store_dir)
    exp = Experiment("old", store=store_dir)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "series_by_name" in indexes
    old = Run(exp, "oldrun")
    assert old.get_metrics() == {"loss": [1.0, 0.5]} and old.get_status() == "Completed"
    with exp.start_logging() as run:
        run.log("loss", 0.1)
    assert len(exp.get_runs()) == 2


def test_a_newer_store_is_refused_with_a_clear_error(store_dir: Path) -> None:
    store_dir.mkdir()
    with sqlite3.connect(store_dir / "runlog.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    expected = rf"schema version {SCHEMA_VERSION + 1}, newer than the {SCHEMA_VERSION} this runlog understands; upgrade"
    with pytest.raises(StoreVersionError, match=expected):
        SQLiteStore(store_dir / "runlog.db")


def test_many_processes_creating_one_store_at_once_all_succeed(store_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from runlog_core import Experiment
        with Experiment("race", store={str(store_dir)!r}).start_logging(name=sys.argv[1]) as run:
            run.log("x", 1.0)
    """)
    children = [subprocess.Popen([sys.executable, "-c", code, str(i)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
                for i in range(8)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [c.returncode for c in children] == [0] * 8, errors
    exp = Experiment("race", store=store_dir)
    assert sorted(r.name for r in exp.get_runs()) == [str(i) for i in range(8)]
    with sqlite3.connect(store_dir / "runlog.db") as conn:
        assert conn.execute("SELECT count(*) FROM experiments").fetchone()[0] == 1


def test_store_files_are_private_to_the_user(store_dir: Path) -> None:
    with Experiment("modes", store=store_dir).start_logging() as run:
        run.upload_file("a/b.txt", __file__)
    assert stat.S_IMODE(os.stat(store_dir).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(store_dir / "runlog.db").st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(store_dir / "artifacts" / run.id / "a").st_mode) & 0o077 == 0


def test_runlog_store_environment_variable_picks_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STORE", str(tmp_path / "from-env"))
    with Experiment("env").start_logging() as run:
        run.log("a", 1)
    assert (tmp_path / "from-env" / "runlog.db").exists()
    assert not (tmp_path / "runlog").exists()

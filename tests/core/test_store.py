"""The SQLite store: schema versions, many first openers, file modes, closing, its errors and its codec.

The store contract itself is checked by tests/core/test_store_conformance.py."""

from __future__ import annotations

import math
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from runlog_core import Experiment, Run
from runlog_core.base.filter import parse_filter
from runlog_core.exceptions import InvalidMetricError, InvalidNameError, StoreError, StoreVersionError
from runlog_core.store import NUMBER, ROW, TABLE, Batch, RunInfo, SeriesRef
from runlog_core.store.sql_runs import count_statement, search_statement
from runlog_core.store.sqlite.filter import Joins, compile_filter, compile_order, placeholder
from runlog_core.store.sqlite.schema import MIGRATIONS, RUN_COLUMNS, RUN_FROM, SCHEMA_VERSION, quote_identifier
from runlog_core.store.sqlite.store import SQLiteStore


def _make_v1_store(folder: Path) -> Path:
    """A store as runlog's first schema version wrote it, with one run in it."""
    folder.mkdir(parents=True)
    db = folder / "runlog.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(MIGRATIONS[1])
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


def test_a_v6_store_gets_the_search_indexes_and_filters_read_the_matching_range(store_dir: Path) -> None:
    """Issue 21: schema v7 indexes series(name, last_value) and params(key, num); a store of v6 is upgraded in
    place, and a filter on a metric or a numeric param then reads the range of the index that matches
    instead of every run (what made search_runs grow 25x for 10x the runs)."""
    store_dir.mkdir()
    db = store_dir / "runlog.db"
    with sqlite3.connect(db) as conn:
        for version in range(1, 7):
            conn.executescript(MIGRATIONS[version])
        conn.execute("PRAGMA user_version = 6")
        conn.execute("INSERT INTO experiments(name, created) VALUES ('old', 0)")
        for k in range(200):
            run_id = f"run{k:04d}"
            conn.execute("INSERT INTO runs(id, experiment_id, name, status, start_time, end_time) "
                         "VALUES (?, 1, ?, 'Completed', ?, ?)", (run_id, f"r{k}", 1000.0 + k, 2000.0 + k))
            conn.execute("INSERT INTO series(run_id, name, kind, last_step, last_value, last_time) "
                         "VALUES (?, 'loss', 'number', 0, ?, 1)", (run_id, k / 10))
            conn.execute("INSERT INTO points VALUES (last_insert_rowid(), ?, 0, ?, 1)", (k, k / 10))
            conn.execute("INSERT INTO params(run_id, key, value, num) VALUES (?, 'width', ?, ?)", (run_id, str(k), k))
    from runlog_core import search_runs

    exp = Experiment("old", store=store_dir)
    found = search_runs("metrics.loss >= 18.5 and params.width < 190", order_by=["metrics.loss DESC"], experiment=exp)
    assert [run.name for run in found] == [f"r{k}" for k in range(189, 184, -1)]
    assert Run(exp, "run0187").get_metrics() == {"loss": 18.7}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 7
        for text in ("metrics.loss >= 18.5", "params.width < 10"):
            sql, params = search_statement(f"SELECT {RUN_COLUMNS} {RUN_FROM}", placeholder, parse_filter(text), [],
                                           1, Joins(), compile_filter, lambda f, p: [compile_order(f, p)],
                                           "r.start_time DESC, r.rowid DESC", limit=100)
            plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            index = "series_by_value (name=? AND last_value>?)" if "loss" in text else "params_by_number (key=? AND num<?)"
            assert index in plan, plan


def test_counting_an_experiments_runs_reads_an_index_only(store_dir: Path) -> None:
    """Issue 21: the runs table's total (top-level runs, or all, not deleted) is counted from the index
    runs_listed (schema v8) without reading each run's row; the counts stay right as runs are deleted."""
    exp = Experiment("counted", store=store_dir)
    parents = []
    for k in range(6):
        with exp.start_logging(name=f"p{k}", outputs=None) as parent:
            parents.append(parent)
            with parent.child_run(name=f"c{k}"):
                pass
    parents[0].delete()
    store = exp._store
    assert store.count_runs(None, exp.id, include_children=False) == 5
    assert store.count_runs(None, exp.id, include_children=True) == 10
    assert store.count_runs(parse_filter("name = 'p3'"), exp.id) == 1
    with sqlite3.connect(store_dir / "runlog.db") as conn:
        for children in (False, True):
            sql, params = count_statement(placeholder, None, exp.id, Joins(), compile_filter, None, children)
            plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "COVERING INDEX runs_listed" in plan, plan


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


def _sqlite_store(folder: Path) -> SQLiteStore:
    return SQLiteStore(folder / "runlog.db", folder / "artifacts", uri=str(folder))


def test_close_is_idempotent_and_a_new_store_reopens_the_file(store_dir: Path) -> None:
    first = _sqlite_store(store_dir)
    experiment_id = first.get_or_create_experiment("kept")
    first.list_experiments()
    reader = threading.Thread(target=first.list_experiments)  # a connection of another thread too
    reader.start()
    reader.join()
    first.close()
    first.close()
    second = _sqlite_store(store_dir)
    try:
        assert second.list_experiments() == [(experiment_id, "kept")]
        assert second.get_or_create_experiment("new") == experiment_id + 1  # writable: no lock left behind
    finally:
        second.close()


def test_a_refused_value_is_named_and_nothing_of_its_batch_is_written(store_dir: Path) -> None:
    store = _sqlite_store(store_dir)
    try:
        experiment_id = store.get_or_create_experiment("e")
        store.create_run(RunInfo("r1", experiment_id, "e", "run", "Running", 1.0))
        fine, huge = SeriesRef("r1", "fine", NUMBER), SeriesRef("r1", "huge", NUMBER)
        batch = Batch()
        batch.series.extend([fine, huge])
        batch.columns.extend([(fine, 0, [0], [1.0], [1.0]), (huge, 1, [0, 1], [1, 2**64], [1.0, 1.0])])
        batch.count = 3
        with pytest.raises(InvalidMetricError, match="metric 'huge'.*int within the signed 64-bit range") as caught:
            store.write(batch)
        assert caught.value.name == "huge" and caught.value.value == 2**64
        assert store.get_series("r1") == []
    finally:
        store.close()


def test_a_file_that_is_not_a_database_is_a_store_error(store_dir: Path) -> None:
    store_dir.mkdir()
    (store_dir / "runlog.db").write_bytes(b"not a database, just bytes " * 100)
    with pytest.raises(StoreError, match="runlog.db"):
        _sqlite_store(store_dir)


def test_a_database_deleted_behind_the_stores_back_raises_store_errors(store_dir: Path) -> None:
    store = _sqlite_store(store_dir)
    store.close()
    for name in os.listdir(store_dir):
        if name.startswith("runlog.db"):
            os.unlink(store_dir / name)
    try:  # the next connection finds an empty file: no sqlite3 error reaches the caller
        with pytest.raises(StoreError, match="no such table"):
            store.get_run("r1")
        batch = Batch()
        batch.tags.append(("r1", "k", "v"))
        with pytest.raises(StoreError):
            store.write(batch)
    finally:
        store.close()


def test_rows_written_as_json_text_by_older_runlog_read_back_as_dicts(store_dir: Path) -> None:
    store = _sqlite_store(store_dir)
    try:
        experiment_id = store.get_or_create_experiment("e")
        store.create_run(RunInfo("r1", experiment_id, "e", "run", "Running", 1.0))
        row, table = SeriesRef("r1", "row", ROW), SeriesRef("r1", "table", TABLE)
        batch = Batch()
        batch.series.extend([row, table])
        batch.columns.extend([(row, 0, [0, 1], ['{"x":1,"y":NaN}', {"x": 2, "y": None}], [1.0, 2.0]),
                              (table, 2, [0], ['{"a":[1,2]}'], [3.0])])
        batch.count = 3
        store.write(batch)
        assert row.id is not None and table.id is not None
        points = store.get_points(row.id)
        assert points[1] == (1, {"x": 2, "y": None}, 2.0) and math.isnan(points[0][1]["y"])
        assert store.get_points(table.id) == [(0, {"a": [1, 2]}, 3.0)]
        assert [info.last_value for info in store.get_series("r1")] == [{"x": 2, "y": None}, {"a": [1, 2]}]
    finally:
        store.close()


def test_quote_identifier_doubles_quotes_and_refuses_nul() -> None:
    assert quote_identifier('we"ird') == '"we""ird"'
    with pytest.raises(InvalidNameError, match="NUL"):
        quote_identifier("a\x00b")

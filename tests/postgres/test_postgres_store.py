"""The PostgreSQL store used the way a team uses it (issue 11): the Azure flow with
``RUNLOG_STORE=postgresql://...``, heartbeats, schema versions, an unreachable or restarted server,
secrets, and 16 processes logging at once. Every test has its own database (``pg_uri``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, Run, search_runs
from runlog_core.exceptions import StoreError, StoreVersionError

PASSWORD = "hunter2-Sup3rSecret"
# a 1x1 PNG
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.05)


def _sql(uri: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """A query on a connection of the test's own (what another client sees)."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def _with_password(uri: str) -> str:
    scheme, rest = uri.split("://", 1)
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{PASSWORD}@{host}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def team_store(pg_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RUNLOG_STORE", pg_uri)
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "shared-artifacts"))
    return pg_uri


def test_the_azure_flow_keeps_everything_in_postgresql(team_store: str, tmp_path: Path) -> None:
    exp = Experiment("azure-flow")
    run = exp.start_logging(name="first", tags={"team": "vision"})
    run.log_params({"lr": 0.01, "layers": [64, 32], "solver": "adam"})
    for step in range(50):
        run.log("loss", 1.0 / (step + 1))
    run.log("nan", float("nan"))
    run.log_list("accuracies", [0.5, 0.7, 0.9])
    run.log_row("per_class", cls="cat", precision=0.9)
    run.log_table("confusion", {"actual": [0, 1], "predicted": [0, 0]})
    (tmp_path / "plot.png").write_bytes(PNG)
    image_name = run.log_image("plot", path=str(tmp_path / "plot.png"))
    (tmp_path / "model.bin").write_bytes(b"weights" * 100)
    run.upload_file("outputs/model.bin", str(tmp_path / "model.bin"))
    child = run.child_run(name="fold-0")
    child.log("score", 0.8)
    child.complete()
    other = exp.start_logging(name="second")
    other.log_params({"lr": 0.5, "solver": "sgd"})
    other.log("loss", 3.0)
    other.complete()
    run.complete()
    exp.close()

    again = Run(Experiment("azure-flow"), run.id)
    assert again.get_status() == "Completed"
    metrics = again.get_metrics()
    assert metrics["loss"] == [1.0 / (step + 1) for step in range(50)]
    assert metrics["accuracies"] == [0.5, 0.7, 0.9]
    assert metrics["per_class"] == {"cls": ["cat"], "precision": [0.9]}
    assert metrics["confusion"] == {"actual": [0, 1], "predicted": [0, 0]}
    assert metrics["plot"] == image_name
    assert again.get_tags()["team"] == "vision"
    assert {"outputs/model.bin", image_name} <= set(again.get_file_names())
    assert Path(again.download_file("outputs/model.bin", tmp_path / "back.bin")).read_bytes() == b"weights" * 100
    [child_again] = again.get_children()
    assert child_again.get_metrics() == {"score": 0.8} and child_again.get_status() == "Completed"
    found = search_runs("params.solver = 'adam' and metrics.loss < 0.1", experiment="azure-flow")
    assert [r.id for r in found] == [run.id]
    assert [r.id for r in search_runs("metrics.loss > 1", order_by=["metrics.loss DESC"])] == [other.id]
    # what another client of the database sees
    assert _sql(team_store, "SELECT name FROM experiments") == [("azure-flow",)]
    assert _sql(team_store, "SELECT sum(n) FROM chunks c JOIN series s ON s.id = c.series_id"
                " WHERE s.run_id = %s AND s.name = 'loss'", run.id) == [(50,)]


def test_get_point_columns_reads_a_million_points_from_packed_chunks(pg_store_factory: Callable[[], Any]) -> None:
    from runlog_core.store import Batch, RunInfo, SeriesRef

    store = pg_store_factory()
    experiment_id = store.get_or_create_experiment("big")
    store.create_run(RunInfo("big-run", experiment_id, "big", "big", "Running", time.time()))
    series = SeriesRef("big-run", "loss", "number")
    total, per_batch = 1_000_000, 250_000
    for start in range(0, total, per_batch):
        batch = Batch()
        if start == 0:
            batch.series.append(series)
        steps = list(range(start, start + per_batch))
        batch.columns.append((series, 0, steps, [float(s) * 0.5 for s in steps], [1.0e9 + s for s in steps]))
        batch.count = per_batch
        store.write(batch)
    assert series.id is not None
    steps, values, times = store.get_point_columns(series.id)
    assert len(steps) == len(values) == len(times) == total
    assert list(steps[:3]) == [0, 1, 2] and steps[-1] == total - 1
    assert values[-1] == (total - 1) * 0.5 and times[10] == 1.0e9 + 10
    assert store.count_points(series.id) == total


def test_a_process_that_dies_reads_killed(team_store: str, tmp_path: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from runlog_core import Experiment
        run = Experiment("heartbeats").start_logging(name="doomed", outputs=None)
        run.log("x", 1.0)
        run.flush()
        print(run.id, flush=True)
        os._exit(0)  # no end, no more heartbeats: as if killed
    """))
    env = {**os.environ, "RUNLOG_HEARTBEAT_INTERVAL": "0.2", "RUNLOG_HEARTBEAT_TIMEOUT": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    run = Run(Experiment("heartbeats"), run_id)
    _wait_for(lambda: run.get_status() == "Killed", what="the run reading Killed")
    [(status,)] = _sql(team_store, "SELECT status FROM runs WHERE id = %s", run_id)
    assert status == "Running"  # Killed is how a stale heartbeat reads, not what is stored
    assert [r.id for r in search_runs("status = 'Killed'", experiment="heartbeats")] == [run_id]


def test_a_newer_schema_is_refused_and_an_older_one_upgraded(pg_uri: str, pg_store_factory: Any) -> None:
    from runlog_core.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
    from runlog_core.store.postgres.store import PostgresStore

    # an older store (version 1 only) with an experiment in it: upgraded in place, kept
    for statement in ("CREATE TABLE runlog_schema (version INTEGER NOT NULL)", "INSERT INTO runlog_schema VALUES (1)",
                      *MIGRATIONS[1], "INSERT INTO experiments(name, created) VALUES ('old', 1.0)"):
        _sql(pg_uri, statement)
    store = PostgresStore(pg_uri)
    assert store.get_experiment_id("old") == 1
    store.close()
    assert _sql(pg_uri, "SELECT version FROM runlog_schema") == [(SCHEMA_VERSION,)]
    assert _sql(pg_uri, "SELECT to_regclass('series_by_name') IS NOT NULL") == [(True,)]

    _sql(pg_uri, "UPDATE runlog_schema SET version = %s", SCHEMA_VERSION + 7)
    with pytest.raises(StoreVersionError) as caught:
        Experiment("x", store=_with_password(pg_uri))
    assert caught.value.found == SCHEMA_VERSION + 7 and caught.value.supported == SCHEMA_VERSION
    assert "upgrade runlog" in str(caught.value) and PASSWORD not in str(caught.value)
    assert _sql(pg_uri, "SELECT count(*) FROM experiments") == [(1,)]  # nothing was written


def test_an_unreachable_server_is_a_clear_store_error_without_the_password(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    port = _free_port()  # nothing listens there
    uri = f"postgresql://runlog:{PASSWORD}@127.0.0.1:{port}/runs"
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "2")
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path))
    with pytest.raises(StoreError) as caught:
        Experiment("x", store=uri).start_logging()
    message = str(caught.value)
    assert "127.0.0.1" in message and str(port) in message and "runs" in message
    assert PASSWORD not in message and PASSWORD not in repr(caught.value)
    assert PASSWORD not in str(caught.value.__context__)  # the driver's error, hidden (raise ... from None)
    # a host that never answers: refused within the connect timeout (the subprocess bound is generous)
    script = ("from runlog_core import Experiment\n"
              f"try:\n    Experiment('x', store='postgresql://u:{PASSWORD}@10.255.255.1:5432/db')\n"
              "except Exception as err:\n    print(type(err).__name__, err)\n")
    env = {**os.environ, "RUNLOG_STORE_TIMEOUT": "2"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=90)
    assert done.stdout.startswith("StoreError ") and "10.255.255.1" in done.stdout, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr


def test_the_password_is_never_shown(pg_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.base.redact import redact_environment
    from runlog_core.integration import open_store
    from runlog_core.submit.config import ScriptRunConfig
    from runlog_core.submit.environment import child_environment

    secret_uri = _with_password(pg_uri)
    monkeypatch.setenv("RUNLOG_STORE", secret_uri)
    monkeypatch.delenv("RUNLOG_ARTIFACTS", raising=False)
    monkeypatch.setattr("runlog_core.store.postgres.store._warned_artifacts", False)
    with pytest.warns(RuntimeWarning, match="RUNLOG_ARTIFACTS") as caught:
        exp = Experiment("secrets")
    assert all(PASSWORD not in str(w.message) for w in caught)
    assert PASSWORD not in exp.store and PASSWORD not in repr(exp) and ":***@" in exp.store
    assert PASSWORD not in open_store(secret_uri).uri
    run = exp.start_logging(name="r")
    run.log("x", 1.0)
    run.complete()
    assert Experiment("secrets", store=exp.store).id == exp.id  # the shown URI opens the same database
    # the recorded environment of a submitted script hides RUNLOG_STORE's password
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hi')\n")
    env = child_environment(exp, run, ScriptRunConfig(str(tmp_path / "src"), "train.py"))
    recorded = redact_environment({**env, "RUNLOG_STORE": secret_uri, "DATABASE_URL": secret_uri})
    assert PASSWORD not in repr(recorded) and recorded["RUNLOG_STORE"].endswith(pg_uri.rpartition("@")[2])
    dumped = _sql(pg_uri, "SELECT string_agg(value, ' ') FROM tags")[0][0] or ""
    dumped += repr(_sql(pg_uri, "SELECT * FROM runs")) + repr(_sql(pg_uri, "SELECT * FROM artifacts"))
    assert PASSWORD not in dumped


def test_artifacts_without_runlog_artifacts_warn_once(pg_uri: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.store.postgres import store as _postgres

    monkeypatch.delenv("RUNLOG_ARTIFACTS", raising=False)
    monkeypatch.setattr(_postgres, "_warned_artifacts", False)
    with pytest.warns(RuntimeWarning, match="RUNLOG_ARTIFACTS=s3://bucket/prefix") as caught:
        store = _postgres.PostgresStore(pg_uri)
        store.close()
        _postgres.PostgresStore(pg_uri).close()
    assert len([w for w in caught if "RUNLOG_ARTIFACTS" in str(w.message)]) == 1
    assert str(tmp_path / "runlog" / "artifacts") in str(caught[0].message)


def test_the_cli_sees_no_store_in_an_empty_database(pg_uri: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from runlog_core.cli.main import main
    from runlog_core.store.postgres.db import store_exists

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path))
    secret_uri = _with_password(pg_uri)
    assert store_exists(secret_uri) is False
    assert main(["runs", "--store", secret_uri]) != 0
    err = capsys.readouterr().err
    assert "no store at" in err and PASSWORD not in err
    assert _sql(pg_uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]  # nothing created
    Experiment("cli", store=pg_uri).start_logging(name="listed").complete()
    assert store_exists(pg_uri) is True
    assert main(["runs", "--store", secret_uri]) == 0
    assert "listed" in capsys.readouterr().out


def test_a_missing_database_is_created_on_first_use(pg_uri: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures_postgres import drop_database

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path))
    base, _, _ = pg_uri.rpartition("/")
    name = f"runlog_test_new_{uuid.uuid4().hex[:8]}"
    try:
        exp = Experiment("fresh", store=f"{base}/{name}")
        exp.start_logging(name="r").complete()
        exp.close()
        assert _sql(f"{base}/{name}", "SELECT name FROM runs") == [("r",)]
    finally:
        drop_database(name)


WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from runlog_core import Experiment
    index, shared, go = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    Experiment("raced")  # 16 processes create it at once: one experiment
    exp = Experiment("many")
    run = exp.start_logging(run_id=shared, outputs=None) if index < 4 else \\
        exp.start_logging(name=f"worker-{index}", outputs=None)
    for i in range(10_000):
        run.log("loss", index * 100_000 + i)
    run.flush()
    if index < 4:  # the first to close ends the shared run: only once all four have logged
        (go.parent / f"done-{index}").touch()
        while not all((go.parent / f"done-{k}").exists() for k in range(4)):
            time.sleep(0.01)
    exp.close()
""")


def test_sixteen_processes_lose_and_double_no_point(team_store: str, tmp_path: Path) -> None:
    exp = Experiment("many")
    shared = exp.start_logging(name="shared", outputs=None)
    script, go = tmp_path / "worker.py", tmp_path / "go"
    script.write_text(WORKER)
    workers = [subprocess.Popen([sys.executable, str(script), str(index), shared.id, str(go)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(16)]
    go.touch()
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * 16, [err for _, err in outputs if err][:2]
    assert not any("Warning" in err or "Error" in err for _, err in outputs), [err for _, err in outputs if err][:2]
    assert _sql(team_store, "SELECT count(*) FROM experiments WHERE name = 'raced'") == [(1,)]
    values = {}
    for info in search_runs(experiment="many"):
        run = Run(Experiment("many"), info.id)
        [series] = [s for s in run._store.get_series(info.id) if s.name == "loss"]
        values[info.name] = [value for _, value, _ in run._store.get_points(series.id)]
    assert len(values) == 13  # 12 own runs and the shared one, with one "loss" series each
    shared_values = values.pop("shared")
    assert len(shared_values) == len(set(shared_values)) == 40_000
    assert set(shared_values) == {k * 100_000 + i for k in range(4) for i in range(10_000)}
    for k in range(4):  # each process's points keep their order within the shared series
        mine = [v for v in shared_values if v // 100_000 == k]
        assert mine == sorted(mine)
    assert sorted(values) == sorted(f"worker-{k}" for k in range(4, 16))
    for k in range(4, 16):
        assert values[f"worker-{k}"] == [k * 100_000 + i for i in range(10_000)]
    assert sum(len(v) for v in values.values()) + len(shared_values) == 160_000
    shared.complete()


def _answers(uri: str) -> bool:
    import psycopg

    try:
        return bool(_sql(uri, "SELECT 1"))
    except psycopg.OperationalError:
        return False


def _restart_server() -> None:
    done = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_server_restart_mid_logging_loses_nothing(team_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        pytest.skip("restarting the server needs pg_ctlcluster, run as root (the CI container)")
    if not _sql(team_store, "SELECT inet_server_addr() = '127.0.0.1'::inet"):
        pytest.skip("the test server is not the local cluster")
    secret_uri = _with_password(team_store)
    monkeypatch.setenv("RUNLOG_STORE", secret_uri)
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.1")
    exp = Experiment("restart")
    run = exp.start_logging(name="survivor", outputs=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(1_000):
            run.log("x", i)
        run.flush()
        _restart_server()
        for i in range(1_000, 2_000):
            run.log("x", i)
        _wait_for(lambda: _answers(team_store), what="the server accepting connections again")
        run.complete()
    assert [v for _, v, _ in run._store.get_points(run._store.get_series(run.id)[0].id)] == list(range(2_000))
    assert Run(Experiment("restart"), run.id).get_status() == "Completed"
    assert all(PASSWORD not in str(w.message) for w in caught)
    assert len([w for w in caught if "could not write" in str(w.message)]) <= 1  # warned once at most


def test_a_forked_child_never_uses_its_parents_connection(pg_store_factory: Callable[[], Any]) -> None:
    from runlog_core.store import Batch, RunInfo

    store = pg_store_factory()
    experiment_id = store.get_or_create_experiment("fork")
    store.create_run(RunInfo("forked", experiment_id, "fork", "forked", "Running", time.time()))
    parent_backend = store._conn().info.backend_pid
    pid = os.fork()
    if pid == 0:  # the child writes through the same store object, then leaves without cleanup
        code = 2
        try:
            batch = Batch()
            batch.tags.append(("forked", "written by", "the child"))
            store.write(batch)
            code = 0 if store._conn().info.backend_pid != parent_backend else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    conn = store._conn()  # still the parent's own session, alive after the child's exit
    assert conn.info.backend_pid == parent_backend and not conn.broken
    assert store.get_tags("forked") == {"written by": "the child"}
    store.close()
    store.close()


def test_ten_thousand_terms_over_many_names_search_like_short_ones(pg_store_factory: Callable[[], Any]) -> None:
    from runlog_core.store import Batch, RunInfo, parse_filter

    store = pg_store_factory()
    experiment_id = store.get_or_create_experiment("chains")
    for k in range(3):
        store.create_run(RunInfo(f"k{k}", experiment_id, "chains", f"k{k}", "Running", 1000.0 + k))
        batch = Batch()
        batch.params.extend((f"k{k}", f"p{j}", k + j) for j in range(40))  # 40 names: past the join limit
        store.write(batch)
    wanted = " or ".join(f"params.p{i % 40} = {10_000 + i}" for i in range(9_999)) + " or params.p39 = 40"
    assert [info.name for info in store.search_runs(parse_filter(wanted), [])] == ["k1"]
    bounds = " and ".join(f"params.p{i % 40} >= {i % 40}" for i in range(9_999)) + " and params.p0 <= 1"
    assert [info.name for info in store.search_runs(parse_filter(bounds), [])] == ["k1", "k0"]


def test_values_postgresql_cannot_hold_are_refused_not_retried(pg_store_factory: Callable[[], Any]) -> None:
    from runlog_core.exceptions import RunlogError
    from runlog_core.store import Batch, RunInfo, SeriesRef

    store = pg_store_factory()
    experiment_id = store.get_or_create_experiment("refused")
    store.create_run(RunInfo("r", experiment_id, "refused", "r", "Running", time.time()))
    for kind, step, value in (("str", 0, "a\x00b"), ("str", 2**63, "fine"), ("row", 0, {"x": 1}), ("number", 0, 1)):
        series = SeriesRef("r", f"{kind}-{step}", kind)
        batch = Batch()
        batch.series.append(series)
        batch.columns.append((series, 0, [step], [value], [1.0]))
        batch.count = 1
        batch.tags.append(("r", f"tag-{kind}-{step}", "x"))
        if kind == "number":  # the good one: written
            store.write(batch)
            continue
        if kind == "row":  # NUL inside JSON is escaped: written as well
            batch.columns[0] = (series, 0, [step], [{"x": "a\x00b"}], [1.0])
            store.write(batch)
            continue
        with pytest.raises(RunlogError) as caught:
            store.write(batch)
        assert not isinstance(caught.value, (StoreError, OSError)), caught.value
    assert sorted(store.get_tags("r")) == ["tag-number-0", "tag-row-0"]
    points = {info.name: store.get_points(info.id) for info in store.get_series("r")}
    assert points == {"row-0": [(0, {"x": "a\x00b"}, 1.0)], "number-0": [(0, 1, 1.0)]}

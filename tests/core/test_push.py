"""``runlog push``: runs copied with their ids from the local store to another one, read back from both.

SQLite to SQLite (a second store folder) for the logic; PostgreSQL (and S3 for the files) when the
test servers are there. The command runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_cli import runlog

from runlog_core import Experiment
from runlog_core.exceptions import InvalidArgumentError, RunlogError
from runlog_core.integration import open_store
from runlog_core.store import ArtifactInfo, Batch, RunInfo, SeriesRef
from runlog_core.transfer.push import PushError, PushInterrupted, PushProgress, PushSummary, push

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def dump(store: Any, files: Any = None) -> dict[str, Any]:
    """Everything a store holds of its runs, comparable across stores (values by repr: NaN, -0.0, bool vs int)."""
    files = files if files is not None else store.artifacts
    runs: dict[str, Any] = {}
    for info in store.list_runs():
        series = [(s.name, s.kind, s.description, repr(store.get_points(s.id))) for s in store.get_series(info.id)]
        artifacts = []
        for artifact in store.get_artifacts(info.id):
            with files.open(info.id, artifact.name) as stream:
                artifacts.append((artifact.name, artifact.size, artifact.sha256, artifact.time, stream.read()))
        runs[info.id] = {
            "row": (info.experiment_name, info.name, info.status, info.start_time, info.end_time, info.parent_id,
                    info.error, info.heartbeat_timeout, info.pid, info.host),
            "params": repr(store.get_params(info.id)), "tags": store.get_tags(info.id),
            "series": series, "files": artifacts,
        }
    return runs


def dump_row(info: RunInfo) -> tuple[Any, ...]:
    """A run's row without the experiment's id (each store numbers its experiments)."""
    return tuple(getattr(info, name) for name in RunInfo.__slots__ if name != "experiment_id")


def rows(store: Any) -> tuple[int, int]:
    """``(points, artifact rows)`` in the whole store: doubled copies would show here."""
    points = artifacts = 0
    for info in store.list_runs():
        points += sum(store.count_points(s.id) for s in store.get_series(info.id))
        artifacts += len(store.get_artifacts(info.id))
    return points, artifacts


@pytest.fixture
def logged(tmp_path: Path) -> dict[str, str]:
    """Runs of every kind in ./runlog: ``{"a": id, "child": id, "b": id}`` (names no id can start with)."""
    (tmp_path / "plot.png").write_bytes(PNG)
    exp = Experiment("train")
    with exp.start_logging(name="first") as run:
        for step, value in ((0, 0.5), (10, 0.25), (5, float("nan")), (7, float("inf")), (8, -0.0)):
            run.log("loss", value, step=step)
        for value in (1, 2.5, True, 2**62, float("-inf")):
            run.log("mixed", value)
        run.log("done", False)
        run.log("done", True)
        run.log("note", "héllo ✓")
        run.log("note", "")
        run.log_list("values", [1, 2.0, True, "x"])
        run.log_row("curve", x=1, y=None, label="a")
        run.log_table("table", {"x": [1, 2], "y": ["a", "b"]}, description="a table")
        run.log_image("sample", tmp_path / "plot.png")
        run.log_params({"alpha": 0.1, "nested": {"k": [1, 2]}, "big": 10**30, "none": None})
        run.set_tags({"team": "vision", "empty": ""})
        run.upload_file("outputs/model.bin", io.BytesIO(bytes(range(256)) * 100))
        run._append_log("logs/std_log.txt", "epoch 1\n")
        run._append_log("logs/std_log.txt", "epoch 2 ✓\n")
        child = run.child_run(name="child")
        child.log("x", 1.5)
        child.fail("ValueError: bad input")
    other = Experiment("other")
    with other.start_logging(name="second") as b_run:
        b_run.log("acc", 0.9)
    exp.close()
    other.close()
    return {"a": run.id, "child": child.id, "b": b_run.id}


def test_push_copies_every_run_exactly_and_twice_copies_nothing_twice(logged: dict[str, str],
                                                                       tmp_path: Path) -> None:
    summary = push("runlog", str(tmp_path / "team"), all=True)
    source, team = open_store("runlog"), open_store(str(tmp_path / "team"))
    assert dump(team) == dump(source)
    assert set(dump(team)) == set(logged.values())  # the same ids
    assert (summary.created, summary.updated, summary.unchanged, summary.files) == (3, 0, 0, 3)
    assert summary.points == rows(source)[0] == 23
    assert team.get_run(logged["child"]).parent_id == logged["a"]
    assert team.get_run(logged["child"]).error == "ValueError: bad input"
    before = rows(team)

    again = push("runlog", str(tmp_path / "team"), all=True)
    assert (again.created, again.updated, again.unchanged, again.points, again.files, again.bytes) == (0, 0, 3, 0, 0, 0)
    assert rows(team) == before
    assert dump(team) == dump(source)


def test_a_running_run_is_brought_up_to_date_with_only_what_is_new(tmp_path: Path) -> None:
    exp = Experiment("live")
    run = exp.start_logging(name="live")
    for step in range(5):
        run.log("loss", 1.0 / (step + 1))
    run.log_params({"lr": 0.1})
    run.flush()
    first = push("runlog", str(tmp_path / "team"), runs=[run.id])
    team = open_store(str(tmp_path / "team"))
    pushed = team.get_run(run.id)
    assert (first.points, pushed.status, pushed.heartbeat) == (5, "Running", open_store("runlog").get_run(run.id).heartbeat)

    for step in range(5, 12):
        run.log("loss", 1.0 / (step + 1))
    run.log("acc", 0.5)
    run.log_params({"batch": 32})
    run.set_tags({"stage": "2"})
    run.upload_file("outputs/w.bin", io.BytesIO(b"weights"))
    run._append_log("logs/std_log.txt", "more\n")
    run.flush()
    second = push("runlog", str(tmp_path / "team"), runs=[run.id])
    assert (second.points, second.files, second.updated) == (8, 2, 1)
    assert team.get_run(run.id).status == "Running"
    assert team.get_params(run.id) == {"lr": 0.1, "batch": 32}

    run._append_log("logs/std_log.txt", "the end\n")  # a log that grew: copied again
    run.complete()
    exp.close()
    third = push("runlog", str(tmp_path / "team"), runs=[run.id])
    assert (third.points, third.files, third.updated) == (0, 1, 1)
    assert dump(team) == dump(open_store("runlog"))
    assert team.get_run(run.id).status == "Completed"
    assert rows(team) == (13, 2)


def test_a_run_continued_after_its_push_runs_again_at_the_destination(tmp_path: Path) -> None:
    exp = Experiment("continued")
    with exp.start_logging(name="first") as run:
        run.log("loss", 1.0)
    push("runlog", str(tmp_path / "team"), all=True)
    team = open_store(str(tmp_path / "team"))
    assert team.get_run(run.id).status == "Completed"

    again = exp.start_logging(run_id=run.id)
    again.log("loss", 0.5)
    again.flush()
    assert push("runlog", str(tmp_path / "team"), all=True).points == 1
    pushed = team.get_run(run.id)
    assert (pushed.status, pushed.end_time) == ("Running", None)
    assert pushed.heartbeat is not None and pushed.heartbeat >= open_store("runlog").get_run(run.id).heartbeat

    again.complete()
    exp.close()
    push("runlog", str(tmp_path / "team"), all=True)
    assert dump(team) == dump(open_store("runlog"))
    assert team.get_run(run.id).status == "Completed"


def _bulk_source(folder: str, runs: int, points: int, experiment: str = "bulk") -> list[str]:
    """``runs`` Completed runs of one series of ``points`` points and one file, written straight to the store."""
    store = open_store(folder)
    experiment_id = store.get_or_create_experiment(experiment)
    ids = []
    start = time.time() - 3600
    for index in range(runs):
        run_id = uuid.uuid4().hex[:16]
        store.create_run(RunInfo(run_id, experiment_id, experiment, f"r{index}", "Completed", start + index,
                                 end_time=start + index + 1, heartbeat=start + index + 1, heartbeat_timeout=60.0))
        batch = Batch()
        ref = SeriesRef(run_id, "m", "number")
        batch.series.append(ref)
        batch.columns.append((ref, 0, list(range(points)), [i * 0.5 for i in range(points)],
                              [start + i * 1e-3 for i in range(points)]))
        batch.count = points
        size, sha256 = store.artifacts.put_bytes(run_id, "outputs/model.bin", run_id.encode() * 100)
        batch.artifacts.append(ArtifactInfo(run_id, "outputs/model.bin", size, sha256,
                                            store.artifacts.uri(run_id, "outputs/model.bin"), start))
        store.write(batch)
        ids.append(run_id)
    return ids


def test_an_interrupted_push_resumes_and_ends_with_the_same_data(tmp_path: Path) -> None:
    _bulk_source("runlog", 3, 2500)
    calls = []

    def stop_after_the_first_batch(summary: PushSummary) -> None:
        calls.append(summary.points)
        if summary.points:
            raise KeyboardInterrupt

    with pytest.raises(PushInterrupted) as stopped:
        push("runlog", str(tmp_path / "team"), all=True, progress=stop_after_the_first_batch, batch_points=1000)
    assert stopped.value.summary.points == 1000
    team = open_store(str(tmp_path / "team"))
    assert rows(team) == (1000, 0)

    resumed = push("runlog", str(tmp_path / "team"), all=True, batch_points=1000)
    assert resumed.points == 7500 - 1000
    assert dump(team) == dump(open_store("runlog"))
    assert rows(team) == (7500, 3)


def test_sigint_stops_runlog_push_and_the_same_command_resumes(tmp_path: Path) -> None:
    ids = _bulk_source("runlog", 30, 50_000)
    executable = shutil.which("runlog", path=os.path.dirname(sys.executable))
    command = [executable] if executable else [sys.executable, "-m", "runlog_core.cli.main"]
    process = subprocess.Popen([*command, "push", "--all", "--to", "team"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    copied = tmp_path / "team" / "artifacts"
    deadline = time.monotonic() + 60
    while not any(copied.glob("*/outputs/model.bin")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # polling for the first run's file: a run's points are committed before its files
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the push ended before the interrupt arrived")  # not seen here: 1,500,000 points take a second
    assert process.returncode == 130, err
    assert "interrupted" in err and "run the same command again to resume" in err and "Traceback" not in err
    team = open_store(str(tmp_path / "team"))
    before = rows(team)[0]
    assert before < 1_500_000

    result = runlog("push", "--all", "--to", "team", cwd=tmp_path)
    assert f": {1_500_000 - before:,} points" in result.stdout  # only what the first push had not committed
    assert rows(team) == (1_500_000, 30)
    source = open_store("runlog")
    for run_id in ids:  # the same points, in the same order (compared as columns: 1,500,000 of them)
        assert dump_row(source.get_run(run_id)) == dump_row(team.get_run(run_id))
        (theirs,), (ours,) = team.get_series(run_id), source.get_series(run_id)
        assert [list(column) for column in team.get_point_columns(theirs.id)] == \
            [list(column) for column in source.get_point_columns(ours.id)]
        with team.artifacts.open(run_id, "outputs/model.bin") as copied:
            assert copied.read() == run_id.encode() * 100
    assert {info.id for info in team.list_runs()} == set(ids)


def test_the_cli_prints_one_summary_line_and_no_progress_bar_off_a_terminal(logged: dict[str, str],
                                                                            tmp_path: Path) -> None:
    result = runlog("push", "--all", "--to", "team", cwd=tmp_path)
    team_uri = str(tmp_path / "team")
    assert result.stdout == f"3 runs pushed to {team_uri} (3 new, 0 updated): 23 points, 3 files (26.7 kB)\n"
    assert result.stderr == ""
    again = runlog("push", "--all", "--to", "team", cwd=tmp_path)
    assert again.stdout == (f"0 runs pushed to {team_uri} (0 new, 0 updated): 0 points, 0 files (0 B); "
                            "3 already up to date\n")


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    summary = PushSummary("team")
    summary.runs_total, summary.points_total = 2, 100
    terminal, plain = Terminal(), io.StringIO()
    for stream in (terminal, plain):
        bar = PushProgress(stream)
        summary.runs_done, summary.points_done, summary.points = 2, 100, 100
        bar(summary)
        bar.close()
    assert terminal.getvalue().startswith("\rpushing [" + "#" * 30 + "] 2/2 runs, 100 points, 0 files, 0 B")
    assert terminal.getvalue().endswith("\n")
    assert plain.getvalue() == ""


def test_a_run_id_from_another_store_is_refused_and_the_others_go(logged: dict[str, str], tmp_path: Path) -> None:
    team = open_store(str(tmp_path / "team"))
    experiment_id = team.get_or_create_experiment("someone else's")
    team.create_run(RunInfo(logged["a"], experiment_id, "someone else's", "theirs", "Completed", 1.0, end_time=2.0))
    team.close()
    result = runlog("push", "--all", "--to", "team", cwd=tmp_path, check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"runlog: refused run {logged['a']} (first): ") and "did not come from this store" in lines[0]
    assert "experiment \"someone else's\" there, 'train' here" in lines[0]
    assert lines[1] == f"runlog: run {logged['child']} (child): not pushed, its parent run {logged['a']} was not"
    assert "1 runs pushed" not in result.stdout and "(1 new, 0 updated)" in result.stdout and "1 refused" in result.stdout
    team = open_store(str(tmp_path / "team"))
    assert team.get_run(logged["a"]).name == "theirs" and team.get_series(logged["a"]) == []
    assert team.get_run(logged["b"]).status == "Completed" and team.get_run(logged["child"]) is None


def test_a_run_with_another_start_time_is_refused(logged: dict[str, str], tmp_path: Path) -> None:
    team = open_store(str(tmp_path / "team"))
    team.create_run(RunInfo(logged["b"], team.get_or_create_experiment("other"), "other", "b", "Completed", 5.0))
    summary = push("runlog", team, runs=[logged["b"]])
    assert summary.created == 0 and len(summary.refused) == 1
    assert "started 1970-01-01T00:00:05+00:00 there" in summary.refused[0]


def test_which_runs_experiment_ids_prefixes_and_parents(logged: dict[str, str], tmp_path: Path) -> None:
    team = str(tmp_path / "team")
    runlog("push", "-e", "other", "--to", team, cwd=tmp_path)
    assert {info.id for info in open_store(team).list_runs()} == {logged["b"]}
    # a child alone brings its parent (the destination needs it), by a prefix of its id
    runlog("push", logged["child"][:10], "--to", team, cwd=tmp_path)
    assert {info.id for info in open_store(team).list_runs()} == set(logged.values())

    team2 = str(tmp_path / "team2")
    result = runlog("push", "first", "--to", team2, cwd=tmp_path)  # a name; its child goes with it
    assert "2 runs pushed" in result.stdout
    assert {info.id for info in open_store(team2).list_runs()} == {logged["a"], logged["child"]}


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "team"], "say which runs to push with one of: RUN ids (or names), -e EXPERIMENT, --all; no runs were"),
    (["--all", "-e", "train", "--to", "team"], "-e EXPERIMENT and --all were both given"),
    (["nosuchrun", "--to", "team"], "no run matches 'nosuchrun'"),
    (["-e", "nope", "--to", "team"], "no experiment 'nope'"),
    (["--all", "--to", "runlog"], "another store than the source"),
    (["--all", "--to", "postgresl://me:s3cret@db/x"], "no plugin can open the store"),
], ids=["nothing-chosen", "two-chosen", "unknown-run", "unknown-experiment", "same-store", "bad-scheme"])
def test_mistakes_are_one_line_and_exit_2(logged: dict[str, str], tmp_path: Path, args: list[str],
                                         message: str) -> None:
    result = runlog("push", *args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_pushing_from_a_folder_that_is_no_store_is_refused(tmp_path: Path) -> None:
    result = runlog("push", "--all", "--to", "team", "--store", "missing", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "no store at" in result.stderr
    assert not (tmp_path / "missing").exists() and not (tmp_path / "team").exists()


def test_push_refuses_an_empty_selection_in_the_api() -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one of"):
        push("runlog", "team")
    with pytest.raises(RunlogError):
        push("runlog", "team", runs=["x"], batch_points=0)


# -- PostgreSQL and S3, when the test servers are there --------------------------------------------

@pytest.mark.filterwarnings("ignore:runlog. RUNLOG_ARTIFACTS is not set")
def test_push_to_postgresql_copies_exactly_and_never_shows_the_password(logged: dict[str, str], tmp_path: Path,
                                                                        pg_uri: str) -> None:
    from fixtures_postgres import database_uri
    from runlog_core.store.artifacts.roots import open_artifact_store

    with_password = database_uri(pg_uri.rsplit("/", 1)[1], password="s3cret-pw")
    files = str(tmp_path / "team-files")
    command = ("push", "--all", "--to", with_password, "--artifacts", files)
    result = runlog(*command, cwd=tmp_path)
    assert "s3cret-pw" not in result.stdout + result.stderr and result.stderr == ""
    assert result.stdout.startswith("3 runs pushed to postgresql://postgres:***@127.0.0.1:5432/")
    assert "(3 new, 0 updated): 23 points, 3 files" in result.stdout
    team = open_store(pg_uri)
    assert dump(team, open_artifact_store(files, files)) == dump(open_store("runlog"))
    again = runlog(*command, cwd=tmp_path)
    assert "3 already up to date" in again.stdout and rows(team) == (23, 3)


@pytest.mark.filterwarnings("ignore:runlog. RUNLOG_ARTIFACTS is not set")
def test_push_to_postgresql_brings_a_running_run_up_to_date(tmp_path: Path, pg_uri: str) -> None:
    exp = Experiment("live")
    run = exp.start_logging(name="live")
    run.log_metrics({"a": 1.0, "b": 2})
    run.flush()
    files = str(tmp_path / "team-files")
    assert push("runlog", pg_uri, runs=[run.id], artifacts=files).points == 2
    for step in range(1, 6):
        run.log_metrics({"a": float(step), "b": step}, step=step)
    run.complete()
    exp.close()
    assert push("runlog", pg_uri, runs=[run.id], artifacts=files).points == 10
    from runlog_core.store.artifacts.roots import open_artifact_store

    assert dump(open_store(pg_uri), open_artifact_store(files, files)) == dump(open_store("runlog"))


@pytest.mark.filterwarnings("ignore:runlog. RUNLOG_ARTIFACTS is not set")
def test_push_with_artifacts_to_s3(logged: dict[str, str], tmp_path: Path, pg_uri: str, s3_bucket: str) -> None:
    source = open_store("runlog")
    result = runlog("push", "--all", "--to", pg_uri, "--artifacts", s3_bucket, cwd=tmp_path)
    assert "3 files" in result.stdout and "RUNLOG_ARTIFACTS is not set" not in result.stderr
    from runlog_core.store.artifacts.roots import open_artifact_store

    s3 = open_artifact_store(tmp_path, s3_bucket)
    team = open_store(pg_uri)
    assert dump(team, s3) == dump(source)
    assert all(a.uri.startswith(s3_bucket.rstrip("/") + "/") for a in team.get_artifacts(logged["a"]))
    again = runlog("push", "--all", "--to", pg_uri, "--artifacts", s3_bucket, cwd=tmp_path)
    assert "0 files" in again.stdout and "3 already up to date" in again.stdout


@pytest.mark.filterwarnings("ignore:runlog. RUNLOG_ARTIFACTS is not set")
def test_a_push_that_loses_its_postgresql_connection_resumes_exactly(tmp_path: Path, pg_uri: str) -> None:
    import psycopg

    from fixtures_postgres import SERVER

    _bulk_source("runlog", 3, 2500)
    database = pg_uri.rsplit("/", 1)[1]

    def cut_after_the_first_batch(summary: PushSummary) -> None:
        if summary.points == 1000:  # the server ends every connection to the database, as a restart would
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (database,))

    files = str(tmp_path / "team-files")
    try:
        push("runlog", pg_uri, all=True, artifacts=files, progress=cut_after_the_first_batch, batch_points=1000)
    except PushError as err:  # the next write found the connection gone: what was committed stays
        assert "run the same command again to resume" in str(err) and err.summary.points == 1000
    push("runlog", pg_uri, all=True, artifacts=files, batch_points=1000)
    from runlog_core.store.artifacts.roots import open_artifact_store

    team = open_store(pg_uri)
    assert rows(team) == (7500, 3)
    assert dump(team, open_artifact_store(files, files)) == dump(open_store("runlog"))

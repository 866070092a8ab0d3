"""`runlog import mlflow` on mlruns folders someone else wrote (#24): real MLflow writes them, then they are tampered.

One damaged run costs one `skipped` line and the others are imported; a refused or linked artifact costs
one line, not the run; artifacts are read only from inside the source unless --artifacts-from-anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from runlog_core import Experiment  # noqa: E402
from runlog_core.cli.main import main  # noqa: E402
from runlog_core.transfer.import_mlflow import RUN_ID_TAG, import_mlflow  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


def make_mlruns(folder: Path, names: list[str], monkeypatch: pytest.MonkeyPatch,
                artifact_location: str | None = None) -> tuple[Path, dict[str, Path]]:
    """An mlruns folder with one experiment "exp" and a finished run per name (a param, a tag, three
    points, the artifact notes.txt); returns the folder and each run's folder by name."""
    mlruns = folder / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=mlruns.as_uri())
    experiment = client.create_experiment("exp", artifact_location=artifact_location)
    notes = folder / "notes.txt"
    notes.write_text("hello")
    runs = {}
    for name in names:
        run_id = client.create_run(experiment, run_name=name).info.run_id
        client.log_param(run_id, "lr", 0.1)
        client.set_tag(run_id, "team", "vision")
        for step in range(3):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        client.log_artifact(run_id, str(notes))
        client.set_terminated(run_id)
        runs[name] = mlruns / experiment / run_id
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    return mlruns, runs


def imported(store: Path) -> dict[str, object]:
    return {run.name: run for run in Experiment("exp", store=store).get_runs()}


@pytest.mark.parametrize("damage", ["metric-garbage", "python-tag", "empty-meta", "metric-fifo"])
def test_one_damaged_run_is_one_skipped_line_and_the_healthy_run_is_imported(
        damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mlruns, runs = make_mlruns(tmp_path, ["healthy", "damaged"], monkeypatch)
    bad = runs["damaged"]
    marker = tmp_path / "ran"
    if damage == "metric-garbage":
        with (bad / "metrics" / "loss").open("a") as metric:
            metric.write("garbage line\n")
    elif damage == "python-tag":  # would run `touch` if the YAML were loaded unsafely
        meta = (bad / "meta.yaml").read_text()
        meta = meta.replace("run_name: damaged", f"run_name: !!python/object/apply:os.system ['touch {marker}']")
        (bad / "meta.yaml").write_text(meta)
    elif damage == "empty-meta":
        (bad / "meta.yaml").write_text("")
    else:  # a FIFO where a metric file was: opening it would wait for a writer for ever
        (bad / "metrics" / "loss").unlink()
        os.mkfifo(bad / "metrics" / "loss")
    store = tmp_path / "store"

    assert main(["import", "mlflow", str(mlruns), "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "1 imported, 1 skipped; 3 points, 1 files"
    (line,) = err.splitlines()
    assert line.startswith("runlog: skipped exp/") and bad.name in line
    why = {"metric-garbage": "MLflow cannot read it: invalid literal for int()",
           "python-tag": "its meta.yaml is not read: it is not YAML runlog reads: could not determine a "
                         "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
           "empty-meta": "its meta.yaml is empty",
           "metric-fifo": "its file 'metrics/loss' is not a regular file (a FIFO, socket or device)"}[damage]
    assert why in line
    assert not marker.exists()  # nothing in the YAML ran
    (healthy,) = imported(store).values()
    assert healthy.name == "healthy" and healthy.get_metrics("loss") == [1.0, 0.5, 1 / 3]
    assert healthy.get_file_names() == ["notes.txt"]


def test_a_linked_or_refused_artifact_is_one_line_and_the_rest_of_the_run_is_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mlruns, runs = make_mlruns(tmp_path, ["healthy", "odd"], monkeypatch)
    artifacts = runs["odd"] / "artifacts"
    secret = tmp_path / "secret.txt"
    secret.write_text("the importing user's own file")
    (artifacts / "model").mkdir()
    (artifacts / "model" / "key.txt").symlink_to(secret)  # would copy the user's file into the store
    (artifacts / "model" / "weights.bin").write_bytes(b"\x00\x01")
    (artifacts / "aux.txt").write_text("a Windows device name: refused as an artifact name")
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    store = tmp_path / "store"

    assert main(["import", "mlflow", str(mlruns), "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "2 imported, 0 skipped; 6 points, 3 files; 2 left out of imported runs"
    label = f"runlog: exp/odd ({runs['odd'].name}): "
    assert err.splitlines() == [
        label + "the artifact 'aux.txt' is not copied: artifact name 'aux.txt' is refused: 'aux.txt' is a reserved "
                "device name on Windows; use a relative path made of plain segments separated by '/', such as "
                "'outputs/model.pt'",
        label + "the artifact 'model/key.txt' is not copied: it is a link (links are not followed)"]
    odd = imported(store)["odd"]
    assert odd.get_file_names() == ["model/weights.bin", "notes.txt"]
    assert odd.get_tags()[RUN_ID_TAG] == runs["odd"].name and odd.get_status() == "Completed"
    assert list(temp.iterdir()) == []  # no temporary folder left behind
    assert b"importing user's own" not in b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())


def test_artifacts_outside_the_mlruns_folder_need_the_flag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mlruns, runs = make_mlruns(tmp_path / "source", ["healthy", "pointing"], monkeypatch)
    outside = tmp_path / "home" / ".ssh"
    outside.mkdir(parents=True)
    (outside / "id_rsa").write_text("PRIVATE KEY of the importing user")
    meta = runs["pointing"] / "meta.yaml"
    lines = [f"artifact_uri: {outside.as_uri()}" if line.startswith("artifact_uri:") else line
             for line in meta.read_text().splitlines()]
    meta.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"

    assert main(["import", "mlflow", str(mlruns), "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "2 imported, 0 skipped; 6 points, 1 files; 1 left out of imported runs"
    assert err.strip() == (f"runlog: exp/pointing ({runs['pointing'].name}): imported without its artifacts: they are "
                           f"at {outside.as_uri()}, outside the MLflow source given; --artifacts-from-anywhere "
                           "copies them from there")
    assert imported(store)["pointing"].get_file_names() == []
    assert b"PRIVATE KEY" not in b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())

    again = tmp_path / "store2"
    assert main(["import", "mlflow", str(mlruns), "--store", str(again), "--artifacts-from-anywhere"]) == 0
    assert capsys.readouterr().out.strip() == "2 imported, 0 skipped; 6 points, 2 files"
    pointing = imported(again)["pointing"]
    assert pointing.get_file_names() == ["id_rsa"]


def test_a_moved_mlruns_folder_reads_each_run_s_own_artifacts_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlruns, runs = make_mlruns(tmp_path, ["moved"], monkeypatch)
    meta = runs["moved"] / "meta.yaml"  # written on another machine: its artifact_uri is not here
    lines = ["artifact_uri: file:///home/alice/project/mlruns/1/abc/artifacts" if line.startswith("artifact_uri:")
             else line for line in meta.read_text().splitlines()]
    meta.write_text("\n".join(lines) + "\n")
    summary = import_mlflow(mlruns, store=tmp_path / "store")
    assert (summary.runs, summary.files, summary.left_out) == (1, 1, [])
    assert imported(tmp_path / "store")["moved"].get_file_names() == ["notes.txt"]


def test_artifacts_in_s3_are_left_alone_unless_asked_then_imported_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: str, s3_env: str) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_env)
    mlruns, runs = make_mlruns(tmp_path, ["team-run"], monkeypatch, artifact_location=f"{s3_bucket}/mlflow")
    calls = []
    real = mlflow.MlflowClient.list_artifacts
    monkeypatch.setattr(mlflow.MlflowClient, "list_artifacts",
                        lambda self, *args, **kw: calls.append(args) or real(self, *args, **kw))

    summary = import_mlflow(mlruns, store=tmp_path / "store")
    (line,) = summary.left_out
    assert f"they are at {s3_bucket}/mlflow/" in line and "--artifacts-from-anywhere" in line
    assert (summary.runs, summary.files, calls) == (1, 0, [])  # S3 was never asked

    whole = import_mlflow(mlruns, store=tmp_path / "store2", artifacts_from_anywhere=True)
    assert (whole.runs, whole.files, whole.left_out) == (1, 1, [])
    assert imported(tmp_path / "store2")["team-run"].get_file_names() == ["notes.txt"]


def test_params_beyond_the_cap_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    mlruns, runs = make_mlruns(tmp_path, ["wide"], monkeypatch)
    for index in range(4):
        (runs["wide"] / "params" / f"p{index}").write_text(str(index))
    store = tmp_path / "store"
    assert main(["import", "mlflow", str(mlruns), "--store", str(store), "--max-params", "3"]) == 1
    err = capsys.readouterr().err
    assert err.strip().endswith("2 of its 5 params (only the first 3 are copied; --max-params N raises the limit)")
    wide = imported(store)["wide"]
    assert len(wide.get_params()) == 3 and wide.get_tags()["import.params_left_out"] == "2"
    assert import_mlflow(mlruns, store=tmp_path / "store2").left_out == []  # the default cap: 10,000


def test_hostile_names_are_escaped_in_the_lines_written_to_stderr(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mlruns, runs = make_mlruns(tmp_path, ["healthy", "evil"], monkeypatch)
    evil = runs["evil"]
    title = "\x1b]0;owned\x07\x1b[2J"
    meta = (evil / "meta.yaml").read_text().replace("run_name: evil", f'run_name: "{title.encode("unicode_escape").decode()}"')
    (evil / "meta.yaml").write_text(meta)
    (evil / "tags" / "mlflow.runName").write_text(title)
    (evil / "metrics" / "loss").write_text("garbage\n")
    (runs["healthy"] / "artifacts" / "\x1b[31mred.txt").write_text("an escape in a file name")
    env = {**os.environ, "PYTHONPATH": str(SRC), "RUNLOG_STORE": str(tmp_path / "store")}
    done = subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "import", "mlflow", str(mlruns)],
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    lines = done.stderr.decode().splitlines()
    assert any(line.startswith("runlog: skipped exp/\\x1b]0;owned\\x07\\x1b[2J (") for line in lines), lines
    assert any("the artifact '\\x1b[31mred.txt' is not copied" in line for line in lines), lines

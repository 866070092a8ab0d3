"""`runlog import tensorboard` on log folders someone else wrote (#24): real SummaryWriter files, then tampered.

An hparams.yaml of nested aliases is refused in bounded time and space; a FIFO is never opened (no hang);
a torn event file imports what it holds and says how much was lost; a name cut to runlog's limit is announced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("yaml")
torch_tb = pytest.importorskip("torch.utils.tensorboard")

from runlog_core import Experiment  # noqa: E402
from runlog_core.base.values import MAX_NAME_LENGTH  # noqa: E402
from runlog_core.cli.main import main  # noqa: E402
from runlog_core.transfer.import_tensorboard import LOST_TAG, import_tensorboard  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


def write_run(folder: Path, points: int = 3, tags: tuple[str, ...] = ("loss",)) -> Path:
    """A run folder written by PyTorch's SummaryWriter; returns its event file."""
    writer = torch_tb.SummaryWriter(log_dir=str(folder))
    for step in range(points):
        for tag in tags:
            writer.add_scalar(tag, float(step), step)
    writer.close()
    (events,) = folder.glob("*tfevents*")
    return events


def runs(store: Path, experiment: str = "logs") -> dict[str, object]:
    return {run.name: run for run in Experiment(experiment, store=store).get_runs()}


def billion_laughs() -> str:
    """Mappings of ten aliases each, six deep: 1,111,111 params once flattened, in 559 bytes."""
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for prev, name in zip("abcdef", "bcdefg"):
        text += f"{name}: &{name} {{{', '.join(f'k{i}: *{prev}' for i in range(10))}}}\n"
    return text


def store_size(store: Path) -> int:
    return sum(path.stat().st_size for path in store.rglob("*") if path.is_file())


def test_an_hparams_yaml_of_aliases_is_refused_in_bounded_time_and_space(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "bomb")
    bomb = billion_laughs()
    assert len(bomb.encode()) == 559
    (logdir / "bomb" / "hparams.yaml").write_text(bomb)
    write_run(logdir / "good")
    store = tmp_path / "store"

    started = time.monotonic()
    summary = import_tensorboard(logdir, store=store)
    took = time.monotonic() - started

    assert (summary.runs, summary.skipped) == (2, [])
    assert summary.left_out == ["bomb: hparams.yaml is not read: its aliases expand it to more than 100,000 values"]
    bombed = runs(store)["bomb"]
    assert bombed.get_params() == {} and "hparams.yaml" not in bombed.get_file_names()
    assert bombed.get_metrics("loss") == [0.0, 1.0, 2.0]
    assert took < 10 and store_size(store) < 2_000_000  # before: 1,111,111 params, a 195 MB store, 30 s


def test_params_beyond_max_params_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "wide")
    (logdir / "wide" / "hparams.yaml").write_text("model:\n" + "".join(f"  p{i}: {i}\n" for i in range(12)))
    store = tmp_path / "store"
    assert main(["import", "tensorboard", str(logdir), "--store", str(store), "--max-params", "10"]) == 1
    assert capsys.readouterr().err.strip() == ("runlog: wide: 2 of its 12 params in hparams.yaml (only the first "
                                               "10 are copied; --max-params N raises the limit)")
    wide = runs(store)["wide"]
    assert list(wide.get_params()) == [f"model.p{i}" for i in range(10)]
    assert "hparams.yaml" in wide.get_file_names()  # the file itself is kept whole


def test_a_fifo_is_never_opened_and_the_import_finishes(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "good")
    write_run(logdir / "piped-hparams")
    os.mkfifo(logdir / "piped-hparams" / "hparams.yaml")
    (logdir / "fifo").mkdir()
    os.mkfifo(logdir / "fifo" / "events.out.tfevents.1700000000.host.1.0")
    env = {**os.environ, "PYTHONPATH": str(SRC), "RUNLOG_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-m", "runlog_core.cli.main", "import", "tensorboard", str(logdir)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)  # a hang fails here

    assert done.returncode == 1
    assert done.stdout.strip() == "2 imported, 1 skipped; 6 points, 0 files; 1 left out of imported runs"
    assert done.stderr.splitlines() == [
        "runlog: skipped fifo: no event could be read: the event file 'events.out.tfevents.1700000000.host.1.0' "
        "is not read: it is a FIFO, not a regular file",
        "runlog: piped-hparams: hparams.yaml is not read: it is a FIFO, not a regular file"]
    assert set(runs(tmp_path / "store")) == {"good", "piped-hparams"}


def test_a_torn_event_file_imports_what_it_holds_and_says_how_much_was_lost(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logdir = tmp_path / "logs"
    events = write_run(logdir / "torn", points=5)
    whole = events.read_bytes()
    events.write_bytes(whole[:-7])  # the writer killed while writing its last record
    store = tmp_path / "store"

    assert main(["import", "tensorboard", str(logdir), "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert out.strip() == "1 imported, 0 skipped; 4 points, 0 files; 1 left out of imported runs"
    line = (f"torn: the event file '{events.name}' is cut short in the middle of an event: its last 35 of "
            f"{len(whole) - 7:,} bytes are lost; the 5 events before them are imported")
    assert err.strip() == f"runlog: {line}"
    torn = runs(store)["torn"]
    assert torn.get_metrics("loss") == [0.0, 1.0, 2.0, 3.0]  # the fifth point was in the torn record
    assert torn.get_tags()[LOST_TAG] == line.removeprefix("torn: ")
    assert torn.get_status() == "Completed"


def test_a_corrupt_record_in_the_middle_is_said_too(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    events = write_run(logdir / "flipped", points=5)
    data = bytearray(events.read_bytes())
    data[len(data) // 2] ^= 0xFF
    events.write_bytes(bytes(data))
    summary = import_tensorboard(logdir, store=tmp_path / "store")
    (line,) = summary.left_out
    assert line.startswith(f"flipped: the event file '{events.name}' has a corrupt record at byte ")
    assert summary.runs == 1 and summary.points < 5


def test_a_tag_name_over_the_limit_is_announced_and_a_clash_is_not_merged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logdir = tmp_path / "logs"
    long_tag = "t" * (MAX_NAME_LENGTH + 200)
    write_run(logdir / "long", points=2, tags=(long_tag, long_tag + "-other", "loss"))
    store = tmp_path / "store"

    assert main(["import", "tensorboard", str(logdir), "--store", str(store)]) == 1  # the clash is left out
    err = capsys.readouterr().err.splitlines()
    shown = "t" * 40 + "..." + "t" * 20
    assert err == [
        f"runlog: long: scalar '{'t' * 40}...tttttttttttttt-other': its name has 1,206 characters, cut to runlog's "
        "limit of 1,000, which makes it the same as another scalar's; not copied",
        f"runlog: long: scalar '{shown}': its name has 1,200 characters, cut to runlog's limit of 1,000; "
        f"stored as '{shown}'"]
    run = runs(store)["long"]
    assert run.get_metrics("t" * MAX_NAME_LENGTH) == [0.0, 1.0] and run.get_metrics("loss") == [0.0, 1.0]


def test_a_long_name_alone_is_a_note_and_status_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "long", points=2, tags=("x" * (MAX_NAME_LENGTH + 1),))
    assert main(["import", "tensorboard", str(logdir), "--store", str(tmp_path / "store")]) == 0
    assert "its name has 1,001 characters, cut to runlog's limit of 1,000" in capsys.readouterr().err


def test_hostile_folder_names_are_escaped_in_the_lines_written_to_stderr(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    write_run(logdir / "good")
    hostile = logdir / "\x1b]52;c;ZXZpbA==\x07\x1b[2J"
    hostile.mkdir()
    (hostile / "events.out.tfevents.1.host").write_bytes(b"\x00garbage" * 10)
    env = {**os.environ, "PYTHONPATH": str(SRC), "RUNLOG_STORE": str(tmp_path / "store")}
    command = [sys.executable, "-m", "runlog_core.cli.main", "import", "tensorboard", str(logdir)]
    done = subprocess.run(command, capture_output=True, env=env, timeout=120)
    assert done.returncode == 1
    assert b"\x1b" not in done.stderr and b"\x07" not in done.stderr
    assert done.stderr.startswith(b"runlog: skipped \\x1b]52;c;ZXZpbA==\\x07\\x1b[2J: no event could be read: ")


def test_load_yaml_refuses_what_it_cannot_read_safely(tmp_path: Path) -> None:
    from runlog_core.transfer.import_read import SourceFileError, load_yaml

    path = tmp_path / "x.yaml"
    cases = {"a: &a [1, *a]\n": "an alias in it refers to a value that contains it",
             "a: !!python/object/apply:os.system ['true']\n": "could not determine a constructor",
             billion_laughs(): "its aliases expand it to more than 100,000 values",
             "k: " + "x" * (4 * 1024 * 1024) + "\n": "it is larger than 4,194,304 bytes"}
    for text, why in cases.items():
        path.write_text(text)
        with pytest.raises(SourceFileError, match=why.replace("(", r"\(")):
            load_yaml(path)
    path.write_text("args: !!python/object:argparse.Namespace {lr: 0.1}\nshape: !!python/tuple [1, 2]\n")
    assert load_yaml(path, python_tags=True) == {"args": {"lr": 0.1}, "shape": [1, 2]}  # plain data, nothing built
    link = tmp_path / "link.yaml"
    link.symlink_to(path)
    with pytest.raises(SourceFileError, match="it is a link"):
        load_yaml(link)

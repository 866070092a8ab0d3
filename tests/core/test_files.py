"""A run's files: private modes, safe uploads and downloads, artifact names, write failures (issue 9)."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, Run, RunEndedError, RunlogError, UnsafeArtifactNameError
from runlog_core.exceptions import ArtifactConflictError, ArtifactWriteError


def _png() -> bytes:
    """A valid 1x1 PNG, built by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def _modes(root: Path) -> Iterator[tuple[Path, int, bool]]:
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode):
            yield path, stat.S_IMODE(info.st_mode), stat.S_ISDIR(info.st_mode)


def _loose(*roots: Path) -> list[str]:
    return [f"{path} {oct(mode)}" for root in roots for path, mode, is_dir in _modes(root)
            if mode != (0o700 if is_dir else 0o600)]


@pytest.fixture(params=[0, 0o022], ids=["umask-000", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


# -- 1. everything runlog creates is private -------------------------------------------------------


def test_everything_runlog_creates_is_private_whatever_the_umask(umask: int, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    artifact_root = tmp_path / "elsewhere" / "deep" / "artifacts"
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(artifact_root))
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "weights.bin").write_bytes(b"w" * 10)
    (source / "config.json").write_text("{}")
    (tmp_path / "image.png").write_bytes(_png())
    (tmp_path / "outputs" / "nested").mkdir(parents=True)
    (tmp_path / "outputs" / "nested" / "model.pt").write_bytes(b"model")
    store = tmp_path / "store"
    with Experiment("modes", store=store).start_logging(capture_output=True) as run:
        print("to stdout")
        logging.getLogger("test_files").warning("a record")
        run.upload_file("single/file.txt", source / "config.json")
        run.upload_folder("folder", source)
        run.log_image("img", path=tmp_path / "image.png")
        run.log("loss", 0.5)
    names = run.get_file_names()
    for expected in ("single/file.txt", "folder/sub/weights.bin", "outputs/nested/model.pt", "logs/std_log.txt",
                     "logs/python_logging.txt"):
        assert expected in names
    assert artifact_root.is_dir() and not (store / "artifacts").exists()
    assert _loose(tmp_path / "elsewhere") == []


def test_the_store_folder_and_database_are_private_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    store = tmp_path / "home" / "store"
    with Experiment("modes", store=store).start_logging(outputs=None) as run:
        run.log("loss", 0.5)
        run.upload_file("a.txt", b"a")
    assert (store / "runlog.db").is_file()
    assert _loose(store) == []


def test_the_folders_above_a_new_store_are_private_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    store = tmp_path / "home" / "store"
    with Experiment("modes", store=store).start_logging(outputs=None) as run:
        run.log("loss", 0.5)
    assert _loose(tmp_path / "home") == []


def test_downloads_keep_the_users_umask(umask: int, run: Run, tmp_path: Path) -> None:
    run.upload_file("deep/a.txt", b"a")
    out = tmp_path / "down" / "here"
    written = run.download_files(output_directory=out)
    assert [Path(p).read_bytes() for p in written] == [b"a"]
    assert stat.S_IMODE((out / "deep" / "a.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((out / "deep").stat().st_mode) == 0o777 & ~umask


# -- 2. outputs/ at the end of a run, and upload_folder ----------------------------------------------


def test_outputs_upload_skips_each_unsafe_name_alone_with_one_warning(tmp_path: Path, store_dir: Path) -> None:
    outputs = tmp_path / "outputs"
    (outputs / "sub").mkdir(parents=True)
    for file_name in ("a.txt", "aux.pt", "ckpt-2024-01-01T10:00:00.pt", "z.txt", "sub/y.txt", "sub/com1.log"):
        (outputs / file_name).write_text(file_name)
    run = Experiment("outputs", store=store_dir).start_logging()
    with pytest.warns(RuntimeWarning) as caught:
        run.complete()
    assert run.get_file_names() == ["outputs/a.txt", "outputs/sub/y.txt", "outputs/z.txt"]
    assert run.get_status() == "Completed"
    skipped = [str(w.message) for w in caught if "aux.pt" in str(w.message)]
    assert len(skipped) == 1
    for name in ("aux.pt", "ckpt-2024-01-01T10:00:00.pt", "sub/com1.log"):
        assert name in skipped[0]
    with run._store.artifacts.open(run.id, "outputs/sub/y.txt") as stored:
        assert stored.read() == b"sub/y.txt"


def test_upload_outputs_returns_what_it_uploaded(run: Run, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ok.txt").write_text("ok")
    (tmp_path / "out" / "nul").write_text("bad")
    with pytest.warns(RuntimeWarning, match="nul"):
        assert run._upload_outputs(tmp_path / "out") == ["outputs/ok.txt"]


def test_upload_folder_uploads_nothing_when_one_name_is_refused(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for file_name in ("a.txt", "aux.pt", "com\u00b9.txt", "z.txt"):
        (folder / file_name).write_text(file_name)
    with pytest.raises(UnsafeArtifactNameError, match="aux.pt") as info:
        run.upload_folder("data", folder)
    assert info.value.name == "data/aux.pt"
    assert info.value.refused == ["data/aux.pt", "data/com\u00b9.txt"]  # type: ignore[attr-defined]
    assert run.get_file_names() == []
    run.log("still", 1.0)
    assert run.get_metrics("still") == 1.0


# -- 3. symlinks in upload_folder --------------------------------------------------------------------


def test_upload_folder_link_policy_with_one_warning(run: Run, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "real.txt").write_text("real")
    (folder / "inside.txt").symlink_to(folder / "sub" / "real.txt")
    (folder / "relative.txt").symlink_to("sub/real.txt")
    (folder / "outside.txt").symlink_to(secret)
    (folder / "dangling.txt").symlink_to(folder / "missing")
    (folder / "to_dir").symlink_to(folder / "sub")
    (folder / "etc").symlink_to("/etc")
    os.mkfifo(folder / "pipe")
    with pytest.warns(RuntimeWarning, match="links outside") as caught:
        names = run.upload_folder("data", folder)
    assert names == ["data/inside.txt", "data/relative.txt", "data/sub/real.txt"]
    assert sorted(run.get_file_names()) == names
    with run._store.artifacts.open(run.id, "data/inside.txt") as stored:
        assert stored.read() == b"real"
    messages = [str(w.message) for w in caught if "outside.txt" in str(w.message)]
    assert len(messages) == 1
    for skipped in ("dangling.txt", "to_dir", "etc", "pipe"):
        assert skipped in messages[0]


def test_upload_folder_does_not_follow_a_link_swapped_in_after_the_check(run: Run, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    victim = folder / "victim.txt"
    victim.write_text("innocent")
    swapped: list[bool] = []

    def swap() -> None:  # what an attacker does between runlog's check and its read
        if not swapped:
            swapped.append(True)
            victim.unlink()
            victim.symlink_to(secret)

    real_open, real_realpath = os.open, os.path.realpath

    def spying_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if os.fspath(path).endswith("victim.txt"):
            swap()
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def spying_realpath(path: Any, *args: Any, **kwargs: Any) -> str:
        result = real_realpath(path, *args, **kwargs)
        if os.fspath(path).endswith("victim.txt"):
            swap()
        return result

    monkeypatch.setattr(os, "open", spying_open)
    monkeypatch.setattr(os.path, "realpath", spying_realpath)
    with pytest.warns(RuntimeWarning, match="victim.txt"):
        run.upload_folder("data", folder)
    monkeypatch.undo()
    assert swapped
    assert "data/a.txt" in run.get_file_names()
    for name in run.get_file_names():
        with run._store.artifacts.open(run.id, name) as stored:
            assert b"SECRET" not in stored.read()


# -- 4. downloads -------------------------------------------------------------------------------------


def _plant_rows(run: Run, *names: str) -> None:
    run.flush()
    db = sqlite3.connect(run._store.path)  # type: ignore[attr-defined]
    with db:
        db.executemany("INSERT INTO artifacts(run_id, name, size, sha256, uri, time) VALUES (?, ?, 1, '', '', 0)",
                       [(run.id, name) for name in names])
    db.close()


def test_download_files_skips_bad_stored_rows_with_a_warning(run: Run, tmp_path: Path) -> None:
    run.upload_file("good/a.txt", b"a")
    run.upload_file("good/b.txt", b"b")
    _plant_rows(run, "../evil.txt", "aux.txt", "good/\uff0e\uff0e/x", "zz:\u2215y")
    out = tmp_path / "out"
    with pytest.warns(RuntimeWarning, match="evil") as caught:
        written = run.download_files(output_directory=out)
    assert sorted(Path(p).relative_to(out).as_posix() for p in written) == ["good/a.txt", "good/b.txt"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["good/a.txt",
                                                                                             "good/b.txt"]
    assert not (tmp_path / "evil.txt").exists()
    message = [str(w.message) for w in caught if "evil" in str(w.message)]
    assert len(message) == 1 and "aux.txt" in message[0]


def test_download_files_creates_nothing_when_every_row_is_bad(run: Run, tmp_path: Path) -> None:
    _plant_rows(run, "../evil.txt")
    with pytest.warns(RuntimeWarning, match="evil"):
        assert run.download_files(output_directory=tmp_path / "out") == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["\uff0e\uff0e/x", "com\u00b9.txt", "con .txt", "../x"])
def test_download_file_of_a_bad_stored_name_raises(run: Run, tmp_path: Path, name: str) -> None:
    _plant_rows(run, name)
    with pytest.raises(UnsafeArtifactNameError):
        run.download_file(name, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_download_replaces_a_link_at_the_destination_instead_of_writing_through_it(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    (tmp_path / "dest.txt").symlink_to(target)
    run.upload_file("a.txt", b"new")
    run.download_file("a.txt", tmp_path / "dest.txt")
    assert target.read_text() == "keep"
    assert (tmp_path / "dest.txt").read_bytes() == b"new" and not (tmp_path / "dest.txt").is_symlink()


# -- 5. artifact names -------------------------------------------------------------------------------

REFUSED = ["\uff0e\uff0e/x", "a/\uff0e\uff0e/b", "\uff0e\uff0e", "com\u00b9.txt", "COM\u00b2", "lpt\u00b3.log",
           "lpt\u00b2", "con .txt", "nul..txt", "aux  .tar.gz", "dir/prn .x", "CONIN$", "conout$.txt",
           "\uff43\uff4f\uff4e.txt", "x" * 300, "d/" + "\u00e9" * 130, "a\ufe52\ufe52/b"]


@pytest.mark.parametrize("name", REFUSED, ids=[ascii(n)[:30] for n in REFUSED])
def test_more_unsafe_names_are_refused(run: Run, tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeArtifactNameError) as info:
        run.upload_file(name, b"x")
    assert info.value.name == name
    assert run.get_file_names() == []
    assert not any(p.is_file() for p in tmp_path.rglob("*") if "artifacts" in p.parts)


def test_a_long_segment_is_refused_with_its_length_and_the_fix(run: Run) -> None:
    with pytest.raises(UnsafeArtifactNameError, match=r"300 bytes.*at most 255"):
        run.upload_file("x" * 300, b"x")


ACCEPTED = ["r\u00e9sum\u00e9/\u03b1.txt", "console.txt", "com10.txt", "auxiliary/x", "lpt.txt", "x" * 255,
            "\u00e9" * 127, "a b.txt", "v1.2/model.pt"]


@pytest.mark.parametrize("name", ACCEPTED, ids=[ascii(n)[:30] for n in ACCEPTED])
def test_plain_names_still_work(run: Run, name: str) -> None:
    run.upload_file(name, b"data")
    assert run.get_file_names() == [name]


# -- 6. write failures become runlog errors ----------------------------------------------------------


def test_a_file_where_a_folder_is_needed_is_a_conflict(run: Run) -> None:
    run.upload_file("col", b"file")
    with pytest.raises(ArtifactConflictError, match="'col'") as info:
        run.upload_file("col/x", b"x")
    assert isinstance(info.value, ValueError) and isinstance(info.value, RunlogError)
    assert (info.value.name, info.value.existing) == ("col/x", "col")
    run.upload_file("other/x", b"x")
    assert run.get_file_names() == ["col", "other/x"]
    with run._store.artifacts.open(run.id, "col") as stored:
        assert stored.read() == b"file"


def test_a_folder_where_a_file_is_needed_is_a_conflict(run: Run) -> None:
    run.upload_file("col/x", b"x")
    with pytest.raises(ArtifactConflictError, match="'col'") as info:
        run.upload_file("col", b"file")
    assert (info.value.name, info.value.existing) == ("col", "col/x")
    assert run.get_file_names() == ["col/x"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EACCES], ids=["ENOSPC", "EDQUOT", "EACCES"])
def test_a_failed_write_is_an_artifact_write_error_and_leaves_nothing(run: Run, monkeypatch: pytest.MonkeyPatch,
                                                                      code: int) -> None:
    from runlog_core.store.artifacts import local as _artifacts

    run.upload_file("models/first.pt", b"first")
    real_write = _artifacts._write_all

    def failing_write(fd: int, data: bytes) -> None:
        real_write(fd, data[: len(data) // 2])
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(_artifacts, "_write_all", failing_write)
    with pytest.raises(ArtifactWriteError, match="models/big.pt") as info:
        run.upload_file("models/big.pt", b"x" * 100_000)
    monkeypatch.undo()
    assert isinstance(info.value, OSError) and info.value.errno == code
    assert info.value.name == "models/big.pt"
    folder = run._store.artifacts.path(run.id, "models/first.pt").parent  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == ["first.pt"]
    run.log("after", 2.0)
    run.upload_file("models/second.pt", b"second")
    assert run.get_file_names() == ["models/first.pt", "models/second.pt"]
    assert run.get_metrics("after") == 2.0


def test_a_real_write_limit_is_an_artifact_write_error_in_a_real_process(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import json, resource, signal, sys
        from pathlib import Path
        from runlog_core import Experiment
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        run = Experiment("limit", store=sys.argv[1]).start_logging(outputs=None)
        run.log("before", 1.0)
        run.flush()
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, resource.RLIM_INFINITY))
        try:
            run.upload_file("big.bin", b"x" * 3_000_000)
            error = None
        except Exception as err:
            error = err
        run.log("after", 2.0)
        run.complete()
        folder = Path(sys.argv[1]) / "artifacts" / run.id
        print(json.dumps({
            "type": type(error).__name__, "oserror": isinstance(error, OSError),
            "left": sorted(p.name for p in folder.iterdir()) if folder.exists() else [],
            "names": run.get_file_names(), "after": run.get_metrics("after"), "status": run.get_status()}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "store")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"type": "ArtifactWriteError", "oserror": True, "left": [], "names": [], "after": 2.0,
                       "status": "Completed"}


# -- 7. ended runs ----------------------------------------------------------------------------------


def test_uploads_into_an_ended_run_raise(tmp_path: Path, store_dir: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("a")
    with Experiment("ended", store=store_dir).start_logging(outputs=None) as run:
        run.upload_file("before.txt", b"x")
    with pytest.raises(RunEndedError, match=run.id):
        run.upload_file("after.txt", b"x")
    with pytest.raises(RunEndedError):
        run.upload_folder("folder", tmp_path / "folder")
    again = Run(run.experiment, run.id)
    with pytest.raises(RunEndedError):
        again.upload_file("after.txt", b"x")
    assert again.get_file_names() == ["before.txt"]


# -- snapshots ----------------------------------------------------------------------------------------


def test_a_snapshot_leaves_out_each_unsafe_name_alone(tmp_path: Path, store_dir: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    for file_name in ("a.py", "aux.py", "pkg/b.py", "notes 10:30.txt"):
        (source / file_name).write_text(file_name)
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    (source / "inside.py").symlink_to(source / "a.py")
    (source / "outside.py").symlink_to(secret)
    with pytest.warns(RuntimeWarning, match="aux.py") as caught:
        run = Experiment("snap", store=store_dir).start_logging(snapshot_directory=source, outputs=None)
    run.complete()
    assert run.get_file_names() == ["snapshot/a.py", "snapshot/inside.py", "snapshot/pkg/b.py"]
    left_out = [str(w.message) for w in caught if "aux.py" in str(w.message)]
    assert len(left_out) == 1 and "notes 10:30.txt" in left_out[0]
    with run._store.artifacts.open(run.id, "snapshot/inside.py") as stored:
        assert stored.read() == b"a.py"

"""Issue 24, 3: the registry `runlog ui` writes in `<temp>/runlog-ui-<uid>/` so that notebooks link to it.
Another user can make that folder first and plant links in it: real `runlog ui` processes, a real folder
(TMPDIR points them at one of the test's), real links."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import get, start_ui, stop

PRECIOUS = "the victim's own file\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = str(tmp_path_factory.mktemp("ui_registry") / "store")
    from runlog_core import Experiment
    from runlog_core.plugins import manager as _plugins
    from runlog_core.writer import registry as _writers

    with Experiment("linked", store=path).start_logging(name="a run", outputs=None):
        pass
    for opened in _plugins.open_stores():
        _writers.close_store(opened)
    yield path


def _env(tmpdir: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "RUNLOG_UI_TOKEN"}, "TMPDIR": str(tmpdir)}


def _plant(folder: Path, target: Path) -> None:
    """Links named for the next few hundred pids, where `runlog ui` wrote `<pid>.json.tmp` and `<pid>.json`."""
    last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    for pid in range(last + 1, last + 400):
        (folder / f"{pid}.json.tmp").symlink_to(target)
        (folder / f"{pid}.json").symlink_to(target)


def _open_to_all(folder: Path, tmp: Path) -> None:
    folder.mkdir()
    folder.chmod(0o777)


def _another_users(folder: Path, tmp: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder of another user's needs root")
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)


def _a_link(folder: Path, tmp: Path) -> None:
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    folder.symlink_to(elsewhere)


@pytest.mark.parametrize(("make", "says"), [(_open_to_all, "has mode 0777, not 0700"),
                                            (_another_users, "belongs to uid 65534"),
                                            (_a_link, "is a link")])
def test_a_registry_folder_made_by_someone_else_is_refused_and_nothing_is_written_through_it(
        store: str, tmp_path: Path, make: Callable[[Path, Path], None], says: str) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    folder = tmpdir / f"runlog-ui-{os.getuid()}"
    make(folder, tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text(PRECIOUS)
    _plant(folder, target)
    before = sorted(p.name for p in folder.iterdir())
    proc, url = start_ui("--store", store, env=_env(tmpdir))
    try:
        assert (folder / f"{proc.pid}.json").is_symlink()  # a link was waiting under its very name
        assert get(url + "/api/experiments")[0] == 200  # it serves all the same
    finally:
        assert stop(proc) == 0
    assert target.read_text() == PRECIOUS
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, nothing removed
    assert proc.stderr is not None
    lines = proc.stderr.read().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("runlog ui: notebooks will not link to this server: ") and says in lines[0]
    assert str(folder) in lines[0] and "TMPDIR" in lines[0]


def test_the_registry_is_a_private_folder_and_sigterm_removes_the_entry(store: str, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    folder = tmpdir / f"runlog-ui-{os.getuid()}"
    (tmpdir / "gone").mkdir()
    proc, url = start_ui("--store", store, env=_env(tmpdir))
    entry = folder / f"{proc.pid}.json"
    try:
        info = folder.lstat()
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
        assert stat.S_IMODE(entry.lstat().st_mode) == 0o600
        written = json.loads(entry.read_text())
        assert written["url"] == url and written["pid"] == proc.pid
        assert store not in entry.read_text()  # the store by a digest of its URI
        assert [p.name for p in folder.iterdir()] == [entry.name]  # no temporary file left
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert not entry.exists()
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_entries_of_ended_processes_are_swept_and_never_linked(store: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tmpdir = tmp_path / "tmp"
    folder = tmpdir / f"runlog-ui-{os.getuid()}"
    folder.mkdir(parents=True, mode=0o700)
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    dead = ended.pid
    from runlog_core.integration import open_store

    uri = open_store(store).uri
    stale = {"store": hashlib.sha256(uri.encode()).hexdigest(), "url": "http://127.0.0.1:1", "pid": dead}
    (folder / f"{dead}.json").write_text(json.dumps(stale))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    from runlog_core.views import find_ui

    assert find_ui(uri) is None  # its process ended
    proc, url = start_ui("--store", store, env=_env(tmpdir))
    try:
        assert not (folder / f"{dead}.json").exists()  # swept as the new server registered
        deadline = time.monotonic() + 10
        while find_ui(uri) != url:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # an entry in a folder open to others is not believed, whatever it says
        folder.chmod(0o770)
        assert find_ui(uri) is None
        folder.chmod(0o700)
    finally:
        assert stop(proc) == 0

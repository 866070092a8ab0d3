"""Plugins: hooks arrive in batches on the writer thread; entry points load once, on first use."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, hookimpl, register_plugin, unregister_plugin

EXAMPLE_PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.threads: set[str] = set()
        self.batches = 0

    def _seen(self) -> None:
        self.threads.add(threading.current_thread().name)

    @hookimpl
    def runlog_run_started(self, run: Any) -> None:
        self._seen()
        self.events.append(("started", run.id))

    @hookimpl
    def runlog_params_logged(self, run: Any, params: dict[str, Any]) -> None:
        self._seen()
        self.events.append(("params", dict(params)))

    @hookimpl
    def runlog_metrics_logged(self, run: Any, points: list[Any]) -> None:
        self._seen()
        self.batches += 1
        self.events.extend(("point", (p.name, p.step, p.value)) for p in points)

    @hookimpl
    def runlog_artifact_uploaded(self, run: Any, name: str, uri: str) -> None:
        self._seen()
        self.events.append(("artifact", (name, uri.startswith("file://"))))

    @hookimpl
    def runlog_run_ended(self, run: Any, status: str) -> None:
        self._seen()
        self.events.append(("ended", status))


@pytest.fixture
def recorder() -> Any:
    plugin = Recorder()
    register_plugin(plugin, name="test-recorder")
    yield plugin
    unregister_plugin(name="test-recorder")


def test_plugins_receive_every_event_in_batches_on_the_writer_thread(store_dir: Path, recorder: Recorder) -> None:
    with Experiment("hooks", store=store_dir).start_logging() as run:
        run.log_params({"lr": 0.1})
        for i in range(3000):
            run.log("loss", float(i))
        run.log("done", True)
        run.upload_file("a.txt", __file__)
    points = [e[1] for e in recorder.events if e[0] == "point"]
    assert points == [("loss", i, float(i)) for i in range(3000)] + [("done", 0, True)]
    assert recorder.batches < 10  # batches, not one call per log
    assert recorder.threads == {"runlog-writer"}
    kinds = [e[0] for e in recorder.events]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert ("params", {"lr": 0.1}) in recorder.events
    assert ("artifact", ("a.txt", True)) in recorder.events
    assert recorder.events[-1] == ("ended", "Completed")


def test_a_failing_plugin_warns_once_and_logging_goes_on(store_dir: Path) -> None:
    class Broken:
        @hookimpl
        def runlog_metrics_logged(self, run: Any, points: list[Any]) -> None:
            raise RuntimeError("plugin bug")

    register_plugin(Broken(), name="broken")
    try:
        with pytest.warns(RuntimeWarning, match="plugin 'broken' raised in runlog_metrics_logged") as caught:
            run = Experiment("broken", store=store_dir).start_logging()
            for i in range(10):
                run.log("x", float(i))
                run.flush()
            run.complete()
        assert sum("plugin 'broken'" in str(w.message) for w in caught) == 1
    finally:
        unregister_plugin(name="broken")
    assert len(run.get_metric_history("x")) == 10


def test_the_example_plugin_mirrors_metrics_to_csv(store_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    import runlog_csv_mirror

    target = tmp_path / "mirror.csv"
    monkeypatch.setenv("RUNLOG_CSV_MIRROR", str(target))
    register_plugin(runlog_csv_mirror, name="csv_mirror")
    try:
        with Experiment("mirror", store=store_dir).start_logging() as run:
            for i in range(5):
                run.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 10}, step=i)
    finally:
        unregister_plugin(name="csv_mirror")
    rows = list(csv.DictReader(target.open()))
    assert [(r["name"], int(r["step"]), float(r["value"])) for r in rows if r["run_id"] == run.id] == [
        (name, i, value) for i in range(5) for name, value in (("loss", 1.0 / (i + 1)), ("acc", i / 10))]
    assert f"{run.id},Completed" in (tmp_path / "mirror.csv.status").read_text()


def test_entry_point_plugins_load_once_on_first_use_not_at_import(tmp_path: Path) -> None:
    """A distribution with a `runlog` entry point, found on sys.path by importlib.metadata."""
    site = tmp_path / "site"
    dist = site / "runlog_csv_mirror-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: runlog-csv-mirror\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[runlog]\ncsv_mirror = runlog_csv_mirror\n")
    (site / "runlog_csv_mirror.py").write_text((EXAMPLE_PLUGIN / "runlog_csv_mirror.py").read_text())
    code = textwrap.dedent("""
        import sys
        import runlog_core
        from runlog_core import Experiment
        assert "runlog_csv_mirror" not in sys.modules, "loaded at import"
        with Experiment("ep", store="store").start_logging() as run:
            run.log("x", 2.5)
        from runlog_core._plugins import get_plugin_manager
        pm = get_plugin_manager()
        assert pm.get_plugin("csv_mirror") is sys.modules["runlog_csv_mirror"]
        assert get_plugin_manager() is pm
        print(run.id)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "RUNLOG_CSV_MIRROR": str(tmp_path / "ep.csv")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "ep.csv").open()))
    assert [(r["run_id"], r["name"], r["value"]) for r in rows] == [(result.stdout.strip(), "x", "2.5")]


def test_a_store_plugin_can_take_over_a_uri(tmp_path: Path) -> None:
    from runlog_core._sqlite import SQLiteStore

    opened = []

    class MemoryishStore:
        @hookimpl
        def runlog_open_store(self, uri: str) -> Any:
            if not uri.startswith("custom://"):
                return None
            opened.append(uri)
            return SQLiteStore(tmp_path / "custom.db", uri=uri)

    register_plugin(MemoryishStore(), name="custom-store")
    try:
        with Experiment("custom", store="custom://team").start_logging() as run:
            run.log("x", 1)
    finally:
        unregister_plugin(name="custom-store")
    assert opened == ["custom://team"]
    assert (tmp_path / "custom.db").exists()
    assert run.get_metrics() == {"x": 1}

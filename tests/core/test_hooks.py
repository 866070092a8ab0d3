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
        from runlog_core.plugins.manager import get_plugin_manager
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
    from runlog_core.store.sqlite.store import SQLiteStore

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


class _Ordered:
    """A plugin that records when its runlog_run_ended implementation runs."""

    def __init__(self, calls: list[str], label: str, fail: bool = False) -> None:
        self.calls, self.label, self.fail = calls, label, fail

    def _record(self, status: str) -> None:
        self.calls.append(self.label)
        if self.fail:
            raise RuntimeError(f"{self.label} is broken")


def _plain(calls: list[str], label: str, fail: bool = False, **opts: Any) -> object:
    class Plain(_Ordered):
        @hookimpl(**opts)
        def runlog_run_ended(self, run: Any, status: str) -> None:
            self._record(status)

    return Plain(calls, label, fail)


def _wrapper(calls: list[str], label: str, fail_before: bool = False, fail_after: bool = False) -> object:
    class Wrapper(_Ordered):
        @hookimpl(wrapper=True)
        def runlog_run_ended(self, run: Any, status: str):  # type: ignore[no-untyped-def]
            calls.append(f"{label}:before")
            if fail_before:
                raise RuntimeError("broken before")
            result = yield
            calls.append(f"{label}:after")
            if fail_after:
                raise RuntimeError("broken after")
            return result

    return Wrapper(calls, label)


def _old_wrapper(calls: list[str], label: str) -> object:
    class OldWrapper(_Ordered):
        @hookimpl(hookwrapper=True)
        def runlog_run_ended(self, run: Any, status: str):  # type: ignore[no-untyped-def]
            calls.append(f"{label}:before")
            outcome = yield
            calls.append(f"{label}:after:{outcome.exception is None}")

    return OldWrapper(calls, label)


def test_hooks_follow_pluggys_order_tryfirst_trylast_and_wrappers(store_dir: Path, pm: Any) -> None:
    calls: list[str] = []
    pm.register(_plain(calls, "last", trylast=True), name="t-last")
    pm.register(_plain(calls, "first", tryfirst=True), name="t-first")
    pm.register(_plain(calls, "a"), name="t-a")
    pm.register(_plain(calls, "b"), name="t-b")
    pm.register(_wrapper(calls, "new"), name="t-new")
    pm.register(_old_wrapper(calls, "old"), name="t-old")
    with Experiment("order", store=store_dir).start_logging(outputs=None):
        pass
    # pluggy: wrappers around the rest, tryfirst first, then the latest registered, trylast last
    assert calls == ["old:before", "new:before", "first", "b", "a", "last", "new:after", "old:after:True"]


def test_a_raising_plugin_or_wrapper_costs_one_warning_and_the_others_still_run(store_dir: Path, pm: Any) -> None:
    calls: list[str] = []
    pm.register(_plain(calls, "ok1"), name="t-ok1")
    pm.register(_plain(calls, "bad", fail=True, tryfirst=True), name="t-bad")
    pm.register(_wrapper(calls, "w1", fail_before=True), name="t-w1")
    pm.register(_wrapper(calls, "w2", fail_after=True), name="t-w2")
    pm.register(_plain(calls, "ok2", trylast=True), name="t-ok2")
    with pytest.warns(RuntimeWarning) as caught:
        exp = Experiment("faults", store=store_dir)
        for _ in range(3):
            with exp.start_logging(outputs=None) as run:
                run.log("x", 1.0)
    assert calls.count("ok1") == 3 and calls.count("ok2") == 3 and calls.count("bad") == 3
    assert calls.count("w2:after") == 3
    messages = [str(w.message) for w in caught if "raised in runlog_run_ended" in str(w.message)]
    assert sorted(m.split("'")[1] for m in messages) == ["t-bad", "t-w1", "t-w2"]
    assert run.get_status() == "Completed" and run.get_metrics("x") == 1.0


def test_a_raising_store_plugin_lets_the_next_one_open_the_store(store_dir: Path, pm: Any) -> None:
    class Broken:
        @hookimpl(tryfirst=True)
        def runlog_open_store(self, uri: str) -> Any:
            raise RuntimeError("cannot connect")

    pm.register(Broken(), name="t-broken-store")
    with pytest.warns(RuntimeWarning, match="t-broken-store"):
        with Experiment("fallback", store=store_dir / "other").start_logging(outputs=None) as run:
            run.log("x", 2.0)
    assert run.get_metrics("x") == 2.0

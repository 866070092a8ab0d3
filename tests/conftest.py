from __future__ import annotations

import os
from pathlib import Path

# Keras 3 runs on the torch backend in these tests; no TensorFlow is installed.
os.environ.setdefault("KERAS_BACKEND", "torch")
# Ray binds every interface unless this is set before ray is first imported (by any test): loopback only here
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

import pytest

# real servers for the team-store tests: PostgreSQL databases and an S3 endpoint (moto in server mode)
pytest_plugins = ["fixtures_postgres", "fixtures_s3"]


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder, so the default store ./runlog is its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNLOG_STORE", raising=False)
    monkeypatch.delenv("RUNLOG_RUN_ID", raising=False)
    monkeypatch.delenv("RUNLOG_EXPERIMENT", raising=False)


@pytest.fixture(autouse=True)
def _close_what_the_test_opened():  # type: ignore[no-untyped-def]
    """After each test: runs it left open end, what it logged is committed, stores close.

    Without this, a run a test leaves open keeps its writer heartbeating into later tests.
    """
    yield
    import warnings

    from runlog_core.plugins import manager as _plugins
    from runlog_core.run import lifecycle as _lifecycle
    from runlog_core.writer import registry as _writers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for opened in _plugins.open_stores():
            try:
                _lifecycle.end_owned_in(opened)
                _writers.close_store(opened)
            except Exception:  # a store the test broke on purpose: nothing more to save
                _plugins.forget_store(opened)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for a store of the test's own (not yet created)."""
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path):  # type: ignore[no-untyped-def]
    """A fresh SQLite store (a real file in the test's folder), closed after the test."""
    from runlog_core.integration import open_store
    from runlog_core.writer.registry import close_store

    opened = open_store(str(store_dir))
    yield opened
    close_store(opened)


@pytest.fixture
def experiment(store):  # type: ignore[no-untyped-def]
    """An experiment named "test" in the ``store`` fixture."""
    from runlog_core import Experiment

    return Experiment("test", store=store)


@pytest.fixture
def run(experiment):  # type: ignore[no-untyped-def]
    """A Running run of ``experiment``; completed after the test if it is still open."""
    started = experiment.start_logging(outputs=None)
    yield started
    if not started._ended:
        started.complete()


@pytest.fixture
def pm():  # type: ignore[no-untyped-def]
    """The plugin manager; every plugin a test registers is unregistered after it."""
    from runlog_core.plugins.manager import get_plugin_manager

    manager = get_plugin_manager()
    before = {id(plugin) for plugin in manager.get_plugins()}
    yield manager
    for plugin in list(manager.get_plugins()):
        if id(plugin) not in before:
            manager.unregister(plugin)


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Jupyter kernel running this interpreter (the venv's), declared in a temporary JUPYTER_PATH:
    nothing is installed. For tests that execute real notebooks with nbclient."""
    import json
    import sys

    spec = tmp_path / "jupyter" / "kernels" / "runlog-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "runlog test", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return "runlog-test"

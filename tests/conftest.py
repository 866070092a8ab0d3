from __future__ import annotations

import os
from pathlib import Path

# Keras 3 runs on the torch backend in these tests; no TensorFlow is installed.
os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder, so the default store ./runlog is its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNLOG_STORE", raising=False)
    monkeypatch.delenv("RUNLOG_RUN_ID", raising=False)
    monkeypatch.delenv("RUNLOG_EXPERIMENT", raising=False)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for a store of the test's own (not yet created)."""
    return tmp_path / "store"

"""The store conformance suite, run against the built-in SQLite store."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from runlog_core.store.sqlite.store import SQLiteStore
from runlog_core.testing.store_conformance import *  # noqa: F403


@pytest.fixture
def store_factory(tmp_path: Path) -> Callable[[], SQLiteStore]:
    """A fresh store folder in tmp_path on each call."""
    numbers = itertools.count()

    def make() -> SQLiteStore:
        folder = tmp_path / f"store{next(numbers)}"
        return SQLiteStore(folder / "runlog.db", folder / "artifacts", uri=str(folder))

    return make

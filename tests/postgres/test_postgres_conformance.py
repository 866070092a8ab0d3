"""The store conformance suite against PostgresStore: one fresh database per store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runlog_core.testing.store_conformance import *  # noqa: F403


@pytest.fixture
def store_factory(pg_store_factory: Callable[[], Any]) -> Callable[[], Any]:
    return pg_store_factory

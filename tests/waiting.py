"""Waiting in tests for what another thread or process makes true, with a deadline (imported by the
test folders' helpers and tests: tests/ is on sys.path through its conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """True as soon as ``predicate()`` is true, checked every ``interval`` seconds; after ``timeout``
    seconds, whether it is true at that last check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

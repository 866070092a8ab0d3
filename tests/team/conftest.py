"""The team-store fault tests' relay: a TCP relay to the real PostgreSQL, owned by the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tcp_relay import Relay


@pytest.fixture
def relay() -> Iterator[Relay]:
    started = Relay()
    started.start()
    yield started
    started.resume()  # a stalled relay forwards again, so closing it waits on nothing
    started.cut()

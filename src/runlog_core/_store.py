"""Kept for imports not yet moved: the store contract is the public :mod:`runlog_core.store`."""

from __future__ import annotations

from .store import *  # noqa: F403

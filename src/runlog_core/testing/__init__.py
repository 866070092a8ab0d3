"""Test helpers for runlog plugin authors; see :mod:`runlog_core.testing.store_conformance`.

Nothing here is imported by ``import runlog_core``; these modules import pytest.
"""

from __future__ import annotations

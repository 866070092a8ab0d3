"""What the CLI tests check of a failed command."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

Runlog = Callable[..., subprocess.CompletedProcess[str]]
"""The ``runlog`` fixture: ``runlog(*args, check=True, cwd=None)`` runs the console script."""


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed on stderr; fails on success, a traceback or several lines."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]

"""The supervisor notices a script's end at once (a pidfd where Linux has one), and still without one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from runlog_core.submit.process import ExitWatch, start_process


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_exit_watch_reports_the_end_and_the_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      pidfd: bool) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd on this platform")
    gate = tmp_path / "gate"
    script = f"import os, sys, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)\nsys.exit(3)\n"
    proc = start_process([sys.executable, "-c", script], tmp_path, dict(os.environ))
    watch = ExitWatch(proc)
    try:
        assert (watch._fd is not None) == pidfd
        assert watch.wait(0.05) is False  # still waiting at the gate
        assert proc.returncode is None
        gate.write_text("")
        assert watch.wait(30) is True
        assert proc.returncode == 3
        assert watch.wait(0) is True  # and stays ended
    finally:
        watch.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()

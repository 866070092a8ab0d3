"""The README's quick start runs end to end on the default store and leaves a run the CLI shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runlog_core import Experiment

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_logs_every_kind_of_data_and_shows_it(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(QUICKSTART)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "outputs").exists()
    runs = Experiment("quickstart", store=tmp_path / "runlog").get_runs()
    assert len(runs) == 1
    run = runs[0]
    metrics = run.get_metrics()
    assert metrics["Fibonacci numbers"][-1] == 89
    assert metrics["Y over X"] == {"x": [0, 1, 2, 3, 4], "y": [0, 1, 4, 9, 16]}
    assert set(run.get_file_names()) >= {"outputs/model.txt", "notes/readme.txt", "logs/std_log.txt",
                                         metrics["gradient"]}
    assert run.get_params()["optimizer.betas"] == [0.9, 0.999]
    assert f"Run {run.id}" in result.stdout and "Fibonacci numbers" in result.stdout  # `runlog show`

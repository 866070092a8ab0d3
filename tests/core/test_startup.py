"""A submitted script's start-up (issue 18): what it loads to log one value, and that nothing is lost for it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import runlog_core

EXAMPLE_PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"

SCRIPT = """
import json, sys
from runlog_core import Run
run = Run.get_context()
run.log("score", 0.75)
print(json.dumps(sorted(sys.modules)))
"""

# what a script that only logs a metric has no use for; loading one again is a start-up regression
NOT_NEEDED = ("importlib.metadata", "email", "zipfile", "tempfile", "hashlib", "runlog_core.run.query",
              "runlog_core.views.frames", "runlog_core.integration")


def test_a_submitted_script_logs_without_loading_what_it_does_not_use(tmp_path: Path, run: Any,
                                                                      store_dir: Path) -> None:
    # a third-party plugin published as an entry point: its hooks must still see the script's value
    site = tmp_path / "site"
    dist = site / "runlog_csv_mirror-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: runlog-csv-mirror\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[runlog]\ncsv_mirror = runlog_csv_mirror\n")
    (site / "runlog_csv_mirror.py").write_text((EXAMPLE_PLUGIN / "runlog_csv_mirror.py").read_text())
    (tmp_path / "train.py").write_text(SCRIPT)
    env = {**os.environ, "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store_dir), "RUNLOG_EXPERIMENT": "test",
           # the runlog under test, whatever the folder the script runs in
           "PYTHONPATH": os.pathsep.join([str(site), str(Path(runlog_core.__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")]),
           "RUNLOG_CSV_MIRROR": str(tmp_path / "mirror.csv")}
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert loaded.isdisjoint(NOT_NEEDED), sorted(loaded & set(NOT_NEEDED))
    assert "runlog_csv_mirror" in loaded  # the entry point was loaded (before any hook was called)
    # durable at the script's exit, and the plugin's hook saw it
    assert [(p.step, p.value) for p in run.get_metric_history("score")] == [(0, 0.75)]
    rows = list(csv.DictReader((tmp_path / "mirror.csv").open()))
    assert [(r["run_id"], r["name"], r["value"]) for r in rows] == [(run.id, "score", "0.75")]
    assert run.get_status() == "Running"  # the submitter ends it, not the script

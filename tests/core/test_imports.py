"""`import runlog_core` stays light: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "torch", "lightning", "pytorch_lightning", "keras", "tensorflow", "sklearn", "xgboost", "pandas",
         "sqlite3", "_sqlite3", "psycopg", "psycopg2", "pluggy", "matplotlib", "PIL", "psutil", "pynvml")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_importing_runlog_core_loads_no_framework_numpy_or_database_driver() -> None:
    loaded = _modules_after("import runlog_core\nfrom runlog_core import Experiment, Run, search_runs")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_runlog_integrations_loads_no_framework() -> None:
    loaded = _modules_after("import runlog_integrations")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))

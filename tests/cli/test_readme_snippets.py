"""The README's "use it with your framework" snippets run as a newcomer pastes them (issue 19).

The scikit-learn and XGBoost snippets run here, in one fresh interpreter, on the default store of the
test's folder; the Lightning, Keras and autolog ones (autolog imports every installed framework) are run by
hand before a README change: 10-20 s each on a 2-core machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runlog_core import search_runs

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippets() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use it with your framework"):text.index("\n## ", text.index("## Use it with"))]
    found = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        name = re.search(r"from runlog_integrations\.(\w+) import|runlog_core\.(autolog)\(", block)
        assert name is not None, block
        found[name.group(1) or name.group(2)] = block
    return found


def test_the_two_commands_come_first() -> None:
    text = README.read_text(encoding="utf-8")
    first = [line.strip() for line in text.splitlines() if line.startswith("    ")][:2]
    assert first[0].endswith("pip install -e . && python examples/quickstart.py")
    assert first[1].startswith("pip install -c tests/constraints.txt -e '.[test]'")
    assert text.index("## Use it with your framework") < text.index("## Logging by hand")


def test_the_sklearn_xgboost_and_optuna_snippets_run(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("xgboost")
    pytest.importorskip("optuna")
    snippets = _snippets()
    assert set(snippets) == {"lightning", "keras", "sklearn", "xgboost", "autolog", "optuna", "ray"}
    script = tmp_path / "snippets.py"
    script.write_text("\n".join(snippets[name] for name in ("sklearn", "xgboost", "optuna")))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    frame = search_runs(output="pandas", store=str(tmp_path / "runlog"))
    by_experiment = frame.groupby("experiment")["status"].apply(list).to_dict()
    assert by_experiment["quick-sklearn"] == ["Completed"] * 4  # the search and its 3 candidates
    assert by_experiment["quick-xgboost"] == ["Completed"]
    assert by_experiment["quick-optuna"] == ["Completed"] * 21  # the study's parent and its 20 trials
    xgb_run = frame[frame["experiment"] == "quick-xgboost"].iloc[0]
    assert xgb_run["metrics.valid-logloss"] > 0
    assert sorted(os.listdir(tmp_path)) == ["runlog", "snippets.py"]

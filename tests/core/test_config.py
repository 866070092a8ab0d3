"""One module reads every RUNLOG_* variable; a bad value is a clear ConfigError (issue 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runlog_core import ConfigError, Experiment, RunlogError
from runlog_core.base import config as _config

SETTINGS_DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"  # the Settings table (README links it)
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(("variable", "value"), [
    ("RUNLOG_FLUSH_INTERVAL", "soon"),
    ("RUNLOG_FLUSH_INTERVAL", "0"),
    ("RUNLOG_HEARTBEAT_INTERVAL", "-5"),
    ("RUNLOG_HEARTBEAT_TIMEOUT", "inf"),
    ("RUNLOG_MAX_BUFFERED_POINTS", "lots"),
    ("RUNLOG_SYNC", "paranoid"),
], ids=lambda v: str(v))
def test_a_bad_value_names_the_variable_its_value_and_what_is_accepted(
        variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as caught:
        with Experiment("cfg", store=str(tmp_path / "s")).start_logging(outputs=None) as run:
            run.log("x", 1.0)
    error = caught.value
    assert isinstance(error, RunlogError) and isinstance(error, ValueError)
    assert error.variable == variable and error.value == value and error.accepted
    assert repr(value) in str(error)


@pytest.mark.parametrize("variable", ["RUNLOG_STRICT_INTEGRATIONS", "RUNLOG_KEEP_WORKDIR"])
def test_flags_accept_the_usual_spellings_and_refuse_others(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    read = {"RUNLOG_STRICT_INTEGRATIONS": _config.strict_integrations,
            "RUNLOG_KEEP_WORKDIR": _config.keep_workdir}[variable]
    for text, expected in [("1", True), ("true", True), ("YES", True), ("0", False), ("off", False), ("", False)]:
        monkeypatch.setenv(variable, text)
        assert read() is expected, text
    monkeypatch.setenv(variable, "maybe")
    with pytest.raises(ConfigError, match=variable):
        read()


def test_only_the_config_module_reads_runlog_variables_and_readme_lists_them_all() -> None:
    readers = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if path.name == "_config.py":
            continue
        for match in re.finditer(r"environ(?:\.get)?\(\s*[\"'](RUNLOG_\w+)|getenv\(\s*[\"'](RUNLOG_\w+)", text):
            readers.append(f"{path.relative_to(SRC)}: {match.group(0)}")
    assert readers == []
    readme = SETTINGS_DOC.read_text()
    missing = [name for name in _config.VARIABLES if f"`{name}`" not in readme]
    assert missing == []

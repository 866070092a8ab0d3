"""Every `runlog` subcommand given bad arguments: a non-zero exit, one line on stderr, no traceback, no raw
errno, no name that only runlog's code knows (issue 19).

The subcommands are read from the real parser, so a command added later is covered too: each gets an
unknown option and, when it has required arguments, none; the cases below add the mistakes users make.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from _cli_helpers import Runlog, error_line

from runlog_core.cli.main import build_parser

# {RUN} is the parent run of the shared store, {TMP} a folder of the test's own
CASES: dict[str, list[list[str]]] = {
    "runs": [["--limit", "0"], ["--limit", "many"], ["--metrics", "-2"], ["--sort", "bogus"],
             ["--filter", "metrics.loss <> 1"], ["--columns", ",,"], ["--columns", "loss"], ["-e", "nope"]],
    "show": [[""], ["zzzz"]],
    "metrics": [["{RUN}", "no such metric"], [""]],
    "compare": [["{RUN}"], ["{RUN}", "zzzz"], ["{RUN}", "{RUN}", "--columns", "bogus"]],
    "files": [["zzzz"]],
    "download": [["{RUN}", "nothing/here"], ["{RUN}", "outputs/model.txt", "{TMP}/missing/x"],
                 ["{RUN}", "outputs/model.txt", "/sys/x"], ["{RUN}", "outputs", "{TMP}/missing/deeper"]],
    "export": [["{RUN}", "--format", "xml"], ["{RUN}", "-o", "{TMP}/missing/x.csv"], ["{RUN}", "-o", "{TMP}"],
               ["{RUN}", "-o", "/sys/x.csv"]],
    "push": [["--to", "{TMP}/team"], ["--to", ""], ["--to", "{TMP}/team", "--all", "{RUN}"],
             ["--to", "{TMP}/team", "zzzz"]],
    "submit": [["missing.py"], ["{TMP}/x.py"], ["train.py", "--sweep", "bogus"], ["train.py", "--max-parallel", "0"],
               ["train.py", "--python", "{TMP}/no-python"], ["train.py", "--compute-target", "gpu"],
               ["train.py", "--compute-target", "ray"], ["train.py", "--compute-target", "ray", "--sweep", "a=1,2"]],
    "import": [[], ["parquet"]],
    "import mlflow": [["{TMP}/nothing"], ["--max-params", "-3", "."]],
    "import tensorboard": [["{TMP}/nothing"]],
    "ui": [["--port", "-5"], ["--port", "http"], ["--store", "{TMP}/nothing"]],
    "delete": [[], ["zzzz", "--yes"], ["", "--yes"], ["-e", "nope", "--yes"]],
    "restore": [["zzzz"], [""]],
    "gc": [["--older-than", "-1"], ["--older-than", "nan"], ["--older-than", "soon"]],
    "": [["bogus"], ["--store", "{TMP}/nothing", "runs"], ["--store", "sqlite://x", "runs"]],
}


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command of the parser by its words (``import mlflow``), nested commands included."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words = f"{prefix} {name}".strip()
                found[words] = sub
                found.update(_commands(sub, words))
    return found


COMMANDS = _commands(build_parser())


def _internal_names(parser: argparse.ArgumentParser) -> set[str]:
    """The names runlog's code gives arguments where the user typed something else (dest vs. flag or metavar)."""
    names = {"runs", "store", "script", "source_directory", "output", "dest", "script_args", "tracking_uri",
             "experiment_id", "order_by", "filter_string"}
    for action in parser._actions:
        typed = action.metavar if not action.option_strings else None
        if action.dest and action.dest not in (typed, "help"):
            names.add(action.dest)
    return names


def _cases() -> list[tuple[str, list[str]]]:
    cases = [(words, case) for words, listed in CASES.items() for case in listed]
    for words, sub in COMMANDS.items():
        cases.append((words, ["--no-such-option"]))
        needs = any(action.required or (not action.option_strings and action.nargs in (None, "+"))
                    for action in sub._actions if not isinstance(action, argparse._SubParsersAction))
        if needs:
            cases.append((words, []))
    return cases


def test_every_command_has_its_cases() -> None:
    assert set(CASES) - {""} <= set(COMMANDS), "a command of CASES is gone from the parser"


@pytest.mark.parametrize(("words", "arguments"), _cases(), ids=lambda value: " ".join(value) if isinstance(value, list)
                         else value)
def test_bad_arguments_give_one_honest_line(runlog: Runlog, shared_store: dict[str, str], tmp_path: Path,
                                            words: str, arguments: list[str]) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    filled = [a.replace("{RUN}", shared_store["parent"]).replace("{TMP}", str(tmp_path)) for a in arguments]
    command = [*words.split(), *filled]
    result = runlog(*command, check=False, cwd=tmp_path if words == "submit" else None)
    line = error_line(result)
    assert line.startswith("runlog"), line
    assert "Errno" not in line and "Error:" not in line, line
    assert not re.search(r"got (list|tuple|NoneType|Namespace)\b", line), line
    parser = COMMANDS.get(words, build_parser())
    for name in _internal_names(parser):
        assert not re.search(rf"(?<![-\w.]){re.escape(name)}(\[\d+\])? must be", line), (name, line)
        assert not re.search(rf"arguments are required: .*(?<![-\w]){re.escape(name)}\b", line), (name, line)
    assert not (tmp_path / "team").exists() and not (tmp_path / "missing").exists()

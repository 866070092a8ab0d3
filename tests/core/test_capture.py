"""capture_output=True: Python logging records reach the run's log and still reach the console (issue 9)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _submit_helpers import child_env, write_script

from runlog_core import Experiment, Run, ScriptRunConfig

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="subprocess scripts: Linux")

PREAMBLE = """\
import logging, sys
from runlog_core import Experiment
exp = Experiment("capture", store=sys.argv[1])
"""


def run_script(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``body`` (after PREAMBLE) in a fresh interpreter; returns the process and the run's python_logging.txt."""
    script = tmp_path / "script.py"
    script.write_text(PREAMBLE + textwrap.dedent(body))
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, str(script), str(store)], capture_output=True, text=True,
                          env=child_env(), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    run = Run(Experiment("capture", store=store), run_id)
    target = tmp_path / "logs"
    run.download_file("logs/python_logging.txt", target / "python_logging.txt")
    return done, (target / "python_logging.txt").read_text()


def test_records_of_an_unconfigured_program_still_reach_stderr(tmp_path: Path) -> None:
    done, stored = run_script(tmp_path, """
        log = logging.getLogger("lib")
        with exp.start_logging(capture_output=True) as run:
            log.warning("x warned")
            log.error("lib failed")
            log.info("not shown: root is at WARNING")
        log.warning("after the run")
        print(run.id)
    """)
    # no handler anywhere: Python's last-resort handler prints WARNING and above, the message alone
    assert done.stderr.splitlines() == ["x warned", "lib failed", "after the run"]
    assert "WARNING lib: x warned\n" in stored and "ERROR lib: lib failed\n" in stored
    assert "not shown" not in stored and "after the run" not in stored


def test_basic_config_after_start_logging_still_configures_the_console(tmp_path: Path) -> None:
    done, stored = run_script(tmp_path, """
        with exp.start_logging(capture_output=True) as run:
            logging.basicConfig(level=logging.INFO)
            logging.info("y info")
            logging.getLogger("train").debug("not shown: below INFO")
        logging.info("after the run")
        print(run.id)
    """)
    assert done.stderr.splitlines() == ["INFO:root:y info", "INFO:root:after the run"]
    assert "INFO root: y info\n" in stored
    assert "not shown" not in stored and "after the run" not in stored


def test_handlers_configured_before_keep_working_and_records_are_stored_once(tmp_path: Path) -> None:
    done, stored = run_script(tmp_path, """
        logging.basicConfig(level=logging.DEBUG, format="USER %(levelname)s %(message)s")
        quiet = logging.getLogger("quiet")
        quiet.propagate = False
        quiet.addHandler(logging.StreamHandler(sys.stdout))
        with exp.start_logging(capture_output=True) as run:
            logging.getLogger("train").debug("d1")
            quiet.warning("own handler")
            logging.basicConfig(level=logging.INFO, format="FORCED %(message)s", force=True)
            logging.info("i2")
        print(run.id)
    """)
    assert done.stderr.splitlines() == ["USER DEBUG d1", "FORCED i2"]
    assert "own handler" in done.stdout
    assert stored.count("DEBUG train: d1\n") == 1 and stored.count("INFO root: i2\n") == 1


def test_records_of_a_submitted_script_reach_its_output_and_its_log(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "3")
    src = write_script(tmp_path / "src", """
        import logging
        from runlog_core import Run
        run = Run.get_context()
        logging.getLogger("train").warning("z warned")
        logging.basicConfig(level=logging.INFO)
        logging.info("w info")
    """)
    run = Experiment("capture", store=tmp_path / "store").submit(ScriptRunConfig(src, "train.py"))
    run.wait_for_completion()
    run.download_files("logs", tmp_path / "dl")
    std_log = (tmp_path / "dl/logs/std_log.txt").read_text()
    assert "z warned\n" in std_log and "INFO:root:w info\n" in std_log
    stored = (tmp_path / "dl/logs/python_logging.txt").read_text()
    assert "WARNING train: z warned\n" in stored and "INFO root: w info\n" in stored

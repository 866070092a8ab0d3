"""After os.fork, a child that logs through an inherited Run stores its points (issue 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runlog_core import Experiment, Run

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")

SCRIPT = textwrap.dedent("""
    import multiprocessing, os, sys
    from runlog_core import Experiment

    exp = Experiment("fork", store=sys.argv[1])
    run = exp.start_logging(outputs=None)
    for i in range(10):
        run.log("parent", float(i))
    run.log_metrics({"bulk": 1.0}, step=0)

    def child_work(tag):
        for i in range(1000):
            run.log(tag, float(i))
        run.log_metrics({"bulk": 2.0}, step=1)

    pid = os.fork()
    if pid == 0:           # a bare fork: the child returns through the interpreter's exit
        child_work("child/fork")
        sys.exit(0)
    os.waitpid(pid, 0)
    ctx = multiprocessing.get_context("fork")   # multiprocessing's children leave through os._exit
    proc = ctx.Process(target=child_work, args=("child/mp",))
    proc.start()
    proc.join()
    for i in range(10, 20):
        run.log("parent", float(i))
    run.complete()
    print(run.id)
""")


def test_points_logged_in_forked_children_are_stored(tmp_path: Path) -> None:
    store = tmp_path / "store"
    script = tmp_path / "fork_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(store)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = Run(Experiment("fork", store=str(store)), done.stdout.strip().splitlines()[-1])
    assert run.get_status() == "Completed"
    assert [p.value for p in run.get_metric_history("parent")] == [float(i) for i in range(20)]
    for tag in ("child/fork", "child/mp"):
        assert [p.value for p in run.get_metric_history(tag)] == [float(i) for i in range(1000)], tag
    assert sorted(p.value for p in run.get_metric_history("bulk")) == [1.0, 2.0, 2.0]

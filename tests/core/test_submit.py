"""Experiment.submit(ScriptRunConfig(...)): real subprocesses, statuses, streaming, recording (issue 5)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _submit_helpers import child_env, pid_alive, read_pids, run_cli, wait_until, write_script

from runlog_core import Experiment, Run, ScriptRunConfig
from runlog_core.exceptions import ConfigError, InvalidArgumentError, ScriptRunError, SnapshotTooLargeError
from runlog_core.submit.api import redact_environment, wait_for_completion

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc: Linux")


@pytest.fixture(autouse=True)
def _short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_STOP_GRACE", "3")


@pytest.fixture
def exp(tmp_path: Path) -> Experiment:
    return Experiment("submit", store=tmp_path / "store")


# -- statuses ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "status", "code"), [
    ("print('fine')", "Completed", 0),
    ("import sys; print('bad', file=sys.stderr); sys.exit(3)", "Failed", 3),
    ("raise ValueError('boom')", "Failed", 1),
    ("import os, signal; print('bye', flush=True); os.kill(os.getpid(), signal.SIGKILL)", "Killed", -9),
], ids=["exit0", "exit3", "exception", "sigkill"])
def test_status_follows_the_exit(exp: Experiment, tmp_path: Path, body: str, status: str, code: int) -> None:
    run = exp.submit(ScriptRunConfig(write_script(tmp_path / "src", body), "train.py"))
    # submit returns at once; a script that fails on its first line may have ended by the time we look
    assert run.get_status() in ("Running", status)
    details = run.wait_for_completion(raise_on_error=False)
    assert (details["status"], details["exitCode"]) == (status, code)
    assert Run(exp, run.id).get_tags()["runlog.exit_code"] == str(code)
    assert float(details["tags"]["runlog.duration_s"]) > 0
    if status != "Completed":
        with pytest.raises(ScriptRunError) as caught:
            run.wait_for_completion()
        assert (caught.value.status, caught.value.exit_code) == (status, code)
        assert caught.value.log_tail.strip()
        assert str(code if code > 0 else "SIGKILL") in details["error"]
    if code == 3:
        assert "bad" in caught.value.log_tail and "exit code 3" in str(caught.value)
    if body.startswith("raise"):
        assert "ValueError: boom" in caught.value.log_tail


def test_cancel_stops_the_process_group_and_leaves_no_process(exp: Experiment, tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    src = write_script(tmp_path / "src", f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        ignorer = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('armed', flush=True); time.sleep(600)"],
            stdout=subprocess.PIPE)
        ignorer.stdout.readline()
        with open({str(pids)!r}, "w") as out:
            out.write(f"{{os.getpid()}} {{child.pid}} {{ignorer.pid}}")
        print("started", flush=True)
        time.sleep(600)
    """)
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    assert wait_until(lambda: len(read_pids(pids)) == 3)
    run.cancel()
    assert run.get_status() == "Canceled"
    # the one ignoring SIGTERM too: it gets SIGKILL after the grace
    assert wait_until(lambda: not any(pid_alive(pid) for pid in read_pids(pids)), timeout=30)


def test_cancel_from_another_handle_stops_the_script(exp: Experiment, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    pid = run._launch.proc.pid
    Run(exp, run.id).cancel()  # e.g. from another process: the supervisor sees it in the store
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled"
    assert not pid_alive(pid)


DRIVER = """
import os, sys, time
from runlog_core import Experiment, ScriptRunConfig
exp = Experiment("driver", store=sys.argv[1])
run = exp.submit(ScriptRunConfig(sys.argv[2], "train.py"))
print(run.id, run._launch.proc.pid, flush=True)
if sys.argv[3] == "wait":
    run.wait_for_completion(show_output=True)
"""


@pytest.mark.parametrize(("how", "signum"), [("wait", signal.SIGINT), ("wait", signal.SIGTERM),
                                             ("exit", None)], ids=["ctrl-c", "sigterm", "submitter-exits"])
def test_stopping_the_submitter_cancels_the_run(tmp_path: Path, how: str, signum: int | None) -> None:
    src = write_script(tmp_path / "src", "import time\nprint('running', flush=True)\ntime.sleep(600)\n")
    (tmp_path / "driver.py").write_text(DRIVER)
    # a shell that starts this suite in the background makes it ignore SIGINT, and children inherit
    # that: give the driver the default disposition, as a submitter in a terminal has
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "store"), str(src), how],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(RUNLOG_STOP_GRACE="3"),
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run_id, pid = driver.stdout.readline().split()
    if signum is not None:
        assert driver.stdout.readline() == "running\n"  # streamed while it runs
        driver.send_signal(signum)
    driver.wait(timeout=30)
    run = Run(Experiment("driver", store=tmp_path / "store"), run_id)
    assert run.get_status() == "Canceled", driver.stderr.read()
    assert not pid_alive(int(pid))
    if signum == signal.SIGTERM:
        assert "SIGTERM" in run.get_details()["error"]


# -- output ----------------------------------------------------------------------------------------

class _Console(io.StringIO):
    """Records when each piece of text arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.arrivals.append((time.monotonic(), text))
        return super().write(text)


def test_output_and_metrics_arrive_while_the_script_runs(exp: Experiment, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    go = tmp_path / "go"
    src = write_script(tmp_path / "src", f"""
        import os, sys, time
        from runlog_core import Run
        run = Run.get_context()
        print("before", flush=False)
        print("to stderr", file=sys.stderr)
        run.log("loss", 0.5)
        run.flush()
        while not os.path.exists({str(go)!r}):
            time.sleep(0.02)
        print("after")
    """)
    console = _Console()
    monkeypatch.setattr(sys, "stdout", console)
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    waiter = threading.Thread(target=run.wait_for_completion, kwargs={"show_output": True})
    waiter.start()
    assert wait_until(lambda: "to stderr" in console.getvalue())
    assert "before\n" in console.getvalue()
    assert run.get_status() == "Running"
    metrics = Run(exp, run.id).get_metrics()  # live, from the script's own writer
    assert metrics["loss"] == 0.5 and "system/rss_mb" in metrics
    go.touch()
    waiter.join(30)
    assert console.getvalue().endswith("after\n")
    assert run.get_status() == "Completed"


def test_show_output_later_replays_what_was_printed(exp: Experiment, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_script(tmp_path / "src", "for i in range(1000): print('line', i)\n")
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    expected = "".join(f"line {i}\n" for i in range(1000))
    assert wait_until(lambda: run._launch.pump.chars == len(expected))  # all printed before anyone watches
    console = _Console()
    monkeypatch.setattr(sys, "stdout", console)
    run.wait_for_completion(show_output=True)
    assert console.getvalue() == expected


def test_100k_lines_then_sigkill_keeps_every_line(exp: Experiment, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", """
        import os, signal, sys
        for i in range(100_000):
            (sys.stdout if i % 2 == 0 else sys.stderr).write(f"{'out' if i % 2 == 0 else 'err'} {i}\\n")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Killed"
    log = (tmp_path / "log.txt")
    run.download_file("logs/std_log.txt", log)
    lines = log.read_text().splitlines()
    assert len(lines) == 100_000
    assert [line for line in lines if line.startswith("out")] == [f"out {i}" for i in range(0, 100_000, 2)]
    assert [line for line in lines if line.startswith("err")] == [f"err {i}" for i in range(1, 100_000, 2)]


MEMORY_DRIVER = """
import resource, sys, time
from runlog_core import Experiment, ScriptRunConfig
exp = Experiment("memory", store=sys.argv[1])
run = exp.submit(ScriptRunConfig(sys.argv[2], "train.py", arguments=[sys.argv[3]]))
started = time.monotonic()
details = run.wait_for_completion()
seconds = time.monotonic() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = run._store.get_artifacts(run.id)
size = next(a.size for a in size if a.name == "logs/std_log.txt")
print(peak_kb, size, round(seconds, 2))
"""

PRINTER = """
import sys
megabytes = int(sys.argv[1])
line = "x" * 1023 + "\\n"
block = line * 1024
invalid = b"\\xff\\xfe broken utf-8\\n"
for i in range(megabytes):
    sys.stdout.write(block)
sys.stdout.flush()
sys.stdout.buffer.write(invalid)
sys.stdout.write("y" * (4 << 20))  # a 4 MB line without a newline
"""


def test_huge_output_keeps_the_submitters_memory_bounded(tmp_path: Path) -> None:
    """The submitter's peak RSS with 1 GB of output stays within a few MB of that with 1 MB."""
    megabytes = int(os.environ.get("RUNLOG_TEST_OUTPUT_MB", "1024"))
    src = write_script(tmp_path / "src", PRINTER)
    (tmp_path / "driver.py").write_text(MEMORY_DRIVER)

    def measure(mb: int, store: str) -> tuple[int, int, float]:
        out = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / store), str(src), str(mb)],
                             capture_output=True, text=True, env=child_env(), timeout=240, check=True).stdout
        peak, size, seconds = out.split()
        return int(peak), int(size), float(seconds)

    small_peak, _, _ = measure(1, "small")
    peak, size, seconds = measure(megabytes, "big")
    print(f"\n{megabytes} MB of output in {seconds} s; submitter peak RSS {peak / 1024:.1f} MB "
          f"(with 1 MB of output: {small_peak / 1024:.1f} MB)")
    assert size == megabytes * 1024 * 1024 + len("\ufffd\ufffd broken utf-8\n".encode()) + (4 << 20)
    assert peak - small_peak < 64 * 1024  # KB: the output is streamed, never held


# -- what is recorded ---------------------------------------------------------------------------------

def test_arguments_with_shell_metacharacters_reach_the_script_unchanged(exp: Experiment, tmp_path: Path) -> None:
    arguments = ["a b", "$(id)", "`id`", "; rm -rf /tmp/x", "it's", 'say "hi"', "*", "$HOME", "line\nbreak",
                 "--flag=1|cat", "&&", ">", "ünï", 3, 0.5]
    src = write_script(tmp_path / "src", """
        import json, os, sys
        os.makedirs("outputs", exist_ok=True)
        json.dump(sys.argv[1:], open("outputs/args.json", "w"))
    """)
    run = exp.submit(ScriptRunConfig(src, "train.py", arguments=arguments))
    run.wait_for_completion()
    run.download_file("outputs/args.json", tmp_path / "args.json")
    assert json.loads((tmp_path / "args.json").read_text()) == [str(a) for a in arguments]


def test_snapshot_and_working_copy_honour_ignore_files(exp: Experiment, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", """
        import os
        os.makedirs("outputs", exist_ok=True)
        found = sorted(os.path.relpath(os.path.join(d, f)) for d, _, fs in os.walk(".") for f in fs)
        open("outputs/seen.txt", "w").write("\\n".join(found))
    """)
    (src / ".gitignore").write_text("data/\n*.bin\n!keep.bin\n")
    (src / ".runlogignore").write_text("secret.txt\n/build\n")
    for name in ("data/big.csv", "weights.bin", "keep.bin", "secret.txt", "build/x.o", "pkg/mylib.py",
                 "pkg/build/y.txt", "__pycache__/a.pyc"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("x")
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    run.wait_for_completion()
    snapshot = sorted(n[len("snapshot/"):] for n in run.get_file_names() if n.startswith("snapshot/"))
    assert snapshot == [".gitignore", ".runlogignore", "keep.bin", "pkg/build/y.txt", "pkg/mylib.py", "train.py"]
    run.download_file("outputs/seen.txt", tmp_path / "seen.txt")
    assert (tmp_path / "seen.txt").read_text().split("\n") == snapshot


def test_snapshot_over_the_cap_is_refused_before_anything_starts(exp: Experiment, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_script(tmp_path / "src", "print('never')\n")
    (src / "blob.dat").write_bytes(b"0" * 300_000)
    monkeypatch.setenv("RUNLOG_SNAPSHOT_MAX_MB", "0.1")
    with pytest.raises(SnapshotTooLargeError, match="RUNLOG_SNAPSHOT_MAX_MB") as caught:
        exp.submit(ScriptRunConfig(src, "train.py"))
    assert caught.value.size > caught.value.limit
    assert exp.get_runs() == []


def test_parallel_runs_get_their_own_working_copy_and_outputs(exp: Experiment, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", """
        import os, sys, time
        os.makedirs("outputs", exist_ok=True)
        with open("state.txt", "a") as f:
            f.write(sys.argv[1])
        time.sleep(0.3)
        open("outputs/result.txt", "w").write(open("state.txt").read())
    """)
    runs = [exp.submit(ScriptRunConfig(src, "train.py", arguments=[tag])) for tag in "abc"]
    for tag, run in zip("abc", runs):
        run.wait_for_completion()
        run.download_file("outputs/result.txt", tmp_path / f"{tag}.txt")
        assert (tmp_path / f"{tag}.txt").read_text() == tag
    assert not (src / "state.txt").exists() and not (src / "outputs").exists()
    assert not any(Path(run._launch.workdir).exists() for run in runs)


def test_environment_git_and_secrets_are_recorded(exp: Experiment, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", "import os\nprint(os.environ['MY_API_KEY'], os.environ['RUNLOG_RUN_ID'])\n")
    git = ["git", "-C", str(src), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://bob:hunter2@example.com/repo.git"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (src / "untracked.py").write_text("")
    config = ScriptRunConfig(src, "train.py", arguments=["--alpha", "0.5"],
                             environment_variables={"MY_API_KEY": "s3cr3t", "DB_PASSWORD": "pw",
                                                    "DATABASE_URL": "postgresql://u:pw@h/db", "PLAIN": "visible"})
    run = exp.submit(config)
    run.wait_for_completion()
    tags = run.get_tags()
    assert tags["runlog.git.commit"] == commit
    assert tags["runlog.git.branch"] == "main"
    assert tags["runlog.git.dirty"] == "true"
    assert tags["runlog.git.remote"] == "https://bob:***@example.com/repo.git"
    assert tags["runlog.command"] == f"{sys.executable} train.py --alpha 0.5"
    assert tags["runlog.python"] == ".".join(map(str, sys.version_info[:3]))
    assert tags["runlog.exit_code"] == "0"
    run.download_files("environment", tmp_path / "dl")
    env = json.loads((tmp_path / "dl/environment/environment_variables.json").read_text())
    assert env["MY_API_KEY"] == env["DB_PASSWORD"] == "***"
    assert env["DATABASE_URL"] == "postgresql://u:***@h/db"
    assert env["PLAIN"] == "visible" and env["RUNLOG_RUN_ID"] == run.id and env["PYTHONUNBUFFERED"] == "1"
    assert "s3cr3t" not in (tmp_path / "dl/environment/environment_variables.json").read_text()
    info = json.loads((tmp_path / "dl/environment/info.json").read_text())
    assert info["command"] == [sys.executable, "train.py", "--alpha", "0.5"]
    assert info["git"]["commit"] == commit
    packages = (tmp_path / "dl/environment/packages.txt").read_text().splitlines()
    import pytest as _pytest_module

    assert f"pytest=={_pytest_module.__version__}" in packages
    assert "logs/std_log.txt" in run.get_details()["logFiles"]


def test_redact_environment_names() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "a", "GITHUB_TOKEN": "b", "PGPASSWORD": "c", "my_api_key": "d",
           "HOME": "/root", "URL": "https://x:y@h"}
    assert redact_environment(env) == {"AWS_SECRET_ACCESS_KEY": "***", "GITHUB_TOKEN": "***", "PGPASSWORD": "***",
                                       "my_api_key": "***", "HOME": "/root", "URL": "https://x:***@h"}


def test_bad_config_is_refused_at_construction(tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", "")
    with pytest.raises(InvalidArgumentError, match="source_directory"):
        ScriptRunConfig(tmp_path / "nope", "train.py")
    with pytest.raises(InvalidArgumentError, match="script"):
        ScriptRunConfig(src, "missing.py")
    (tmp_path / "outside.py").write_text("")
    with pytest.raises(InvalidArgumentError, match="inside"):
        ScriptRunConfig(src, "../outside.py")
    with pytest.raises(InvalidArgumentError, match="arguments"):
        ScriptRunConfig(src, "train.py", arguments="--alpha 1")
    with pytest.raises(InvalidArgumentError, match=r"arguments\[1\]"):
        ScriptRunConfig(src, "train.py", arguments=["--x", None])
    with pytest.raises(InvalidArgumentError, match="config"):
        Experiment("x").submit("train.py")


def test_wait_for_completion_on_any_handle(exp: Experiment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_script(tmp_path / "src", "import sys, time\nprint('hello')\ntime.sleep(0.3)\nsys.exit(2)\n")
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    with pytest.raises(ScriptRunError) as caught:
        wait_for_completion(Run(exp, run.id), show_output=True, poll_interval=0.05)
    assert caught.value.exit_code == 2
    assert "hello" in capsys.readouterr().out



# -- settings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("variable", "value"), [
    ("RUNLOG_STOP_GRACE", "-1"), ("RUNLOG_STOP_GRACE", "soon"), ("RUNLOG_KEEP_WORKDIR", "maybe"),
    ("RUNLOG_SYSTEM_INTERVAL", "abc"), ("RUNLOG_SYSTEM_INTERVAL", "0"), ("RUNLOG_SNAPSHOT_MAX_MB", "lots"),
], ids=["grace-negative", "grace-text", "keep-workdir", "interval-text", "interval-zero", "snapshot-cap"])
def test_a_bad_setting_is_refused_before_anything_starts(exp: Experiment, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    src = write_script(tmp_path / "src", "print('never')\n")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as caught:
        exp.submit(ScriptRunConfig(src, "train.py"))
    assert (caught.value.variable, caught.value.value) == (variable, value)
    assert exp.get_runs() == []
    # the command line: one line on stderr, exit status 2, no run either
    assert run_cli("submit", "train.py", "-d", str(src), "-e", "submit", "--store", exp.store) == 2
    err = capfd.readouterr().err
    assert f"{variable}={value!r}" in err and "Traceback" not in err
    assert exp.get_runs() == []


def test_keep_workdir_keeps_the_working_copy(exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_KEEP_WORKDIR", "1")
    src = write_script(tmp_path / "src", "open('made.txt', 'w').write('here')\n")
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    run.wait_for_completion()
    workdir = Path(run._launch.workdir)
    try:
        assert (workdir / "made.txt").read_text() == "here" and (workdir / "train.py").is_file()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- the command line ---------------------------------------------------------------------------------

def test_cli_submit_streams_and_returns_the_exit_code(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = write_script(tmp_path / "src", "import sys\nprint('args', sys.argv[1:])\nsys.exit(int(sys.argv[-1]))\n")
    store = str(tmp_path / "store")
    assert run_cli("submit", "train.py", "-d", str(src), "-e", "cli", "--store", store, "--", "--lr", "$x", "0") == 0
    out = capfd.readouterr()
    assert "args ['--lr', '$x', '0']" in out.out
    assert "Completed" in out.err
    assert run_cli("submit", str(src / "train.py"), "-d", str(src), "--store", store, "--no-stream", "--", "7") == 7
    out = capfd.readouterr()
    assert "args" not in out.out and "Failed (exit code 7)" in out.err
    runs = Experiment("train", store=store).get_runs()
    assert [r.status for r in runs] == ["Failed"]


# -- the seed's sample ------------------------------------------------------------------------------

def test_train_on_local_example_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    example = Path(__file__).resolve().parents[2] / "examples" / "train_on_local"
    out = subprocess.run([sys.executable, str(example / "submit.py")], capture_output=True, text=True,
                         timeout=120, env=child_env(RUNLOG_STORE=str(tmp_path / "store")), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "alpha is 0.95, and mse is" in out.stdout  # streamed by wait_for_completion(show_output=True)
    assert "When alpha is 0.40, we have min MSE 3295.71." in out.stdout
    (run,) = Experiment("train-on-local", store=tmp_path / "store").get_runs()
    assert run.status == "Completed"
    names = run.get_file_names()
    assert [n for n in names if n.startswith("outputs/")] == [f"outputs/ridge_{a / 100:.2f}.pkl" for a in range(0, 100, 5)]
    assert {"snapshot/train.py", "snapshot/mylib.py", "snapshot/submit.py", "logs/std_log.txt"} <= set(names)
    assert len(run.get_metrics()["mse"]) == 20


def test_python_logging_in_the_script_lands_in_the_run(exp: Experiment, tmp_path: Path) -> None:
    body = ("import logging\nfrom runlog_core import Run\nrun = Run.get_context()\n"
            "logging.getLogger('train').warning('loss went up at epoch %d', 3)\nrun.log('epoch', 3)")
    run = exp.submit(ScriptRunConfig(write_script(tmp_path / "src", body), "train.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    target = tmp_path / "logs"
    Run(exp, run.id).download_files(prefix="logs", output_directory=target)
    assert "WARNING train: loss went up at epoch 3" in (target / "logs" / "python_logging.txt").read_text()
    assert run.get_metrics()["epoch"] == 3


def test_completing_a_submitted_run_by_hand_stops_its_script(exp: Experiment, tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    src = write_script(tmp_path / "src", f"""
        import os, time
        with open({str(pids)!r}, "w") as out:
            out.write(str(os.getpid()))
        time.sleep(600)
    """)
    run = exp.submit(ScriptRunConfig(src, "train.py"))
    assert wait_until(lambda: len(read_pids(pids)) == 1)
    run.complete(end_time=time.time())  # as on any Run: no TypeError, and no script left behind
    assert run.get_status() == "Canceled"  # the script was stopped before it ended
    assert wait_until(lambda: not any(pid_alive(pid) for pid in read_pids(pids)), timeout=10)

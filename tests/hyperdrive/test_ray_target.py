"""``ScriptRunConfig(compute_target="ray")``: script runs and sweep children as tasks on a real Ray cluster.

One cluster for the module: ``ray start --head --block`` on 127.0.0.1 (a free port, its own temp
folder and auth token), started as a subprocess and stopped by its pid (never ``ray stop``, which
would stop every cluster on the machine). The runs log into a real team store: a fresh PostgreSQL
database and a bucket on the moto S3 server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _hd_helpers import SRC, pid_alive, wait_until, write_script

from runlog_core import Experiment, ScriptRunConfig
from runlog_core.exceptions import InvalidArgumentError

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(root: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = {root}, [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _listening(pids: set[int]) -> list[str]:
    """The local addresses the processes ``pids`` listen on (TCP), from ``ss -ltnp``."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            found.append(line.split()[3])
    return found


_head_pid: list[int] = []  # the module's cluster: the `ray start --block` process, parent of the rest
_client_port: list[int] = []  # its Ray Client server's port


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 (2 CPUs); yields its address, stops it by pid after."""
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is needed to check where Ray listens")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="rl-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # loopback stays loopback (no reachable-IP lookup)
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}
    head_env = {**os.environ, **env,
                "PYTHONPATH": SRC + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    ray_cli = str(Path(sys.executable).with_name("ray"))
    _client_port[:] = [_free_port()]
    log = open(Path(temp) / "head.log", "wb")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--node-ip-address=127.0.0.1", f"--ray-client-server-port={_client_port[0]}", f"--temp-dir={temp}",
         "--disable-usage-stats"],
        env=head_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    # both are read when ray is imported, and this process may have imported it already
    import ray._private.ray_constants as constants
    from ray._private.authentication_test_utils import reset_auth_token_state

    patch.setattr(constants, "ENABLE_RAY_CLUSTER", False)
    reset_auth_token_state()
    address = f"127.0.0.1:{port}"
    patch.setenv("RUNLOG_RAY_ADDRESS", address)
    _head_pid[:] = [head.pid]
    try:
        assert wait_until(lambda: any(a.endswith(f":{port}") for a in _listening(_descendants(head.pid))),
                          timeout=90, interval=0.5), f"the Ray head did not start: see {temp}/head.log"
        yield address
    finally:
        from runlog_core.submit.ray_target import disconnect

        disconnect()
        head.send_signal(signal.SIGTERM)  # --block: the head stops the processes it started
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # what is left of its process group
        except ProcessLookupError:
            pass
        head.wait(10)
        log.close()
        patch.undo()
        reset_auth_token_state()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def team(pg_uri: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RUNLOG_STORE", pg_uri)
    monkeypatch.setenv("RUNLOG_ARTIFACTS", s3_bucket)
    return pg_uri


TRAIN = """
    import os, sys, time
    from pathlib import Path
    from runlog_core import Run

    run = Run.get_context()
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    print(f"cwd={os.getcwd()} parent={parent}", flush=True)
    for step in range(3):
        run.log("loss", 1.0 / (step + 1))
        print(f"step {step}", flush=True)
    print("waiting", flush=True)
    gate = Path(sys.argv[1])
    while not gate.exists():
        time.sleep(0.05)
    os.makedirs("outputs", exist_ok=True)
    Path("outputs/model.txt").write_text("weights")
    print("done", flush=True)
"""


def test_a_script_runs_on_the_cluster_logs_into_the_team_store_and_streams_its_output(
        ray_address: str, team: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Ray listens on loopback only: nothing of the test cluster is reachable from outside
    source = write_script(tmp_path / "src", TRAIN)
    gate = tmp_path / "gate"
    exp = Experiment("ray-target")
    run = exp.submit(ScriptRunConfig(source, "train.py", arguments=[str(gate)], compute_target="ray"))
    assert run.get_status() == "Running"
    # live: what the script printed is in the run's log while the script still runs
    assert wait_until(lambda: "waiting" in run._launch.pump.tail(), timeout=120)
    assert run.get_status() == "Running"
    gate.touch()
    details = run.wait_for_completion(show_output=True)
    assert details["status"] == "Completed"
    shown = capsys.readouterr().out
    assert "step 2" in shown and "done" in shown
    log = run.get_details()
    fresh = Experiment("ray-target").get_runs()
    again = next(r for r in fresh if r.id == run.id)
    assert again.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3]
    assert "outputs/model.txt" in again.get_file_names()
    model = again.download_file("outputs/model.txt", tmp_path / "model.txt")
    assert Path(model).read_text() == "weights"
    text = (tmp_path / "std_log.txt")
    again.download_file("logs/std_log.txt", text)
    printed = text.read_text()
    assert "step 0" in printed and "done" in printed
    # it ran in a Ray worker, in a folder of its own (the snapshot unpacked), not in the source folder
    first = next(line for line in printed.splitlines() if line.startswith("cwd="))
    assert "ray::" in first.split("parent=")[1]
    assert f"cwd={source}" not in first
    assert log["tags"]["runlog.compute_target"] == "ray"
    assert log["tags"].get("runlog.ray.node")
    addresses = _listening(_descendants(_head_pid[0]))
    assert addresses and all(a.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for a in addresses), addresses


SWEEP = """
    import argparse
    from runlog_core import Run

    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    args = parser.parse_args()
    run = Run.get_context()
    run.log("score", args.x * 10)
    print(f"x={args.x}", flush=True)
"""


def test_a_sweeps_children_run_on_the_cluster(ray_address: str, team: str, tmp_path: Path) -> None:
    from runlog_core.hyperdrive import (
        GridParameterSampling,
        HyperDriveConfig,
        PrimaryMetricGoal,
        choice,
    )

    source = write_script(tmp_path / "src", SWEEP)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(source, "train.py", compute_target="ray"),
        hyperparameter_sampling=GridParameterSampling({"--x": choice(1, 2, 3)}), policy=None,
        primary_metric_name="score", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_concurrent_runs=2)
    parent = Experiment("ray-sweep").submit(config)
    details = parent.wait_for_completion()
    assert details["status"] == "Completed"
    children = list(parent.get_children())
    assert sorted(c.get_status() for c in children) == ["Completed"] * 3
    assert sorted(c.get_metrics()["score"] for c in children) == [10.0, 20.0, 30.0]
    assert all(c.get_tags()["runlog.compute_target"] == "ray" for c in children)
    best = parent.get_best_run_by_primary_metric()
    assert best is not None and best.get_metrics()["score"] == 30.0


@pytest.mark.parametrize("target", ["ray", "client"])
def test_runlog_submit_compute_target_runs_a_sweep_on_the_cluster(ray_address: str, team: str, tmp_path: Path,
                                                                  target: str) -> None:
    """The command line's --compute-target: the same sweep, from `runlog submit` in a process of its own."""
    source = write_script(tmp_path / "src", SWEEP)
    value = target if target == "ray" else f"ray://127.0.0.1:{_client_port[0]}"
    env = {**os.environ, "PYTHONPATH": SRC + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    done = subprocess.run([sys.executable, "-m", "runlog_core.cli.main", "submit", "train.py", "-e", f"cli-{target}",
                           "--compute-target", value, "--sweep", "x=1,2", "--max-parallel", "2", "--metric", "score",
                           "--goal", "max", "--no-stream"],
                          cwd=source, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=240)
    assert done.returncode == 0, done.stderr
    (parent,) = Experiment(f"cli-{target}").get_runs()
    assert parent.get_status() == "Completed"
    children = list(parent.get_children())
    assert sorted(c.get_metrics()["score"] for c in children) == [10.0, 20.0]
    assert all(c.get_status() == "Completed" and c.get_tags()["runlog.compute_target"] == value for c in children)


STOPPABLE = """
    import os, signal, sys, time
    from pathlib import Path

    marker = Path(sys.argv[1])

    def on_term(signum, frame):
        time.sleep(0.5)  # cleaning up: cancel() returns once the script is done
        marker.write_text("SIGTERM")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print(f"pid={os.getpid()}", flush=True)
    while True:
        time.sleep(0.05)
"""


def test_cancel_stops_the_remote_script(ray_address: str, team: str, tmp_path: Path) -> None:
    source = write_script(tmp_path / "src", STOPPABLE)
    marker = tmp_path / "terminated"
    run = Experiment("ray-cancel").submit(ScriptRunConfig(source, "train.py", arguments=[str(marker)],
                                                          compute_target="ray"))
    assert wait_until(lambda: "pid=" in run._launch.pump.tail(), timeout=120)
    pid = int(run._launch.pump.tail().split("pid=")[1].split()[0])
    run.cancel()
    assert run.get_status() == "Canceled"
    assert marker.read_text() == "SIGTERM"  # the script got SIGTERM first (its handler ran)
    assert wait_until(lambda: not pid_alive(pid), timeout=30)
    assert run.get_details()["error"] == "canceled"


def test_ctrl_c_while_waiting_stops_the_remote_script(ray_address: str, team: str, tmp_path: Path) -> None:
    source = write_script(tmp_path / "src", STOPPABLE)
    marker = tmp_path / "terminated"
    run = Experiment("ray-ctrl-c").submit(ScriptRunConfig(source, "train.py", arguments=[str(marker)],
                                                          compute_target="ray"))

    def press_ctrl_c() -> None:
        if wait_until(lambda: "pid=" in run._launch.pump.tail(), timeout=120):
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C reaches the submitting process

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run.wait_for_completion(show_output=True)
    finally:
        presser.join()
    details = run.get_details()
    assert details["status"] == "Canceled"
    assert "Ctrl-C" in details["error"]
    assert marker.read_text() == "SIGTERM"


def test_a_ray_client_address_runs_the_script_there(ray_address: str, team: str, tmp_path: Path) -> None:
    from runlog_core.submit.ray_target import disconnect

    source = write_script(tmp_path / "src", SWEEP)
    disconnect()  # this process joined the cluster directly in the tests above; now through Ray Client
    try:
        run = Experiment("ray-client").submit(ScriptRunConfig(
            source, "train.py", arguments=["--x", 4], compute_target=f"ray://127.0.0.1:{_client_port[0]}"))
        run.wait_for_completion()
        assert run.get_status() == "Completed"
        assert run.get_metrics()["score"] == 40.0
        assert run.get_tags()["runlog.compute_target"] == f"ray://127.0.0.1:{_client_port[0]}"
    finally:
        disconnect()


def test_a_local_store_or_local_artifacts_with_a_ray_target_is_refused(tmp_path: Path, pg_uri: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_script(tmp_path / "src", "print('never runs')\n")
    config = ScriptRunConfig(source, "train.py", compute_target="ray")
    local = Experiment("local", store=tmp_path / "store")
    with pytest.raises(InvalidArgumentError, match="compute_target.*cannot reach a local store"):
        local.submit(config)
    assert local.get_runs() == [] or list(local.get_runs()) == []
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    team_no_s3 = Experiment("no-s3", store=pg_uri)
    with pytest.raises(InvalidArgumentError, match="RUNLOG_ARTIFACTS=s3://"):
        team_no_s3.submit(config)
    assert list(team_no_s3.get_runs()) == []


@pytest.mark.parametrize("target", ["gpu-cluster", "ray:/host:1", "ray://host", "ray://host:99999", 3, None])
def test_an_unknown_compute_target_is_refused(tmp_path: Path, target: object) -> None:
    source = write_script(tmp_path / "src", "print('x')\n")
    with pytest.raises(InvalidArgumentError, match="compute_target") as caught:
        ScriptRunConfig(source, "train.py", compute_target=target)  # type: ignore[arg-type]
    assert '"ray://host:port"' in str(caught.value)
    assert ScriptRunConfig(source, "train.py", compute_target="ray://10.0.0.5:10001").compute_target \
        == "ray://10.0.0.5:10001"
    assert ScriptRunConfig(source, "train.py").compute_target == "local"


CLUSTER = """
    set -u
    ip link set lo up
    # only loopback here, so Ray's "reachable address" is 127.0.0.1 itself (no RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER)
    export RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=0
    export RUNLOG_RAY_ADDRESS=127.0.0.1:"$PORT"
    stop() {  # both nodes, by the pids of their process groups
        kill -TERM "$HEAD" 2>/dev/null; wait "$HEAD" 2>/dev/null
        kill -KILL -- -"$HEAD" 2>/dev/null
        [ -f "$TEMP/node.pid" ] && kill -KILL -- -"$(cat "$TEMP/node.pid")" 2>/dev/null
    }
    trap stop EXIT
    # the head takes no task (0 CPUs): every script run goes to the second node
    setsid "$RAY" start --head --block --port="$PORT" --num-cpus=0 --include-dashboard=false \\
        --node-ip-address=127.0.0.1 --temp-dir="$TEMP" --disable-usage-stats > "$TEMP/head.log" 2>&1 &
    HEAD=$!
    for _ in $(seq 300); do "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \\
        "$PORT" 2>/dev/null && break; sleep 0.3; done
    setsid "$RAY" start --block --address=127.0.0.1:"$PORT" --num-cpus=1 --node-ip-address=127.0.0.1 \\
        --disable-usage-stats > "$TEMP/node.log" 2>&1 &
    echo $! > "$TEMP/node.pid"
    timeout -s KILL 150 "$PYTHON" "$DRIVER"
"""

DRIVER = """
    import json, os, signal, sys, time
    from pathlib import Path

    import boto3
    from moto.server import ThreadedMotoServer

    from runlog_core import Experiment, ScriptRunConfig
    from runlog_core.submit.ray_target import connect

    temp = Path(os.environ["TEMP"])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # S3, inside the namespace
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s",
                      AWS_DEFAULT_REGION="us-east-1")
    boto3.client("s3").create_bucket(Bucket="team")
    os.environ["RUNLOG_ARTIFACTS"] = "s3://team/runs"

    ray = connect("ray")
    deadline = time.monotonic() + 90
    while sum(node["Alive"] for node in ray.nodes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    run = Experiment("lost-node").submit(ScriptRunConfig(os.environ["SOURCE"], "train.py", compute_target="ray"))
    deadline = time.monotonic() + 90
    while "pid=" not in run._launch.pump.tail() and time.monotonic() < deadline:
        time.sleep(0.1)
    tail = run._launch.pump.tail()
    os.killpg(int((temp / "node.pid").read_text()), signal.SIGKILL)  # the second node, all of it, at once
    run._launch.done.wait(120)
    details = run.get_details()
    json.dump({"run_id": run.id, "status": details["status"], "error": details.get("error"), "tail": tail,
               "node": details["tags"].get("runlog.ray.node")}, open(temp / "result.json", "w"))
    server.stop()
"""

NODE_SCRIPT = """
    import os, time
    print(f"pid={os.getpid()}", flush=True)
    while True:
        time.sleep(0.05)
"""


def test_a_node_lost_mid_run_leaves_the_run_killed_with_the_reason(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Ray nodes in a private network namespace; the one running the script is killed outright."""
    if shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root, unshare and ip to make a private network namespace")
    from fixtures_postgres import create_database, database_uri, drop_database

    name = create_database()
    temp = tempfile.mkdtemp(prefix="rl-ray2-", dir="/tmp")
    try:
        source = write_script(tmp_path / "src", NODE_SCRIPT)
        (Path(temp) / "cluster.sh").write_text(textwrap.dedent(CLUSTER))
        (Path(temp) / "driver.py").write_text(textwrap.dedent(DRIVER))
        env = {**os.environ, "RAY": str(Path(sys.executable).with_name("ray")), "PYTHON": sys.executable,
               "PORT": "6379", "TEMP": temp, "DRIVER": str(Path(temp) / "driver.py"), "SOURCE": str(source),
               # PostgreSQL by its socket: TCP to the host's server is out of the namespace's reach
               "RUNLOG_STORE": f"postgresql://postgres@/{name}?host=/var/run/postgresql",
               "PYTHONPATH": SRC + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""),
               "RAY_AUTH_TOKEN": secrets.token_hex(16)}
        for key in ("RUNLOG_ARTIFACTS", "RUNLOG_RAY_ADDRESS", "AWS_ENDPOINT_URL", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
            env.pop(key, None)
        done = subprocess.run(["unshare", "-n", "bash", str(Path(temp) / "cluster.sh")], env=env,
                              capture_output=True, text=True, timeout=280)
        result_file = Path(temp) / "result.json"
        assert result_file.exists(), done.stdout[-3000:] + done.stderr[-3000:]
        result = json.loads(result_file.read_text())
        assert "pid=" in result["tail"]
        assert result["status"] == "Killed", result
        assert "the Ray worker running the script was lost" in result["error"]
        pid = int(result["tail"].split("pid=")[1].split()[0])
        assert wait_until(lambda: not pid_alive(pid), timeout=30)  # nothing of the lost node's script is left
        monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))  # only rows are read here
        stored = Experiment("lost-node", store=database_uri(name)).get_runs()
        assert [(r.id, r.get_status()) for r in stored] == [(result["run_id"], "Killed")]
    finally:
        drop_database(name)
        shutil.rmtree(temp, ignore_errors=True)

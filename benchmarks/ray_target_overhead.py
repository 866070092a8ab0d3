"""What running on a Ray cluster costs: the same sweep locally, on Ray through runlog, and on Ray alone.

    python benchmarks/ray_target_overhead.py                   # 12 children of a 0.5 s script, 2 at a time
    python benchmarks/ray_target_overhead.py --children 40 --seconds 1

Needs PostgreSQL at RUNLOG_TEST_PG (default postgresql://postgres@127.0.0.1:5432; a fresh database is
made and dropped), moto (an S3 server in this process) and ray. Starts a one-node Ray cluster on
127.0.0.1 with 2 CPUs (``ray start --head --block``) and stops it by its pid. Side by side:

    ideal               N/2 x the script's sleep
    Ray alone           N tasks (2 CPUs), each running the script in a subprocess; no store
    runlog, local       a grid sweep, ``max_concurrent_runs=2``, children on this machine, team store
    runlog, ray         the same sweep with ``compute_target="ray"``: each child a task on the cluster
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

SCRIPT = """
    import sys, time
    from runlog_core import Run
    time.sleep(float(sys.argv[sys.argv.index("--seconds") + 1]))
    Run.get_context().log("score", float(sys.argv[sys.argv.index("--x") + 1]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()

    import psycopg
    from moto.server import ThreadedMotoServer

    server = os.environ.get("RUNLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
    database = f"runlog_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    token = secrets.token_hex(16)
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", RUNLOG_STORE=f"{server}/{database}",
                      RUNLOG_ARTIFACTS="s3://bench/runs", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
                      RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_USAGE_STATS_ENABLED="0")
    import boto3

    boto3.client("s3").create_bucket(Bucket="bench")
    ray_port = free_port()
    temp = tempfile.mkdtemp(prefix="rl-bench-", dir="/tmp")
    src = str(Path(__file__).resolve().parents[1] / "src")
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={ray_port}",
         "--num-cpus=2", "--include-dashboard=false", "--node-ip-address=127.0.0.1",
         f"--ray-client-server-port={free_port()}", f"--temp-dir={temp}", "--disable-usage-stats"],
        env={**os.environ, "PYTHONPATH": src}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    os.environ["RUNLOG_RAY_ADDRESS"] = f"127.0.0.1:{ray_port}"
    try:
        rows = run_all(args.children, args.seconds, Path(temp))
    finally:
        from runlog_core.submit.ray_target import disconnect

        disconnect()
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        moto.stop()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    ideal = rows[0][1]
    ray_alone = rows[1][1]
    print(f"\n{args.children} children of a {args.seconds} s script, 2 at a time (wall seconds)\n")
    print("| system | wall s | per child ms | x ideal | x Ray alone |\n| --- | ---: | ---: | ---: | ---: |")
    for name, wall in rows:
        print(f"| {name} | {wall:.1f} | {1000 * wall / args.children:.0f} | {wall / ideal:.2f}x "
              f"| {wall / ray_alone:.2f}x |")


def run_all(children: int, seconds: float, temp: Path) -> list[tuple[str, float]]:
    import ray

    from runlog_core import Experiment, ScriptRunConfig
    from runlog_core.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal, choice
    from runlog_core.submit.ray_target import connect

    folder = temp / "src"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT))
    connect("ray")
    deadline = time.monotonic() + 120
    while not ray.cluster_resources().get("CPU") and time.monotonic() < deadline:
        time.sleep(0.2)

    @ray.remote(num_cpus=1)
    def alone(x: int) -> int:
        # the script without runlog: sleep only
        return subprocess.run([sys.executable, "-c", f"import time; time.sleep({seconds})"]).returncode

    rows = [("ideal (sleep only)", children / 2 * seconds)]
    ray.get([alone.remote(0) for _ in range(2)])  # warm the workers
    start = time.perf_counter()
    ray.get([alone.remote(i) for i in range(children)])
    rows.append(("Ray alone (a task per child, no store)", time.perf_counter() - start))
    for target in ("local", "ray"):
        config = HyperDriveConfig(
            run_config=ScriptRunConfig(folder, "train.py", arguments=["--seconds", seconds], compute_target=target),
            hyperparameter_sampling=GridParameterSampling({"--x": choice(*range(children))}), policy=None,
            primary_metric_name="score", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=children, max_concurrent_runs=2)
        start = time.perf_counter()
        parent = Experiment(f"bench-{target}").submit(config)
        parent.wait_for_completion()
        rows.append((f"runlog HyperDrive, compute_target={target!r}", time.perf_counter() - start))
        statuses = sorted({child.get_status() for child in parent.get_children()})
        assert statuses == ["Completed"], statuses
    return rows


if __name__ == "__main__":
    main()

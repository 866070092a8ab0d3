"""Space given back by ``runlog gc``, side by side with ``mlflow gc`` on MLflow's SQLite store (issue 20).

    python benchmarks/gc.py            # 10 runs x 100,000 points for runlog (1 M), 10 x 10,000 for MLflow
    python benchmarks/gc.py --quick    # a tenth of that

For each system: the same number of runs of one metric each, logged the way the system is fastest
(runlog ``run.log``; MLflow ``MlflowClient.log_batch`` of 1,000 metrics), the store's file size
once closed (WAL folded back), half of the runs deleted (``run.delete()`` / ``MlflowClient.delete_run``)
and removed for good (``runlog gc`` through its function / the ``mlflow gc`` command), and the size
after. Reported per million points logged (MLflow logs fewer points: it is ~100x slower to fill;
its figures are scaled per point), and the time gc takes per million points it removes.

Then a run logging during runlog's gc of the other half: the longest a ``run.log`` call took, and the
longest ``run.flush()`` (called every 50 ms) took, against the flush interval (``RUNLOG_FLUSH_INTERVAL``,
1 s): a gc works in short transactions, so a writer waits at most one of them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def runlog_side(folder: Path, runs: int, points: int) -> dict[str, float]:
    from runlog_core import Experiment
    from runlog_core.store.gc import collect_garbage

    exp = Experiment("gc-bench", store=folder)
    made = []
    for index in range(runs):
        with exp.start_logging(name=f"run-{index}") as run:
            for step in range(points):
                run.log("loss", 1.0 / (step + 1))
        made.append(run)
    exp._store.close()
    before = db_size(folder / "runlog.db")
    for run in made[: runs // 2]:
        run.delete()
    started = time.perf_counter()
    summary = collect_garbage(exp._store)
    took = time.perf_counter() - started
    exp._store.close()
    after = db_size(folder / "runlog.db")
    removed = summary.points

    # the other half, removed while a run logs
    for run in made[runs // 2:]:
        run.delete()
    live = exp.start_logging(name="live")
    stop = threading.Event()
    slowest_log = [0.0]
    slowest_flush = [0.0]

    def train() -> None:
        step = 0
        last_flush = time.perf_counter()
        while not stop.is_set():
            t0 = time.perf_counter()
            live.log("loss", float(step))
            slowest_log[0] = max(slowest_log[0], time.perf_counter() - t0)
            step += 1
            if time.perf_counter() - last_flush > 0.05:
                t0 = time.perf_counter()
                live.flush()
                slowest_flush[0] = max(slowest_flush[0], time.perf_counter() - t0)
                last_flush = time.perf_counter()
            if step % 200 == 0:
                time.sleep(0.001)

    worker = threading.Thread(target=train)
    worker.start()
    time.sleep(0.2)
    busy_started = time.perf_counter()
    busy = collect_garbage(exp._store)
    busy_took = time.perf_counter() - busy_started
    time.sleep(0.2)
    stop.set()
    worker.join()
    live.complete()
    exp.close()
    total = runs * points
    return {"points": total, "before": before, "after": after, "removed": removed, "gc_s": took,
            "busy_removed": busy.points, "busy_gc_s": busy_took, "slowest_log": slowest_log[0],
            "slowest_flush": slowest_flush[0]}


def mlflow_side(folder: Path, runs: int, points: int) -> dict[str, float]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    artifacts = folder / "mlartifacts"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("gc-bench", artifact_location=artifacts.as_uri())
    ids = []
    for _ in range(runs):
        run = client.create_run(experiment)
        now = int(time.time() * 1000)
        for start in range(0, points, 1000):
            client.log_batch(run.info.run_id, metrics=[Metric("loss", 1.0 / (s + 1), now, s)
                                                       for s in range(start, min(points, start + 1000))])
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    before = db_size(folder / "mlflow.db")
    for run_id in ids[: runs // 2]:
        client.delete_run(run_id)
    started = time.perf_counter()
    command = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    took = time.perf_counter() - started
    after = db_size(folder / "mlflow.db")
    return {"points": runs * points, "before": before, "after": after, "removed": (runs // 2) * points, "gc_s": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    runs = 10
    ours_points, theirs_points = 100_000 // scale, 10_000 // scale
    with tempfile.TemporaryDirectory() as tmp:
        ours = runlog_side(Path(tmp) / "runlog", runs, ours_points)
        theirs = mlflow_side(Path(tmp) / "mlflow", runs, theirs_points)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{runs} runs; runlog {ours['points']:,} points, MLflow {theirs['points']:,} points (its store fills ~100x "
          "slower); half the runs deleted, then gc")
    print(f"{'':24}{'before MB/Mpt':>15}{'after MB/Mpt':>14}{'after/before':>14}{'gc s/Mpt removed':>18}")
    for label, row in (("runlog (SQLite)", ours), ("MLflow 3 (SQLite) + gc", theirs)):
        per = 1e6 / row["points"] / 2**20
        print(f"{label:24}{row['before'] * per:>15.1f}{row['after'] * per:>14.1f}"
              f"{row['after'] / row['before']:>14.2f}{row['gc_s'] / row['removed'] * 1e6:>18.2f}")
    ratio = (theirs["after"] / theirs["points"]) / (ours["after"] / ours["points"])
    print(f"after gc, MLflow's store holds {ratio:.0f}x runlog's bytes per point logged")
    print(f"gc of {ours['busy_removed']:,} points while a run logged: {ours['busy_gc_s']:.2f} s; "
          f"slowest run.log {ours['slowest_log'] * 1e3:.2f} ms, slowest run.flush {ours['slowest_flush'] * 1e3:.0f} ms "
          f"(flush interval {float(os.environ.get('RUNLOG_FLUSH_INTERVAL', '1')) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()

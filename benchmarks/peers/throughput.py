"""Logging throughput against every peer: log_throughput.py's workloads, today's rows and W&B, Aim, DVCLive, ClearML.

    python benchmarks/peers/throughput.py                   # full (about 15 minutes on 2 cores)
    python benchmarks/peers/throughput.py --quick           # smaller N, fewer repeats (a smoke run)
    python benchmarks/peers/throughput.py --peers wandb aim --no-mlflow --no-tensorboard

Workloads A (1 metric x 100,000 steps, one call per point) and B (20 metrics x 5,000 steps, one dict
per step) and the rows of ``benchmarks/log_throughput.py`` (list append, raw sqlite3, runlog,
TensorBoard, MLflow), measured here by that file's own code, in this interpreter, before any peer runs;
then each peer, in its own venv (``setup_venvs.py`` makes it when missing), one fresh process per
repeat (``worker.py``), in its offline / local mode with its defaults otherwise:

    W&B offline          ``wandb.init(mode offline)``; ``run.log({name: v}, step=i)`` / ``run.log(d, step=i)``;
                         durable = loop + ``run.finish()`` (the .wandb file written); read back by
                         parsing that file's history records
    Aim                  ``aim.Run(repo=...)``; ``run.track(v, name=..., step=i)`` / ``run.track(d, step=i)``;
                         durable = loop + ``run.close()``; read back from the run's RocksDB chunks
    DVCLive              ``Live(save_dvc_exp=False, dvcyaml=None)``; ``log_metric`` per value then
                         ``next_step()`` per step (it has no dict call); durable = loop + ``end()``;
                         read back from its .tsv files
    ClearML offline      ``Task.set_offline(True)``, ``Task.init``; ``logger.report_scalar`` per value (no
                         dict call); durable = loop + ``task.close()`` (the offline session written);
                         read back from the session's metrics.jsonl

Figures as in log_throughput.py: caller and durable us per point (medians), disk bytes per point
(the run's files minus an empty run's), ratios to list append (caller) and raw sqlite3 (durable);
"all there" = another reader found every point. A peer slower than ``--budget`` seconds per repeat
logs fewer points (N=... in the note; figures stay per point), as MLflow log_metric does. A peer that
cannot install or run here keeps its row, with the reason in the note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent.parent / "src"))

import log_throughput as lt  # noqa: E402
import setup_venvs  # noqa: E402
from peer_logging import CALLS, PEERS  # noqa: E402


class PeerResult(lt.Result):
    """A row that may have no figures (the peer could not run): then ``note`` says why."""

    def __init__(self, system: str, workload: lt.Workload, n: int) -> None:
        super().__init__(system, workload, n)
        self.failed = False

    def caller_us(self) -> float | None:  # type: ignore[override]
        return super().caller_us() if self.caller else None


def worker_folder() -> Path:
    """A copy of the worker's files outside any git repository, where every peer's worker runs.

    ClearML's ``task.close()`` waits for its repository detection (git commands run by a background
    thread of ``Task.init``); run from this checkout, that thread hung here until ClearML's own 300 s
    timeout in some runs and not in others. A training script outside a repository is a case users
    have too, and it measures logging rather than git.
    """
    folder = setup_venvs.cache_dir() / "worker"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("worker.py", "harness.py", "peer_logging.py"):
        data = (HERE / name).read_bytes()
        target = folder / name
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
    return folder


def run_worker(peer: str, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One measurement in the peer's venv, in a fresh process.

    Its standard input is a pipe held open until it exits, as a terminal's would be: with
    ``/dev/null`` (or a closed pipe) as its input, ClearML 2.1's ``task.close()`` waits about 300 s
    instead of about 10 s (measured here), a cost of how the benchmark starts it, not of ClearML.
    """
    folder = worker_folder()
    cmd = [str(setup_venvs.python_of(peer)), str(folder / "worker.py"), json.dumps(job)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True, cwd=folder,
                                env={**os.environ, "PYTHONWARNINGS": "ignore"})
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"ok": False, "why": f"one repeat ran past {timeout:.0f} s"}
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "why": f"worker exited {proc.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


def bench_peer(peer: str, w: lt.Workload, repeats: int, budget: float, timeout: float) -> PeerResult:
    system = CALLS[peer]
    ready, why = setup_venvs.ensure(peer)

    def failed(reason: str) -> PeerResult:
        result = PeerResult(system, w, w.points)
        result.failed, result.verified, result.note = True, False, reason
        return result

    if not ready:
        return failed(why)
    job = {"task": "throughput", "peer": peer, "metrics": w.metrics}
    empty = run_worker(peer, {**job, "steps": 0}, timeout)
    if not empty.get("ok"):
        return failed(empty.get("why", "?"))
    # a first small run estimates the cost per point (until durable), which sets how many points fit the budget
    probe_steps = max(1, 500 // w.metrics)
    probe = run_worker(peer, {**job, "steps": probe_steps}, timeout)
    if not probe.get("ok"):
        return failed(probe.get("why", "?"))
    per_step = probe["durable"] / probe_steps
    scaled = w.scaled(max(w.metrics, int(budget / per_step) * w.metrics))
    result = PeerResult(system, scaled, scaled.points)
    for _ in range(repeats):
        one = run_worker(peer, {**job, "steps": scaled.steps}, timeout)
        if not one.get("ok"):
            return failed(one.get("why", "?"))
        result.add(one["caller"], one["durable"], one["disk"] - empty["disk"], one["stored"] == one["points"])
        if one["stored"] != one["points"]:
            result.note = f"read back {one['stored']:,} of {one['points']:,} points"
    if scaled.steps < w.steps:
        result.note = ("; ".join(filter(None, [result.note, f"N={scaled.points:,}"])))
    return result


def report(result: lt.Result) -> None:
    print(f"  {result.workload.key} {result.system:<32} caller {lt.fmt(result.caller_us()):>8} us/pt   "
          f"durable {lt.fmt(result.durable_us()):>8} us/pt   {result.note}", flush=True)


def rows_of(results: list[lt.Result]) -> list[list[str]]:
    rows = lt.table_rows(results)
    for row, result in zip(rows, [r for key in dict.fromkeys(r.workload.key for r in results)
                                  for r in results if r.workload.key == key]):
        if getattr(result, "failed", False):
            row[2], row[8] = "-", "-"
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the fast systems (default 7, quick 3)")
    parser.add_argument("--peer-repeats", type=int, default=None, help="repeats of each peer (default 3, quick 1)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds a peer's repeat may take before it logs fewer points (default 20, quick 3)")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--no-tensorboard", action="store_true")
    parser.add_argument("--no-runlog", action="store_true", help="only the peers (no list, raw, runlog rows)")
    parser.add_argument("--mlflow-metric-points", type=int, default=None,
                        help="points MLflow log_metric logs, one call each (default 2,000; quick 300)")
    args = parser.parse_args()
    quick = args.quick
    repeats = args.repeats or (3 if quick else 7)
    slow = args.peer_repeats or (1 if quick else 3)
    budget = args.budget or (3.0 if quick else 20.0)
    if quick:
        workloads = [lt.Workload("A", "A: 1 x 20,000", 1, 20_000), lt.Workload("B", "B: 20 x 1,000 (dict)", 20, 1_000)]
        mlflow_metric_points = args.mlflow_metric_points or 300
    else:
        workloads = [lt.Workload("A", "A: 1 x 100,000", 1, 100_000),
                     lt.Workload("B", "B: 20 x 5,000 (dict)", 20, 5_000)]
        mlflow_metric_points = args.mlflow_metric_points or 2_000
    print(f"runlog peers throughput{' (quick)' if quick else ''}: Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"repeats: {repeats} (runlog, list, raw sqlite3), {slow} (MLflow, TensorBoard, each peer); medians; "
          f"peer budget {budget:.0f} s a repeat")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    results: list[lt.Result] = []
    if not args.no_runlog:
        raw_empty, runlog_empty = lt.raw_empty_bytes(), lt.runlog_empty_bytes()
        for w in workloads:
            for result in (lt.bench_list(w, repeats), lt.bench_raw(w, repeats, raw_empty),
                           lt.bench_runlog(w, repeats, runlog_empty)):
                results.append(result)
                report(result)
    if not args.no_tensorboard:
        try:
            tb_empty = lt.tensorboard_empty_bytes()
        except ImportError as err:
            print(f"  TensorBoard skipped: {err}")
        else:
            for w in workloads:
                results.append(lt.bench_tensorboard(w, slow, tb_empty))
                report(results[-1])
    if not args.no_mlflow:
        try:
            template = lt.MlflowTemplate()
        except ImportError as err:
            print(f"  MLflow skipped: {err}")
        else:
            try:
                for w in workloads:
                    for result in (lt.bench_mlflow_batch(w, slow, template),
                                   lt.bench_mlflow_metric(w.scaled(mlflow_metric_points), slow, template)):
                        results.append(result)
                        report(result)
            finally:
                template.close()
    versions = {}
    for peer in args.peers:
        for w in workloads:
            start = time.monotonic()
            results.append(bench_peer(peer, w, slow, budget, timeout=max(600.0, 20 * budget)))
            report(results[-1])
            print(f"    ({time.monotonic() - start:.0f} s)", flush=True)
        versions[peer] = setup_venvs.status(peer)[1]

    order = ["list append", "raw sqlite3 executemany", "runlog", "TensorBoard add_scalar", "MLflow log_batch",
             "MLflow log_metric", *[CALLS[p] for p in PEERS]]
    keys = [w.key for w in workloads]
    results.sort(key=lambda r: (keys.index(r.workload.key), order.index(r.system)))
    rows = rows_of(results)
    print()
    print(lt.plain(lt.HEAD, rows))
    print("\npeer versions: " + "; ".join(f"{peer}: {v}" for peer, v in versions.items()))
    print("\n--- markdown ---\n")
    print(f"Measured with `python benchmarks/peers/throughput.py{''.join(' ' + a for a in sys.argv[1:])}` on "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
          f"medians of {repeats} runs ({slow} for MLflow, TensorBoard and the peers).\n")
    print(lt.markdown(lt.HEAD, rows))
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all(r.verified for r in results if not getattr(r, "failed", False)) else 1


if __name__ == "__main__":
    sys.exit(main())
